"""What a positive/negative (Rumi) model generates: the share of its samples on the negative classes ("what not to
learn"), on the positive ones, and how many positive classes it covers.

Classes come from the split: positive = a class of some positive sample, negative = a class of some negative sample
that is not positive (an overlapping class, e.g. the 2s and 9s of Rumi's ``overlap`` split, counts as positive).
A generated sample's class: for mixtures, its nearest mode when it is a high-quality sample of it (within
``std_threshold`` standard deviations, the mode metrics' rule; other samples are in no class); for images, the
dataset evaluator's prediction (the class histogram is ``class_counts``, from the same predictions).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.errors import require
from evaluators.classes import predicted_classes
from metrics.image_base import ImageMetric, check_int, check_positive
from metrics.modes import ModeCoverage

__all__ = ["NegativeShare"]


def split_classes(data) -> tuple[list[int], list[int]]:
    """(positive classes, negative-only classes) of a bundle with a positive/negative split."""
    require(data.positive_indices is not None and data.negative_indices is not None,
            f"metrics: negative_share needs a positive/negative split; dataset '{data.name}' has none")
    labels = data.labels.cpu()
    positive = sorted(set(labels[data.positive_indices.cpu()].tolist()))
    negative = sorted(set(labels[data.negative_indices.cpu()].tolist()) - set(positive))
    return positive, negative


class NegativeShare(ImageMetric):
    """``NegativeShare(std_threshold=3.0, min_count=1)(fake, data, cache)`` -> ``negative_share`` and
    ``positive_share`` (shares of all N generated samples), ``positive_covered`` (positive classes with at least
    ``min_count`` samples) and ``minority_positive_covered`` (the same among the dataset's minority classes).
    ``std_threshold`` is the mixtures' high-quality rule (unused for images)."""

    kinds = ("toy", "image")
    requires = frozenset({"positive_negative"})
    label = "negative share"
    space = "classifier"

    def __init__(self, std_threshold: float = 3.0, min_count: int = 1) -> None:
        self.std_threshold = check_positive(std_threshold, "negative_share.std_threshold")
        self.min_count = check_int(min_count, "negative_share.min_count", 1)

    def __repr__(self) -> str:
        return f"NegativeShare(std_threshold={self.std_threshold}, min_count={self.min_count})"

    def __call__(self, fake: torch.Tensor, data, cache=None) -> dict[str, Any]:
        if data.kind == "toy":
            counts = ModeCoverage(self.std_threshold, min_count=1)(fake, data)["mode_counts"]
            return self.summary(np.asarray(counts), fake.shape[0], data)
        return super().__call__(fake, data, cache)

    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        logits = cache.finite_outputs(space, fake, finite, "logits")
        pred = predicted_classes(logits, data) if logits.shape[0] else np.zeros(0, dtype=np.int64)
        return self.summary(np.bincount(pred[pred >= 0], minlength=data.num_modes), fake.shape[0], data)

    def summary(self, counts: np.ndarray, n: int, data) -> dict[str, Any]:
        """The record's values from generated samples per class ``counts`` (K,) out of ``n``."""
        positive, negative = split_classes(data)
        covered = [c for c in positive if counts[c] >= self.min_count]
        return {"negative_share": float(counts[negative].sum() / n), "positive_share": float(counts[positive].sum() / n),
                "positive_covered": len(covered),
                "minority_positive_covered": len(set(covered) & set(int(m) for m in data.minority))}
