"""GOLD reweighting of the fake samples (Mo et al. 2019) as the Dia-GAN repository codes it (``method=gold``);
the weight is the raw fake LDR, which can be negative (see :class:`GOLDMethod`)."""
from __future__ import annotations

import torch

from core.errors import require
from gans.drs import DRSMethod
from gans.method import Batch


class GOLDMethod(DRSMethod):
    """GOLD reweighting of fake samples as coded in the Dia-GAN repository (``method=gold``).

    From step ``round(start_fraction x trainer.steps)`` on (the code's ``gold_step = p1_step``), the fake term of
    the discriminator loss is multiplied per sample by the detached raw fake LDR — negative for fakes that D
    rejects, so those terms change sign (as the code; not exp(LDR) as the GOLD paper)."""

    def __init__(self, regularizers=None, pack: int = 1, drs=None, start_fraction: float = 0.8):
        super().__init__(regularizers, pack, drs)
        require(0.0 <= float(start_fraction) <= 1.0, f"method.start_fraction must be in [0, 1], got {start_fraction}")
        self.start_fraction = float(start_fraction)

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self.start_step = int(round(self.start_fraction * ctx.steps))

    def fake_weights(self, batch: Batch) -> torch.Tensor | None:
        if self.current_step < self.start_step:
            return None
        return self.loss.ldr(batch.fake_out.detach())
