"""Checks of config fields shared by the dataset specs: plain values from OmegaConf containers, numbers."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.errors import require


def plain(value: Any) -> Any:
    """Turn OmegaConf containers (ListConfig) and tuples into plain nested lists; leave scalars alone."""
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Sequence):  # list, tuple, omegaconf ListConfig
        return [plain(v) for v in value]
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def require_int(field: str, value: Any, low: int, high: int | None = None) -> int:
    rng = f"[{low}, {high}]" if high is not None else f"integers >= {low}"
    require(is_int(value), f"dataset.{field} must be an integer, got {value!r} (valid: {rng})")
    ok = value >= low and (high is None or value <= high)
    require(ok, f"dataset.{field} must be in {rng}, got {value}")
    return int(value)


def require_positive(field: str, value: Any) -> float:
    require(is_real(value) and math.isfinite(float(value)) and float(value) > 0,
            f"dataset.{field} must be a finite number > 0, got {value!r} (valid range: (0, inf))")
    return float(value)
