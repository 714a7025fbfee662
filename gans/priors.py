"""Latent priors: what a generator's codes z are drawn from (``gan.prior``, the ``prior`` config group).

A prior is a spec (cheap, validated config: what ``instantiate(cfg.gan.prior)`` returns) and, per run, a module
built for the run's replicas (``spec.build(z_dim, replicas, num_modes, device)``) that samples z of shape
(S, n, z_dim). The module holds any learnable prior parameters, one set per replica, so that they are trained by
the method and checkpointed with its state.

- :class:`GaussianPrior` (``prior=gaussian``, and what a GAN without ``gan.prior`` uses): z ~ N(0, I).
- :class:`ModePrior` (``prior=nemgan | clustergan | infogan | ...``): a discrete mode y with prior weights
  softmax(α) written as a one-hot in ``mode_dims``, plus continuous noise ν: NEMGAN's additive mixture
  z = y + ν (paper §2.1, eq. 1; REFERENCE 3.2: ν ~ U[-0.3, 0.3] on every dimension, the one-hot in the last M
  dimensions), or the concatenation [ν, y] of ClusterGAN (normal ν, no noise on the one-hot) and InfoGAN (uniform
  ν, whose last dimensions are the continuous codes). The mode is drawn by NEMGAN's reparameterisation (paper
  eqs. 3-4, Lemma 1; REFERENCE 3.2): u ~ U(0, 1), c = cumsum(softmax(α)), H_j = 1 - hard_sigmoid(k (u - c_j)³)
  (Keras' hard sigmoid clamp(0.2x + 0.5, 0, 1), k = ``steepness`` = 1e7), W_0 = H_0, W_j = (1 - H_{j-1}) H_j.
  W is one-hot except within (2.5/k)^(1/3) of a boundary c_j (k = 1e7: ±0.0063), where the ramp lets gradients
  reach α: that is how NEMGAN-P learns the mode priors. P(argmax W = j) = softmax(α)_j exactly (the ramp is
  symmetric about c_j). The ramp must stay well inside every mode's share of [0, 1]: k = 1e7 suits the code's 5
  modes; 1,000 uniform modes (mass 0.001 each) need k >= 1.6e11 (``build`` refuses a ramp wider than a quarter of
  the smallest initial mode mass).
  Our default ``exact_forward``: z gets the exact one-hot (Lemma 1) and only the gradient is the ramp's. With the
  code's soft values, learned priors that become small (a 1% minority mode) have a large part of their samples on
  the ramp (blurred codes); a steeper step then keeps them one-hot but leaves so few samples on the ramp that the
  sparse gradient biases the learned small priors upward (a ring minority mode of 1.19% settles at ~1.4% with 1,024
  codes per update at k = 1e11, 1.24% at k = 1e8). With exact codes the ramp only sets the gradient's variance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError, require

__all__ = ["GaussianPrior", "ModePrior", "GaussianLatent", "ModeLatent", "LatentCodes", "steep_step_codes"]

NOISES = ("uniform", "normal")


class GaussianPrior:
    """``prior=gaussian``: z ~ N(0, I) (every GAN's prior unless ``gan.prior`` says otherwise)."""

    has_modes = False

    def check(self, z_dim: int) -> None:
        """Raise ConfigError when this prior cannot produce ``z_dim``-dimensional codes (any size can)."""

    def build(self, z_dim: int, replicas: int, num_modes: int | None = None, device="cpu") -> "GaussianLatent":
        return GaussianLatent(z_dim, replicas).to(device)


class GaussianLatent(nn.Module):
    """The run's N(0, I) prior: no parameters."""

    has_modes = False

    def __init__(self, z_dim: int, replicas: int):
        super().__init__()
        self.z_dim, self.replicas = int(z_dim), int(replicas)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """z ~ N(0, I), shape (S, n, z_dim)."""
        return torch.randn(self.replicas, n, self.z_dim, generator=generator, device=generator.device)


class ModePrior:
    """``ModePrior(modes, mode_dims, noise, noise_scale, noise_on_mode_dims, weights, steepness)`` (see the module
    docstring). ``modes``: M (null: the dataset's number of classes/modes, fixed when the run is set up);
    ``mode_dims``: the M dimensions of the one-hot (null: the last M); ``noise``: ``uniform`` (U[-s, s]) or
    ``normal`` (N(0, s²)), s = ``noise_scale``; ``noise_on_mode_dims``: add the noise to the one-hot dimensions too
    (NEMGAN) or only to the others (ClusterGAN, InfoGAN); ``weights``: the initial mode priors (null: uniform),
    α = log(weights); a method that learns the priors (``nemgan_p``) makes α trainable."""

    has_modes = True

    def __init__(self, modes: int | None = None, mode_dims: Sequence[int] | None = None, noise: str = "uniform",
                 noise_scale: float = 0.3, noise_on_mode_dims: bool = True, weights: Sequence[float] | None = None,
                 steepness: float = 1e7, exact_forward: bool = True):
        require(modes is None or (isinstance(modes, int) and not isinstance(modes, bool) and modes >= 2),
                f"gan.prior.modes must be an integer >= 2 or null (the dataset's classes), got {modes!r}")
        require(noise in NOISES, f"gan.prior.noise must be one of {list(NOISES)}, got {noise!r}")
        require(float(noise_scale) >= 0, f"gan.prior.noise_scale must be >= 0, got {noise_scale}")
        require(float(steepness) > 0, f"gan.prior.steepness must be > 0, got {steepness}")
        if noise_on_mode_dims and float(noise_scale) > 0:
            require(noise == "uniform", "gan.prior: normal noise on the one-hot dimensions makes the latent modes "
                                        "overlap; use noise=uniform (noise_scale < 0.5) or noise_on_mode_dims=false")
            require(float(noise_scale) < 0.5,
                    f"gan.prior.noise_scale={noise_scale}: uniform noise of half-width >= 0.5 on the one-hot "
                    "dimensions makes neighbouring latent modes overlap (paper §2.1 needs disjoint modes); use < 0.5")
        self.modes = None if modes is None else int(modes)
        self.mode_dims = None if mode_dims is None else [int(d) for d in mode_dims]
        self.noise, self.noise_scale = noise, float(noise_scale)
        self.noise_on_mode_dims = bool(noise_on_mode_dims)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.steepness, self.exact_forward = float(steepness), bool(exact_forward)
        if self.weights is not None:
            require(all(w > 0 for w in self.weights), f"gan.prior.weights must be > 0, got {self.weights}")
            require(self.modes is None or len(self.weights) == self.modes,
                    f"gan.prior.weights has {len(self.weights)} entries for {self.modes} modes")
        if self.mode_dims is not None:
            require(len(set(self.mode_dims)) == len(self.mode_dims), "gan.prior.mode_dims must be distinct")
            require(self.modes is None or len(self.mode_dims) == self.modes,
                    f"gan.prior.mode_dims lists {len(self.mode_dims)} dimensions for {self.modes} modes")

    def resolved_modes(self, num_modes: int | None) -> int:
        """M: the configured number of modes, else the weights', the mode dims', or the dataset's."""
        for m in (self.modes, None if self.weights is None else len(self.weights),
                  None if self.mode_dims is None else len(self.mode_dims), num_modes):
            if m is not None:
                return int(m)
        raise ConfigError("gan.prior.modes is null and the dataset does not say how many modes it has; set "
                          "gan.prior.modes")

    def check(self, z_dim: int, num_modes: int | None = None) -> None:
        """Refuse more latent modes than latent dimensions, and mode dimensions outside z."""
        if self.modes is None and num_modes is None and self.weights is None and self.mode_dims is None:
            return  # M comes from the dataset: checked when the run is set up
        m = self.resolved_modes(num_modes)
        require(m <= z_dim, f"gan.prior has {m} latent modes but z has only gan.z_dim={z_dim} dimensions for their "
                            f"one-hot code; raise gan.z_dim to at least {m} or lower gan.prior.modes")
        if self.mode_dims is not None:
            require(all(0 <= d < z_dim for d in self.mode_dims),
                    f"gan.prior.mode_dims must index the {z_dim} latent dimensions, got {self.mode_dims}")

    def ramp(self) -> float:
        """Half-width in u of the steep step's ramp, where W is not one-hot: |u - c_j| < (2.5 / k)^(1/3)."""
        return (2.5 / self.steepness) ** (1.0 / 3.0)

    def build(self, z_dim: int, replicas: int, num_modes: int | None = None, device="cpu") -> "ModeLatent":
        m = self.resolved_modes(num_modes)
        self.check(z_dim, m)
        dims = self.mode_dims if self.mode_dims is not None else list(range(z_dim - m, z_dim))
        weights = torch.tensor(self.weights if self.weights is not None else [1.0] * m, dtype=torch.float32)
        smallest = float(weights.min() / weights.sum())
        require(self.ramp() <= smallest / 4,
                f"gan.prior.steepness={self.steepness:g} gives the mode steps a ramp of ±{self.ramp():.2g} in u, more "
                f"than a quarter of the smallest mode prior {smallest:.3g} (of {m} modes): the codes would blur "
                f"between modes; raise gan.prior.steepness to at least {2.5 / (smallest / 4) ** 3:.2g}")
        return ModeLatent(z_dim, replicas, dims, torch.log(weights / weights.sum()), self.noise, self.noise_scale,
                          self.noise_on_mode_dims, self.steepness, self.exact_forward).to(device)


@dataclass
class LatentCodes:
    """One draw of a mode prior: ``z`` (S, n, z_dim), ``code`` the soft one-hot W (S, n, M) with gradient to α,
    ``modes`` = argmax W (S, n)."""

    z: torch.Tensor
    code: torch.Tensor
    modes: torch.Tensor


def keras_hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clamp(0.2 x + 0.5, 0, 1), Keras' hard sigmoid (torch's F.hardsigmoid has slope 1/6)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


