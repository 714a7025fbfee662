"""Layers that hold S replicas of a convolutional network as S channel groups of one network ("grouped replicas").

Inside a network, activations have the layout (B, S·C, H, W) (flat: (B, S·F)), replica-major: channels
[r·C, (r+1)·C) belong to replica r. Convolutions are grouped convolutions (groups = S), batch norm normalises each
of the S·C channels with its own statistics (so per replica), linears are batched matrix products, and spectral
normalisation divides each replica's weight by its own spectral norm. Replicas never mix, so a loss summed over
replicas trains S independent networks (Adam is element-wise).

Every parameter and buffer has a replica-major first dimension (S·out, ...) or (S, ...): a network of S replicas
is the concatenation along dim 0 of the tensors of S networks of one replica. :func:`build_replicas` uses this to
build replica r exactly as a lone network built from generators[r] (same initial values, whatever the global
RNG), which is what makes an S-replica run comparable with S single runs. With S = 1 every layer calls the same
torch function as its plain counterpart (``F.conv2d`` with groups 1, ``F.linear``, ``F.batch_norm``) on the same
tensors, so a one-replica network computes exactly what the plain network computes.

``replica_weight(r)`` returns replica r's weight in the plain layer's layout (conv (out, in, k, k), transposed conv
(in, out, k, k), linear (out, in)), so initialisers compute the fans torch computes.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from core.errors import require
from gans.spectral import spectrally_normalised


def to_groups(x: torch.Tensor) -> torch.Tensor:
    """Stacked replica batch (S, B, C, ...) -> grouped layout (B, S·C, ...)."""
    replicas, batch = x.shape[:2]
    if replicas == 1:
        return x.reshape(batch, *x.shape[2:])
    return x.transpose(0, 1).reshape(batch, replicas * x.shape[2], *x.shape[3:])


def from_groups(x: torch.Tensor, replicas: int) -> torch.Tensor:
    """Grouped layout (B, S·C, ...) -> stacked replica batch (S, B, C, ...)."""
    batch = x.shape[0]
    if replicas == 1:
        return x.unsqueeze(0)
    return x.reshape(batch, replicas, x.shape[1] // replicas, *x.shape[2:]).transpose(0, 1)


def _torch_default_init(weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    """torch's default init of conv and linear layers (kaiming-uniform a=√5, bias U(±1/√fan_in)), on one
    replica's weight in the plain layout."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        nn.init.uniform_(bias, -bound, bound)


class _GroupedLayer(nn.Module):
    """Shared parts: the replica count, the per-replica weight views, torch's default init, spectral norm."""

    replicas: int
    spectral: bool

    def replica_weight(self, r: int) -> torch.Tensor:
        raise NotImplementedError

    def replica_bias(self, r: int) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias.view(self.replicas, -1)[r]

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for r in range(self.replicas):
                _torch_default_init(self.replica_weight(r), self.replica_bias(r))

    def _setup_spectral(self, spectral: bool, out: int) -> None:
        self.spectral = bool(spectral)
        if self.spectral:  # the persistent left singular vector of each replica, u ~ N(0, I)
            self.register_buffer("u", F.normalize(torch.randn(self.replicas, out), dim=1))

    def effective_weight(self) -> torch.Tensor:
        """The weight used in the forward pass: spectrally normalised (u refined in training mode) or as is."""
        if not self.spectral:
            return self.weight
        return spectrally_normalised(self.weight, self.u, update=self.training)


class GroupedConv2d(_GroupedLayer):
    """S replicas of ``nn.Conv2d``: weight (S·out, in, k, k), bias (S·out,); x (B, S·in, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, replicas: int = 1, spectral: bool = False):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), int(kernel_size)
        self.stride, self.padding, self.replicas = int(stride), int(padding), int(replicas)
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(self.replicas * out_channels, in_channels, k, k))
        self.bias = nn.Parameter(torch.empty(self.replicas * out_channels)) if bias else None
        self.reset_parameters()
        self._setup_spectral(spectral, out_channels)

    def replica_weight(self, r: int) -> torch.Tensor:
        return self.weight.view(self.replicas, self.out_channels, *self.weight.shape[1:])[r]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding, 1, self.replicas)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, replicas={self.replicas}, spectral={self.spectral}")


class GroupedConvTranspose2d(_GroupedLayer):
    """S replicas of ``nn.ConvTranspose2d``: weight (S·in, out, k, k) (torch's layout per replica), bias (S·out,)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, bias: bool = True, replicas: int = 1):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), int(kernel_size)
        self.stride, self.padding, self.output_padding = int(stride), int(padding), int(output_padding)
        self.replicas, self.spectral = int(replicas), False
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(self.replicas * in_channels, out_channels, k, k))
        self.bias = nn.Parameter(torch.empty(self.replicas * out_channels)) if bias else None
        self.reset_parameters()

    def replica_weight(self, r: int) -> torch.Tensor:
        return self.weight.view(self.replicas, self.in_channels, *self.weight.shape[1:])[r]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.replicas)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}, replicas={self.replicas}")


