"""StyleGAN2's path-length regulariser (Karras et al. 2020, §3.2), optional (off in the CIFAR-10 settings):
G's loss gets weight · (‖J_wᵀ y‖₂ - a)² with y ~ N(0, I)/√(H·W) a random image-space direction, J_w the
Jacobian of the image with respect to the styles w (the norm averaged over layers as the paper's code does), a a
running mean of the lengths (decay ``decay``). Lazy: every ``every``-th generator update, on a batch of B /
``batch_shrink`` fresh latents, the weight multiplied by ``every``. Needs a generator with ``render(latent) ->
(images, ws)`` (``gan=stylegan2``). The running mean and the update count are part of the state.
"""
from __future__ import annotations

import math

import torch

from core.errors import ConfigError, require
from gans.method import Batch, Regularizer


class PathLengthPenalty(Regularizer):
    """``generator_term`` = every · weight · E[(length - mean length)²] on every ``every``-th G update."""

    def __init__(self, weight: float = 2.0, every: int = 4, batch_shrink: int = 2, decay: float = 0.01):
        require(weight >= 0 and int(every) >= 1 and int(batch_shrink) >= 1 and 0 < decay <= 1,
                "path length: weight >= 0, every >= 1, batch_shrink >= 1 and decay in (0, 1]")
        self.weight, self.every = float(weight), int(every)
        self.batch_shrink, self.decay = int(batch_shrink), float(decay)
        self.g_updates = 0
        self.mean_length: torch.Tensor | None = None  # (S,) running mean of the path lengths

    def generator_term(self, batch: Batch, method) -> torch.Tensor | None:
        due = self.g_updates % self.every == 0
        self.g_updates += 1
        if not due or self.weight == 0:
            return None
        render = getattr(method.G, "render", None)
        if render is None:
            raise ConfigError("path-length regularisation needs a style-based generator (gan=stylegan2)")
        n = max(1, batch.fake.shape[1] // self.batch_shrink)
        latent = method.noise(n)
        images, ws = render(latent.reshape(-1, latent.shape[-1]))
        gen = method.ctx.generator
        pixels = images.shape[2] * images.shape[3]
        y = torch.randn(images.shape, generator=gen, device=images.device) / math.sqrt(pixels)
        (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt().reshape(latent.shape[0], n)  # (S, n)
        batch_mean = lengths.detach().mean(1)
        if self.mean_length is None:
            self.mean_length = torch.zeros_like(batch_mean)  # the reference code starts the mean at 0
        self.mean_length = self.mean_length.lerp(batch_mean, self.decay)
        return self.every * self.weight * (lengths - self.mean_length[:, None]).square().mean(1)

    def state_dict(self) -> dict:
        return {"g_updates": self.g_updates, "mean_length": self.mean_length}

    def load_state_dict(self, state: dict) -> None:
        self.g_updates, self.mean_length = int(state.get("g_updates", 0)), state.get("mean_length")
