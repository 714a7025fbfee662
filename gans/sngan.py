"""SNGAN (Miyato et al. 2018) with the ResNet networks of torch-mimicry, which the Dia-GAN code trains (REFERENCE
§2.6, §10.1), written from their description with S seed replicas as channel groups (:mod:`gans.grouped`).

``gan=sngan32`` (CIFAR-10, 32x32): G z (128) -> linear 4·4·256 -> three up-blocks 256 -> 256 (4 -> 8 -> 16 -> 32)
-> BN -> ReLU -> conv3x3 -> tanh. D: optimised block (3 -> 128, 32 -> 16) -> block 128 -> 128 down (16 -> 8) ->
two blocks 128 -> 128 -> ReLU -> global *sum* pooling (φ_D, 128-d) -> SN-linear -> 1.
``gan=sngan64`` (CelebA, 64x64): G ngf 1024, up-blocks 1024 -> 512 -> 256 -> 128 -> 64 (4 -> 64); D ndf 1024:
optimised block 3 -> 64, then 64 -> 128 -> 256 -> 512 -> 1024, every block down-sampling (64 -> 2), φ_D 1024-d.

Blocks: G block = BN-ReLU-bilinear up x2 (align_corners False)-conv3x3, BN-ReLU-conv3x3, plus a shortcut up x2 +
conv1x1 when the shape changes (always here: every G block up-samples); no spectral norm in G. D block =
ReLU-SNconv3x3 (hidden = in channels)-ReLU-SNconv3x3-avgpool2, plus a shortcut SNconv1x1-avgpool2 when the shape
changes; the optimised first block = SNconv3x3-ReLU-SNconv3x3-avgpool2 with an avgpool2-SNconv1x1 shortcut.
Init xavier-uniform: gain √2 on the blocks' 3x3 convs, 1.0 on the shortcuts, the linears and G's output conv
(mimicry's sngan_32/64: ``xavier_uniform_(l1, 1.0)``, ``xavier_uniform_(c5, 1.0)``); biases keep torch's default.
Spectral norm (:mod:`gans.spectral`): one power iteration per training forward. Optimiser: Adam 2e-4, betas
(0.0, 0.9) for both nets (mimicry and the Dia-GAN CIFAR/CelebA scripts); n_dis 5 and the linear lr decay are
trainer settings (conf/experiment/diagan_cifar10.yaml).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError, require
from gans.base import GANSpec
from gans.grouped import (GroupedBatchNorm, GroupedConv2d, GroupedLinear, build_replicas, from_groups,
                          to_groups)

SQRT2 = math.sqrt(2.0)
RESOLUTIONS = (32, 64)


def xavier(layer, gain: float) -> None:
    """xavier-uniform init of every replica's weight (torch's fans, global RNG: seeded by build_replicas)."""
    for r in range(layer.replicas):
        nn.init.xavier_uniform_(layer.replica_weight(r), gain)


def upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class GeneratorBlock(nn.Module):
    """BN-ReLU-up-conv3x3, BN-ReLU-conv3x3, plus the shortcut (up + conv1x1 when the shape changes)."""

    def __init__(self, cin: int, cout: int, replicas: int, bn_eps: float, bn_momentum: float, up: bool = True):
        super().__init__()
        self.up = up
        self.bn1 = GroupedBatchNorm(cin, replicas, bn_eps, bn_momentum)
        self.conv1 = GroupedConv2d(cin, cout, 3, 1, 1, replicas=replicas)
        self.bn2 = GroupedBatchNorm(cout, replicas, bn_eps, bn_momentum)
        self.conv2 = GroupedConv2d(cout, cout, 3, 1, 1, replicas=replicas)
        self.shortcut = GroupedConv2d(cin, cout, 1, replicas=replicas) if (cin != cout or up) else None
        xavier(self.conv1, SQRT2)
        xavier(self.conv2, SQRT2)
        if self.shortcut is not None:
            xavier(self.shortcut, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x))
        h = self.conv1(upsample(h) if self.up else h)
        h = self.conv2(F.relu(self.bn2(h)))
        skip = upsample(x) if self.up else x
        return h + (self.shortcut(skip) if self.shortcut is not None else skip)


class DiscriminatorBlock(nn.Module):
    """ReLU-SNconv3x3-ReLU-SNconv3x3(-avgpool2), plus the shortcut (SNconv1x1(-avgpool2) when the shape changes)."""

    def __init__(self, cin: int, cout: int, replicas: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = GroupedConv2d(cin, cin, 3, 1, 1, replicas=replicas, spectral=True)
        self.conv2 = GroupedConv2d(cin, cout, 3, 1, 1, replicas=replicas, spectral=True)
        self.shortcut = GroupedConv2d(cin, cout, 1, replicas=replicas, spectral=True) if (cin != cout or down) else None
        xavier(self.conv1, SQRT2)
        xavier(self.conv2, SQRT2)
        if self.shortcut is not None:
            xavier(self.shortcut, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        skip = self.shortcut(x) if self.shortcut is not None else x
        if self.down:
            h, skip = F.avg_pool2d(h, 2), F.avg_pool2d(skip, 2)
        return h + skip


class OptimizedBlock(nn.Module):
    """D's first block: SNconv3x3-ReLU-SNconv3x3-avgpool2, plus the shortcut avgpool2-SNconv1x1."""

    def __init__(self, cin: int, cout: int, replicas: int):
        super().__init__()
        self.conv1 = GroupedConv2d(cin, cout, 3, 1, 1, replicas=replicas, spectral=True)
        self.conv2 = GroupedConv2d(cout, cout, 3, 1, 1, replicas=replicas, spectral=True)
        self.shortcut = GroupedConv2d(cin, cout, 1, replicas=replicas, spectral=True)
        xavier(self.conv1, SQRT2)
        xavier(self.conv2, SQRT2)
        xavier(self.shortcut, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class ResNetGenerator(nn.Module):
    """z (S, B, z_dim) -> images (S, B, C, H, W) in [-1, 1]; ``widths`` = [bottom channels, each block's output]."""

    def __init__(self, z_dim: int, widths: Sequence[int], channels: int, bottom: int, replicas: int,
                 bn_eps: float, bn_momentum: float):
        super().__init__()
        self.replicas, self.bottom, self.width = replicas, bottom, widths[0]
        self.fc = GroupedLinear(z_dim, bottom * bottom * widths[0], replicas=replicas)
        self.blocks = nn.Sequential(*[GeneratorBlock(a, b, replicas, bn_eps, bn_momentum)
                                      for a, b in zip(widths[:-1], widths[1:])])
        self.bn = GroupedBatchNorm(widths[-1], replicas, bn_eps, bn_momentum)
        self.out = GroupedConv2d(widths[-1], channels, 3, 1, 1, replicas=replicas)
        xavier(self.fc, 1.0)
        xavier(self.out, 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        batch = z.shape[1]
        h = self.fc(to_groups(z)).view(batch, self.replicas * self.width, self.bottom, self.bottom)
        h = self.blocks(h)
        return from_groups(torch.tanh(self.out(F.relu(self.bn(h)))), self.replicas)


class ResNetDiscriminator(nn.Module):
    """Images (S, B, C, H, W) -> (logits (S, B), φ_D (S, B, widths[-1])): the optimised block to widths[0], then
    one block per further width (``down`` says which of them down-sample), ReLU, global sum pooling (φ_D), SN-linear."""

    def __init__(self, channels: int, widths: Sequence[int], down: Sequence[bool], replicas: int):
        super().__init__()
        self.replicas, self.feature_dim = replicas, widths[-1]
        blocks = [OptimizedBlock(channels, widths[0], replicas)]
        blocks += [DiscriminatorBlock(a, b, replicas, d) for a, b, d in zip(widths[:-1], widths[1:], down)]
        self.blocks = nn.Sequential(*blocks)
        self.head = GroupedLinear(widths[-1], 1, replicas=replicas, spectral=True)
        xavier(self.head, 1.0)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """φ_D in the grouped layout (B, S·m)."""
        return F.relu(self.blocks(to_groups(x))).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.pooled(x)
        logits = from_groups(self.head(pooled), self.replicas).squeeze(-1)
        return logits, from_groups(pooled, self.replicas)


def check_image_shape(name: str, resolution: int, sample_shape) -> None:
    """ConfigError unless samples are (C, resolution, resolution) images with 1 or 3 channels."""
    if sample_shape is None:
        return
    if len(sample_shape) != 3:
        raise ConfigError(f"gan={name} models images (C, H, W), but samples have shape {tuple(sample_shape)}")
    c, h, w = sample_shape
    if (h, w) != (resolution, resolution):
        raise ConfigError(f"gan={name} needs {resolution}x{resolution} images, the dataset gives {h}x{w}; set "
                          f"dataset.size={resolution} or pick the gan of that size (sngan32/ssgan32 for 32, "
                          "sngan64/ssgan64 for 64)")
    if c not in (1, 3):
        raise ConfigError(f"gan={name} models 1- or 3-channel images, got {c} channels")


class SNGAN(GANSpec):
    """``gan=sngan32`` / ``gan=sngan64`` (see the module docstring): ``resolution`` 32 or 64, ``ngf``/``ndf`` the
    widths (32: every G/D width; 64: G's bottom and D's top width, halved per block)."""

    supports_replicas = True
    data_kinds = frozenset({"image"})
    name = "sngan"

    def __init__(self, resolution: int = 32, z_dim: int = 128, ngf: int = 256, ndf: int = 128, bottom_width: int = 4,
                 lr_g: float = 2e-4, lr_d: float = 2e-4, betas: Sequence[float] = (0.0, 0.9),
                 bn_momentum: float = 0.1, bn_eps: float = 1e-5):
        super().__init__(z_dim, lr_g, lr_d, betas)
        require(resolution in RESOLUTIONS, f"gan.resolution must be one of {list(RESOLUTIONS)}, got {resolution}")
        blocks = int(math.log2(resolution // bottom_width)) if bottom_width >= 1 else 0
        require(bottom_width >= 1 and bottom_width * 2 ** blocks == resolution,
                f"gan.bottom_width={bottom_width} must be the resolution {resolution} divided by a power of 2")
        halvings = blocks if resolution == 64 else 0
        require(int(ngf) >= 2 ** halvings and int(ndf) >= 2 ** halvings,
                f"gan.ngf and gan.ndf must be >= {2 ** halvings} at resolution {resolution}, got {ngf}, {ndf}")
        require(0 < bn_momentum <= 1 and bn_eps > 0, "gan.bn_momentum must be in (0, 1] and gan.bn_eps > 0")
        self.resolution, self.bottom_width, self.blocks = int(resolution), int(bottom_width), blocks
        self.ngf, self.ndf, self.bn_momentum, self.bn_eps = int(ngf), int(ndf), float(bn_momentum), float(bn_eps)
        self.gan_name = f"{self.name}{self.resolution}"

    # mimicry's layouts: at 32 every width equals ngf/ndf and D down-samples in its first two blocks only; at 64
    # widths halve per block (G) / double per block (D) and every D block down-samples.
    def generator_widths(self) -> list[int]:
        if self.resolution == 32:
            return [self.ngf] * (self.blocks + 1)
        return [self.ngf >> i for i in range(self.blocks + 1)]

    def discriminator_widths(self) -> tuple[list[int], list[bool]]:
        if self.resolution == 32:
            return [self.ndf] * (self.blocks + 1), [True] + [False] * (self.blocks - 1)
        return [self.ndf >> i for i in reversed(range(self.blocks + 1))], [True] * self.blocks

    def check_data(self, kind, sample_shape) -> None:
        super().check_data(kind, sample_shape)
        check_image_shape(self.gan_name, self.resolution, sample_shape)

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return build_replicas(lambda s: ResNetGenerator(self.z_dim, self.generator_widths(), sample_shape[0],
                                                        self.bottom_width, s, self.bn_eps, self.bn_momentum),
                              generators)

    def discriminator_class(self):
        return ResNetDiscriminator

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        widths, down = self.discriminator_widths()
        network = self.discriminator_class()
        return build_replicas(lambda s: network(pack * sample_shape[0], widths, down, s), generators)
