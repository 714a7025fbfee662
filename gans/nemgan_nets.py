"""``gan=nemgan_conv``: the generator and critic of the NEMGAN authors' scripts (REFERENCE 3.2; the same stacks in
nemganp_fmnist_5.py and NEMGAN.py), 28x28 images.

G: z -> Dense 1024 BN LReLU -> Dense 7·7·128 BN LReLU -> (128, 7, 7) -> Dropout 0.3 -> ConvT 64 k5 BN LReLU
   -> UpSample x2 (14) -> ConvT 32, 16, 8 k5 (each BN LReLU) -> UpSample x2 (28) -> ConvT 4 k5 BN LReLU
   -> ConvT C k5 -> tanh.
D: Conv 64, 128, 256 k5 stride 2 (14, 7, 4), Conv 512 k5 stride 1 (4), each LReLU 0.2 + Dropout 0.4 -> flatten
   (4·4·512 = 8192 = φ_D) -> Dense 1. No batch norm in D, so it suits WGAN-GP (the FMNIST script's loss) as well as
   the non-saturating loss (the MNIST script's sigmoid D).
Choices: 'same' padding everywhere (Keras' 'valid' cannot fit four stride-2 convs into 28 pixels); G ends with tanh
where the code has a sigmoid on [0, 1] images (tanh(a) = 2·sigmoid(2a) - 1: the same model in our [-1, 1] range);
batch norm with Keras' momentum 0.9 (PyTorch 0.1) and epsilon 1e-3; nearest-neighbour upsampling (Keras'
UpSampling2D); glorot-uniform kernels and zero biases (Keras' defaults). Optimiser: the paper's §3 (Adam
beta = (0.5, 0.9), lr 2e-4 for G and 1e-3 for D; the code uses 1e-4 for both).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import require
from gans.dcgan import ImageGANSpec
from gans.single_replica import SingleReplica, build_seeded as _build

__all__ = ["NEMGANConv"]


class NEMGANGenerator(SingleReplica):
    def __init__(self, z_dim: int, channels: int, slope: float, dropout: float, bn_momentum: float, bn_eps: float):
        super().__init__()
        bn1 = lambda c: nn.BatchNorm1d(c, eps=bn_eps, momentum=bn_momentum)
        bn2 = lambda c: nn.BatchNorm2d(c, eps=bn_eps, momentum=bn_momentum)
        act = nn.LeakyReLU(slope)
        convt = lambda cin, cout: nn.ConvTranspose2d(cin, cout, 5, 1, 2)
        self.dense = nn.Sequential(nn.Linear(z_dim, 1024), bn1(1024), act, nn.Linear(1024, 7 * 7 * 128),
                                   bn1(7 * 7 * 128), act)
        self.convs = nn.Sequential(
            nn.Dropout(dropout), convt(128, 64), bn2(64), act, nn.Upsample(scale_factor=2, mode="nearest"),
            convt(64, 32), bn2(32), act, convt(32, 16), bn2(16), act, convt(16, 8), bn2(8), act,
            nn.Upsample(scale_factor=2, mode="nearest"), convt(8, 4), bn2(4), act, convt(4, channels))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(self._flat(z)).view(-1, 128, 7, 7)
        return torch.tanh(self.convs(h)).unsqueeze(0)


class NEMGANDiscriminator(SingleReplica):
    feature_dim = 4 * 4 * 512

    def __init__(self, channels: int, slope: float, dropout: float):
        super().__init__()
        layers, cin = [], channels
        for cout, stride in ((64, 2), (128, 2), (256, 2), (512, 1)):
            layers += [nn.Conv2d(cin, cout, 5, stride, 2), nn.LeakyReLU(slope), nn.Dropout(dropout)]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(self.feature_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net(self._flat(x)).flatten(1)
        return self.out(features).squeeze(1).unsqueeze(0), features.unsqueeze(0)


class NEMGANConv(ImageGANSpec):
    """``gan=nemgan_conv`` (see the module docstring)."""

    image_size = 28
    gan_name = "nemgan_conv"

    def __init__(self, z_dim: int = 50, lr_g: float = 2e-4, lr_d: float = 1e-3, betas: Sequence[float] = (0.5, 0.9),
                 leaky_slope: float = 0.2, g_dropout: float = 0.3, d_dropout: float = 0.4, bn_momentum: float = 0.1,
                 bn_eps: float = 1e-3, init: str = "glorot", prior=None):
        super().__init__(z_dim, lr_g, lr_d, betas, prior)
        require(0 <= leaky_slope < 1, f"gan.leaky_slope must be in [0, 1), got {leaky_slope}")
        require(0 <= g_dropout < 1 and 0 <= d_dropout < 1, "gan.g_dropout and gan.d_dropout must be in [0, 1)")
        require(0 < bn_momentum <= 1 and bn_eps > 0, "gan.bn_momentum must be in (0, 1] and gan.bn_eps > 0")
        self.leaky_slope, self.g_dropout, self.d_dropout = float(leaky_slope), float(g_dropout), float(d_dropout)
        self.bn_momentum, self.bn_eps, self.init = float(bn_momentum), float(bn_eps), init

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return _build(lambda: NEMGANGenerator(self.z_dim, sample_shape[0], self.leaky_slope, self.g_dropout,
                                              self.bn_momentum, self.bn_eps), generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: NEMGANDiscriminator(pack * sample_shape[0], self.leaky_slope, self.d_dropout),
                      generators, self.init)
