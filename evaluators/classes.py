"""Evaluator classes as dataset classes, and the KL divergence of a class histogram from its target (a leaf module:
the image metrics and the ``rls_class`` sampler import it; it imports only core, numpy and torch).

Evaluator classes map to dataset classes by ``data.images.evaluator_class_map`` (length = the evaluator's classes,
entry = dataset class or -1 for "not a class of this dataset"; e.g. mnist2 with digits 0 and 4:
[0, -1, -1, -1, 1, -1, ...]). Without it the map is the identity, and evaluator classes beyond
``data.num_modes`` count as other (012-MNIST: labels 0, 1, 2 are the digits).
"""
from __future__ import annotations

import numpy as np
import torch

from core.errors import ConfigError, DataError

__all__ = ["class_map", "kl_divergence", "predicted_classes"]


def class_map(data, n_evaluator_classes: int) -> np.ndarray:
    """Dataset class of each evaluator class (-1: none), see the module docstring."""
    k = data.num_modes
    mapping = data.images.evaluator_class_map if data.images is not None else None
    if mapping is not None:
        m = np.asarray(torch.as_tensor(mapping).cpu(), dtype=np.int64).reshape(-1)
        if m.size != n_evaluator_classes or m.min() < -1 or m.max() >= k:
            raise DataError(f"dataset '{data.name}': evaluator_class_map must have one entry in [-1, {k}) per "
                            f"evaluator class ({n_evaluator_classes}), got {m.tolist()[:20]}")
        return m
    if n_evaluator_classes < k:
        raise ConfigError(f"metrics: the evaluator has {n_evaluator_classes} classes but dataset '{data.name}' has "
                          f"{k}; give the dataset an evaluator_class_map or another evaluator (per_channel for "
                          "stacked images)")
    return np.where(np.arange(n_evaluator_classes) < k, np.arange(n_evaluator_classes), -1)


def predicted_classes(logits: torch.Tensor, data) -> np.ndarray:
    """Dataset class (or -1) of each image from the evaluator's logits (N, K)."""
    pred = logits.argmax(dim=1).cpu().numpy()
    return class_map(data, logits.shape[1])[pred]


def kl_divergence(counts: np.ndarray, target: np.ndarray) -> float:
    """KL(p ‖ q) in nats, p = counts / sum; terms with p = 0 are 0; inf where p > 0 = q; nan without counts."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts / total
    q = np.asarray(target, dtype=np.float64)
    q = q / q.sum()
    nz = p > 0
    if (q[nz] <= 0).any():
        return float("inf")
    return float(max(np.sum(p[nz] * np.log(p[nz] / q[nz])), 0.0))
