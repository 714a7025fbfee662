"""The Rumi-GAN authors' DCGANs (``arch/arch_RumiGAN`` of their TF2 code, REFERENCE §4.6), shared by Rumi-LSGAN and
every baseline ("identical generator and discriminator networks", §4.2).

``gan=rumi_mnist`` (28x28): G: z 100 -> Dense 7·7·256 (no bias) BN LReLU -> ConvT 128 k5 s1 -> ConvT 64 k5 s2 (14)
    -> ConvT 32 k5 s1 -> ConvT 1 k5 s2 (28), each BN LReLU -> ConvT C k5 s1 tanh. D: Conv 64 k5 s2 (14) -> Conv 64 k5
    s2 (7) -> Conv 128 k5 s2 (4), each BN LReLU -> flatten -> Dense 50 LReLU (φ_D) -> Dense 1.
``gan=rumi_cifar10`` (32x32): G: z as a 1x1x100 map -> ConvT 512 / 256 / 128 / 64 k5 s2 (2, 4, 8, 16), each BN
    (Keras momentum 0.9) LReLU -> ConvT C k5 s2 (32) tanh. D: Conv 64 / 128 / 256 / 512 k5 s2, each BN (0.9) LReLU 0.1
    -> flatten -> Dense 50 (φ_D) -> Dense 1.
``gan=rumi_celeba`` (64x64): G: Dense (s/16)²·1024 BN LReLU -> ConvT 512 / 256 / 128 k5 s2, each BN LReLU -> ConvT C
    k5 s2 -> tanh (the code ends with a sigmoid on images in [0, 1]; ours are in [-1, 1]). D: Conv 64 / 128 / 256 /
    512 k5 s2, each BN LReLU -> flatten (φ_D) -> Dense 1.

Where the code lists BN and LReLU once for a run of layers, every hidden layer gets them; Keras' defaults elsewhere:
LeakyReLU slope 0.3, BN momentum 0.99 / epsilon 1e-3 (PyTorch convention: momentum 0.01), glorot-uniform kernels,
zero biases, 'same' padding. One replica per process, as ``gans.dcgan``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import require
from gans.dcgan import INITS, ImageGANSpec
from gans.single_replica import SingleReplica, build_seeded as _build

__all__ = ["RumiCelebA", "RumiCIFAR10", "RumiMNIST"]


def _conv_t(cin: int, cout: int, stride: int) -> nn.ConvTranspose2d:
    """A 5x5 transposed convolution with 'same' padding: stride 1 keeps the size, stride 2 doubles it."""
    return nn.ConvTranspose2d(cin, cout, 5, stride, 2, output_padding=stride - 1)


class _Body(nn.Sequential):
    """Layers with BN and LeakyReLU after each of ``convs`` (BN, then the activation, as the Rumi code)."""

    def __init__(self, convs: Sequence[nn.Module], slope: float, bn_momentum: float, bn_eps: float):
        layers = []
        for conv in convs:
            layers += [conv, nn.BatchNorm2d(conv.out_channels, eps=bn_eps, momentum=bn_momentum), nn.LeakyReLU(slope)]
        super().__init__(*layers)


class RumiGenerator(SingleReplica):
    """z -> (optional dense + BN + LReLU to ``start`` channels at ``side``) -> hidden ConvTs -> last ConvT -> tanh."""

    def __init__(self, z_dim: int, start: int, side: int, hidden: Sequence[tuple[int, int]], channels: int,
                 last_stride: int, dense: bool, slope: float, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.start, self.side = start, side
        if dense:
            self.fc = nn.Linear(z_dim, start * side * side, bias=False)
            self.bn0 = nn.BatchNorm1d(start * side * side, eps=bn_eps, momentum=bn_momentum)
        else:
            require(start == z_dim and side == 1, "without a dense layer z is reshaped to a 1x1 map")
            self.fc = None
        self.slope = slope
        convs, cin = [], start
        for cout, stride in hidden:
            convs.append(_conv_t(cin, cout, stride))
            cin = cout
        self.body = _Body(convs, slope, bn_momentum, bn_eps)
        self.out = _conv_t(cin, channels, last_stride)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self._flat(z)
        if self.fc is not None:
            h = nn.functional.leaky_relu(self.bn0(self.fc(h)), self.slope)
        h = self.body(h.view(-1, self.start, self.side, self.side))
        return torch.tanh(self.out(h)).unsqueeze(0)


class RumiDiscriminator(SingleReplica):
    """Convs k5 s2 (each BN LReLU) -> flatten -> optional Dense ``dense`` + LReLU (then φ_D) -> Dense 1."""

    def __init__(self, channels: int, widths: Sequence[int], image_size: int, dense: int | None, slope: float,
                 dense_slope: float, bn_momentum: float, bn_eps: float):
        super().__init__()
        convs, cin = [], channels
        for width in widths:
            convs.append(nn.Conv2d(cin, width, 5, 2, 2))
            cin = width
        self.body = _Body(convs, slope, bn_momentum, bn_eps)
        side = image_size
        for _ in widths:
            side = (side + 1) // 2
        flat = cin * side * side
        self.dense = nn.Linear(flat, dense) if dense else None
        self.dense_slope = dense_slope
        self.feature_dim = dense or flat
        self.out = nn.Linear(self.feature_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(self._flat(x)).flatten(1)
        if self.dense is not None:
            features = nn.functional.leaky_relu(self.dense(features), self.dense_slope)
        return self.out(features).squeeze(1).unsqueeze(0), features.unsqueeze(0)


class _RumiSpec(ImageGANSpec):
    """Settings shared by the three architectures (see the module docstring); subclasses give the layers."""

    def __init__(self, z_dim: int = 100, lr_g: float = 5e-5, lr_d: float = 5e-5, betas: Sequence[float] = (0.5, 0.9),
                 leaky_slope: float = 0.3, bn_momentum: float = 0.01, bn_eps: float = 1e-3, init: str = "glorot", prior=None):
        super().__init__(z_dim, lr_g, lr_d, betas, prior)
        require(0 <= leaky_slope < 1, f"gan.leaky_slope must be in [0, 1), got {leaky_slope}")
        require(0 < bn_momentum <= 1 and bn_eps > 0, "gan.bn_momentum must be in (0, 1] and gan.bn_eps > 0")
        require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
        self.leaky_slope, self.bn_momentum, self.bn_eps, self.init = float(leaky_slope), float(bn_momentum), \
            float(bn_eps), init

    def _norm(self) -> dict:
        return {"bn_momentum": self.bn_momentum, "bn_eps": self.bn_eps}


class RumiMNIST(_RumiSpec):
    """``gan=rumi_mnist``."""

    image_size, gan_name = 28, "rumi_mnist"

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return _build(lambda: RumiGenerator(self.z_dim, 256, 7, [(128, 1), (64, 2), (32, 1), (1, 2)], sample_shape[0],
                                            1, True, self.leaky_slope, **self._norm()), generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: RumiDiscriminator(pack * sample_shape[0], [64, 64, 128], 28, 50, self.leaky_slope,
                                                self.leaky_slope, **self._norm()), generators, self.init)


class RumiCIFAR10(_RumiSpec):
    """``gan=rumi_cifar10`` (D's convolutions use LeakyReLU 0.1, its dense layer and G the Keras default)."""

    image_size, gan_name = 32, "rumi_cifar10"

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return _build(lambda: RumiGenerator(self.z_dim, self.z_dim, 1, [(512, 2), (256, 2), (128, 2), (64, 2)],
                                            sample_shape[0], 2, False, self.leaky_slope, **self._norm()),
                      generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: RumiDiscriminator(pack * sample_shape[0], [64, 128, 256, 512], 32, 50, 0.1,
                                                self.leaky_slope, **self._norm()), generators, self.init)


class RumiCelebA(_RumiSpec):
    """``gan=rumi_celeba`` (64x64 by default; any size divisible by 16)."""

    image_size, gan_name = 64, "rumi_celeba"

    def build_generator(self, sample_shape, generators) -> nn.Module:
        side = self.image_size // 16
        return _build(lambda: RumiGenerator(self.z_dim, 1024, side, [(512, 2), (256, 2), (128, 2)], sample_shape[0],
                                            2, True, self.leaky_slope, **self._norm()), generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: RumiDiscriminator(pack * sample_shape[0], [64, 128, 256, 512], self.image_size, None,
                                                self.leaky_slope, self.leaky_slope, **self._norm()),
                      generators, self.init)
