"""The GAN contract: a spec from the config that builds generator, discriminator and their optimizers.

Every network acts on stacked replica batches: the generator maps z (S, B, z_dim) to samples
(S, B, *sample_shape); the discriminator maps samples (S, B, *shape) to ``(logits (S, B), features
(S, B, m))`` where ``features`` is its next-to-last layer φ_D (used by RLS, BuresGAN and Dia-GAN).
Architectures know nothing about methods.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from core.errors import ConfigError, require


class LeanFusedAdam(torch.optim.Adam):
    """``torch.optim.Adam(fused=True)`` with a shorter Python path: after the first step, ``step()`` calls the
    same fused kernel directly on cached lists of the state tensors, skipping the per-call set-up of
    ``torch.optim`` (about a fifth of a toy GAN's step on CPU). Same update, same ``state_dict`` format; any
    option the short path does not cover (amsgrad, weight decay, maximize, a closure, grad scaling, a sparse
    or missing gradient) takes the standard path. The learning rate is read at every step; the other options
    when the cache is built (first step, or after ``load_state_dict``)."""

    def __init__(self, params, lr: float, betas: Sequence[float]):
        super().__init__(params, lr=lr, betas=tuple(betas), fused=True)
        self._cache: list[tuple] | bool | None = None  # None: not built yet (the state appears at the first step)

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._cache = None  # the state tensors were replaced

    def _short_path_lists(self) -> list[tuple] | None:
        """Per group: the group, its parameters that have Adam state, their state tensors, and the parameters
        without state (never given a gradient so far, e.g. IwMmdGAN's unused logit layer)."""
        groups = []
        for group in self.param_groups:
            if group["amsgrad"] or group["weight_decay"] or group["maximize"] or group["differentiable"]:
                return None
            stateful, stateless = [], []
            for p in group["params"]:
                (stateful if self.state.get(p) else stateless).append(p)
            states = [self.state[p] for p in stateful]
            groups.append((group, stateful, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states],
                           [st["step"] for st in states], stateless))
        return groups

    @torch.no_grad()
    def step(self, closure=None):
        if self._cache is None and self.state:
            self._cache = self._short_path_lists() or False  # False: options the short path does not cover
        if closure is not None or not self._cache:
            return super().step(closure)
        if any(p.grad is not None for *_, stateless in self._cache for p in stateless):
            self._cache = None  # a parameter gets its first gradient: the standard path creates its state
            return super().step(closure)
        grads_per_group = [[p.grad for p in params] for _, params, *_ in self._cache]
        if any(g is None or g.is_sparse for grads in grads_per_group for g in grads):
            return super().step(closure)
        for (group, params, exp_avgs, exp_avg_sqs, steps, _), grads in zip(self._cache, grads_per_group):
            beta1, beta2 = group["betas"]
            torch._foreach_add_(steps, 1)
            torch._fused_adam_(params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"],
                               beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False,
                               grad_scale=None, found_inf=None)
        return None


def make_adam(params, lr: float, betas: Sequence[float]) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch build has it (same update rule, less overhead)."""
    params = list(params)
    try:
        return LeanFusedAdam(params, lr=lr, betas=betas)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas))


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing: (S, B, c, ...) -> (S, B/pack, pack*c, ...), consecutive samples concatenated."""
    if pack == 1:
        return x
    replicas, batch = x.shape[:2]
    require(batch % pack == 0, f"batch size {batch} is not divisible by the packing degree {pack}")
    return x.reshape(replicas, batch // pack, pack * x.shape[2], *x.shape[3:])


class GANSpec:
    """What ``instantiate(cfg.gan)`` returns: architecture and optimiser settings, no parameters yet."""

    supports_replicas: bool = False
    data_kinds: frozenset[str] = frozenset({"toy", "image"})

    def __init__(self, z_dim: int, lr_g: float, lr_d: float, betas: Sequence[float]):
        require(int(z_dim) >= 1, f"gan.z_dim must be a positive integer, got {z_dim}")
        require(lr_g > 0 and lr_d > 0, f"gan learning rates must be > 0, got lr_g={lr_g}, lr_d={lr_d}")
        require(len(betas) == 2 and all(0 <= b < 1 for b in betas),
                f"gan.betas must be two numbers in [0, 1), got {list(betas)}")
        self.z_dim = int(z_dim)
        self.lr_g, self.lr_d, self.betas = float(lr_g), float(lr_d), tuple(float(b) for b in betas)

    def check_data(self, kind: str, sample_shape: Sequence[int]) -> None:
        """Raise ConfigError when this architecture cannot model samples of this kind/shape."""
        if kind not in self.data_kinds:
            raise ConfigError(f"gan '{type(self).__name__}' models {sorted(self.data_kinds)} data, "
                              f"but the dataset is '{kind}'")

    def build_generator(self, sample_shape: Sequence[int], generators: Sequence[torch.Generator]) -> nn.Module:
        raise NotImplementedError

    def build_discriminator(self, sample_shape: Sequence[int], generators: Sequence[torch.Generator],
                            pack: int = 1) -> nn.Module:
        raise NotImplementedError

    def optimizer_g(self, params) -> torch.optim.Optimizer:
        return make_adam(params, self.lr_g, self.betas)

    def optimizer_d(self, params) -> torch.optim.Optimizer:
        return make_adam(params, self.lr_d, self.betas)

    def prior(self, replicas: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
        """Latent codes z ~ N(0, I), shape (S, n, z_dim)."""
        return torch.randn(replicas, n, self.z_dim, generator=generator, device=device)
