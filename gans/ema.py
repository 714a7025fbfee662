"""An exponential moving average of the generator's weights (``trainer.ema_decay``), used for evaluation.

After every training step t (completed steps, t = 1, 2, ...): θ_ema ← β·θ_ema + (1 − β)·θ for the parameters, while
t <= ``start`` the average is a plain copy of the generator (a warm-up); buffers (batch-norm running statistics)
are copied from the generator at every update, so the averaged network is evaluated with the statistics of the
trained one.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from core.errors import require


class GeneratorEMA:
    """``decay`` β in [0, 1); ``start``: steps during which the average just copies the generator."""

    def __init__(self, generator: nn.Module, decay: float, start: int = 0):
        require(0.0 <= float(decay) < 1.0, f"trainer.ema_decay must be in [0, 1) or null, got {decay}")
        require(int(start) >= 0, f"trainer.ema_start must be >= 0, got {start}")
        self.decay, self.start = float(decay), int(start)
        self.network = copy.deepcopy(generator)
        self.network.requires_grad_(False)

    def _tensors(self, generator: nn.Module):
        params = list(zip(self.network.parameters(), generator.parameters()))
        buffers = list(zip(self.network.buffers(), generator.buffers()))
        return [a for a, _ in params], [b for _, b in params], buffers

    @torch.no_grad()
    def update(self, generator: nn.Module, step: int) -> None:
        """Fold the generator's current weights in after completed step ``step``."""
        averaged, current, buffers = self._tensors(generator)
        if step <= self.start:
            torch._foreach_copy_(averaged, current)
        else:
            torch._foreach_lerp_(averaged, current, 1.0 - self.decay)
        for mine, theirs in buffers:
            mine.copy_(theirs)

    @contextmanager
    def swapped_in(self, method) -> Iterator[None]:
        """``method.G`` is the averaged generator inside the block (evaluation, figures), the trained one after."""
        trained = method.G
        method.G = self.network
        try:
            yield
        finally:
            method.G = trained

    def state_dict(self) -> dict:
        return self.network.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.network.load_state_dict(state)
