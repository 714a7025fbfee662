"""Kernel distance between generated and real images: KID (Inception) or KCD (classifier features).

The unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over ``subsets`` random
subsets of ``subset_size`` generated and real features (Bińkowski et al.; torch-fidelity's defaults 100 x 1000,
computed by torch-fidelity's own ``kid_features_to_metric``). Keys: ``kid``/``kid_std`` in the Inception space,
``kcd``/``kcd_std`` in the evaluator's features; ``kid_feature_space`` and ``kid_reference`` describe them.
The subset size shrinks to the smaller set when either has fewer images (stated in ``kid_reference``).
"""
from __future__ import annotations

from typing import Any

import torch

from metrics.image_base import SpaceMetric, check_cache_dir, check_int, check_reference, finite_outputs
from metrics.reference import real_features, reference_set

__all__ = ["KID"]


class KID(SpaceMetric):
    """``KID(subsets=100, subset_size=1000, reference="balanced", reference_size=10000)(fake, data)``."""

    label = "KID"

    def __init__(self, feature_space: str = "auto", reference: str = "balanced", reference_size: int | None = 10000,
                 subsets: int = 100, subset_size: int = 1000, evaluator: Any = None,
                 per_channel: bool | str = "auto", inception_weights: str | None = None,
                 batch_size: int | None = None, cache_dir: str | bool | None = None, seed: int = 2020) -> None:
        super().__init__(feature_space, evaluator, per_channel, inception_weights, batch_size)
        self.reference = check_reference(reference, "kid")
        self.reference_size = check_int(reference_size, "kid.reference_size", 2, optional=True)
        self.subsets = check_int(subsets, "kid.subsets", 1)
        self.subset_size = check_int(subset_size, "kid.subset_size", 2)
        self.cache_dir = check_cache_dir(cache_dir)
        self.seed = check_int(seed, "kid.seed", 0)

    def __repr__(self) -> str:
        return f"KID(feature_space={self.feature_space}, subsets={self.subsets}, subset_size={self.subset_size})"

    @torch.no_grad()
    def __call__(self, fake: torch.Tensor, data) -> dict[str, Any]:
        from torch_fidelity.metric_kid import kid_features_to_metric

        fake, finite = self.check_images(fake, data)
        space = self.space(data)
        key = "kid" if space.name == "inception-v3-compat" else "kcd"
        ref = reference_set(data, self.reference, self.reference_size, self.seed, weighted=False)
        real = real_features(space, ref, self.cache_dir)
        gen = finite_outputs(space, fake, finite).float()
        size = min(self.subset_size, gen.shape[0], real.shape[0])
        out: dict[str, Any] = {"kid_feature_space": space.name,
                               "kid_reference": f"{ref.label}, {ref.size} images; {self.subsets} subsets of {size}"}
        if size < 2:
            return {key: float("nan"), f"{key}_std": float("nan"), **out}
        res = kid_features_to_metric(gen, real, kid_subsets=self.subsets, kid_subset_size=size,
                                     rng_seed=self.seed, verbose=False)
        return {key: float(res["kernel_inception_distance_mean"]),
                f"{key}_std": float(res["kernel_inception_distance_std"]), **out}
