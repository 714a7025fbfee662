"""Conditional generation: which data class each latent mode generates (NEMGAN Figs. 2 and 5; §2.3 (a)).

For every latent mode j, ``n_per_mode`` samples of that mode (the method's generator on z of mode j) are
classified (images: the dataset's evaluator; mixtures: the nearest mode within ``std_threshold`` σ, as the
mode-coverage metric, else none):

- ``mode_class_counts``: M rows of K + 1 counts (the last: no class);
- ``mode_map``: the class each latent mode generates most (-1: mostly none);
- ``mode_purity``: the mean over modes of the share of its samples in its mapped class;
- ``mode_map_distinct``: how many different classes the map reaches (M for a one-to-one map);
- ``mode_map_correct``: with M = K, the share of modes j that generate class j (the order supervision imposes).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from metrics.image_base import check_int, check_positive
from metrics.latent_base import LatentMetric, sample_classes

__all__ = ["ModeClasses"]


class ModeClasses(LatentMetric):
    """``ModeClasses(n_per_mode=200, std_threshold=3.0, seed=0, final_only=True)``."""

    label = "mode classes"

    def __init__(self, n_per_mode: int = 200, std_threshold: float = 3.0, seed: int = 0, final_only: bool = True):
        self.n_per_mode = check_int(n_per_mode, "mode_classes.n_per_mode", 1)
        self.std_threshold = check_positive(std_threshold, "mode_classes.std_threshold")
        self.seed = check_int(seed, "mode_classes.seed", 0)
        self.final_only = bool(final_only)

    def score(self, data, cache, latent) -> dict[str, Any]:
        m, k = latent.modes, data.num_modes
        modes = torch.arange(m).repeat_interleave(self.n_per_mode)
        generator = torch.Generator(latent.device).manual_seed(self.seed)
        classes = sample_classes(latent.generate(modes, generator), data, cache, self.std_threshold)
        counts = np.zeros((m, k + 1), dtype=np.int64)
        np.add.at(counts, (modes.numpy(), np.where(classes < 0, k, classes)), 1)
        mapped = counts[:, :k].argmax(1)
        best = counts[np.arange(m), mapped]
        mapped = np.where(best >= counts[:, k], mapped, -1)
        out: dict[str, Any] = {
            "mode_class_counts": counts.tolist(), "mode_map": [int(c) for c in mapped],
            "mode_purity": float((np.where(mapped >= 0, best, 0) / self.n_per_mode).mean()),
            "mode_map_distinct": int(len(set(mapped[mapped >= 0].tolist())))}
        if m == k:
            out["mode_map_correct"] = float((mapped == np.arange(m)).mean())
        return out