class GroupedLinear(_GroupedLayer):
    """S replicas of ``nn.Linear``: weight (S, out, in), bias (S, out); x (B, S·in) -> (B, S·out)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, replicas: int = 1,
                 spectral: bool = False):
        super().__init__()
        self.in_features, self.out_features, self.replicas = int(in_features), int(out_features), int(replicas)
        self.weight = nn.Parameter(torch.empty(self.replicas, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(self.replicas, out_features)) if bias else None
        self.reset_parameters()
        self._setup_spectral(spectral, out_features)

    def replica_weight(self, r: int) -> torch.Tensor:
        return self.weight[r]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.effective_weight()
        if self.replicas == 1:
            return F.linear(x, weight[0], None if self.bias is None else self.bias[0])
        batch = x.shape[0]
        stacked = x.reshape(batch, self.replicas, self.in_features).transpose(0, 1)  # (S, B, in)
        if self.bias is None:
            out = torch.bmm(stacked, weight.transpose(1, 2))
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), stacked, weight.transpose(1, 2))
        return out.transpose(0, 1).reshape(batch, self.replicas * self.out_features)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, replicas={self.replicas}, spectral={self.spectral}"


class GroupedBatchNorm(nn.Module):
    """S replicas of ``nn.BatchNorm1d/2d`` over C channels each: S·C channels with their own batch statistics,
    running statistics and affine parameters (momentum in torch's convention; a number, not None)."""

    def __init__(self, channels: int, replicas: int = 1, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.channels, self.replicas, self.eps, self.momentum = int(channels), int(replicas), float(eps), float(momentum)
        size = self.replicas * self.channels
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))
        self.register_buffer("running_mean", torch.zeros(size))
        self.register_buffer("running_var", torch.ones(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
                            self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.channels}, replicas={self.replicas}, eps={self.eps}, momentum={self.momentum}"


LAYERS = (GroupedConv2d, GroupedConvTranspose2d, GroupedLinear)


def replica_seed(generator: torch.Generator) -> int:
    """The seed a network of one replica is built from, drawn from that replica's generator."""
    return int(torch.randint(0, 2 ** 62, (1,), generator=generator))


def build_replicas(make: Callable[[int], nn.Module], generators: Sequence[torch.Generator],
                   initialise: Callable[[nn.Module, torch.Generator], None] | None = None) -> nn.Module:
    """A network of ``len(generators)`` replicas, ``make(replicas)`` its constructor. Replica r is built as a lone
    network: a seed drawn from generators[r] seeds torch's global RNG (forked: the caller's stream is untouched)
    for the construction (default inits, spectral-norm vectors), then ``initialise(module, generator seeded with
    seed + 1)`` may overwrite the initial values. The S lone networks are concatenated along dim 0."""
    require(len(generators) >= 1, "a network needs at least one replica")
    singles = []
    for gen in generators:
        seed = replica_seed(gen)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            module = make(1)
            if initialise is not None:
                with torch.no_grad():
                    initialise(module, torch.Generator().manual_seed(seed + 1))
        singles.append(module)
    if len(singles) == 1:
        return singles[0]
    with torch.random.fork_rng(devices=[]):
        grouped = make(len(singles))
    states = [m.state_dict() for m in singles]
    grouped.load_state_dict({key: torch.cat([s[key] for s in states]) for key in states[0]})
    return grouped


def replica_state(module: nn.Module, r: int) -> dict[str, torch.Tensor]:
    """Replica r's tensors of a grouped network, as the state dict of a lone (one-replica) network."""
    replicas = module_replicas(module)
    return {key: value.reshape(replicas, -1, *value.shape[1:])[r] for key, value in module.state_dict().items()}


def module_replicas(module: nn.Module) -> int:
    """The replica count of a grouped network (that of its first grouped layer)."""
    for m in module.modules():
        if isinstance(m, (*LAYERS, GroupedBatchNorm)):
            return m.replicas
    raise ValueError(f"{type(module).__name__} has no grouped layer")
