"""Evaluation: draw N samples per replica from the trained method and apply every configured metric."""
from __future__ import annotations

import math
import time
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from core.errors import require
from datasets.base import DataBundle
from metrics.features import FeatureCache, FeatureExtractor


class Evaluator:
    """Built from the ``metrics`` config: ``n_samples``, ``key_metric``, the image metrics' shared ``features``
    block (a :class:`metrics.features.FeatureExtractor`, configured once; defaults when absent) and any number of
    metric nodes (mappings with a ``_target_``), each a callable ``metric(fake (N, ...), data, cache) -> dict``.

    ``cache`` is a :class:`metrics.features.FeatureCache` made for each generated batch, so that the metrics
    share its features; what outlives one evaluation (the feature spaces, the real reference statistics) is kept
    by ``self.features`` for the evaluator's lifetime (the run).

    Optional metric attributes: ``n_samples`` (int; any metric node may set it) asks for that many generated samples
    instead of ``metrics.n_samples`` (the evaluation draws the largest request once and gives every metric the first
    ones it asked for); ``final_only`` (bool) skips the metric at periodic evaluations; ``prepare(data, cache)``
    is called before training.
    """

    def __init__(self, cfg: DictConfig):
        self.n_samples = int(cfg.n_samples)
        require(self.n_samples >= 1, f"metrics.n_samples must be >= 1, got {self.n_samples}")
        self.key_metric = cfg.get("key_metric")
        features = cfg.get("features")
        self.features: FeatureExtractor = instantiate(features) if features is not None else FeatureExtractor()
        self.metrics = {name: _metric(node) for name, node in cfg.items()
                        if name != "features" and isinstance(node, DictConfig) and "_target_" in node}

    def prepare(self, data: DataBundle) -> None:
        """Before training: let metrics that need trained helpers (an evaluator network) build or load them now,
        so that a missing or failing helper stops the run before hours of training, not after."""
        cache = FeatureCache(self.features)
        for metric in self.metrics.values():
            if hasattr(metric, "prepare"):
                metric.prepare(data, cache)

    def __call__(self, method, data: DataBundle, generator: torch.Generator,
                 final: bool = True) -> tuple[list[dict[str, Any]], torch.Tensor, float]:
        """Per-replica metric dicts, the generated samples (S, metrics.n_samples, ...) and the seconds it took.

        ``final=False`` (periodic evaluations) skips the metrics marked ``final_only``."""
        start = time.perf_counter()
        active = [m for m in self.metrics.values() if final or not getattr(m, "final_only", False)]
        wanted = [self._samples_for(m) for m in active]
        fake = method.generate(max([self.n_samples, *wanted]), generator=generator)
        results = []
        for replica_samples in fake:
            cache = FeatureCache(self.features)  # this batch's features, shared by the metrics
            metrics: dict[str, Any] = {}
            for metric, n in zip(active, wanted):
                samples = replica_samples if n == replica_samples.shape[0] else replica_samples[:n]
                metrics.update(metric(samples, data, cache))
            results.append(metrics)
        return results, fake[:, : self.n_samples], time.perf_counter() - start

    def _samples_for(self, metric) -> int:
        n = getattr(metric, "n_samples", None)
        return self.n_samples if n is None else int(n)

    def key_value(self, results: list[dict[str, Any]]) -> float | None:
        """Mean of the key metric over replicas (for the progress bar), if configured."""
        values = [r.get(self.key_metric) for r in results if isinstance(r.get(self.key_metric), (int, float))]
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else None


def _metric(node: DictConfig):
    """A metric node instantiated; its optional ``n_samples`` key (generated samples it scores) becomes the
    metric's ``n_samples`` attribute (Dia-GAN: FID/IS on 50k samples, precision/recall on 10k)."""
    n_samples = node.get("n_samples")
    if n_samples is None:
        return instantiate(node)
    require(isinstance(n_samples, int) and n_samples >= 1, f"metrics.*.n_samples must be an integer >= 1, got "
                                                            f"{n_samples!r}")
    metric = instantiate({k: v for k, v in node.items() if k != "n_samples"})
    metric.n_samples = n_samples
    return metric
