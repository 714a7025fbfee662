"""RLS sampling with a fixed explicit feature map: a trained classifier's penultimate layer (RLS paper §2, "fixed
explicit feature map"; Algorithm 1; §3.2 "Class.").

Once before training: the dataset's evaluator (``dataset.evaluator``, trained and cached on first use) maps every
training image to its penultimate features; UMAP (fit on the whole training set, as the paper) reduces them to
``k`` dimensions; ridge leverage scores ℓ_i = φ_iᵀ(C + nγI)⁻¹φ_i (primal form, n > k) give the sampling
distribution p_i ∝ ℓ_i, from which real batches are drawn i.i.d. with replacement (the weighted empirical
distribution of the paper's eq. 2).

The paper does not give UMAP's settings; we use ``n_neighbors=15``, ``min_dist=0.1``, Euclidean metric (UMAP's
defaults) with ``random_state=seed`` (deterministic; UMAP then runs single-threaded), and the embedding as UMAP
returns it (``center: false``: the paper's formula has no centring). The embedding is the expensive part (UMAP:
~10-60 s for 5k-60k points, plus 15-50 s of numba compilation in a new process); it is cached in
``<root>/modebench/rls_class/`` keyed by the data fingerprint, the evaluator and the reduction settings, so γ can
change without recomputing it. ``reduction: sketch`` (a Gaussian sketch to k dims, the paper's ablation "Class.
sketched") and ``none`` (the raw features) are available for comparison.
"""
from __future__ import annotations

import hashlib
import json
import math
import time

import torch

from core.errors import ConfigError, DamagedFileError, require
from core.files import load_torch, read_cached, save_torch
from datasets import sources
from evaluators import evaluator_for
from samplers.base import WeightedSampler
from samplers.leverage import rls_from_features


def reduce_features(features: torch.Tensor, k: int, reduction: str, n_neighbors: int, min_dist: float,
                    metric: str, seed: int) -> torch.Tensor:
    """(n, d) -> (n, k) float64 by UMAP, a Gaussian sketch or nothing."""
    if reduction == "none":
        return features.double()
    if reduction == "sketch":
        gen = torch.Generator().manual_seed(seed)
        s = torch.randn(features.shape[1], k, generator=gen, dtype=torch.float64) / math.sqrt(k)
        return features.double() @ s
    try:
        import umap
    except ImportError as exc:  # pragma: no cover - umap-learn is a dependency
        raise ConfigError("sampler=rls_class with reduction=umap needs umap-learn (pip install umap-learn)") from exc
    reducer = umap.UMAP(n_components=k, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric,
                        random_state=seed, transform_seed=seed)
    return torch.from_numpy(reducer.fit_transform(features.double().numpy())).double()


class ClassifierRLSSampler(WeightedSampler):
    """``sampler=rls_class``: p_i ∝ ℓ_i(γ) of the evaluator's UMAP-reduced features, computed once (see module)."""

    name = "rls_class"
    requires = frozenset({"evaluator"})

    def __init__(self, k: int = 25, gamma: float = 1e-4, reduction: str = "umap", n_neighbors: int = 15,
                 min_dist: float = 0.1, metric: str = "euclidean", center: bool = False, seed: int = 0):
        require(int(k) >= 1, f"sampler.k (reduced feature dimension) must be >= 1, got {k}")
        require(gamma > 0, f"sampler.gamma (ridge regulariser) must be > 0, got {gamma}")
        require(reduction in ("umap", "sketch", "none"), f"sampler.reduction must be umap, sketch or none, "
                                                         f"got {reduction!r}")
        require(int(n_neighbors) >= 2, f"sampler.n_neighbors must be >= 2, got {n_neighbors}")
        require(0 <= float(min_dist), f"sampler.min_dist must be >= 0, got {min_dist}")
        self.k, self.gamma, self.reduction = int(k), float(gamma), reduction
        self.n_neighbors, self.min_dist, self.metric = int(n_neighbors), float(min_dist), str(metric)
        self.center, self.seed = bool(center), int(seed)
        self.timing: dict[str, float] = {}

    def cache_key(self, data, evaluator) -> str:
        ident = {"data": data.images.fingerprint, "n": data.n, "evaluator": evaluator.name,
                 "evaluator_cache": getattr(evaluator, "info", {}).get("cache"),
                 "evaluator_accuracy": round(float(evaluator.accuracy), 6), "k": self.k, "reduction": self.reduction,
                 "n_neighbors": self.n_neighbors, "min_dist": self.min_dist, "metric": self.metric, "seed": self.seed}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]

    @staticmethod
    def _read_cache(path, n: int) -> torch.Tensor:
        """The cached embedding (checksum, safe loading), checked to be (n, k) floats."""
        blob = load_torch(path)
        emb = blob.get("embedding") if isinstance(blob, dict) else None
        if not isinstance(emb, torch.Tensor) or emb.dim() != 2 or emb.shape[0] != n or not emb.is_floating_point():
            raise DamagedFileError(f"RLS feature cache {path} does not hold an ({n}, k) float embedding")
        return emb

    def embedding(self, data) -> torch.Tensor:
        """The reduced features (n, k) of the training set (cached in the data root)."""
        require(data.images is not None and data.images.fingerprint,
                f"dataset '{data.name}' carries no fingerprint for the RLS cache")
        evaluator = evaluator_for(data)
        path = sources.modebench_dir(data.images.root, "rls_class", f"{self.cache_key(data, evaluator)}.pt")
        cached = read_cached(path, lambda p: self._read_cache(p, data.n), "recomputing the RLS features")
        if cached is not None:
            self.timing = {"cached": 1.0}
            return cached
        t0 = time.perf_counter()
        features = evaluator.features(data.x).cpu()
        t1 = time.perf_counter()
        emb = reduce_features(features, self.k, self.reduction, self.n_neighbors, self.min_dist, self.metric, self.seed)
        t2 = time.perf_counter()
        self.timing = {"features_seconds": round(t1 - t0, 2), "reduction_seconds": round(t2 - t1, 2)}
        print(f"[modebench] rls_class: {evaluator.name} features of {data.n} images in {t1 - t0:.1f} s, "
              f"{self.reduction} to k={emb.shape[1]} in {t2 - t1:.1f} s; cached in {path}")
        try:
            save_torch(path, {"embedding": emb})
        except OSError as exc:
            print(f"[modebench] could not cache the RLS features in {path} ({exc})")
        return emb

    def compute_probabilities(self, data) -> torch.Tensor:
        emb = self.embedding(data).double()
        if self.center:
            emb = emb - emb.mean(0, keepdim=True)
        self.scores = rls_from_features(emb, self.gamma, dtype=torch.float64)
        return self.scores
