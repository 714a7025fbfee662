"""Ridge leverage score (RLS) sampling of real batches (Schreurs et al., 2021).

``GaussianRLSSampler``: fixed implicit feature map of the Gaussian kernel exp(-‖x-y‖²/σ²); scores
computed once before training (Algorithm 1). ``DiscriminatorRLSSampler``: the discriminator's
next-to-last layer φ_D, recomputed every step on a uniform subset of 20 x batch size (two-stage
sampling), optionally Gaussian-sketched to k dimensions (Algorithm 2).
"""
from __future__ import annotations

import math

import torch

from core.errors import require
from samplers.base import EpochPermutation, Sampler, WeightedSampler, safe_probabilities
from samplers.leverage import rls_from_features, rls_gaussian


class GaussianRLSSampler(WeightedSampler):
    """p_i ∝ ℓ_i(γ) under the Gaussian kernel; exact up to ``exact_max_n`` points, Nyström beyond."""

    name = "rls_gauss"

    def __init__(self, sigma: float = 0.15, gamma: float = 1e-3, exact_max_n: int = 4000, seed: int = 0):
        require(sigma > 0, f"sampler.sigma (Gaussian kernel bandwidth) must be > 0, got {sigma}")
        require(gamma > 0, f"sampler.gamma (ridge regulariser) must be > 0, got {gamma}")
        require(exact_max_n >= 1, f"sampler.exact_max_n must be >= 1, got {exact_max_n}")
        self.sigma, self.gamma, self.exact_max_n, self.seed = float(sigma), float(gamma), int(exact_max_n), int(seed)

    def compute_probabilities(self, data):
        require(data.kind == "toy", "sampler=rls_gauss uses a Gaussian kernel on raw coordinates and is meant "
                                    "for low-dimensional (toy) data; use sampler=rls_discr or rls_class for images")
        points = data.x.reshape(data.n, -1).double().cpu()
        scores = rls_gaussian(points, self.sigma, self.gamma, exact_max_n=self.exact_max_n,
                              generator=torch.Generator().manual_seed(self.seed))
        self.scores = scores
        return scores


class DiscriminatorRLSSampler(Sampler):
    """Two-stage RLS sampling with the discriminator feature map (Algorithm 2 of the RLS paper).

    Each step: a uniform subset of ``subset_factor`` x batch samples (without replacement, epoch
    permutation), their φ_D (optionally sketched: φ = Sᵀφ_D, S = A/√k, A i.i.d. N(0, 1), redrawn every
    step), leverage scores on the subset with n := subset size, then the batch drawn from the subset
    with probability ∝ ℓ_i, with replacement (the paper does not say; this is the weighted empirical
    distribution of its eq. 2 restricted to the subset). Scores are computed in ``precision`` (float32
    by default: ~4e-7 relative error on discriminator features, half the cost of float64).
    """

    name = "rls_discr"

    def __init__(self, gamma: float = 1e-3, subset_factor: int = 20, sketch_dim: int | None = None,
                 precision: str = "float32"):
        require(gamma > 0, f"sampler.gamma (ridge regulariser) must be > 0, got {gamma}")
        require(int(subset_factor) >= 1, f"sampler.subset_factor must be >= 1, got {subset_factor}")
        require(sketch_dim is None or int(sketch_dim) >= 1, f"sampler.sketch_dim must be >= 1 or null, got {sketch_dim}")
        require(precision in ("float32", "float64"), f"sampler.precision must be float32 or float64, got {precision}")
        self.gamma, self.subset_factor = float(gamma), int(subset_factor)
        self.sketch_dim = None if sketch_dim is None else int(sketch_dim)
        self.dtype = getattr(torch, precision)

    def setup(self, data, replicas, batch_size, generator):
        super().setup(data, replicas, batch_size, generator)
        self.subset_size = min(self.subset_factor * batch_size, data.n)
        self.epochs = EpochPermutation(data.n, replicas, generator, data.x.device)

    def _draw_sketch(self, feature_dim: int, device) -> torch.Tensor | None:
        if self.sketch_dim is None:
            return None
        return torch.randn(self.replicas, feature_dim, self.sketch_dim, generator=self.generator,
                           device=device) / math.sqrt(self.sketch_dim)

    def _features(self, method, indices: torch.Tensor, sketch: torch.Tensor | None = None,
                  chunk: int = 4096) -> torch.Tensor:
        """φ_D (or its sketch) of the training samples ``indices`` (S, b) -> (S, b, k), in chunks."""
        parts = []
        with torch.no_grad():
            for start in range(0, indices.shape[1], chunk):
                x = self.data.as_float(self.data.x[indices[:, start:start + chunk]])
                # a diverged replica's non-finite features become zeros: its scores vanish and
                # safe_probabilities samples it uniformly, so the other replicas train on
                phi = torch.nan_to_num(method.discriminator_features(x).float().flatten(2), 0.0, 0.0, 0.0)
                if sketch is None and self.sketch_dim is not None:
                    sketch = self._draw_sketch(phi.shape[2], phi.device)
                parts.append(phi if sketch is None else torch.bmm(phi, sketch))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def sample(self, method) -> torch.Tensor:
        subset = self.epochs.take(self.subset_size)
        scores = rls_from_features(self._features(method, subset), self.gamma, dtype=self.dtype)
        picks = torch.multinomial(safe_probabilities(scores).float(), self.batch_size, replacement=True,
                                  generator=self.generator)
        return subset.gather(1, picks)

    def probabilities(self, method) -> torch.Tensor:
        """Scores on the whole training set with the current discriminator (for plots; n := data size)."""
        all_indices = torch.arange(self.data.n, device=self.data.x.device).expand(self.replicas, -1)
        return safe_probabilities(rls_from_features(self._features(method, all_indices), self.gamma, dtype=self.dtype))

    def state_dict(self):
        return self.epochs.state_dict()

    def load_state_dict(self, state):
        if state:
            self.epochs.load_state_dict(state)
