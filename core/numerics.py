"""Numerical helpers shared by the kernel computations (Gaussian kernels, KDEs, kernel MMD)."""
from __future__ import annotations

import math

import torch


def floored_exp(x: torch.Tensor) -> torch.Tensor:
    """exp(x) for x clamped below at the dtype's smallest normal number's log + 1: exp(x) where that is at least
    e·tiny (float32: 3.2e-38, x >= -86.3; float64: x >= -707.4), e·tiny below (zero gradient there).

    x86 CPUs evaluate exp on a slow path, 10-30x slower, where the result underflows (at the smallest normal
    number itself too), and Gaussian kernels between far-apart points (small bandwidths, high-dimensional
    features) hit it for most entries: ``benchmarks/bench_exp.py``. The floored entries are negligible beside
    any kernel sum, and flush to 0 in products under run.py's flush-to-zero setting."""
    return torch.exp(x.clamp(min=math.log(torch.finfo(x.dtype).tiny) + 1.0))


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x_i - y_j‖² for x (..., n, d), y (..., m, d) -> (..., n, m); leading dims broadcast.

    By the expansion |x|² + |y|² - 2 x·y (one matrix product), clamped at 0 so that rounding never gives a
    negative distance; out of place, so safe under autograd."""
    sq_norms_x = x.square().sum(-1, keepdim=True)
    sq_norms_y = y.square().sum(-1).unsqueeze(-2)
    return torch.add(sq_norms_x + sq_norms_y, x @ y.mT, alpha=-2).clamp(min=0.0)
