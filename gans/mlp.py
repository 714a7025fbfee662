"""The fully connected GAN of the synthetic experiments (RLS supplementary Table 6), replicated over seeds."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError
from gans.base import GANSpec
from gans.layers import ReplicatedMLP


class MLPGenerator(nn.Module):
    def __init__(self, z_dim: int, out_dim: int, hidden: Sequence[int], activation: str, init: str, generators):
        super().__init__()
        self.net = ReplicatedMLP([z_dim, *hidden, out_dim], generators, activation, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)[0]


class MLPDiscriminator(nn.Module):
    """Returns (logits (S, B), features (S, B, hidden[-1])): the features are φ_D of the RLS paper."""

    def __init__(self, in_dim: int, hidden: Sequence[int], activation: str, init: str, generators):
        super().__init__()
        self.net = ReplicatedMLP([in_dim, *hidden, 1], generators, activation, init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, features = self.net(x)
        return out.squeeze(-1), features


class MLPGAN(GANSpec):
    """Generator z -> hidden... -> d (linear output) and discriminator d -> hidden... -> 1 (logit).

    Defaults follow the RLS supplementary Table 6: latent 25, two hidden layers of 128 tanh units in
    both networks, Adam(1e-3, betas (0.5, 0.999)) as its Section 6; Keras' glorot-uniform init, as the
    TensorFlow code the RLS authors built on.
    """

    supports_replicas = True
    data_kinds = frozenset({"toy"})

    def __init__(self, z_dim: int = 25, g_hidden: Sequence[int] = (128, 128), d_hidden: Sequence[int] = (128, 128),
                 activation: str = "tanh", init: str = "glorot", lr_g: float = 1e-3, lr_d: float = 1e-3,
                 betas: Sequence[float] = (0.5, 0.999), prior=None):
        super().__init__(z_dim, lr_g, lr_d, betas, prior)
        if not g_hidden or not d_hidden:
            raise ConfigError("gan.g_hidden and gan.d_hidden need at least one hidden layer each")
        self.g_hidden, self.d_hidden = [int(h) for h in g_hidden], [int(h) for h in d_hidden]
        self.activation, self.init = activation, init

    def check_data(self, kind, sample_shape) -> None:
        super().check_data(kind, sample_shape)
        if sample_shape is not None and len(sample_shape) != 1:
            raise ConfigError(f"gan=mlp models flat vectors, but samples have shape {tuple(sample_shape)}")

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return MLPGenerator(self.z_dim, math.prod(sample_shape), self.g_hidden, self.activation, self.init,
                            generators)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return MLPDiscriminator(pack * math.prod(sample_shape), self.d_hidden, self.activation, self.init,
                                generators)
