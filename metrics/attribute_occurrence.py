"""Occurrence of binary attributes among the generated images (Dia-GAN Table 6, "O"): the percentage of generated
images that the dataset's multi-label evaluator (CelebA's attribute classifier, ``dataset.evaluator``) predicts to
have each attribute (logit > 0), beside the attribute's share of the training images.

Keys: ``occurrence_<attribute>`` (percent of the finite generated images) and ``occurrence_data_<attribute>``
(percent of the training images, from the dataset's attribute masks).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from core.errors import require
from evaluators import evaluator_for
from metrics.image_base import ImageMetric

__all__ = ["AttributeOccurrence"]


class AttributeOccurrence(ImageMetric):
    """``AttributeOccurrence(attributes=[Bald, ...])(fake, data, cache)``; the attributes must be predicted by the
    dataset's evaluator and present as subgroup masks of the dataset (CelebA)."""

    label = "attribute occurrence"
    space = None
    requires = frozenset({"evaluator"})

    def __init__(self, attributes: Sequence[str]) -> None:
        attributes = [str(a) for a in (attributes or [])]
        require(attributes, "metrics: attribute_occurrence.attributes must name at least one attribute")
        self.attributes = attributes

    def __repr__(self) -> str:
        return f"AttributeOccurrence(attributes={self.attributes})"

    def _evaluator(self, data):
        evaluator = evaluator_for(data)
        require(getattr(evaluator, "multilabel", False),
                f"metrics: attribute_occurrence needs a multi-label (attribute) evaluator; dataset '{data.name}' "
                f"has {getattr(evaluator, 'name', evaluator)!r}")
        missing = [a for a in self.attributes if a not in evaluator.class_names]
        require(not missing, f"metrics: attribute_occurrence.attributes {missing} are not predicted by the evaluator "
                             f"(it predicts {evaluator.class_names}); add them to dataset.evaluator.attributes")
        return evaluator

    def prepare(self, data, cache=None) -> None:
        self._evaluator(data)

    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        evaluator = self._evaluator(data)
        kept = fake[np.flatnonzero(finite)] if not finite.all() else fake
        predicted = evaluator.predict(data.as_float(kept)).cpu() if kept.shape[0] else None
        out: dict[str, Any] = {}
        for attribute in self.attributes:
            column = evaluator.class_names.index(attribute)
            out[f"occurrence_{attribute}"] = (float(predicted[:, column].float().mean()) * 100
                                              if predicted is not None else float("nan"))
            mask = (data.images.subgroups or {}).get(attribute) if data.images is not None else None
            if mask is not None:
                out[f"occurrence_data_{attribute}"] = float(mask.float().mean()) * 100
        return out
