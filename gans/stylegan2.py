"""``gan=stylegan2``: StyleGAN2 (Karras et al. 2020) in plain PyTorch, written from the paper and REFERENCE §10.2
(the networks of the RLS paper's CIFAR-10 experiment, §3.3 Table 4: StyleGAN2 + DiffAugment).

Generator ('skip' architecture). Mapping: z normalised by its second moment, ``mapping_layers`` equalised-lr
fully connected layers (leaky ReLU 0.2, gain √2, lr multiplier 0.01) to w; a running average w_avg (β = 0.995,
updated in training mode) for truncation. Synthesis: a learned 4x4 constant, then per resolution r = 8 ... R:
FIR up-sampling [1, 3, 3, 1] and a 3x3 modulated, demodulated convolution, a second one at r, each followed by
per-pixel noise times a learned strength (initialised to 0), bias and leaky ReLU; every resolution has a ToRGB
(1x1 modulated, not demodulated, linear) whose output is added to the up-sampled image of the previous one. The
styles of each layer are an affine map of its w (bias initialised to 1). Channels: min(2·fmap_base / r, fmap_max)
at resolution r (the TF code's nf() with fmap_base 2048: 512/512/256/128 at 4/8/16/32). Up-sampling filters
before the 3x3 convolution where the reference code convolves transposed and filters after; both are the same
linear map away from the image border.

The input carries all of the generator's randomness (see :class:`LatentLayout`): z, the second latent and the
two uniform draws of style mixing, and the per-layer noise maps, drawn by ``prior`` from the generator it is
given (the training stream, or the evaluation's own). G is then a deterministic function of its input: a resumed
run continues exactly, and evaluation never shifts the training stream. Style mixing (training mode, probability
``style_mixing``): a sample uses w(z2) from a cutoff layer in [1, num_ws) on (per sample; the reference code draws
one cutoff per minibatch). Evaluation mode: truncation w_avg + ψ (w - w_avg) (ψ = ``truncation_psi``; layers below
``truncation_cutoff``, null = all), noise as ``eval_noise`` (random: the input's maps, const: fixed per-layer maps
kept as buffers, none), outputs clamped to [-1, 1] (the range images are saved and scored in).

Discriminator: see :mod:`gans.stylegan2_discriminator`; it returns ``(logits (1, B), φ_D (1, B, m))`` with φ_D
the output of the fully connected layer before the last one (m = the 4x4 channel count), so every method of the
suite runs on it unchanged. Training settings (R1 every step or lazily, path-length regularisation) are the
spec's fields (``conf/gan/stylegan2.yaml``); the EMA of G and DiffAugment are the trainer's and the augment group's.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError, require
from gans.base import GANSpec
from gans.optim import make_adam
from gans.path_length import PathLengthPenalty
from gans.r1 import R1_INPUTS, R1Penalty
from gans.stylegan2_discriminator import D_ARCHITECTURES, StyleGAN2Discriminator
from gans.single_replica import SingleReplica, build_seeded
from gans.stylegan2_layers import MODCONV_IMPLS, EqualizedLinear, activate, fir_kernel, modulated_conv2d, upsample2d

EVAL_NOISE = ("random", "const", "none")


def feature_maps(resolution: int, fmap_base: int, fmap_max: int) -> int:
    """Channels at ``resolution``: min(2·fmap_base / resolution, fmap_max) (the TF code's nf(log2(r) - 1))."""
    return max(1, min(int(2 * fmap_base / resolution), int(fmap_max)))


class LatentLayout:
    """The generator's input vector per sample: ``[z | z2 | noise maps | u_mix, u_cutoff]``.

    z and z2 (``z_dim`` each) and the noise maps (one r x r map per synthesis layer, in layer order) are N(0, 1);
    u_mix, u_cutoff are U(0, 1). z2 and the two uniforms are present only with style mixing."""

    def __init__(self, z_dim: int, noise_resolutions: Sequence[int], mixing: bool):
        self.z_dim, self.mixing = int(z_dim), bool(mixing)
        self.noise_resolutions = tuple(int(r) for r in noise_resolutions)
        self.gaussian_size = self.z_dim * (2 if self.mixing else 1) + sum(r * r for r in self.noise_resolutions)
        self.size = self.gaussian_size + (2 if self.mixing else 0)

    def draw(self, replicas: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """(S, n, size): the Gaussian part, then the uniforms."""
        latent = torch.randn(replicas, n, self.gaussian_size, generator=generator, device=device)
        if not self.mixing:
            return latent
        return torch.cat([latent, torch.rand(replicas, n, 2, generator=generator, device=device)], dim=-1)

    def split(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Tensor],
                                                     torch.Tensor | None]:
        """(B, size) -> z (B, z_dim), z2 (B, z_dim) or None, noise maps [(B, 1, r, r)], uniforms (B, 2) or None."""
        require(latent.shape[-1] == self.size, f"StyleGAN2 expects latent vectors of size {self.size} (see "
                                               f"LatentLayout), got {latent.shape[-1]}")
        at = self.z_dim
        z, z2 = latent[:, :at], None
        if self.mixing:
            z2, at = latent[:, at:at + self.z_dim], at + self.z_dim
        noise = []
        for r in self.noise_resolutions:
            noise.append(latent[:, at:at + r * r].reshape(-1, 1, r, r))
            at += r * r
        return z, z2, noise, (latent[:, at:at + 2] if self.mixing else None)


class LayoutLatent(nn.Module):
    """StyleGAN2's prior module: draws whole :class:`LatentLayout` inputs; no parameters."""

    has_modes = False

    def __init__(self, layout: LatentLayout, replicas: int):
        super().__init__()
        self.layout, self.replicas = layout, int(replicas)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.layout.draw(self.replicas, n, generator, generator.device)


class MappingNetwork(nn.Module):
    """z (B, z_dim) -> w (B, w_dim); tracks w_avg in training mode (see the module docstring)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float, w_avg_beta: float):
        super().__init__()
        self.net = nn.Sequential(*[EqualizedLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul, activation="lrelu")
                                   for i in range(layers)])
        self.w_avg_beta = float(w_avg_beta)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, update_w_avg: bool = False) -> torch.Tensor:
        w = self.net(z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt())
        if update_w_avg:
            self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
        return w


class SynthesisLayer(nn.Module):
    """(FIR up-sampling,) 3x3 modulated demodulated conv, noise x learned strength, bias, leaky ReLU."""

    def __init__(self, cin: int, cout: int, w_dim: int, resolution: int, up: bool, modconv: str, fir):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("fir", fir_kernel(fir), persistent=False)
        self.up, self.modconv = up, modconv

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.up:
            x = upsample2d(x, self.fir)
        x = modulated_conv2d(x, self.weight, self.affine(w), demodulate=True, impl=self.modconv)
        if noise is not None:
            x = x + noise * self.noise_strength
        return activate(x + self.bias[None, :, None, None], "lrelu")


class ToRGB(nn.Module):
    """1x1 modulated convolution without demodulation to the image channels, plus bias (linear)."""

    def __init__(self, cin: int, channels: int, w_dim: int, modconv: str):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(channels, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.modconv = modconv

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = modulated_conv2d(x, self.weight, self.affine(w), demodulate=False, impl=self.modconv)
        return out + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """ws (B, num_ws, w_dim) and noise maps -> images (B, C, R, R); the layer order defines the ws and noise order
    (4x4: conv, ToRGB; then per resolution: conv up, conv, ToRGB; a ToRGB shares the w of the next conv)."""

    def __init__(self, resolution: int, channels: int, w_dim: int, widths: dict[int, int], modconv: str, fir):
        super().__init__()
        self.resolutions = [2 ** k for k in range(2, int(math.log2(resolution)) + 1)]
        self.const = nn.Parameter(torch.randn(widths[4], 4, 4))
        self.layers, self.torgb = nn.ModuleList(), nn.ModuleList()
        self.layers.append(SynthesisLayer(widths[4], widths[4], w_dim, 4, False, modconv, fir))
        self.torgb.append(ToRGB(widths[4], channels, w_dim, modconv))
        for r in self.resolutions[1:]:
            self.layers.append(SynthesisLayer(widths[r // 2], widths[r], w_dim, r, True, modconv, fir))
            self.layers.append(SynthesisLayer(widths[r], widths[r], w_dim, r, False, modconv, fir))
            self.torgb.append(ToRGB(widths[r], channels, w_dim, modconv))
        self.noise_resolutions = [4] + [r for r in self.resolutions[1:] for _ in range(2)]
        self.num_ws = len(self.layers) + 1
        self.register_buffer("fir", fir_kernel(fir), persistent=False)

    def forward(self, ws: torch.Tensor, noise: Sequence[torch.Tensor | None]) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise[0])
        img = self.torgb[0](x, ws[:, 1])
        for block, torgb in enumerate(self.torgb[1:]):
            i = 1 + 2 * block
            x = self.layers[i](x, ws[:, i], noise[i])
            x = self.layers[i + 1](x, ws[:, i + 1], noise[i + 1])
            img = upsample2d(img, self.fir) + torgb(x, ws[:, i + 2])
        return img

    def const_noise(self, batch: int) -> list[torch.Tensor]:
        return [layer.noise_const[None, None].expand(batch, 1, -1, -1) for layer in self.layers]


class StyleGAN2Generator(SingleReplica):
    """latent (1, B, layout.size) -> images (1, B, C, R, R); see the module docstring."""

    def __init__(self, layout: LatentLayout, resolution: int, channels: int, w_dim: int, mapping_layers: int,
                 mapping_lr_mul: float, w_avg_beta: float, widths: dict[int, int], style_mixing: float,
                 truncation_psi: float, truncation_cutoff: int | None, eval_noise: str, modconv: str, fir):
        super().__init__()
        self.layout = layout
        self.mapping = MappingNetwork(layout.z_dim, w_dim, mapping_layers, mapping_lr_mul, w_avg_beta)
        self.synthesis = SynthesisNetwork(resolution, channels, w_dim, widths, modconv, fir)
        self.num_ws = self.synthesis.num_ws
        self.style_mixing, self.truncation_psi = float(style_mixing), float(truncation_psi)
        self.truncation_cutoff, self.eval_noise = truncation_cutoff, eval_noise

    def styles(self, z: torch.Tensor, z2: torch.Tensor | None, uniforms: torch.Tensor | None) -> torch.Tensor:
        """ws (B, num_ws, w_dim): w(z) per layer; style mixing in training mode, truncation in eval mode."""
        ws = self.mapping(z, update_w_avg=self.training)[:, None].expand(-1, self.num_ws, -1)
        if self.training and self.style_mixing > 0 and z2 is not None:
            cutoff = 1 + (uniforms[:, 1] * (self.num_ws - 1)).long().clamp_max(self.num_ws - 1)
            layer = torch.arange(self.num_ws, device=z.device)
            second = (uniforms[:, :1] < self.style_mixing) & (layer[None] >= cutoff[:, None])  # (B, num_ws)
            ws = torch.where(second[..., None], self.mapping(z2)[:, None], ws)
        if not self.training and self.truncation_psi != 1:
            layers = self.num_ws if self.truncation_cutoff is None else self.truncation_cutoff
            w_avg = self.mapping.w_avg
            truncated = w_avg.lerp(ws[:, :layers], self.truncation_psi)
            ws = torch.cat([truncated, ws[:, layers:]], dim=1)
        return ws

    def noise_inputs(self, noise: list[torch.Tensor]) -> list[torch.Tensor | None]:
        if self.training or self.eval_noise == "random":
            return list(noise)
        if self.eval_noise == "const":
            return self.synthesis.const_noise(noise[0].shape[0])
        return [None] * len(noise)

    def render(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, layout.size) -> (images (B, C, R, R), ws): one pass, ws kept for path-length regularisation."""
        z, z2, noise, uniforms = self.layout.split(latent)
        ws = self.styles(z, z2, uniforms)
        return self.synthesis(ws, self.noise_inputs(noise)), ws

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        img, _ = self.render(self._flat(latent))
        return (img if self.training else img.clamp(-1.0, 1.0)).unsqueeze(0)


class StyleGAN2(GANSpec):
    """``gan=stylegan2`` (see the module docstring and conf/gan/stylegan2.yaml for every field's source)."""

    supports_replicas = False
    data_kinds = frozenset({"image"})

    def __init__(self, resolution: int = 32, z_dim: int = 512, w_dim: int = 512, mapping_layers: int = 8,
                 mapping_lr_mul: float = 0.01, w_avg_beta: float = 0.995, fmap_base: int = 2048, fmap_max: int = 512,
                 style_mixing: float = 0.9, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                 eval_noise: str = "random", modconv: str = "scaled", fir: Sequence[float] = (1, 3, 3, 1),
                 d_architecture: str = "resnet", mbstd_group: int = 4, mbstd_channels: int = 1,
                 lr_g: float = 0.002, lr_d: float = 0.002, betas: Sequence[float] = (0.0, 0.99),
                 r1_gamma: float = 0.1, d_reg_every: int = 1, r1_inputs: str = "augmented", pl_weight: float = 0.0,
                 g_reg_every: int = 1, pl_batch_shrink: int = 2, pl_decay: float = 0.01):
        super().__init__(z_dim, lr_g, lr_d, betas)
        resolution = int(resolution)
        require(resolution >= 4 and resolution & (resolution - 1) == 0,
                f"gan.resolution must be a power of two >= 4, got {resolution}")
        require(int(w_dim) >= 1 and int(mapping_layers) >= 1, "gan.w_dim and gan.mapping_layers must be >= 1")
        require(mapping_lr_mul > 0 and 0 <= w_avg_beta < 1, "gan.mapping_lr_mul must be > 0, gan.w_avg_beta in [0, 1)")
        require(int(fmap_base) >= 1 and int(fmap_max) >= 1, "gan.fmap_base and gan.fmap_max must be >= 1")
        require(0 <= style_mixing <= 1, f"gan.style_mixing (a probability) must be in [0, 1], got {style_mixing}")
        require(math.isfinite(truncation_psi), f"gan.truncation_psi must be a finite number, got {truncation_psi}")
        require(truncation_cutoff is None or int(truncation_cutoff) >= 1,
                f"gan.truncation_cutoff must be >= 1 or null (all layers), got {truncation_cutoff}")
        require(eval_noise in EVAL_NOISE, f"gan.eval_noise must be one of {EVAL_NOISE}, got {eval_noise!r}")
        require(modconv in MODCONV_IMPLS, f"gan.modconv must be one of {MODCONV_IMPLS}, got {modconv!r}")
        require(d_architecture in D_ARCHITECTURES,
                f"gan.d_architecture must be one of {D_ARCHITECTURES}, got {d_architecture!r}")
        require(int(mbstd_group) >= 1 and int(mbstd_channels) >= 1,
                "gan.mbstd_group and gan.mbstd_channels must be >= 1")
        require(r1_gamma >= 0 and pl_weight >= 0, "gan.r1_gamma and gan.pl_weight must be >= 0")
        require(int(d_reg_every) >= 1 and int(g_reg_every) >= 1, "gan.d_reg_every and gan.g_reg_every must be >= 1")
        require(r1_inputs in R1_INPUTS, f"gan.r1_inputs must be one of {R1_INPUTS}, got {r1_inputs!r}")
        require(int(pl_batch_shrink) >= 1 and 0 < pl_decay <= 1, "gan.pl_batch_shrink >= 1, gan.pl_decay in (0, 1]")
        self.resolution, self.w_dim, self.mapping_layers = resolution, int(w_dim), int(mapping_layers)
        self.mapping_lr_mul, self.w_avg_beta = float(mapping_lr_mul), float(w_avg_beta)
        self.widths = {2 ** k: feature_maps(2 ** k, fmap_base, fmap_max)
                       for k in range(2, int(math.log2(resolution)) + 1)}
        self.style_mixing, self.truncation_psi = float(style_mixing), float(truncation_psi)
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        self.eval_noise, self.modconv, self.fir = eval_noise, modconv, tuple(float(t) for t in fir)
        self.d_architecture = d_architecture
        self.mbstd_group, self.mbstd_channels = int(mbstd_group), int(mbstd_channels)
        self.r1_gamma, self.d_reg_every, self.r1_inputs = float(r1_gamma), int(d_reg_every), r1_inputs
        self.pl_weight, self.g_reg_every = float(pl_weight), int(g_reg_every)
        self.pl_batch_shrink, self.pl_decay = int(pl_batch_shrink), float(pl_decay)
        self._regularizers = [R1Penalty(self.r1_gamma, self.d_reg_every, self.r1_inputs)] if self.r1_gamma > 0 else []
        if self.pl_weight > 0:
            self._regularizers.append(PathLengthPenalty(self.pl_weight, self.g_reg_every, self.pl_batch_shrink,
                                                        self.pl_decay))
        noise = [4] + [2 ** k for k in range(3, int(math.log2(resolution)) + 1) for _ in range(2)]
        self.layout = LatentLayout(self.z_dim, noise, mixing=self.style_mixing > 0)

    # ------------------------------------------------------------------ data
    def check_data(self, kind, sample_shape) -> None:
        super().check_data(kind, sample_shape)
        if sample_shape is None:
            return
        if len(sample_shape) != 3 or tuple(sample_shape[1:]) != (self.resolution, self.resolution):
            raise ConfigError(f"gan=stylegan2 is set to {self.resolution}x{self.resolution} images (gan.resolution), "
                              f"the dataset gives samples of shape {tuple(sample_shape)}; set gan.resolution to the "
                              f"image size or dataset.size={self.resolution}")

    # ------------------------------------------------------------- networks
    def build_generator(self, sample_shape, generators) -> nn.Module:
        return build_seeded(lambda: StyleGAN2Generator(
            self.layout, self.resolution, sample_shape[0], self.w_dim, self.mapping_layers, self.mapping_lr_mul,
            self.w_avg_beta, self.widths, self.style_mixing, self.truncation_psi, self.truncation_cutoff,
            self.eval_noise, self.modconv, self.fir), generators)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        return build_seeded(lambda: StyleGAN2Discriminator(
            self.resolution, pack * sample_shape[0], self.widths, self.d_architecture, self.mbstd_group,
            self.mbstd_channels, self.fir), generators)

    def build_prior(self, replicas: int, device, num_modes: int | None = None) -> nn.Module:
        """The generator's input (S, n, layout.size) as the run's prior: z, style-mixing draws and noise maps
        (:class:`LatentLayout`); StyleGAN2 takes no other prior (gan.prior)."""
        return LayoutLatent(self.layout, replicas)

    # ----------------------------------------------------------- optimisers
    def optimizer_g(self, params) -> torch.optim.Optimizer:
        return make_adam(params, *_lazy(self.lr_g, self.betas, self.g_reg_every))

    def optimizer_d(self, params) -> torch.optim.Optimizer:
        return make_adam(params, *_lazy(self.lr_d, self.betas, self.d_reg_every))

    def regularizers(self) -> list:
        """R1 on D (every ``d_reg_every`` D updates) and, with ``pl_weight`` > 0, path length on G: built once, so
        every call returns the same objects (their state is the run's)."""
        return self._regularizers


def _lazy(lr: float, betas: Sequence[float], every: int) -> tuple[float, tuple[float, float]]:
    """Adam settings under lazy regularisation every ``every`` steps (StyleGAN2 appendix B): with c = k/(k+1),
    lr·c and betas^c, so that the regularised and the plain steps together keep the intended momentum."""
    c = every / (every + 1) if every > 1 else 1.0
    return lr * c, (betas[0] ** c, betas[1] ** c)