def steep_step_codes(u: torch.Tensor, logits: torch.Tensor, steepness: float, exact: bool = False) -> torch.Tensor:
    """NEMGAN's reparameterised one-hot W (S, n, M) of u (S, n) ~ U(0, 1) under mode priors softmax(logits (S, M)).

    ``exact``: the forward value is the exact one-hot of the unit steps (Lemma 1) and only the gradient is the
    hard-sigmoid ramp's (a straight-through estimator); otherwise the value is the ramp's too (the authors' code)."""
    return steep_step_modes(u, logits, steepness, exact)[0]


def steep_step_modes(u: torch.Tensor, logits: torch.Tensor, steepness: float,
                     exact: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, argmax W) of :func:`steep_step_codes`: the modes (S, n) from the one argmax the exact one-hot needs."""
    bounds = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1)  # c_j (S, M)
    below = 1.0 - keras_hard_sigmoid(steepness * (u.unsqueeze(-1) - bounds.unsqueeze(1)) ** 3)  # H_j ≈ [u < c_j]
    previous = torch.cat([torch.zeros_like(below[..., :1]), below[..., :-1]], dim=-1)
    soft = (1.0 - previous) * below
    modes = soft.detach().argmax(-1)
    if not exact:
        return soft, modes
    hard = F.one_hot(modes, soft.shape[-1]).to(soft.dtype)
    return hard + (soft - soft.detach()), modes


class ModeLatent(nn.Module):
    """The run's mode prior: α (``logits``, (S, M)) is a parameter, frozen unless a method trains it."""

    has_modes = True

    def __init__(self, z_dim: int, replicas: int, mode_dims: Sequence[int], logits: torch.Tensor, noise: str,
                 noise_scale: float, noise_on_mode_dims: bool, steepness: float, exact_forward: bool = True):
        super().__init__()
        self.z_dim, self.replicas, self.modes = int(z_dim), int(replicas), len(mode_dims)
        self.noise, self.noise_scale, self.steepness = noise, float(noise_scale), float(steepness)
        self.exact_forward = bool(exact_forward)
        self.logits = nn.Parameter(logits.reshape(1, -1).repeat(replicas, 1), requires_grad=False)
        self.register_buffer("mode_dims", torch.tensor(list(mode_dims), dtype=torch.long), persistent=False)
        noisy = torch.ones(self.z_dim, dtype=torch.bool)
        if not noise_on_mode_dims:
            noisy[self.mode_dims] = False
        self.register_buffer("noise_mask", noisy.float(), persistent=False)
        self.register_buffer("noise_dims", torch.nonzero(~self.is_mode_dim()).squeeze(1), persistent=False)

    def is_mode_dim(self) -> torch.Tensor:
        mask = torch.zeros(self.z_dim, dtype=torch.bool, device=self.mode_dims.device)
        mask[self.mode_dims] = True
        return mask

    def mode_weights(self) -> torch.Tensor:
        """The mode priors softmax(α), (S, M)."""
        return torch.softmax(self.logits, dim=-1)

    def _noise_draw(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The noise's random numbers (S, n, z_dim): U(0, 1) for ``uniform``, N(0, 1) for ``normal``."""
        draw = torch.rand if self.noise == "uniform" else torch.randn
        return draw(self.replicas, n, self.z_dim, generator=generator, device=generator.device)

    def _noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        nu = self._noise_draw(n, generator)
        if self.noise == "uniform":
            nu.mul_(2).sub_(1)
        return nu.mul_(self.noise_scale * self.noise_mask)

    def _place(self, nu: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """z = ν with the one-hot code added in the mode dimensions (differentiable in ``code``)."""
        return nu.index_add(-1, self.mode_dims, code)

    def _mode_codes(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(self.replicas, n, generator=generator, device=generator.device)
        return steep_step_modes(u, self.logits, self.steepness, self.exact_forward)

    def sample_codes(self, n: int, generator: torch.Generator) -> LatentCodes:
        """z with its mode code: W has a gradient to α when α is trainable."""
        code, modes = self._mode_codes(n, generator)
        return LatentCodes(self._place(self._noise(n, generator), code), code, modes)

    def sample_mode_codes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The mode codes W (S, n, M) of :meth:`sample_codes` without z (NEMGAN-P's prior update needs only W). It
        draws the same random numbers in the same order (u, then the noise ν it does not use), so that the
        training stream, and with it every run's numbers, is the same as with :meth:`sample_codes`."""
        code, _ = self._mode_codes(n, generator)
        self._noise_draw(n, generator)  # ν's random numbers, unused
        return code

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.sample_codes(n, generator).z

    def conditional(self, modes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """z of the given modes (S, n) (conditional generation): the exact one-hot plus fresh noise."""
        code = torch.nn.functional.one_hot(modes, self.modes).to(self.logits.dtype)
        return self._place(self._noise(modes.shape[1], generator), code)
