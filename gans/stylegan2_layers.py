"""StyleGAN2's building blocks (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"), in
plain PyTorch: FIR resampling, equalised-learning-rate layers, modulated convolution and minibatch standard
deviation. Written from the papers' descriptions (REFERENCE §10.2); no custom CUDA ops.

- FIR filtering (:func:`upfirdn2d`): zero-insertion up-sampling, padding, a true 2-D convolution with the outer
  product of the 1-D taps (``[1, 3, 3, 1]``, normalised to sum 1; up-sampling multiplies by factor² so that the
  mean is kept), then decimation. :func:`upsample2d` doubles and :func:`downsample2d` halves the size.
- Equalised learning rate (Karras et al. 2018): weights are stored as N(0, 1) / lr_mul and scaled at run time by
  lr_mul / √fan_in, biases stored as bias_init / lr_mul and scaled by lr_mul; Adam then moves every layer at the
  same relative speed, and ``lr_mul`` (0.01 in the mapping network) slows a layer down.
- Activations: ``lrelu`` is leaky ReLU 0.2 times √2 (the gain that keeps unit variance), ``linear`` none.
- Modulated convolution (:func:`modulated_conv2d`): w'_{oik} = s_i w_{oik} per sample, demodulated by
  1/√(Σ_{ik} w'² + 1e-8); ``grouped`` runs the batch as the groups of one convolution, ``scaled`` scales the input
  by s and the output by the demodulation factors around one ordinary convolution (the same linear map).
- Minibatch standard deviation (:func:`minibatch_stddev`): groups of ``group_size`` consecutive samples (the
  remainder forms one smaller group), the standard deviation of each feature over the group, averaged over
  the channels of each of ``num_channels`` channel groups and over the pixels, appended as extra channels.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import require

ACTIVATIONS = ("linear", "lrelu")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
MODCONV_IMPLS = ("grouped", "scaled")


def activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    """``lrelu``: leaky ReLU 0.2 scaled by √2; ``linear``: the identity."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN if activation == "lrelu" else x


