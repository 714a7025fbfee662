"""Partial recall of a subgroup of the real data (Dia-GAN §3.2 and Table 6).

The recall of Kynkäänniemi et al. computed with only the real images of a subgroup (the minority classes, a
list of classes, or an attribute mask such as CelebA's ``Bald``): the share of those real images that lie inside
some generated k-NN ball B(g_j, NN_k(g_j)), k = 3, with up to ``max_real`` (10k) real images of the subgroup
against the generated set. The complementary group is reported too (Dia-GAN computes both): a large gap means
the generator covers the majority but not the minority. Keys: ``partial_recall_<group>`` and
``partial_recall_<complement>`` (e.g. ``partial_recall_minority`` / ``partial_recall_majority``), plus
``partial_recall_feature_space`` and ``partial_recall_sizes``. On a dataset without minority classes,
``subgroup=minority`` is skipped with a ``partial_recall_note`` (so ``metrics=images`` also runs on balanced sets).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.errors import require
from metrics.image_base import FeatureMetric, check_int
from metrics.precision_recall import generated_radii, recall_against
from metrics.reference import ReferenceSet, check_subgroup, subgroup_mask

__all__ = ["PartialRecall"]


class PartialRecall(FeatureMetric):
    """``PartialRecall(subgroup="minority", k=3, max_real=10000)(fake, data, cache)``; ``seed``: draws the
    ``max_real`` real images of a larger group."""

    name, label = "partial_recall", "partial recall"

    def __init__(self, subgroup: Any = "minority", k: int = 3, max_real: int | None = 10000,
                 complement: bool = True, seed: int = 0) -> None:
        super().__init__(seed)
        self.subgroup = check_subgroup(subgroup)
        self.k = check_int(k, "partial_recall.k", 1)
        self.max_real = check_int(max_real, "partial_recall.max_real", 1, optional=True)
        require(isinstance(complement, bool), f"metrics: partial_recall.complement must be true or false, got {complement!r}")
        self.complement = complement

    def __repr__(self) -> str:
        return f"PartialRecall(subgroup={self.subgroup!r}, k={self.k}, max_real={self.max_real})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        if self.subgroup in ("minority", "majority") and not data.minority:
            return {"partial_recall_note": f"skipped: dataset '{data.name}' has no minority classes"}
        mask, name, other = subgroup_mask(data, self.subgroup)
        groups = [(name, mask)] + ([(other, ~mask)] if self.complement else [])
        out: dict[str, Any] = {"partial_recall_feature_space": space.name}
        gen = cache.finite_outputs(space, fake, finite)
        radii = generated_radii(cache, space, fake, finite, gen, self.k) if gen.shape[0] > self.k else None
        sizes = {}
        for label, m in groups:
            idx = np.flatnonzero(m)
            if self.max_real is not None and idx.size > self.max_real:
                idx = np.sort(np.random.default_rng(self.seed).choice(idx, self.max_real, replace=False))
            sizes[label] = int(idx.size)
            if idx.size == 0 or radii is None:
                out[f"partial_recall_{label}"] = float("nan")
                continue
            ref = ReferenceSet(data.x, idx, label, f"subgroup:{self.subgroup}:{label}:{self.max_real}:{self.seed}")
            real = cache.real_features(space, ref)
            out[f"partial_recall_{label}"] = float(recall_against(real, gen, radii).double().mean())
        out["partial_recall_sizes"] = sizes
        return out
