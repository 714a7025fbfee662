"""The GAN contract: a spec from the config that builds generator, discriminator and their optimizers.

Every network acts on stacked replica batches: the generator maps z (S, B, z_dim) to samples
(S, B, *sample_shape); the discriminator maps samples (S, B, *shape) to ``(logits (S, B), features
(S, B, m))`` where ``features`` is its next-to-last layer φ_D (used by RLS, BuresGAN and Dia-GAN).
Architectures know nothing about methods.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError, require
from gans.optim import make_adam
from gans.priors import GaussianPrior


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing: (S, B, c, ...) -> (S, B/pack, pack*c, ...), consecutive samples concatenated."""
    if pack == 1:
        return x
    replicas, batch = x.shape[:2]
    require(batch % pack == 0, f"batch size {batch} is not divisible by the packing degree {pack}")
    return x.reshape(replicas, batch // pack, pack * x.shape[2], *x.shape[3:])


class GANSpec:
    """What ``instantiate(cfg.gan)`` returns: architecture and optimiser settings, no parameters yet."""

    supports_replicas: bool = False
    data_kinds: frozenset[str] = frozenset({"toy", "image"})

    def __init__(self, z_dim: int, lr_g: float, lr_d: float, betas: Sequence[float], prior=None):
        require(int(z_dim) >= 1, f"gan.z_dim must be a positive integer, got {z_dim}")
        require(lr_g > 0 and lr_d > 0, f"gan learning rates must be > 0, got lr_g={lr_g}, lr_d={lr_d}")
        require(len(betas) == 2 and all(0 <= b < 1 for b in betas),
                f"gan.betas must be two numbers in [0, 1), got {list(betas)}")
        self.z_dim = int(z_dim)
        self.lr_g, self.lr_d, self.betas = float(lr_g), float(lr_d), tuple(float(b) for b in betas)
        # gan.prior (the `prior` config group, gans/priors.py): where z comes from; none = N(0, I)
        self.latent_prior = prior if prior is not None else GaussianPrior()
        self.latent_prior.check(self.z_dim)

    def check_data(self, kind: str, sample_shape: Sequence[int]) -> None:
        """Raise ConfigError when this architecture cannot model samples of this kind/shape."""
        if kind not in self.data_kinds:
            raise ConfigError(f"gan '{type(self).__name__}' models {sorted(self.data_kinds)} data, "
                              f"but the dataset is '{kind}'")

    def build_generator(self, sample_shape: Sequence[int], generators: Sequence[torch.Generator]) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self, sample_shape: Sequence[int], generators: Sequence[torch.Generator],
                            pack: int = 1) -> nn.Module:
        raise NotImplementedError

    def optimizer_g(self, params) -> torch.optim.Optimizer:
        return make_adam(params, self.lr_g, self.betas)

    def optimizer_d(self, params) -> torch.optim.Optimizer:
        return make_adam(params, self.lr_d, self.betas)

    def build_prior(self, replicas: int, device, num_modes: int | None = None) -> nn.Module:
        """The run's latent prior for ``replicas`` replicas (a module: learnable mode priors live in it);
        ``num_modes``: the dataset's, for a mode prior whose number of modes is left to the data."""
        return self.latent_prior.build(self.z_dim, replicas, num_modes, device)

    def regularizers(self) -> list:
        """Loss terms this architecture brings to every method (``gans.method.Regularizer``s: SSGAN's rotation
        loss, StyleGAN2's R1), the same objects on every call; none by default."""
        return []

    def prior(self, replicas: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """Latent codes z of the configured prior at its initial parameters (N(0, I) by default), (S, n, z_dim)."""
        return self.build_prior(replicas, device).sample(n, generator)
