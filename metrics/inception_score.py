"""Inception Score of the generated images, or its classifier analogue (offline).

IS = exp(E_x KL(p(y|x) ‖ p(y))), mean and std over ``splits`` splits of a shuffled sample (Salimans et al.;
torch-fidelity's ``isc_features_to_metric`` on the unbiased Inception logits, 10 splits). Keys: ``is``/``is_std``
with Inception; with the evaluator's softmax over its classes (stacked MNIST: the product of the per-channel
softmaxes over the 1000 modes) ``classifier_score``/``classifier_score_std``. Either
way ``is_feature_space`` names the space. No real data is involved.
"""
from __future__ import annotations

from typing import Any

import torch

from metrics.image_base import FeatureMetric, check_int

__all__ = ["InceptionScore"]


class InceptionScore(FeatureMetric):
    """``InceptionScore(splits=10)(fake, data, cache)``; ``seed``: the shuffle before the splits."""

    name, label = "inception_score", "IS"

    def __init__(self, splits: int = 10, seed: int = 2020) -> None:
        super().__init__(seed)
        self.splits = check_int(splits, "inception_score.splits", 1)

    def __repr__(self) -> str:
        return f"InceptionScore(splits={self.splits})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        from torch_fidelity.metric_isc import isc_features_to_metric

        key = "is" if space.name == "inception-v3-compat" else "classifier_score"
        logits = cache.finite_outputs(space, fake, finite, "logits")
        out: dict[str, Any] = {"is_feature_space": space.name}
        if logits.shape[0] < self.splits:
            return {key: float("nan"), f"{key}_std": float("nan"), **out}
        res = isc_features_to_metric(logits, splits=self.splits, shuffle=True, rng_seed=self.seed)
        return {key: float(res["inception_score_mean"]), f"{key}_std": float(res["inception_score_std"]), **out}
