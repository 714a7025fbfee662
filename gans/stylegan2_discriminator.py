"""StyleGAN2's discriminator (Karras et al. 2020; REFERENCE §10.2), used by ``gan=stylegan2``.

FromRGB (1x1 conv, leaky ReLU) at the top resolution R; one block per resolution r = R ... 8: a 3x3 conv at r
and a 3x3 conv with FIR down-sampling to r/2 (channels min(2·fmap_base / r, fmap_max), as the generator), both
with leaky ReLU 0.2 and gain √2; ``resnet`` adds a 1x1 down-sampling skip without bias and scales the sum by √0.5,
``orig`` has no skip. At 4x4: minibatch standard deviation (groups of ``mbstd_group``, ``mbstd_channels`` extra
channels), a 3x3 conv, a fully connected layer to the 4x4 channel count (its output is φ_D) and a linear layer to
one logit. Equalised learning rate everywhere; no normalisation layers, so D's outputs for one sample depend on
the others only through the minibatch standard deviation of its group.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gans.single_replica import SingleReplica
from gans.stylegan2_layers import EqualizedConv2d, EqualizedLinear, minibatch_stddev

D_ARCHITECTURES = ("resnet", "orig")


class DiscriminatorBlock(nn.Module):
    """(B, cin, r, r) -> (B, cout, r/2, r/2): conv, conv with down-sampling (and the resnet skip)."""

    def __init__(self, cin: int, cout: int, architecture: str, fir):
        super().__init__()
        self.conv0 = EqualizedConv2d(cin, cin, 3, activation="lrelu", fir=fir)
        self.conv1 = EqualizedConv2d(cin, cout, 3, activation="lrelu", down=2, fir=fir)
        self.skip = EqualizedConv2d(cin, cout, 1, bias=False, down=2, fir=fir) if architecture == "resnet" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.conv0(x))
        return y if self.skip is None else (y + self.skip(x)) * math.sqrt(0.5)


class StyleGAN2Discriminator(SingleReplica):
    """images (1, B, C, R, R) -> (logits (1, B), φ_D (1, B, widths[4]))."""

    def __init__(self, resolution: int, channels: int, widths: dict[int, int], architecture: str, mbstd_group: int,
                 mbstd_channels: int, fir):
        super().__init__()
        self.fromrgb = EqualizedConv2d(channels, widths[resolution], 1, activation="lrelu")
        self.blocks = nn.Sequential(*[DiscriminatorBlock(widths[r], widths[r // 2], architecture, fir)
                                      for r in (2 ** k for k in range(int(math.log2(resolution)), 2, -1))])
        c4 = widths[4]
        self.mbstd_group, self.mbstd_channels = mbstd_group, mbstd_channels
        self.conv = EqualizedConv2d(c4 + mbstd_channels, c4, 3, activation="lrelu")
        self.fc = EqualizedLinear(c4 * 16, c4, activation="lrelu")
        self.out = EqualizedLinear(c4, 1)
        self.feature_dim = c4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(self.fromrgb(self._flat(x)))
        h = self.conv(minibatch_stddev(h, self.mbstd_group, self.mbstd_channels))
        features = self.fc(h.flatten(1))
        return self.out(features).squeeze(1).unsqueeze(0), features.unsqueeze(0)
