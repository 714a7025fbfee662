"""Convolutional GANs for the MNIST-family image experiments.

``gan=dcgan``: the RLS/BuresGAN MNIST DCGAN (RLS supplementary Table 7, REFERENCE 1.6), 28x28 images.
    G: z (100) -> Dense 7·7·256 (no bias) -> ReLU -> BN -> reshape (256, 7, 7) -> ConvT 128 k5 s1 -> ReLU -> BN
       -> ConvT 64 k5 s2 (14x14) -> ReLU -> BN -> ConvT C k5 s2 (28x28) -> tanh.
    D: Conv 64 k5 s2 (14x14) LReLU -> Conv 128 k5 s2 (7x7) LReLU BN -> Conv 256 k5 s2 (4x4) LReLU BN
       -> Conv 512 k5 s2 (2x2) LReLU BN -> flatten (2048 = φ_D) -> Dense 1 (logit).
    LeakyReLU slope 0.3 (Keras' default), batch normalisation *after* the activation (as Table 7 lists them),
    'same' padding (PyTorch pads symmetrically where Keras puts the odd pixel at the bottom/right).
    Table 7 vs the code: the table lists ReLU + BN on G's last layer; the BuresGAN code the authors built on ends
    with tanh and no BN (images in [-1, 1]). We follow the code (a ReLU output could never produce the -1
    background). Init: Keras' glorot-uniform kernels and zero biases, as that TensorFlow code.
    Batch norm: Keras' defaults are momentum 0.99 (running = 0.99·running + 0.01·batch) and epsilon 1e-3; PyTorch's
    are momentum 0.1 (its momentum is the weight of the *new* batch) and epsilon 1e-5. ``bn_momentum`` uses PyTorch's
    convention; the defaults (0.01, 1e-3) reproduce Keras. Running statistics only matter in eval mode (generating
    samples); training uses batch statistics either way.

``gan=dcgan32``: Dia-GAN's ``MNIST_DCGAN`` (REFERENCE 2.6; adapted from ACGAN-PyTorch), 32x32 images, 1 or 3
    channels. G: z (100) -> Linear 384 -> (384, 1, 1) -> ConvT 192 k4 s1 (4x4) BN ReLU -> ConvT 96 k4 s2 (8) BN ReLU
    -> ConvT 48 k4 s2 (16) BN ReLU -> ConvT C k4 s2 (32) tanh (no bias in the ConvTs). D: six 3x3 convs without bias,
    16 s2 -> 32 -> 64 s2 -> 128 -> 256 s2 -> 512 (32 -> 16 -> 16 -> 8 -> 8 -> 4 -> 4), each followed by BN (convs
    2-6), LeakyReLU 0.2 and Dropout 0.5; flatten (4·4·512 = 8192 = φ_D) -> Linear 1. PyTorch's default init (the
    authors' ``weights_init_3channel`` is a no-op) and PyTorch's BN defaults.

Both hold ``trainer.replicas`` = S seed replicas as channel groups (:mod:`gans.grouped`: grouped convolutions,
batch norm per replica, batched linears), replica r initialised exactly as a lone network of seed r: G maps z
(S, B, z_dim) to (S, B, C, H, W); D maps (S, B, C·pack, H, W) to (logits (S, B), φ_D (S, B, m)). With one replica
they compute exactly what the plain torch layers compute. PacGAN packing (``method.pack``) concatenates ``pack``
consecutive samples on the channel axis, so D's first conv takes C·pack channels.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError, require
from gans.base import GANSpec
from gans.grouped import (LAYERS as GROUPED_LAYERS, GroupedBatchNorm, GroupedConv2d, GroupedConvTranspose2d,
                          GroupedLinear, build_replicas, from_groups, to_groups)

INITS = ("glorot", "torch", "dcgan")


def initialise_layers(module: nn.Module, init: str, gen: torch.Generator, layers: tuple, norms: tuple,
                      kernel=lambda m: m.weight) -> None:
    """Redraw the weights of ``module``'s ``layers`` (and, for ``dcgan``, ``norms``) for ``gan.init`` from ``gen``:
    ``glorot`` (Keras' glorot-uniform kernels, zero biases), ``dcgan`` (N(0, 0.02) kernels, BN scales N(1, 0.02)),
    ``torch`` (nothing: torch's default init, done at construction). ``kernel(layer)`` is the weight glorot's fan-in
    and fan-out are read from (one replica's, for grouped layers)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, layers):
                if init == "glorot":
                    nn.init.xavier_uniform_(kernel(m), generator=gen)
                    if m.bias is not None:
                        m.bias.zero_()
                elif init == "dcgan":
                    m.weight.normal_(0.0, 0.02, generator=gen)
                    if m.bias is not None:
                        m.bias.zero_()
            elif isinstance(m, norms) and init == "dcgan":
                m.weight.normal_(1.0, 0.02, generator=gen)
                m.bias.zero_()


def _initialiser(init: str):
    """The ``initialise(module, generator)`` of :func:`gans.grouped.build_replicas` for ``gan.init`` (one replica;
    see :func:`initialise_layers`)."""
    require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")

    def initialise(module: nn.Module, gen: torch.Generator) -> None:
        initialise_layers(module, init, gen, GROUPED_LAYERS, (GroupedBatchNorm,), lambda m: m.replica_weight(0))

    return initialise


# ----------------------------------------------------------------------------------------------------- dcgan
class DCGAN28Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, bn_momentum: float, bn_eps: float, replicas: int = 1):
        super().__init__()
        self.replicas = replicas
        bn = lambda c: GroupedBatchNorm(c, replicas, bn_eps, bn_momentum)
        self.fc = GroupedLinear(z_dim, 7 * 7 * 256, bias=False, replicas=replicas)
        self.bn0 = bn(7 * 7 * 256)
        self.deconv1 = GroupedConvTranspose2d(256, 128, 5, 1, 2, replicas=replicas)
        self.bn1 = bn(128)
        self.deconv2 = GroupedConvTranspose2d(128, 64, 5, 2, 2, output_padding=1, replicas=replicas)
        self.bn2 = bn(64)
        self.deconv3 = GroupedConvTranspose2d(64, channels, 5, 2, 2, output_padding=1, replicas=replicas)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.bn0(F.relu(self.fc(to_groups(z))))
        h = self.bn1(F.relu(self.deconv1(h.view(-1, self.replicas * 256, 7, 7))))
        h = self.bn2(F.relu(self.deconv2(h)))
        return from_groups(torch.tanh(self.deconv3(h)), self.replicas)


class DCGAN28Discriminator(nn.Module):
    def __init__(self, channels: int, slope: float, bn_momentum: float, bn_eps: float, replicas: int = 1):
        super().__init__()
        self.slope, self.replicas = slope, replicas
        bn = lambda c: GroupedBatchNorm(c, replicas, bn_eps, bn_momentum)
        self.conv1 = GroupedConv2d(channels, 64, 5, 2, 2, replicas=replicas)
        self.conv2 = GroupedConv2d(64, 128, 5, 2, 2, replicas=replicas)
        self.bn2 = bn(128)
        self.conv3 = GroupedConv2d(128, 256, 5, 2, 2, replicas=replicas)
        self.bn3 = bn(256)
        self.conv4 = GroupedConv2d(256, 512, 5, 2, 2, replicas=replicas)
        self.bn4 = bn(512)
        self.out = GroupedLinear(2 * 2 * 512, 1, replicas=replicas)
        self.feature_dim = 2048

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.slope
        h = F.leaky_relu(self.conv1(to_groups(x)), a)
        h = self.bn2(F.leaky_relu(self.conv2(h), a))
        h = self.bn3(F.leaky_relu(self.conv3(h), a))
        h = self.bn4(F.leaky_relu(self.conv4(h), a))
        return _logits_and_features(self.out, h, self.replicas)


def _logits_and_features(head: GroupedLinear, h: torch.Tensor, replicas: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (S, B), φ_D (S, B, m)) of the last feature map h (B, S·C, H, W): φ_D = each replica's flattened map."""
    features = h.reshape(h.shape[0], -1)
    return from_groups(head(features), replicas).squeeze(-1), from_groups(features, replicas)


class ImageGANSpec(GANSpec):
    """Shared checks of the image GANs: image data of a fixed size, 1 or 3 channels."""

    supports_replicas = True
    data_kinds = frozenset({"image"})
    image_size = 28
    gan_name = "dcgan"

    def check_data(self, kind, sample_shape) -> None:
        super().check_data(kind, sample_shape)
        if sample_shape is None:
            return
        if len(sample_shape) != 3:
            raise ConfigError(f"gan={self.gan_name} models images (C, H, W), but samples have shape "
                              f"{tuple(sample_shape)}")
        c, h, w = sample_shape
        if (h, w) != (self.image_size, self.image_size):
            raise ConfigError(f"gan={self.gan_name} needs {self.image_size}x{self.image_size} images, the dataset "
                              f"gives {h}x{w}; set dataset.size={self.image_size} (or use "
                              f"{'gan=dcgan32' if self.image_size == 28 else 'gan=dcgan'} for {h}x{w})")
        if c not in (1, 3):
            raise ConfigError(f"gan={self.gan_name} models 1- or 3-channel images, got {c} channels")


class DCGAN28(ImageGANSpec):
    """``gan=dcgan`` (see the module docstring). Adam lr 1e-3, betas (0.5, 0.999) for both nets (RLS supp. §6)."""

    image_size = 28
    gan_name = "dcgan"

    def __init__(self, z_dim: int = 100, lr_g: float = 1e-3, lr_d: float = 1e-3,
                 betas: Sequence[float] = (0.5, 0.999), leaky_slope: float = 0.3, bn_momentum: float = 0.01,
                 bn_eps: float = 1e-3, init: str = "glorot", prior=None):
        super().__init__(z_dim, lr_g, lr_d, betas, prior)
        require(0 <= leaky_slope < 1, f"gan.leaky_slope must be in [0, 1), got {leaky_slope}")
        require(0 < bn_momentum <= 1 and bn_eps > 0, "gan.bn_momentum must be in (0, 1] and gan.bn_eps > 0")
        require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
        self.leaky_slope, self.bn_momentum, self.bn_eps, self.init = float(leaky_slope), float(bn_momentum), float(bn_eps), init

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return build_replicas(lambda s: DCGAN28Generator(self.z_dim, sample_shape[0], self.bn_momentum, self.bn_eps,
                                                         s), generators, _initialiser(self.init))

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return build_replicas(lambda s: DCGAN28Discriminator(pack * sample_shape[0], self.leaky_slope,
                                                             self.bn_momentum, self.bn_eps, s),
                              generators, _initialiser(self.init))


# --------------------------------------------------------------------------------------------------- dcgan32
class DCGAN32Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, bn_momentum: float, bn_eps: float, replicas: int = 1):
        super().__init__()
        self.replicas = replicas
        bn = lambda c: GroupedBatchNorm(c, replicas, bn_eps, bn_momentum)
        deconv = lambda cin, cout, stride, pad: GroupedConvTranspose2d(cin, cout, 4, stride, pad, bias=False,
                                                                      replicas=replicas)
        self.fc = GroupedLinear(z_dim, 384, replicas=replicas)
        self.net = nn.Sequential(
            deconv(384, 192, 1, 0), bn(192), nn.ReLU(),
            deconv(192, 96, 2, 1), bn(96), nn.ReLU(),
            deconv(96, 48, 2, 1), bn(48), nn.ReLU(),
            deconv(48, channels, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(to_groups(z)).view(-1, self.replicas * 384, 1, 1)
        return from_groups(self.net(h), self.replicas)


class DCGAN32Discriminator(nn.Module):
    """Dropout draws its masks for all replicas together (from torch's global RNG, as a lone run does)."""

    def __init__(self, channels: int, slope: float, dropout: float, bn_momentum: float, bn_eps: float,
                 replicas: int = 1):
        super().__init__()
        self.replicas = replicas
        layers, cin = [], channels
        for i, (cout, stride) in enumerate([(16, 2), (32, 1), (64, 2), (128, 1), (256, 2), (512, 1)]):
            layers.append(GroupedConv2d(cin, cout, 3, stride, 1, bias=False, replicas=replicas))
            if i > 0:
                layers.append(GroupedBatchNorm(cout, replicas, bn_eps, bn_momentum))
            layers += [nn.LeakyReLU(slope), nn.Dropout(dropout)]
            cin = cout
        self.net = nn.Sequential(*layers)
        self.out = GroupedLinear(4 * 4 * 512, 1, replicas=replicas)
        self.feature_dim = 4 * 4 * 512

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _logits_and_features(self.out, self.net(to_groups(x)), self.replicas)


class DCGAN32(ImageGANSpec):
    """``gan=dcgan32`` (see the module docstring). Dia-GAN's MNIST settings: Adam lr 1e-4, betas (0.5, 0.9)."""

    image_size = 32
    gan_name = "dcgan32"

    def __init__(self, z_dim: int = 100, lr_g: float = 1e-4, lr_d: float = 1e-4,
                 betas: Sequence[float] = (0.5, 0.9), leaky_slope: float = 0.2, dropout: float = 0.5,
                 bn_momentum: float = 0.1, bn_eps: float = 1e-5, init: str = "torch", prior=None):
        super().__init__(z_dim, lr_g, lr_d, betas, prior)
        require(0 <= leaky_slope < 1, f"gan.leaky_slope must be in [0, 1), got {leaky_slope}")
        require(0 <= dropout < 1, f"gan.dropout must be in [0, 1), got {dropout}")
        require(0 < bn_momentum <= 1 and bn_eps > 0, "gan.bn_momentum must be in (0, 1] and gan.bn_eps > 0")
        require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
        self.leaky_slope, self.dropout = float(leaky_slope), float(dropout)
        self.bn_momentum, self.bn_eps, self.init = float(bn_momentum), float(bn_eps), init

    def build_generator(self, sample_shape, generators) -> nn.Module:
        return build_replicas(lambda s: DCGAN32Generator(self.z_dim, sample_shape[0], self.bn_momentum, self.bn_eps,
                                                         s), generators, _initialiser(self.init))

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return build_replicas(lambda s: DCGAN32Discriminator(pack * sample_shape[0], self.leaky_slope, self.dropout,
                                                             self.bn_momentum, self.bn_eps, s),
                              generators, _initialiser(self.init))
