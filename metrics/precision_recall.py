"""Precision and recall (Kynkäänniemi et al. 2019, k = 3) and density and coverage (Naeem et al. 2020).

In a feature space (Inception pool3, or the evaluator's penultimate layer offline), with B(x, r) the ball of
radius r around x and NN_k(x) the distance from x to its k-th nearest neighbour within its own set:

- precision = share of generated points inside some real ball B(r_i, NN_k(r_i));
- recall    = share of real points inside some generated ball B(g_j, NN_k(g_j));
- density   = (1 / kM) Σ_j #{i : g_j ∈ B(r_i, NN_k(r_i))};
- coverage  = share of real points whose ball contains at least one generated point.

"Inside" is the strict ``<`` of the ``prdc`` package (Naeem et al.'s reference code), which these functions
reproduce exactly; torch-fidelity's precision/recall uses ``<=`` (the same for continuous features). The
distances are computed in float64 chunks, so 10k x 10k sets need no 800 MB distance matrix.
"""
from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

from core.errors import require
from metrics.features import FeatureCache
from metrics.image_base import ReferenceMetric, check_int

__all__ = ["PrecisionRecall", "generated_radii", "kth_neighbour_distances", "prdc", "recall_against"]

_CHUNK_ELEMENTS = 1 << 23  # float64 distances per chunk (64 MiB)


def _chunk(m: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(m, 1))


def kth_neighbour_distances(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row (the (k+1)-th smallest, self included)."""
    x = x.to(torch.float64)
    require(x.shape[0] > k, f"metrics: k = {k} nearest neighbours need more than {k} points, got {x.shape[0]}")
    out = torch.empty(x.shape[0], dtype=torch.float64)
    step = _chunk(x.shape[0])
    for s in range(0, x.shape[0], step):
        d = torch.cdist(x[s:s + step], x)
        out[s:s + step] = d.kthvalue(k + 1, dim=1).values
    return out


def recall_against(real: torch.Tensor, fake: torch.Tensor, fake_radii: torch.Tensor) -> torch.Tensor:
    """Boolean per real point: inside some generated ball (the recall / partial-recall indicator)."""
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    inside = torch.zeros(real.shape[0], dtype=torch.bool)
    step = _chunk(fake.shape[0])
    for s in range(0, real.shape[0], step):
        inside[s:s + step] = (torch.cdist(real[s:s + step], fake) < fake_radii[None, :]).any(dim=1)
    return inside


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 3, real_radii: torch.Tensor | None = None,
         fake_radii: torch.Tensor | None = None) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` (M, d) against ``real`` (R, d), as ``prdc``
    (the k-NN radii may be passed in when already known)."""
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    real_radii = kth_neighbour_distances(real, k) if real_radii is None else real_radii
    fake_radii = kth_neighbour_distances(fake, k) if fake_radii is None else fake_radii
    in_real_ball = torch.zeros(fake.shape[0], dtype=torch.bool)
    density = 0.0
    recall = torch.zeros(real.shape[0], dtype=torch.bool)
    nearest_fake = torch.full((real.shape[0],), float("inf"), dtype=torch.float64)
    step = _chunk(real.shape[0])
    for s in range(0, fake.shape[0], step):
        d = torch.cdist(fake[s:s + step], real)  # (chunk, R)
        inside = d < real_radii[None, :]
        in_real_ball[s:s + step] = inside.any(dim=1)
        density += float(inside.sum())
        recall |= (d < fake_radii[s:s + step, None]).any(dim=0)
        nearest_fake = torch.minimum(nearest_fake, d.min(dim=0).values)
    return {
        "precision": float(in_real_ball.double().mean()),
        "recall": float(recall.double().mean()),
        "density": density / (k * fake.shape[0]),
        "coverage": float((nearest_fake < real_radii).double().mean()),
    }


def generated_radii(cache: FeatureCache, space, fake: torch.Tensor, finite: np.ndarray, gen: torch.Tensor,
                    k: int) -> torch.Tensor:
    """k-NN radii of the generated features, computed once per batch for P/R/D/C and partial recall."""
    tag = "all" if finite.all() else hashlib.sha1(np.packbits(finite).tobytes()).hexdigest()
    return cache.derived(space, fake, f"knn{k}:{tag}", lambda: kth_neighbour_distances(gen, k))


class PrecisionRecall(ReferenceMetric):
    """``PrecisionRecall(k=3, reference="train", reference_size=10000)(fake, data, cache)`` -> ``precision``,
    ``recall``, ``density``, ``coverage``, ``prdc_feature_space`` and ``prdc_reference``.

    Dia-GAN: k = 3 on 10k real and 10k generated Inception features; the real set is a random subset of
    ``reference_size`` training images (``reference=balanced``: an exactly balanced subset).
    """

    name, label = "precision_recall", "precision/recall"

    def __init__(self, k: int = 3, reference: str = "train", reference_size: int | None = 10000,
                 seed: int = 0) -> None:
        super().__init__(reference, reference_size, seed)
        self.k = check_int(k, "precision_recall.k", 1)

    def __repr__(self) -> str:
        return f"PrecisionRecall(k={self.k}, reference={self.reference})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        ref = self.reference_images(data, weighted=False)
        out: dict[str, Any] = {"prdc_feature_space": space.name,
                               "prdc_reference": f"{ref.label}, {ref.size} images; k = {self.k}"}
        if finite.sum() <= self.k or ref.size <= self.k:
            return {**{m: float("nan") for m in ("precision", "recall", "density", "coverage")}, **out}
        real = cache.real_features(space, ref)
        real_radii = cache.real_statistic(space, ref, f"knn{self.k}",
                                          lambda f, w: {"radii": kth_neighbour_distances(f, self.k).numpy()})
        gen = cache.finite_outputs(space, fake, finite)
        return {**prdc(real, gen, self.k, torch.from_numpy(real_radii["radii"]),
                       generated_radii(cache, space, fake, finite, gen, self.k)), **out}
