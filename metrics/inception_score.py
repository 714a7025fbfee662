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

from metrics.image_base import SpaceMetric, check_int, finite_outputs

__all__ = ["InceptionScore"]


class InceptionScore(SpaceMetric):
    """``InceptionScore(splits=10)(fake, data)``."""

    label = "IS"

    def __init__(self, feature_space: str = "auto", splits: int = 10, evaluator: Any = None,
                 per_channel: bool | str = "auto", inception_weights: str | None = None,
                 batch_size: int | None = None, seed: int = 2020) -> None:
        super().__init__(feature_space, evaluator, per_channel, inception_weights, batch_size)
        self.splits = check_int(splits, "inception_score.splits", 1)
        self.seed = check_int(seed, "inception_score.seed", 0)

    def __repr__(self) -> str:
        return f"InceptionScore(feature_space={self.feature_space}, splits={self.splits})"

    @torch.no_grad()
    def __call__(self, fake: torch.Tensor, data) -> dict[str, Any]:
        from torch_fidelity.metric_isc import isc_features_to_metric

        fake, finite = self.check_images(fake, data)
        space = self.space(data)
        key = "is" if space.name == "inception-v3-compat" else "classifier_score"
        logits = finite_outputs(space, fake, finite, "logits")
        out: dict[str, Any] = {"is_feature_space": space.name}
        if logits.shape[0] < self.splits:
            return {key: float("nan"), f"{key}_std": float("nan"), **out}
        res = isc_features_to_metric(logits, splits=self.splits, shuffle=True, rng_seed=self.seed)
        return {key: float(res["inception_score_mean"]), f"{key}_std": float(res["inception_score_std"]), **out}
