"""Layers that hold S independent replicas of their parameters and act on stacked batches (S, B, ...).

Training S seeds of a small model in one process is then one batched matrix product per layer instead
of S small ones. Adam is element-wise, so a loss summed over replicas keeps them independent.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError


def _tanh_by_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """2·sigmoid(2x) - 1, within 2e-7 of torch.tanh."""
    return torch.sigmoid(x * 2).mul_(2).sub_(1)


class _SigmoidTanh(torch.autograd.Function):
    """tanh computed as 2·sigmoid(2x) - 1, with tanh's own backward (1 - y²)·ġ (twice differentiable)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = _tanh_by_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


SIGMOID_TANH_MIN_ELEMENTS = 1 << 15  # under autograd: from 32k elements (at 10 replicas, batch 64: every layer)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh; on CPU computed as 2·sigmoid(2x) - 1 (within 2e-7 of torch.tanh), because torch's CPU tanh kernel is
    not vectorised: 3.7x slower than that on 10 replicas' activations, where it took ~18% of a toy GAN step
    (vanilla, 10 replicas: 7.3 -> 6.4 ms per step with this). Under autograd only from
    ``SIGMOID_TANH_MIN_ELEMENTS`` elements on: below that the custom backward's fixed cost outweighs the gain,
    and torch.tanh is used (so one seed's run may differ at float rounding level between replica counts)."""
    if x.device.type != "cpu":
        return torch.tanh(x)
    if not torch.is_grad_enabled():
        return _tanh_by_sigmoid(x)
    if x.numel() >= SIGMOID_TANH_MIN_ELEMENTS:
        return _SigmoidTanh.apply(x)
    return torch.tanh(x)


ACTIVATIONS = {
    "tanh": tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: nn.functional.leaky_relu(x, 0.2),
}

INITS = ("glorot", "torch", "normal", "orthogonal", "orthogonal:<gain>")


def seeded_generators(seeds: Sequence[int]) -> list[torch.Generator]:
    """One CPU generator per replica, so replica r is initialised exactly as a lone run with seeds[r]."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def _init_slice(weight: torch.Tensor, bias: torch.Tensor, scheme: str, gen: torch.Generator) -> None:
    fan_in, fan_out = weight.shape
    if scheme == "glorot":  # Keras' default (glorot_uniform weights, zero bias): the RLS/BuresGAN code
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        weight.uniform_(-bound, bound, generator=gen)
        bias.zero_()
    elif scheme == "torch":  # torch.nn.Linear's default
        bound = 1.0 / math.sqrt(fan_in)
        weight.uniform_(-bound, bound, generator=gen)
        bias.uniform_(-bound, bound, generator=gen)
    elif scheme == "normal":  # N(0, 0.02) weights, zero bias (Dia-GAN / DCGAN-style toys)
        weight.normal_(0.0, 0.02, generator=gen)
        bias.zero_()
    elif scheme.split(":")[0] == "orthogonal":  # TF's orthogonal_initializer(gain), zero bias (Unrolled GAN toy code)
        nn.init.orthogonal_(weight, gain=_orthogonal_gain(scheme), generator=gen)
        bias.zero_()
    else:
        raise ConfigError(f"unknown init '{scheme}'; choose one of {INITS}")


def _orthogonal_gain(scheme: str) -> float:
    """The gain of ``orthogonal`` (1.0) or ``orthogonal:<gain>`` (e.g. ``orthogonal:1.4``)."""
    _, _, text = scheme.partition(":")
    try:
        gain = float(text) if text else 1.0
    except ValueError:
        gain = float("nan")
    if not gain > 0:
        raise ConfigError(f"init '{scheme}': the orthogonal gain must be a number > 0, e.g. 'orthogonal:1.4'")
    return gain


class ReplicatedLinear(nn.Module):
    """S affine maps: x (S, B, in) -> (S, B, out), weight (S, in, out), bias (S, 1, out)."""

    def __init__(self, in_features: int, out_features: int, generators: Sequence[torch.Generator],
                 init: str = "glorot"):
        super().__init__()
        replicas = len(generators)
        self.weight = nn.Parameter(torch.empty(replicas, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(replicas, 1, out_features))
        with torch.no_grad():
            for r, gen in enumerate(generators):
                _init_slice(self.weight[r], self.bias[r], init, gen)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[2] == 1:
            # A width-1 head as multiply-and-sum: batched GEMM is ~8x slower for this shape on CPU.
            return (x * self.weight.transpose(1, 2)).sum(-1, keepdim=True) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)


class ReplicatedMLP(nn.Module):
    """Fully connected net with S replicas; returns the output and the last hidden layer (its features)."""

    def __init__(self, dims: Sequence[int], generators: Sequence[torch.Generator], activation: str = "tanh",
                 init: str = "glorot"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation '{activation}'; choose one of {sorted(ACTIVATIONS)}")
        if len(dims) < 2 or any(int(d) < 1 for d in dims):
            raise ConfigError(f"layer sizes must be positive integers, got {list(dims)}")
        self.act = ACTIVATIONS[activation]
        self.layers = nn.ModuleList(
            ReplicatedLinear(i, o, generators, init) for i, o in zip(dims[:-1], dims[1:]))
        # A plain tuple for the step loop: slicing a ModuleList builds a new module on every call.
        self._layer_tuple = tuple(self.layers)

    @property
    def replicas(self) -> int:
        return self.layers[0].weight.shape[0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = x
        for layer in self._layer_tuple[:-1]:
            features = self.act(layer(features))
        return self._layer_tuple[-1](features), features
