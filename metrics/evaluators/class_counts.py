"""A minimal class-histogram metric (RLS Tables 2-3) for ``metrics=mnist_classes``: the evaluator's class of each
generated image, counted per dataset class, and the KL divergence of that histogram from the dataset's target
(balanced) class distribution. The full image metrics (``metrics=images``) live in their own modules."""
from __future__ import annotations

from typing import Any

import torch

from metrics.evaluators.base import class_histogram, evaluator_for, kl_to_target


class ClassCounts:
    """``class_counts`` (per dataset class), ``other_count`` (classified outside the dataset's classes),
    ``minority_fraction`` (share of the generated images in the minority classes), ``kl_classes``
    (KL(generated class histogram ‖ target weights), nats, over the images inside the dataset's classes) and the
    evaluator's name and held-out accuracy."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix

    def prepare(self, data) -> None:
        evaluator_for(data)

    @torch.no_grad()
    def __call__(self, fake: torch.Tensor, data) -> dict[str, Any]:
        evaluator = evaluator_for(data)
        finite = torch.isfinite(fake.flatten(1)).all(1)
        counts, other = class_histogram(data, fake[finite].clamp(-1, 1), evaluator)
        total = max(int(finite.sum()), 1)
        minority = sum(counts[m] for m in data.minority)
        p = self.prefix
        return {f"{p}class_counts": counts, f"{p}other_count": other,
                f"{p}minority_fraction": minority / total,
                f"{p}kl_classes": kl_to_target(counts, data.target_weights.tolist()),
                f"{p}evaluator": evaluator.name, f"{p}evaluator_accuracy": round(evaluator.accuracy, 5)}