# ----------------------------------------------------------------------------------------------- FIR resampling
def fir_kernel(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """The 2-D FIR filter: outer product of the 1-D ``taps``, normalised to sum 1."""
    k = torch.as_tensor(list(taps), dtype=torch.float32)
    require(k.dim() == 1 and k.numel() >= 1 and float(k.sum()) != 0, f"FIR taps must be a non-empty list with a "
                                                                       f"non-zero sum, got {list(taps)}")
    k2 = torch.outer(k, k)
    return k2 / k2.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """(B, C, H, W): insert ``up - 1`` zeros after every pixel, pad by ``pad`` = (before, after) on both axes
    (negative values crop), convolve each channel with ``gain * kernel``, keep every ``down``-th pixel."""
    b, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(b, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(b, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = (kernel * gain).flip([0, 1]).to(x.dtype)[None, None]  # conv2d correlates: flipped, it convolves
    # every channel as its own single-channel image: one plain convolution, no grouped (depthwise) kernel, whose
    # backward passes CPU backends split into one convolution per channel
    x = F.conv2d(x.reshape(b * c, 1, *x.shape[2:]), weight)
    x = x.reshape(b, c, *x.shape[2:])
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: torch.Tensor, kernel: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Size x factor: zero insertion and the FIR filter (gain factor², which keeps a constant image constant)."""
    p = kernel.shape[0] - factor
    return upfirdn2d(x, kernel, up=factor, pad=((p + 1) // 2 + factor - 1, p // 2), gain=factor ** 2)


def downsample2d(x: torch.Tensor, kernel: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Size / factor: the FIR filter, then every factor-th pixel."""
    p = kernel.shape[0] - factor
    return upfirdn2d(x, kernel, down=factor, pad=((p + 1) // 2, p // 2))


# --------------------------------------------------------------------------------------- equalised-lr layers
class EqualizedLinear(nn.Module):
    """x (B, in) -> (B, out): weight N(0, 1)/lr_mul scaled by lr_mul/√in at run time; bias initialised to
    ``bias_init`` (stored / lr_mul, scaled by lr_mul); then ``activation``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str = "linear"):
        super().__init__()
        require(activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        return activate(F.linear(x, self.weight * self.weight_gain, bias), self.activation)


class EqualizedConv2d(nn.Module):
    """A k x k convolution with 'same' padding and equalised learning rate (gain 1/√(in·k²)), then bias and
    ``activation``; ``down=2`` blurs with the FIR filter and convolves with stride 2 (the size halves)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", down: int = 1, fir: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        require(activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size ** 2)
        self.activation, self.down, self.kernel_size = activation, int(down), kernel_size
        self.register_buffer("fir", fir_kernel(fir), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        if self.down > 1:
            p = (self.fir.shape[0] - self.down) + (self.kernel_size - 1)
            x = upfirdn2d(x, self.fir, pad=((p + 1) // 2, p // 2))
            x = F.conv2d(x, w, self.bias, stride=self.down)
        else:
            x = F.conv2d(x, w, self.bias, padding=self.kernel_size // 2)
        return activate(x, self.activation)


# ------------------------------------------------------------------------------------- modulated convolution
def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                     impl: str = "grouped", eps: float = 1e-8) -> torch.Tensor:
    """x (B, in, H, W), weight (out, in, k, k), styles (B, in) -> (B, out, H, W), 'same' padding.

    The weight is scaled by 1/√(in·k²) (equalised learning rate), modulated per sample by the styles and, with
    ``demodulate``, each output channel's weights rescaled to unit L2 norm (+ eps)."""
    require(impl in MODCONV_IMPLS, f"modulated convolution impl must be one of {MODCONV_IMPLS}, got {impl!r}")
    batch, cin, h, w_ = x.shape
    cout, _, k, _ = weight.shape
    weight = weight * (1.0 / math.sqrt(cin * k * k))
    padding = k // 2
    if impl == "scaled":
        out = F.conv2d(x * styles[:, :, None, None], weight, padding=padding)
        if demodulate:
            # Σ_ik (s_i w_oik)² = Σ_i s_i² Σ_k w_oik²: (B, in) @ (in, out)
            d = (styles.square() @ weight.square().sum([2, 3]).t() + eps).rsqrt()
            out = out * d[:, :, None, None]
        return out
    w = weight[None] * styles[:, None, :, None, None]  # (B, out, in, k, k)
    if demodulate:
        w = w * (w.square().sum([2, 3, 4], keepdim=True) + eps).rsqrt()
    out = F.conv2d(x.reshape(1, batch * cin, h, w_), w.reshape(batch * cout, cin, k, k), padding=padding,
                   groups=batch)
    return out.reshape(batch, cout, *out.shape[2:])


# ------------------------------------------------------------------------------ minibatch standard deviation
def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """(B, C, H, W) -> (B, C + num_channels, H, W): see the module docstring (population std, + eps inside
    the square root)."""
    b, c, h, w = x.shape
    require(c % num_channels == 0, f"minibatch stddev: {c} channels are not divisible into {num_channels} groups")
    g = max(1, min(group_size, b))
    full = (b // g) * g
    parts = [x[:full].reshape(b // g, g, *x.shape[1:])] if full else []
    if full < b:
        parts.append(x[full:].reshape(1, b - full, *x.shape[1:]))
    stats = []
    for grouped in parts:  # (groups, members, C, H, W)
        n_groups, members = grouped.shape[:2]
        y = grouped.reshape(n_groups, members, num_channels, c // num_channels, h, w)
        y = (y - y.mean(1, keepdim=True)).square().mean(1).add(eps).sqrt()  # (groups, F, c, H, W)
        y = y.mean([2, 3, 4])  # (groups, F)
        stats.append(y.repeat_interleave(members, 0))
    y = torch.cat(stats, 0)[:, :, None, None].expand(b, num_channels, h, w)
    return torch.cat([x, y], 1)
