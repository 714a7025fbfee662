"""Small tensor conventions every layer shares: the image value range, evaluation mode and frozen forwards."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


def to_signed_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in [0, 255] -> float32 in [-1, 1] (the models' range); any other tensor is returned as is."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x


@contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` in eval mode (batch norm uses running statistics, no dropout) and restore each one's own
    mode afterwards, also on error. ``None`` entries are skipped. Gradients are not switched off: wrap the block
    in ``torch.no_grad()`` where none are wanted."""
    present = [m for m in modules if m is not None]
    modes = [m.training for m in present]
    for m in present:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(present, modes):
            m.train(mode)


def frozen_forward(module: nn.Module, *args):
    """``module(*args)`` with its parameters detached: gradients reach the inputs but not the module."""
    detached = {name: p.detach() for name, p in module.named_parameters()}
    return torch.func.functional_call(module, detached, args)
