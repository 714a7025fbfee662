"""Top-k training (Sinha et al. 2020) as coded in the Dia-GAN repository (``method=topk``).

The generator loss uses only the top-k fake outputs, keep fraction max(0.99^epoch, 0.5), epoch = step //
steps_per_epoch (steps_per_epoch = ceil(n / batch) = ``len(DataLoader)``), from step 0 as
``train_mimicry_phase1.py --topk``.
"""
from __future__ import annotations

import math

import torch

from core.errors import require
from gans.drs import DRSMethod
from gans.method import Batch


class TopKMethod(DRSMethod):
    """Top-k training (Sinha et al. 2020) as coded in the Dia-GAN repository (``method=topk``): the generator's
    adversarial loss keeps the ``int(rate x B)`` largest fake outputs, rate = max(decay^epoch, min_rate)."""

    def __init__(self, regularizers=None, pack: int = 1, drs=None, decay: float = 0.99, min_rate: float = 0.5,
                 steps_per_epoch: int | None = None):
        super().__init__(regularizers, pack, drs)
        require(0.0 < float(decay) <= 1.0, f"method.decay must be in (0, 1], got {decay}")
        require(0.0 < float(min_rate) <= 1.0, f"method.min_rate must be in (0, 1], got {min_rate}")
        require(steps_per_epoch is None or int(steps_per_epoch) >= 1,
                f"method.steps_per_epoch must be >= 1 or null, got {steps_per_epoch}")
        self.decay, self.min_rate = float(decay), float(min_rate)
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)

    def setup(self, ctx) -> None:
        super().setup(ctx)
        if self.steps_per_epoch is None:  # len(DataLoader) without drop_last
            self.steps_per_epoch = max(1, math.ceil(ctx.data.n / ctx.batch_size))

    def keep_rate(self, step: int) -> float:
        return max(self.decay ** (step // self.steps_per_epoch), self.min_rate)

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        out = batch.fake_out
        k = max(1, int(self.keep_rate(self.current_step) * out.shape[-1]))
        return self.loss.g_loss(out.topk(k, dim=-1).values)
