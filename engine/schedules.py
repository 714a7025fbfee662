"""Learning-rate schedules of the trainer (``trainer.lr_decay``), applied after every training step (each step ends
with its generator update), to every optimiser the method lists (``GANMethod.optimizers``).

``linear`` (torch-mimicry's, REFERENCE §10.1 / §2.4): with T the planned steps, the learning rate after completed
step t is lr·f(t), f = 1 up to ``start``·T, falling linearly to 0 at ``end``·T, 0 after; the first step trains at
the configured lr and the rate after the last step is 0. The rate is a function of the step alone, so a resumed
run continues the schedule exactly (Dia-GAN's phase 2 continues the decay of phase 1).
"""
from __future__ import annotations

from core.errors import require

SCHEDULES = ("none", "linear")


class LinearDecay:
    """f(t) of the module docstring for ``total`` planned steps and fractions ``start`` < ``end``."""

    def __init__(self, total: int, start: float = 0.0, end: float = 1.0):
        require(0.0 <= float(start) < float(end) <= 1.0,
                f"trainer.lr_decay_start and trainer.lr_decay_end must satisfy 0 <= start < end <= 1, got "
                f"{start}, {end}")
        self.first, self.last = float(start) * total, float(end) * total

    def factor(self, step: int) -> float:
        if step <= self.first:
            return 1.0
        if step >= self.last:
            return 0.0
        return (self.last - step) / (self.last - self.first)


def make_schedule(kind: str, total: int, start: float, end: float) -> LinearDecay | None:
    """The schedule ``kind`` (``none``: None) over ``total`` steps."""
    require(kind in SCHEDULES, f"trainer.lr_decay must be one of {list(SCHEDULES)}, got {kind!r}")
    return LinearDecay(total, start, end) if kind == "linear" else None


def apply_schedule(schedule: LinearDecay, method, step: int) -> None:
    """Set every listed optimiser's learning rate to its configured rate x f(step)."""
    factor = schedule.factor(step)
    for optimizer, base in method.optimizers():
        for group in optimizer.param_groups:
            group["lr"] = base * factor
