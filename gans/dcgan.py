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

Both train one replica per process (``supports_replicas = False``) on the stacked-batch convention: G maps z
(1, B, z_dim) to (1, B, C, H, W); D maps (1, B, C·pack, H, W) to (logits (1, B), φ_D (1, B, m)). PacGAN packing
(``method.pack``) concatenates ``pack`` consecutive samples on the channel axis, so D's first conv takes C·pack
channels.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import ConfigError, require
from gans.base import GANSpec

INITS = ("glorot", "torch", "dcgan")


def _seed_from(generators: Sequence[torch.Generator]) -> int:
    require(len(generators) == 1, f"image GANs train one replica per process, got {len(generators)} generators "
                                   "(set trainer.replicas=1 and sweep seeds)")
    return int(torch.randint(0, 2 ** 62, (1,), generator=generators[0]))


def _build(module_fn, generators, init: str) -> nn.Module:
    """Build a module with its parameters drawn from the replica's seed (whatever the global RNG state)."""
    require(init in INITS, f"gan.init must be one of {list(INITS)}, got {init!r}")
    seed = _seed_from(generators)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = module_fn()
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for m in module.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    if init == "glorot":
                        nn.init.xavier_uniform_(m.weight, generator=gen)
                        if m.bias is not None:
                            m.bias.zero_()
                    elif init == "dcgan":
                        m.weight.normal_(0.0, 0.02, generator=gen)
                        if m.bias is not None:
                            m.bias.zero_()
                elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and init == "dcgan":
                    m.weight.normal_(1.0, 0.02, generator=gen)
                    m.bias.zero_()
    return module


class _Stacked(nn.Module):
    """Flattens the replica dim: (1, B, ...) -> (B, ...) -> net -> (1, B, ...)."""

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ConfigError(f"image GANs train one replica (leading dim 1), got {x.shape[0]}")
        return x.reshape(x.shape[1], *x.shape[2:])


class ConvFeatureDiscriminator(_Stacked):
    """A conv stack ``layers`` to a 4x4x512 map, flattened (D's features) and read by one linear unit (the score)."""

    feature_dim = 4 * 4 * 512

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(self.feature_dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net(self._flat(x)).flatten(1)
        return self.out(features).squeeze(1).unsqueeze(0), features.unsqueeze(0)


# ----------------------------------------------------------------------------------------------------- dcgan
class DCGAN28Generator(_Stacked):
    def __init__(self, z_dim: int, channels: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.fc = nn.Linear(z_dim, 7 * 7 * 256, bias=False)
        self.bn0 = nn.BatchNorm1d(7 * 7 * 256, eps=bn_eps, momentum=bn_momentum)
        self.deconv1 = nn.ConvTranspose2d(256, 128, 5, 1, 2)
        self.bn1 = nn.BatchNorm2d(128, eps=bn_eps, momentum=bn_momentum)
        self.deconv2 = nn.ConvTranspose2d(128, 64, 5, 2, 2, output_padding=1)
        self.bn2 = nn.BatchNorm2d(64, eps=bn_eps, momentum=bn_momentum)
        self.deconv3 = nn.ConvTranspose2d(64, channels, 5, 2, 2, output_padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.bn0(F.relu(self.fc(self._flat(z))))
        h = self.bn1(F.relu(self.deconv1(h.view(-1, 256, 7, 7))))
        h = self.bn2(F.relu(self.deconv2(h)))
        x = torch.tanh(self.deconv3(h))
        return x.unsqueeze(0)


class DCGAN28Discriminator(_Stacked):
    def __init__(self, channels: int, slope: float, bn_momentum: float, bn_eps: float):
        super().__init__()
        self.slope = slope
        self.conv1 = nn.Conv2d(channels, 64, 5, 2, 2)
        self.conv2 = nn.Conv2d(64, 128, 5, 2, 2)
        self.bn2 = nn.BatchNorm2d(128, eps=bn_eps, momentum=bn_momentum)
        self.conv3 = nn.Conv2d(128, 256, 5, 2, 2)
        self.bn3 = nn.BatchNorm2d(256, eps=bn_eps, momentum=bn_momentum)
        self.conv4 = nn.Conv2d(256, 512, 5, 2, 2)
        self.bn4 = nn.BatchNorm2d(512, eps=bn_eps, momentum=bn_momentum)
        self.out = nn.Linear(2 * 2 * 512, 1)
        self.feature_dim = 2048

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.slope
        h = F.leaky_relu(self.conv1(self._flat(x)), a)
        h = self.bn2(F.leaky_relu(self.conv2(h), a))
        h = self.bn3(F.leaky_relu(self.conv3(h), a))
        h = self.bn4(F.leaky_relu(self.conv4(h), a))
        features = h.flatten(1)
        return self.out(features).squeeze(1).unsqueeze(0), features.unsqueeze(0)


class ImageGANSpec(GANSpec):
    """Shared checks of the image GANs: image data of a fixed size, 1..3 channels, one replica."""

    supports_replicas = False
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
        return _build(lambda: DCGAN28Generator(self.z_dim, sample_shape[0], self.bn_momentum, self.bn_eps),
                      generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: DCGAN28Discriminator(pack * sample_shape[0], self.leaky_slope, self.bn_momentum,
                                                   self.bn_eps), generators, self.init)


# --------------------------------------------------------------------------------------------------- dcgan32
class DCGAN32Generator(_Stacked):
    def __init__(self, z_dim: int, channels: int, bn_momentum: float, bn_eps: float):
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=bn_eps, momentum=bn_momentum)
        self.fc = nn.Linear(z_dim, 384)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(384, 192, 4, 1, 0, bias=False), bn(192), nn.ReLU(),
            nn.ConvTranspose2d(192, 96, 4, 2, 1, bias=False), bn(96), nn.ReLU(),
            nn.ConvTranspose2d(96, 48, 4, 2, 1, bias=False), bn(48), nn.ReLU(),
            nn.ConvTranspose2d(48, channels, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(self._flat(z)).view(-1, 384, 1, 1)).unsqueeze(0)


class DCGAN32Discriminator(ConvFeatureDiscriminator):
    def __init__(self, channels: int, slope: float, dropout: float, bn_momentum: float, bn_eps: float):
        layers, cin = [], channels
        for i, (cout, stride) in enumerate([(16, 2), (32, 1), (64, 2), (128, 1), (256, 2), (512, 1)]):
            layers.append(nn.Conv2d(cin, cout, 3, stride, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout, eps=bn_eps, momentum=bn_momentum))
            layers += [nn.LeakyReLU(slope), nn.Dropout(dropout)]
            cin = cout
        super().__init__(layers)


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
        return _build(lambda: DCGAN32Generator(self.z_dim, sample_shape[0], self.bn_momentum, self.bn_eps),
                      generators, self.init)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return _build(lambda: DCGAN32Discriminator(pack * sample_shape[0], self.leaky_slope, self.dropout,
                                                   self.bn_momentum, self.bn_eps), generators, self.init)
