"""Latent inverters h(x) = (ẑ, P(ŷ | x)): a body, a latent-reconstruction head and a mode-posterior head.

NEMGAN's h = h₂ ∘ h₁ (paper §2.2) and ClusterGAN's encoder E. ``method.inverter`` configures one
:class:`InverterSpec`; ``arch`` picks the body:

- ``mlp`` (toy data; any data with ``trainer.replicas`` > 1): ``hidden`` fully connected layers with
  ``activation`` on the flattened sample, one set of weights per replica (``gans.layers.ReplicatedMLP``);
- ``conv`` (images, one replica): the authors' encoder (REFERENCE 3.2): Conv 32/64/128/256/512, kernel 5,
  stride 2, each LeakyReLU(0.2) + Dropout(0.4), then flatten;
- ``auto``: ``conv`` for images, ``mlp`` otherwise.

Heads on the body's features f: ẑ = ``latent_activation``(W f + b) (the code: Dense + LeakyReLU; ``linear``
by default) and the posterior's logits: ``head=softmax`` a linear layer, ``head=am_softmax`` the scaled cosines
s·cos θ_j between f and per-mode weight vectors (the unsupervised script's AM-softmax head, s = 30, m = 0.4; the
margin enters only the training loss, :meth:`Inverter.training_logits`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import require
from gans.latent_losses import am_softmax_logits
from gans.layers import ACTIVATIONS, ReplicatedLinear, ReplicatedMLP

__all__ = ["InverterOutput", "InverterSpec", "Inverter"]

ARCHS = ("auto", "mlp", "conv")
HEADS = ("softmax", "am_softmax")
LATENT_ACTIVATIONS = ("linear", "leaky_relu")


@dataclass
class InverterOutput:
    """``latent`` ẑ (S, B, d); ``logits`` of the mode posterior (S, B, M); ``cosine`` (AM-softmax head) or None."""

    latent: torch.Tensor
    logits: torch.Tensor
    cosine: torch.Tensor | None = None

    def probabilities(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=-1)


class InverterSpec:
    """``method.inverter`` (see the module docstring). ``lr`` (null: the gan's ``lr_d``) and ``betas`` (null: the
    gan's) configure the inverter's Adam."""

    def __init__(self, arch: str = "auto", hidden: Sequence[int] = (128, 128), activation: str = "leaky_relu",
                 init: str = "glorot", conv_channels: Sequence[int] = (32, 64, 128, 256, 512), kernel: int = 5,
                 dropout: float = 0.4, leaky_slope: float = 0.2, latent_activation: str = "linear",
                 head: str = "softmax", am_scale: float = 30.0, am_margin: float = 0.4, lr: float | None = None,
                 betas: Sequence[float] | None = None):
        require(arch in ARCHS, f"method.inverter.arch must be one of {list(ARCHS)}, got {arch!r}")
        require(head in HEADS, f"method.inverter.head must be one of {list(HEADS)}, got {head!r}")
        require(latent_activation in LATENT_ACTIVATIONS,
                f"method.inverter.latent_activation must be one of {list(LATENT_ACTIVATIONS)}, got {latent_activation!r}")
        require(activation in ACTIVATIONS, f"method.inverter.activation must be one of {sorted(ACTIVATIONS)}")
        require(len(hidden) >= 1 and all(int(h) >= 1 for h in hidden), "method.inverter.hidden needs >= 1 layer")
        require(len(conv_channels) >= 1 and int(kernel) % 2 == 1, "method.inverter: conv_channels needs >= 1 entry "
                                                                   "and kernel must be odd")
        require(0 <= dropout < 1 and 0 <= leaky_slope < 1, "method.inverter: dropout and leaky_slope in [0, 1)")
        require(am_scale > 0 and am_margin >= 0, "method.inverter: am_scale must be > 0 and am_margin >= 0")
        require(lr is None or lr > 0, f"method.inverter.lr must be > 0 or null, got {lr}")
        self.arch, self.hidden, self.activation, self.init = arch, [int(h) for h in hidden], activation, init
        self.conv_channels, self.kernel = [int(c) for c in conv_channels], int(kernel)
        self.dropout, self.leaky_slope, self.latent_activation = float(dropout), float(leaky_slope), latent_activation
        self.head, self.am_scale, self.am_margin = head, float(am_scale), float(am_margin)
        self.lr, self.betas = (None if lr is None else float(lr)), (None if betas is None else tuple(betas))

    def resolved_arch(self, sample_shape: Sequence[int]) -> str:
        return ("conv" if len(sample_shape) == 3 else "mlp") if self.arch == "auto" else self.arch

    def build(self, sample_shape: Sequence[int], latent_dim: int, modes: int,
              generators: Sequence[torch.Generator]) -> "Inverter":
        arch = self.resolved_arch(sample_shape)
        if arch == "conv":
            require(len(sample_shape) == 3, f"method.inverter.arch=conv needs images, got samples of shape "
                                            f"{tuple(sample_shape)}; use arch=mlp")
            require(len(generators) == 1, "method.inverter.arch=conv trains one replica; set trainer.replicas=1 or "
                                          "method.inverter.arch=mlp")
            body = ConvBody(sample_shape, self.conv_channels, self.kernel, self.leaky_slope, self.dropout, generators[0])
        else:
            body = MLPBody(math.prod(sample_shape), self.hidden, generators, self.activation, self.init)
        return Inverter(body, latent_dim, modes, generators, self)


class MLPBody(nn.Module):
    """Flattened samples (S, B, ...) -> features (S, B, hidden[-1]), one set of weights per replica."""

    def __init__(self, in_dim: int, hidden: Sequence[int], generators, activation: str, init: str):
        super().__init__()
        self.net = ReplicatedMLP([in_dim, *hidden], generators, activation, init)
        self.act = ACTIVATIONS[activation]
        self.feature_dim = hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.net(x.flatten(2))
        return self.act(out)


class ConvBody(nn.Module):
    """Images (1, B, C, H, W) -> features (1, B, m): the authors' encoder stack (REFERENCE 3.2)."""

    def __init__(self, sample_shape, channels, kernel: int, slope: float, dropout: float, generator):
        super().__init__()
        layers, cin = [], sample_shape[0]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2 ** 62, (1,), generator=generator)))  # the replica's seed
            for cout in channels:
                layers += [nn.Conv2d(cin, cout, kernel, 2, kernel // 2), nn.LeakyReLU(slope), nn.Dropout(dropout)]
                cin = cout
            self.net = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            self.feature_dim = int(self.net(torch.zeros(1, *sample_shape)).shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require(x.shape[0] == 1, f"the conv inverter trains one replica, got {x.shape[0]}")
        return self.net(x[0]).unsqueeze(0)


class Inverter(nn.Module):
    """h(x) on stacked batches (S, B, *shape) -> :class:`InverterOutput`."""

    def __init__(self, body: nn.Module, latent_dim: int, modes: int, generators, spec: InverterSpec):
        super().__init__()
        self.body, self.spec, self.modes = body, spec, int(modes)
        self.latent_head = ReplicatedLinear(body.feature_dim, latent_dim, generators, spec.init)
        if spec.head == "am_softmax":
            self.mode_weight = nn.Parameter(torch.stack(
                [torch.randn(body.feature_dim, modes, generator=g) for g in generators]))
            self.mode_head = None
        else:
            self.mode_head = ReplicatedLinear(body.feature_dim, modes, generators, spec.init)

    def forward(self, x: torch.Tensor) -> InverterOutput:
        f = self.body(x)
        latent = self.latent_head(f)
        if self.spec.latent_activation == "leaky_relu":
            latent = F.leaky_relu(latent, self.spec.leaky_slope)
        if self.mode_head is not None:
            return InverterOutput(latent, self.mode_head(f))
        cosine = F.normalize(f, dim=-1) @ F.normalize(self.mode_weight, dim=1)
        return InverterOutput(latent, am_softmax_logits(cosine, None, self.spec.am_scale, self.spec.am_margin), cosine)

    def training_logits(self, out: InverterOutput, modes: torch.Tensor) -> torch.Tensor:
        """The logits whose cross-entropy with ``modes`` trains the mode head (AM-softmax: with the margin)."""
        if out.cosine is None:
            return out.logits
        return am_softmax_logits(out.cosine, modes, self.spec.am_scale, self.spec.am_margin)
