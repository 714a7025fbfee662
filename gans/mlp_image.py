"""``gan=mlp_image``: the fully connected GAN on flattened images, with replicas (a CPU budget for image runs).

The classic MNIST MLP GAN shape (Goodfellow et al. 2014 used maxout MLPs on MNIST): G z -> ``g_hidden`` -> C·H·W
(tanh: images in [-1, 1]), D C·H·W -> ``d_hidden`` -> 1, LeakyReLU 0.2 by default. About a hundredth of the
multiply-adds of the conv GANs per image, and ``trainer.replicas`` trains several seeds in one process (batched
matrix products, gans/layers.py), so image experiments with three seeds fit CPU minutes. Not a paper's
architecture: the paper presets use ``gan=nemgan_conv`` / ``dcgan``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError
from gans.mlp import MLPDiscriminator, MLPGAN, MLPGenerator


class ImageMLPGenerator(MLPGenerator):
    """z (S, B, z_dim) -> tanh images (S, B, C, H, W)."""

    def __init__(self, z_dim: int, sample_shape: Sequence[int], hidden, activation: str, init: str, generators):
        super().__init__(z_dim, math.prod(sample_shape), hidden, activation, init, generators)
        self.sample_shape = tuple(sample_shape)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(z)).view(*z.shape[:2], *self.sample_shape)


class ImageMLPDiscriminator(MLPDiscriminator):
    """Images (S, B, C·pack, H, W) -> (logits (S, B), features (S, B, d_hidden[-1]))."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return super().forward(x.flatten(2))


class MLPImageGAN(MLPGAN):
    """``gan=mlp_image`` (see the module docstring); the fields of ``gan=mlp``."""

    data_kinds = frozenset({"image"})

    def __init__(self, z_dim: int = 100, g_hidden: Sequence[int] = (256, 512), d_hidden: Sequence[int] = (512, 256),
                 activation: str = "leaky_relu", init: str = "glorot", lr_g: float = 2e-4, lr_d: float = 2e-4,
                 betas: Sequence[float] = (0.5, 0.999), prior=None):
        super().__init__(z_dim, g_hidden, d_hidden, activation, init, lr_g, lr_d, betas, prior)

    def check_data(self, kind, sample_shape) -> None:
        if kind not in self.data_kinds:
            raise ConfigError(f"gan=mlp_image models images, but the dataset is '{kind}' (use gan=mlp)")
        if sample_shape is not None and len(sample_shape) != 3:
            raise ConfigError(f"gan=mlp_image models images (C, H, W), got samples of shape {tuple(sample_shape)}")

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return ImageMLPGenerator(self.z_dim, sample_shape, self.g_hidden, self.activation, self.init, generators)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return ImageMLPDiscriminator(pack * math.prod(sample_shape), self.d_hidden, self.activation, self.init,
                                     generators)
