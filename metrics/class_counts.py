"""Generated images per class and their KL divergence from the balanced target (RLS paper Tables 2-3).

Each generated image is classified by the evaluator (argmax of its logits); ``class_counts[k]`` is the number of
images of dataset class ``k`` and ``kl_classes`` = KL(p_gen ‖ target) in nats, p_gen = class_counts normalised
over the images that fall in a dataset class, target = ``data.target_weights`` (balanced). Stacked MNIST
(1000 = 10**3 classes on 3 channels) classifies each channel with the MNIST evaluator, class = 100·d0 + 10·d1 + d2
(``per_channel``); ``classes_covered`` counts classes with at least ``min_count`` images (stacked MNIST: modes
covered out of 1000, with min_count = 1 as in the VEEGAN/PacGAN protocol).

Evaluator classes map to dataset classes by ``data.extra["evaluator_class_map"]`` (length = the evaluator's
classes, entry = dataset class or -1 for "not a class of this dataset"; e.g. mnist2 with digits 0 and 4:
[0, -1, -1, -1, 1, -1, ...]). Without it the map is the identity, and evaluator classes beyond
``data.num_modes`` count as other (012-MNIST: labels 0, 1, 2 are the digits). Images classified as other are
counted in ``other_count`` (RLS Table 2's counts do not sum to 10k either).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, DataError
from metrics.feature_spaces import classifier_space, evaluator_name
from metrics.image_base import ImageMetric, check_int, check_per_channel, finite_outputs
from metrics.reference import target_weights

__all__ = ["ClassCounts", "class_map", "kl_divergence", "predicted_classes"]


def class_map(data, n_evaluator_classes: int) -> np.ndarray:
    """Dataset class of each evaluator class (-1: none), see the module docstring."""
    k = data.num_modes
    mapping = data.extra.get("evaluator_class_map")
    if mapping is not None:
        m = np.asarray(torch.as_tensor(mapping).cpu(), dtype=np.int64).reshape(-1)
        if m.size != n_evaluator_classes or m.min() < -1 or m.max() >= k:
            raise DataError(f"dataset '{data.name}': evaluator_class_map must have one entry in [-1, {k}) per "
                            f"evaluator class ({n_evaluator_classes}), got {m.tolist()[:20]}")
        return m
    if n_evaluator_classes < k:
        raise ConfigError(f"metrics: the evaluator has {n_evaluator_classes} classes but dataset '{data.name}' has "
                          f"{k}; give data.extra['evaluator_class_map'] or another evaluator (per_channel for "
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


class ClassCounts(ImageMetric):
    """``ClassCounts(min_count=1)(fake, data)``: ``class_counts`` (list, one per dataset class), ``kl_classes``,
    ``classes_covered`` (classes with >= min_count images), ``other_count``, ``nonfinite_fraction``,
    ``evaluator`` (its name) and ``evaluator_accuracy`` (its held-out accuracy, when it states one)."""

    label = "class counts"

    def __init__(self, evaluator: Any = None, per_channel: bool | str = "auto", min_count: int = 1,
                 batch_size: int | None = None) -> None:
        self.evaluator = evaluator
        self.per_channel = check_per_channel(per_channel)
        self.min_count = check_int(min_count, "class_counts.min_count", 1)
        self.batch_size = check_int(batch_size, "batch_size", 1, optional=True)

    def __repr__(self) -> str:
        return f"ClassCounts(min_count={self.min_count}, per_channel={self.per_channel})"

    def __call__(self, fake: torch.Tensor, data) -> dict[str, Any]:
        fake, finite = self.check_images(fake, data)
        space = classifier_space(data, self.evaluator, self.per_channel, self.batch_size or 500)
        logits = finite_outputs(space, fake, finite, "logits")
        counts = np.zeros(data.num_modes, dtype=np.int64)
        other = 0
        if logits.shape[0]:
            pred = predicted_classes(logits, data)
            counts = np.bincount(pred[pred >= 0], minlength=data.num_modes)
            other = int((pred < 0).sum())
        out: dict[str, Any] = {
            "class_counts": [int(c) for c in counts],
            "kl_classes": kl_divergence(counts, target_weights(data)),
            "classes_covered": int((counts >= self.min_count).sum()),
            "other_count": other,
            "nonfinite_fraction": float(1.0 - finite.mean()),
            "evaluator": evaluator_name(space.evaluator) + (" (per channel)" if space.per_channel else ""),
        }
        accuracy = space.accuracy
        if isinstance(accuracy, (int, float)) and math.isfinite(accuracy):
            out["evaluator_accuracy"] = float(accuracy)
        return out

