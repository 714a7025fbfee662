"""Importance-weighted GANs (Diesendruck et al., "Importance Weighted Generative Networks", ECML-PKDD 2019).

The training set is drawn from an observed distribution M·p (M the Radon–Nikodym derivative of the
observed w.r.t. the target distribution p), and every real sample's term of the loss is scaled by
1/M(x_i) = p_target(x_i)/p_observed(x_i), so that a uniform batch gives an unbiased estimate of the
expectation under the target. The weights come from the dataset's metadata
(``DataBundle.importance_weights``; for the synthetic mixtures the ratio of the equal-weight mixture density
to the unbalanced one, as RLS paper §3.1 describes); a dataset without a known ratio is refused before
training (``requires``).

- :class:`IwGAN`: the vanilla GAN with the real terms of D's loss weighted (G's loss has no real term).
- :class:`IwMmdGAN`: our reading of the paper's importance-weighted MMD GAN, written down in its docstring.

IwGAN uses the weights as they are (not normalised per batch): the unbiased estimator of the paper. IwMmdGAN
normalises them per batch by default (``estimator``).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from core.errors import ConfigError, require
from core.numerics import floored_exp, squared_distances
from gans.method import Batch, GANMethod


class ImportanceWeighted(GANMethod):
    """Shared by both methods: the per-sample weights 1/M of the real batch, refusing packing."""

    requires = frozenset({"importance_weights"})

    def check(self, trainer) -> None:
        super().check(trainer)
        if self.pack != 1:
            raise ConfigError(f"{type(self).__name__} weights each real sample by 1/M, which needs method.pack=1 "
                              f"(got pack={self.pack}); a pack mixes samples of different weights")

    def setup(self, ctx) -> None:
        require(ctx.data.importance_weights is not None,
                f"{type(self).__name__} needs the density ratio of dataset '{ctx.data.name}' (importance_weights)")
        super().setup(ctx)

    def real_weights(self, batch: Batch) -> torch.Tensor:
        """1/M(x_i) = p_target/p_observed of every real sample, (S, B)."""
        return self.data.importance_weights[batch.indices]


class IwGAN(ImportanceWeighted):
    """IwGAN: D's loss on real samples weighted by 1/M(x_i); fake terms and G's loss unchanged."""


class IwMmdGAN(ImportanceWeighted):
    """Importance-weighted MMD GAN (our reading of Diesendruck et al. §3 with the MMD-GAN of Li et al. 2017).

    The critic is a kernel MMD between real and generated samples in the discriminator's feature space
    φ_D (the next-to-last layer; D's logit layer is unused), with a mixture of Gaussian kernels
    k(a, b) = Σ_σ exp(-‖a - b‖² / (2σ²)), σ ∈ ``sigmas`` (MMD-GAN's default 1, 2, 4, 8, 16). The real
    terms carry the importance weights w_i = 1/M(x_i). ``estimator``:

    - ``self_normalised`` (default): weights divided by their batch sum, V-statistics (diagonals included), as
      the weighted MMD of public MMD-GAN-based code with thinning weights (``mix_rbf_mmd2_weighted``; not
      confirmed to be the authors')
      MMD²_w = Σ_ij w_i w_j k(x_i, x_j) / (Σw)² - 2 Σ_ij w_i k(x_i, y_j) / (B Σw) + Σ_ij k(y_i, y_j) / B²;
    - ``unbiased``: the paper's unbiased estimator of the target MMD², unnormalised weights, U-statistics
      Σ_{i≠j} w_i w_j k(x_i, x_j) / (B(B-1)) - 2 Σ_ij w_i k(x_i, y_j) / B² + Σ_{i≠j} k(y_i, y_j) / (B(B-1))
      (high variance: a minority sample weighs 20x a majority one on RING/GRID).

    D maximises MMD²_w (its loss is -MMD²_w), G minimises it; one D and one G update per iteration like
    every Table 1 method (the RLS paper's timings show IwMmdGAN as fast as the GAN). Left out of MMD-GAN:
    the autoencoder term, weight clipping (the tanh features are bounded, so the kernel is) and the extra
    critic iterations.
    """

    ESTIMATORS = ("self_normalised", "unbiased")

    def __init__(self, regularizers=None, pack: int = 1, sigmas: Sequence[float] = (1.0, 2.0, 4.0, 8.0, 16.0),
                 estimator: str = "self_normalised"):
        super().__init__(regularizers, pack)
        sigmas = [float(s) for s in sigmas]
        require(len(sigmas) >= 1 and all(s > 0 for s in sigmas), f"method.sigmas must be positive numbers, got {sigmas}")
        require(estimator in self.ESTIMATORS, f"method.estimator must be one of {list(self.ESTIMATORS)}, got '{estimator}'")
        self.sigmas, self.estimator = sigmas, estimator

    def mmd2(self, batch: Batch) -> torch.Tensor:
        if "mmd2" not in batch.extra:
            batch.extra["mmd2"] = weighted_mmd2(batch.real_features, batch.fake_features, self.real_weights(batch),
                                                self.sigmas, unbiased=self.estimator == "unbiased")
        return batch.extra["mmd2"]

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        return -self.mmd2(batch)

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        return self.mmd2(batch)

    def is_zero_sum(self) -> bool:
        return not self.regularizers and self.loss.gradient_penalty == 0

    def setup(self, ctx) -> None:
        require(ctx.loss.name == "ns", f"IwMmdGAN's critic is the weighted MMD, so the loss group is unused: keep "
                                       f"loss=ns (got loss={ctx.loss.name})")
        super().setup(ctx)
        self._needs_real_features = True  # the alternating G step recomputes the real features


def mixture_rbf_kernel(a: torch.Tensor, b: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Σ_σ exp(-‖a_i - b_j‖² / (2σ²)) for a (S, n, m), b (S, k, m) -> (S, n, k)."""
    return sum(term for _, term in _rbf_terms(squared_distances(a, b), sigmas))


def _rbf_terms(sq_dist: torch.Tensor, sigmas: Sequence[float]):
    """Yield (c, exp(-c·sq_dist)) per bandwidth σ, c = 1/2σ², widest first. Where c is 2, 4 or 8 times the
    previous c (MMD-GAN's σ = 1, 2, 4, 8, 16: 4 times), the term is the previous one squared 1-3 times: a few
    multiplications instead of an exp (that list's kernel is within 3e-7 of float64 in float32)."""
    previous_rate = previous_term = None
    for rate in sorted(0.5 / float(s) ** 2 for s in sigmas):
        doublings = math.log2(rate / previous_rate) if previous_term is not None else 0.0
        if doublings in (1.0, 2.0, 3.0):
            term = previous_term
            for _ in range(int(doublings)):
                term = term.square()
        else:
            term = floored_exp(sq_dist * -rate)
        yield rate, term
        previous_rate, previous_term = rate, term


class _KernelQuadraticForm(torch.autograd.Function):
    """aᵀ K a for the mixture RBF kernel K of the rows of z (S, N, m) and constant a (S, N) -> (S,).

    The backward is written out: with G_ij = -ȧ a_i a_j Σ_σ c_σ exp(-c_σ d_ij) (c_σ = 1/2σ², d_ij = ‖z_i - z_j‖²) and
    G symmetric, ∂/∂z_i = 4 (Σ_j G_ij z_i - Σ_j G_ij z_j): one matrix product, where autograd through the kernel
    takes three plus a chain of element-wise steps per bandwidth. First derivatives only."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, a: torch.Tensor, sigmas: tuple[float, ...]) -> torch.Tensor:
        kernel = slope = None
        for rate, term in _rbf_terms(squared_distances(z, z), sigmas):
            kernel = term.clone() if kernel is None else kernel.add_(term)
            slope = term * rate if slope is None else slope.add_(term, alpha=rate)
        ctx.save_for_backward(z, a, slope)
        return ((kernel @ a.unsqueeze(-1)).squeeze(-1) * a).sum(-1)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError("the importance-weighted MMD has no second derivative here (create_graph=True): "
                               "use estimator=unbiased, which goes through autograd")
        z, a, slope = ctx.saved_tensors
        g = slope * (a.unsqueeze(-1) * (a * (-4 * grad_out).unsqueeze(-1)).unsqueeze(-2))
        return torch.baddbmm(g.sum(-1, keepdim=True) * z, g, z, alpha=-1), None, None


def weighted_mmd2(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None, sigmas: Sequence[float],
                  unbiased: bool = False) -> torch.Tensor:
    """Importance-weighted MMD² between real rows x (S, n, m) with weights (S, n) and fake rows y (S, k, m) -> (S,).

    ``unbiased=False``: weights normalised to sum 1, V-statistics (self-normalised); ``True``: unnormalised
    weights, U-statistics (unbiased for the target distribution's MMD²). Without weights: the plain MMD²."""
    n, k = x.shape[-2], y.shape[-2]
    w = torch.ones(x.shape[:-1], dtype=x.dtype, device=x.device) if weights is None else weights.to(x.dtype)
    if not unbiased:  # aᵀ K a with K the kernel of [x; y] and a = [w / Σw; -1/k]: one kernel matrix
        z = torch.cat([x, y], dim=-2)
        a = torch.cat([w / w.sum(-1, keepdim=True).clamp_min(1e-12), w.new_full((*w.shape[:-1], k), -1.0 / k)], -1)
        return _KernelQuadraticForm.apply(z, a.detach(), tuple(sigmas))
    kxx, kyy, kxy = mixture_rbf_kernel(x, x, sigmas), mixture_rbf_kernel(y, y, sigmas), mixture_rbf_kernel(x, y, sigmas)
    ww = w.unsqueeze(-1) * w.unsqueeze(-2)
    diag_x = torch.diagonal(kxx, dim1=-2, dim2=-1)
    xx = ((ww * kxx).sum((-1, -2)) - (w.pow(2) * diag_x).sum(-1)) / (n * (n - 1))
    yy = (kyy.sum((-1, -2)) - torch.diagonal(kyy, dim1=-2, dim2=-1).sum(-1)) / (k * (k - 1))
    xy = (w.unsqueeze(-1) * kxy).sum((-1, -2)) / (n * k)
    return xx + yy - 2 * xy
