"""Generated images per class and their KL divergence from the balanced target (RLS paper Tables 2-3).

Each generated image is classified by the evaluator (argmax of its logits); ``class_counts[k]`` is the number of
images of dataset class ``k`` and ``kl_classes`` = KL(p_gen ‖ target) in nats, p_gen = class_counts normalised
over the images that fall in a dataset class, target = ``data.target_weights`` (balanced). Stacked MNIST
(1000 = 10**3 classes on 3 channels) classifies each channel with the MNIST evaluator, class = 100·d0 + 10·d1 + d2
(``metrics.features.per_channel``); ``classes_covered`` counts classes with at least ``min_count`` images (stacked
MNIST: modes covered out of 1000, with min_count = 1 as in the VEEGAN/PacGAN protocol).

Evaluator classes map to dataset classes by the dataset's ``evaluator_class_map`` (:mod:`evaluators.classes`);
images classified as a class outside the dataset are counted in ``other_count`` (RLS Table 2's counts do not sum
to 10k either).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from evaluators.classes import kl_divergence, predicted_classes
from metrics.feature_spaces import evaluator_name
from metrics.image_base import ImageMetric, check_int
from metrics.reference import target_weights

__all__ = ["ClassCounts"]


class ClassCounts(ImageMetric):
    """``ClassCounts(min_count=1)(fake, data, cache)``: ``class_counts`` (list, one per dataset class),
    ``kl_classes``, ``classes_covered`` (classes with >= min_count images), ``other_count``, ``nonfinite_fraction``,
    ``evaluator`` (its name) and ``evaluator_accuracy`` (its held-out accuracy, when it states one)."""

    label = "class counts"
    space = "classifier"

    def __init__(self, min_count: int = 1) -> None:
        self.min_count = check_int(min_count, "class_counts.min_count", 1)

    def __repr__(self) -> str:
        return f"ClassCounts(min_count={self.min_count})"

    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        logits = cache.finite_outputs(space, fake, finite, "logits")
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
