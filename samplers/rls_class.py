"""RLS sampling with a fixed explicit feature map: a trained classifier's penultimate layer (RLS paper §2, "fixed
explicit feature map"; Algorithm 1; §3.2 "Class."), or Inception-v3's next-to-last layer (§3.3, CIFAR-10).

Once before training: the feature network maps every training image to its features (``features``: ``evaluator``
= the dataset's evaluator, ``dataset.evaluator``, trained and cached on first use, the MNIST experiments;
``inception`` = torch-fidelity's Inception-v3 pool3, 2048-d, the CIFAR-10 experiment; ``auto`` = Inception where
its weights are on this machine, else the evaluator; what ``auto`` became is resolved when the config is composed,
into ``features_resolved``, so the record and the config hash say which); UMAP (fit on the whole training set, as
the paper) reduces them to ``k`` dimensions; ridge leverage scores ℓ_i = φ_iᵀ(C + nγI)⁻¹φ_i (primal form, n > k) give the sampling
distribution p_i ∝ ℓ_i, from which real batches are drawn i.i.d. with replacement (the weighted empirical
distribution of the paper's eq. 2).

The paper does not give UMAP's settings; we use ``n_neighbors=15``, ``min_dist=0.1``, Euclidean metric (UMAP's
defaults) with ``random_state=seed`` (deterministic; UMAP then runs single-threaded), and the embedding as UMAP
returns it (``center: false``: the paper's formula has no centring). The embedding is the expensive part (UMAP:
~10-60 s for 5k-60k points, plus 15-50 s of numba compilation in a new process); it is cached in
``<root>/modebench/rls_class/`` keyed by the data fingerprint, the feature network and the reduction settings, so
γ can change without recomputing it. ``reduction: sketch`` (a Gaussian sketch to k dims, the paper's ablation "Class.
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
from evaluators.inception import InceptionSpace, find_inception_weights
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


FEATURE_NETWORKS = ("auto", "inception", "evaluator")
WEIGHTS_SETTING = "sampler.inception_weights"


def resolve_features(features: str, inception_weights: str | None = None) -> str:
    """OmegaConf resolver ``modebench_rls_features``: what ``sampler.features`` means on this machine (``auto`` ->
    ``inception`` when Inception weights are found, else ``evaluator``; the other values unchanged)."""
    if features != "auto":
        return features
    return "inception" if find_inception_weights(inception_weights, WEIGHTS_SETTING) is not None else "evaluator"


class ClassifierRLSSampler(WeightedSampler):
    """``sampler=rls_class``: p_i ∝ ℓ_i(γ) of a feature network's UMAP-reduced features of the training images,
    computed once (see the module docstring)."""

    name = "rls_class"

    def __init__(self, k: int = 25, gamma: float = 1e-4, reduction: str = "umap", n_neighbors: int = 15,
                 min_dist: float = 0.1, metric: str = "euclidean", center: bool = False, seed: int = 0,
                 features: str = "evaluator", features_resolved: str | None = None,
                 inception_weights: str | None = None, batch_size: int = 50):
        require(int(k) >= 1, f"sampler.k (reduced feature dimension) must be >= 1, got {k}")
        require(gamma > 0, f"sampler.gamma (ridge regulariser) must be > 0, got {gamma}")
        require(reduction in ("umap", "sketch", "none"), f"sampler.reduction must be umap, sketch or none, "
                                                         f"got {reduction!r}")
        require(int(n_neighbors) >= 2, f"sampler.n_neighbors must be >= 2, got {n_neighbors}")
        require(0 <= float(min_dist), f"sampler.min_dist must be >= 0, got {min_dist}")
        self.k, self.gamma, self.reduction = int(k), float(gamma), reduction
        self.n_neighbors, self.min_dist, self.metric = int(n_neighbors), float(min_dist), str(metric)
        self.center, self.seed = bool(center), int(seed)
        require(features in FEATURE_NETWORKS, f"sampler.features must be one of {FEATURE_NETWORKS}, got {features!r}")
        self.features = features_resolved or resolve_features(features, inception_weights)
        require(self.features in FEATURE_NETWORKS[1:], f"sampler.features_resolved must be inception or evaluator, "
                                                       f"got {self.features!r}")
        self.inception_weights, self.batch_size = inception_weights, int(batch_size)
        if self.features == "inception":
            require(find_inception_weights(inception_weights, WEIGHTS_SETTING) is not None,
                    "sampler.features=inception, but no Inception weights are on this machine: set "
                    "sampler.inception_weights (or $MODEBENCH_INCEPTION_WEIGHTS) to torch-fidelity's weights file, "
                    "or use sampler.features=evaluator (or auto)")
        self.requires = frozenset() if self.features == "inception" else frozenset({"evaluator"})
        self.timing: dict[str, float] = {}

    def feature_network(self, data):
        """The network whose features are scored: Inception-v3 or the dataset's evaluator."""
        if self.features == "inception":
            return InceptionSpace(find_inception_weights(self.inception_weights, WEIGHTS_SETTING), self.batch_size)
        return evaluator_for(data)

    def cache_key(self, data, network) -> str:
        if isinstance(network, InceptionSpace):
            source = {"features": network.fingerprint()}
        else:  # the evaluator (the key the MNIST experiments' caches were written with)
            source = {"evaluator": network.name, "evaluator_cache": getattr(network, "info", {}).get("cache"),
                      "evaluator_accuracy": round(float(network.accuracy), 6)}
        ident = {"data": data.images.fingerprint, "n": data.n, **source, "k": self.k, "reduction": self.reduction,
                 "n_neighbors": self.n_neighbors, "min_dist": self.min_dist, "metric": self.metric, "seed": self.seed}
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]

    def network_features(self, network, x: torch.Tensor) -> torch.Tensor:
        """(n, d) features of the training images ``x`` on CPU."""
        if isinstance(network, InceptionSpace):
            return network.compute(x, ["features"])["features"]
        return network.features(x).cpu()

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
        network = self.feature_network(data)
        path = sources.modebench_dir(data.images.root, "rls_class", f"{self.cache_key(data, network)}.pt")
        cached = read_cached(path, lambda p: self._read_cache(p, data.n), "recomputing the RLS features")
        if cached is not None:
            self.timing = {"cached": 1.0}
            return cached
        t0 = time.perf_counter()
        features = self.network_features(network, data.x)
        t1 = time.perf_counter()
        emb = reduce_features(features, self.k, self.reduction, self.n_neighbors, self.min_dist, self.metric, self.seed)
        t2 = time.perf_counter()
        self.timing = {"features_seconds": round(t1 - t0, 2), "reduction_seconds": round(t2 - t1, 2)}
        print(f"[modebench] rls_class: {network.name} features of {data.n} images in {t1 - t0:.1f} s, "
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
