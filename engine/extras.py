"""What the trainer does around every step besides the method's own update: the learning-rate schedule, the
moving average of G (used for evaluation) and the speed options; their checkpointed state and their description
in the records (``training``)."""
from __future__ import annotations

import contextlib

import torch

from engine.schedules import apply_schedule, make_schedule
from engine.speed import prepare_speed
from gans.ema import GeneratorEMA


class TrainingExtras:
    """Built after ``method.setup`` (before a checkpoint is loaded): ``step_context()`` wraps each training step,
    ``after_step(t)`` follows completed step t, ``evaluation()`` wraps every evaluation (the averaged G swapped in
    when ``trainer.ema_decay`` is set), ``state_dict``/``load_state_dict`` go into the checkpoint."""

    def __init__(self, settings, method, device: torch.device, image_data: bool):
        self.method = method
        self.schedule = make_schedule(settings.lr_decay, method.planned_steps(settings.steps), settings.lr_decay_start,
                                      settings.lr_decay_end)
        self.ema = None if settings.ema_decay is None else GeneratorEMA(method.G, settings.ema_decay, settings.ema_start)
        self.step_context, speed = prepare_speed(settings, method, device, image_data)
        augment = getattr(method, "augment", None)
        self.description = {
            "lr_decay": settings.lr_decay if self.schedule is None else
            f"linear from {settings.lr_decay_start:g} to {settings.lr_decay_end:g} of the steps",
            "ema_decay": settings.ema_decay, "evaluated_generator": "ema" if self.ema is not None else "trained",
            "augment": augment.describe() if augment is not None else "none", "speed": speed}

    def after_step(self, step: int) -> None:
        if self.schedule is not None:
            apply_schedule(self.schedule, self.method, step)
        if self.ema is not None:
            self.ema.update(self.method.G, step)

    def evaluation(self):
        return self.ema.swapped_in(self.method) if self.ema is not None else contextlib.nullcontext()

    def state_dict(self) -> dict:
        return {"ema": self.ema.state_dict()} if self.ema is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
