"""The single-GPU speed options of the trainer (``trainer.channels_last``, ``tf32``, ``compile``, ``autocast``):
applied to a set-up method before training, described in every record (``training.speed``).

- ``channels_last``: ``auto`` (on for CUDA runs on image data, off on CPU), true, false: convolution weights in the
  NHWC memory format (float results differ from NCHW only by the order of summation);
- ``tf32``: ``auto`` keeps torch's defaults (cuDNN convolutions may use TF32, matmuls do not), true allows TF32 in
  both, false forbids it in both (float32 numerics throughout); CUDA only;
- ``compile``: ``torch.compile`` of G and D (``nn.Module.compile``: in place, state-dict keys unchanged);
- ``autocast``: ``none`` or ``bf16`` (the training step under ``torch.autocast`` with bfloat16; no loss scaling
  is needed). bf16, TF32 in matmuls and compilation change the numbers: all are off by default (paper runs).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch

from core.errors import require

AUTOCAST = {"none": None, "bf16": torch.bfloat16}
TRI_STATE = ("auto", True, False)


def check_speed_settings(settings) -> None:
    """ConfigError for a value outside the documented choices."""
    require(settings.channels_last in TRI_STATE,
            f"trainer.channels_last must be auto, true or false, got {settings.channels_last!r}")
    require(settings.tf32 in TRI_STATE, f"trainer.tf32 must be auto, true or false, got {settings.tf32!r}")
    require(isinstance(settings.compile, bool), f"trainer.compile must be true or false, got {settings.compile!r}")
    require(settings.autocast in AUTOCAST,
            f"trainer.autocast must be one of {list(AUTOCAST)}, got {settings.autocast!r}")


def prepare_speed(settings, method, device: torch.device, image_data: bool) -> tuple[Callable[[], Any], dict]:
    """Apply the options to ``method`` (its G and D) on ``device``: (a context factory for one training step,
    the description stored in the records)."""
    channels_last = (device.type == "cuda" and image_data) if settings.channels_last == "auto" else settings.channels_last
    if channels_last:
        for net in (method.G, method.D):
            net.to(memory_format=torch.channels_last)
    if device.type == "cuda" and settings.tf32 != "auto":
        torch.backends.cuda.matmul.allow_tf32 = bool(settings.tf32)
        torch.backends.cudnn.allow_tf32 = bool(settings.tf32)
    if settings.compile:
        method.G.compile()
        method.D.compile()
    dtype = AUTOCAST[settings.autocast]

    def step_context():
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=dtype)

    tf32 = device.type == "cuda" and (settings.tf32 is True or (settings.tf32 == "auto" and torch.backends.cudnn.allow_tf32))
    return step_context, {"channels_last": bool(channels_last), "tf32_convolutions": bool(tf32),
                          "tf32_matmul": device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32,
                          "compile": settings.compile, "autocast": settings.autocast}
