"""What every image metric shares: the call contract, field validation and the generated-batch check.

An image metric is called as ``metric(fake (N, C, H, W) in [-1, 1] or uint8, data, cache=None) -> dict``. ``cache``
is the evaluation's :class:`metrics.features.FeatureCache` (the engine's evaluation passes one per generated batch,
so the metrics share features); without it the metric makes its own with the default feature settings.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, require
from metrics.features import FeatureCache
from metrics.reference import REFERENCES, ReferenceSet, reference_set

__all__ = ["FeatureMetric", "ImageMetric", "ReferenceMetric", "check_int", "check_positive"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: Any, name: str, minimum: int, *, optional: bool = False, hint: str = "") -> int | None:
    if optional and value is None:
        return None
    require(_is_int(value) and value >= minimum,
            f"metrics: {name} must be an integer >= {minimum}{' or null' if optional else ''}{hint}, got {value!r}")
    return int(value)


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    require(ok and (value >= 0 if allow_zero else value > 0),
            f"metrics: {name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


class ImageMetric:
    """Base of the image metrics: ``metric(fake, data, cache=None) -> dict`` validates the batch, picks the
    feature space (``space``: ``"configured"`` = ``metrics.features.space``, ``"classifier"`` = the evaluator,
    None = no features) and hands over to ``score``."""

    kinds = ("image",)  # dataset kinds this metric scores (checked before training)
    requires: frozenset[str] = frozenset()  # dataset metadata it needs (DatasetSpec.provides)
    label = "image metric"
    space: str | None = "configured"

    def __call__(self, fake: torch.Tensor, data, cache: FeatureCache | None = None) -> dict[str, Any]:
        cache = FeatureCache() if cache is None else cache
        fake, finite = self.check_images(fake, data)
        return self.score(fake, finite, data, self.feature_space(data, cache), cache)

    def score(self, fake: torch.Tensor, finite: np.ndarray, data, space, cache: FeatureCache) -> dict[str, Any]:
        """The metric's values for the checked batch ``fake`` (``finite``: its finite images) in ``space``."""
        raise NotImplementedError  # pragma: no cover - interface

    def feature_space(self, data, cache: FeatureCache):
        if self.space is None:
            return None
        return cache.classifier_for(data) if self.space == "classifier" else cache.space_for(data)

    def prepare(self, data, cache: FeatureCache | None = None) -> None:
        """Called once before training (``engine.evaluation.Evaluator.prepare``): build the feature space this
        metric uses, loading or training the evaluator it classifies with (the suite trains it on first use), so
        that a missing evaluator or one below its accuracy floor stops the run before training, not after. Metrics
        that also score mixtures (``kinds`` with ``toy``) need no feature space there."""
        if data.kind == "image":
            self.feature_space(data, FeatureCache() if cache is None else cache)

    def check_images(self, fake: torch.Tensor, data) -> tuple[torch.Tensor, np.ndarray]:
        """Validate the generated batch; return it with the mask of its finite images (numpy bool, (N,))."""
        if not isinstance(fake, torch.Tensor):
            fake = torch.as_tensor(fake)
        if data.kind not in self.kinds:
            raise ConfigError(f"metrics: {self.label} scores {'/'.join(self.kinds)} data, but dataset "
                              f"'{data.name}' is {data.kind}; use metrics=toy for mixtures")
        if fake.dim() != 4 or tuple(fake.shape[1:]) != tuple(data.sample_shape):
            raise ValueError(f"{self.label}: expected generated images of shape (N, {', '.join(map(str, data.sample_shape))}), "
                             f"got {tuple(fake.shape)}")
        if fake.shape[0] == 0:
            raise ValueError(f"{self.label}: no generated images (N = 0)")
        if fake.dtype == torch.uint8:
            finite = np.ones(fake.shape[0], dtype=bool)
        else:
            finite = torch.isfinite(fake).flatten(1).all(dim=1).cpu().numpy()
        return fake, finite


class FeatureMetric(ImageMetric):
    """Base of the six metrics computed on features (FID, KID, IS, P/R/D/C, partial recall, clustering): their
    ``seed`` (random subsets, splits or KMeans' state). ``name`` is the metric's config node (error messages)."""

    name = "metric"

    def __init__(self, seed: int = 0) -> None:
        self.seed = check_int(seed, f"{self.name}.seed", 0)


class ReferenceMetric(FeatureMetric):
    """A feature metric against a real reference set (FID, KID, P/R/D/C, PRD): ``reference`` (``train`` |
    ``balanced`` | ``positives`` | ``negatives``, see :mod:`metrics.reference`), ``reference_size`` (real images;
    null: all) and ``seed`` (draws the subset)."""

    def __init__(self, reference: str, reference_size: int | None, seed: int) -> None:
        super().__init__(seed)
        require(reference in REFERENCES, f"metrics: {self.name}.reference must be one of {REFERENCES}, "
                                         f"got {reference!r}")
        self.reference = reference
        self.reference_size = check_int(reference_size, f"{self.name}.reference_size", 2, optional=True)
        if reference in ("positives", "negatives"):  # checked against the dataset before training
            self.requires = frozenset(self.requires) | {"positive_negative"}

    def reference_images(self, data, *, weighted: bool) -> ReferenceSet:
        """The real images this metric compares against (``weighted``: moment statistics may reweight them)."""
        return reference_set(data, self.reference, self.reference_size, self.seed, weighted=weighted)
