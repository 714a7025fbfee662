"""What every image metric shares: field validation, the generated-batch check, and the feature-space fields."""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, require
from metrics.feature_spaces import FEATURE_SPACES, classifier_space, fake_outputs, select_space
from metrics.reference import REFERENCES

__all__ = ["ImageMetric", "SpaceMetric", "check_cache_dir", "check_int", "check_positive", "check_reference",
           "finite_outputs"]


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


def check_cache_dir(value: Any) -> str | bool | None:
    require(value is None or value is False or isinstance(value, (str, Path)),
            f"metrics: cache_dir must be a folder, null (the default folder) or false (memory only), got {value!r}")
    return value


def check_reference(value: Any, name: str) -> str:
    require(value in REFERENCES, f"metrics: {name}.reference must be one of {REFERENCES}, got {value!r}")
    return value


def check_per_channel(value: Any) -> bool | str:
    require(value == "auto" or isinstance(value, bool),
            f"metrics: per_channel must be auto, true or false, got {value!r}")
    return value


def finite_outputs(space, fake: torch.Tensor, finite: np.ndarray, which: str = "features") -> torch.Tensor:
    """``space``'s outputs (``features`` or ``logits``) for the finite generated images (float64, CPU)."""
    out = fake_outputs(space, fake, [which])[which]
    return out if finite.all() else out[torch.as_tensor(finite)]


class ImageMetric:
    """Base of the image metrics: ``metric(fake (N, C, H, W) in [-1, 1], data) -> dict``."""

    kinds = ("image",)  # dataset kinds this metric scores (checked before training)
    requires: frozenset[str] = frozenset()  # dataset metadata it needs (DatasetSpec.provides)
    label = "image metric"

    def prepare(self, data) -> None:
        """Called once before training (``engine.evaluation.Evaluator.prepare``): build or load the evaluator this
        metric classifies with (the suite trains it on first use), so that a missing evaluator or one below its
        accuracy floor stops the run before training rather than after."""
        if hasattr(self, "evaluator"):
            classifier_space(data, self.evaluator, getattr(self, "per_channel", "auto"))

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


class SpaceMetric(ImageMetric):
    """An image metric computed in a feature space (``feature_space``: auto | inception | classifier).

    ``evaluator``: see :func:`metrics.feature_spaces.resolve_evaluator` (null: the dataset's registered one);
    ``per_channel``: classify colour channels separately (auto: when the dataset has K**C classes);
    ``inception_weights``: a local torch-fidelity Inception weights file (null: ``$MODEBENCH_INCEPTION_WEIGHTS``
    or torch-fidelity's download cache); ``batch_size``: images per forward pass (null: 50 Inception, 500
    classifier).
    """

    default_space = "auto"

    def __init__(self, feature_space: str = "auto", evaluator: Any = None, per_channel: bool | str = "auto",
                 inception_weights: str | None = None, batch_size: int | None = None) -> None:
        require(feature_space in FEATURE_SPACES,
                f"metrics: feature_space must be one of {FEATURE_SPACES}, got {feature_space!r}")
        require(inception_weights is None or isinstance(inception_weights, str),
                f"metrics: inception_weights must be a file path or null, got {inception_weights!r}")
        self.feature_space = feature_space
        self.evaluator = evaluator
        self.per_channel = check_per_channel(per_channel)
        self.inception_weights = inception_weights
        self.batch_size = check_int(batch_size, "batch_size", 1, optional=True)

    def prepare(self, data) -> None:
        self.space(data)  # Inception (nothing to build) or the classifier (built now)

    def space(self, data):
        return select_space(self.feature_space, data, evaluator=self.evaluator, per_channel=self.per_channel,
                            inception_weights=self.inception_weights, batch_size=self.batch_size)

