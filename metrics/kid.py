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

from metrics.image_base import ReferenceMetric, check_int

__all__ = ["KID"]


class KID(ReferenceMetric):
    """``KID(subsets=100, subset_size=1000, reference="balanced", reference_size=10000)(fake, data, cache)``;
    ``seed``: the reference subset and KID's random subsets (torch-fidelity's default 2020)."""

    name, label = "kid", "KID"

    def __init__(self, reference: str = "balanced", reference_size: int | None = 10000, subsets: int = 100,
                 subset_size: int = 1000, seed: int = 2020) -> None:
        super().__init__(reference, reference_size, seed)
        self.subsets = check_int(subsets, "kid.subsets", 1)
        self.subset_size = check_int(subset_size, "kid.subset_size", 2)

    def __repr__(self) -> str:
        return f"KID(subsets={self.subsets}, subset_size={self.subset_size})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        from torch_fidelity.metric_kid import kid_features_to_metric

        key = "kid" if space.name == "inception-v3-compat" else "kcd"
        ref = self.reference_images(data, weighted=False)
        real = cache.real_features(space, ref)
        gen = cache.finite_outputs(space, fake, finite).float()
        size = min(self.subset_size, gen.shape[0], real.shape[0])
        out: dict[str, Any] = {"kid_feature_space": space.name,
                               "kid_reference": f"{ref.label}, {ref.size} images; {self.subsets} subsets of {size}"}
        if size < 2:
            return {key: float("nan"), f"{key}_std": float("nan"), **out}
        res = kid_features_to_metric(gen, real, kid_subsets=self.subsets, kid_subset_size=size,
                                     rng_seed=self.seed, verbose=False)
        return {key: float(res["kernel_inception_distance_mean"]),
                f"{key}_std": float(res["kernel_inception_distance_std"]), **out}
