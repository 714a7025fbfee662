"""JSD between real and generated histograms over canonical cells (DIW paper §4.1: "we map the sample to canonical
space and count the number of points within each canonical unit ... Jensen-Shannon divergence (JSD) between the
distributions (P_r, P_g)").

The paper does not define the canonical units. Ours, for a mixture with K known modes: K + 1 cells — cell k holds
the samples whose nearest mode centre (Euclidean, as the mode metrics) is k *and* that lie within
``std_threshold`` standard deviations of it (Mahalanobis distance under that mode's covariance: the same
high-quality rule as ``metrics.modes``); cell K ("off-mode") holds every other sample, non-finite ones included.
So the histogram counts both mode proportions and sample quality, works unchanged for anisotropic (grid_random)
and 3-D (cube3d) mixtures, and never has an empty support.

P_r is the histogram of the training set (``reference=data``, the paper's "real") or the analytic balanced target
(``reference=target``: cell k gets target weight w_k x P(χ²_d <= t²), the off-mode cell the rest; exact for
well-separated modes). JSD(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = (P+Q)/2, in nats (``base=e``, in [0, ln 2]) or bits
(``base=2``, in [0, 1]).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from scipy.stats import chi2

from datasets.base import DataBundle
from core.errors import ConfigError, require
from metrics.modes import ModeCoverage, nearest_modes

__all__ = ["CanonicalJSD", "jensen_shannon", "canonical_histogram"]


def jensen_shannon(p, q, base: float = math.e) -> float:
    """JSD of two histograms (normalised here) in the given log base; 0·log 0 = 0."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return max(0.0, 0.5 * kl(p, m) + 0.5 * kl(q, m)) / math.log(base)


def canonical_histogram(x: torch.Tensor, centers: torch.Tensor, whiten: torch.Tensor, threshold: float,
                        chunk: int = 65536) -> np.ndarray:
    """Counts of the K + 1 canonical cells (see the module docstring) for samples x (N, d)."""
    k = centers.shape[0]
    counts = torch.zeros(k + 1, dtype=torch.long)
    centers, whiten = centers.to(x.device, torch.float64), whiten.to(x.device)
    for start in range(0, x.shape[0], chunk):
        part = x[start:start + chunk].to(torch.float64)
        finite = torch.isfinite(part).all(dim=1)
        counts[k] += int((~finite).sum())
        part = part[finite]
        if part.shape[0] == 0:
            continue
        idx = nearest_modes(part, centers)
        z = torch.einsum("nij,nj->ni", whiten[idx], part - centers[idx])
        inside = z.square().sum(1) <= threshold ** 2
        counts[:k] += torch.bincount(idx[inside], minlength=k).cpu()
        counts[k] += int((~inside).sum())
    return counts.numpy()


class CanonicalJSD:
    """``metric(fake (N, d), data) -> {"jsd": float}``; see the module docstring."""

    requires = frozenset({"mixture"})

    def __init__(self, std_threshold: float = 3.0, reference: str = "data", base: str | float = "e"):
        require(isinstance(std_threshold, (int, float)) and not isinstance(std_threshold, bool)
                and math.isfinite(std_threshold) and std_threshold > 0,
                f"metrics.jsd.std_threshold must be a number > 0, got {std_threshold!r}")
        require(reference in ("data", "target"), f"metrics.jsd.reference must be 'data' or 'target', got {reference!r}")
        if base in ("e", math.e):
            self.base = math.e
        elif base in (2, 2.0, "2"):
            self.base = 2.0
        else:
            raise ConfigError(f"metrics.jsd.base must be 'e' (nats) or 2 (bits), got {base!r}")
        self.std_threshold, self.reference = float(std_threshold), reference
        self._cached: tuple[DataBundle, np.ndarray] | None = None  # (the bundle, its real histogram)

    def __repr__(self) -> str:
        return f"CanonicalJSD(std_threshold={self.std_threshold}, reference={self.reference!r})"

    def real_histogram(self, data: DataBundle, centers, whiten, target) -> np.ndarray:
        if self._cached is None or self._cached[0] is not data:
            if self.reference == "data":
                hist = canonical_histogram(data.x.reshape(data.n, -1), centers, whiten, self.std_threshold)
            else:
                inside = chi2.cdf(self.std_threshold ** 2, centers.shape[1])
                hist = np.append(np.asarray(target) * inside, 1.0 - inside)
            self._cached = (data, hist.astype(np.float64))
        return self._cached[1]

    @torch.no_grad()
    def __call__(self, fake: torch.Tensor, data: DataBundle, cache: Any = None) -> dict[str, Any]:
        """``cache`` (the evaluation's feature cache) is not used: the mixture metrics need no features."""
        modes = ModeCoverage(self.std_threshold)
        centers, whiten, target = modes._mixture(data)  # the same validation as the mode metrics
        fake = modes._check_samples(fake, centers.shape[1])
        generated = canonical_histogram(fake, centers, whiten, self.std_threshold)
        real = self.real_histogram(data, centers, whiten, target)
        return {"jsd": jensen_shannon(real, generated, self.base)}
