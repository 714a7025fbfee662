"""Fréchet distance between generated and real images in a feature space: FID (Inception) or FCD (classifier).

FID = ‖μ_g − μ_r‖² + tr Σ_g + tr Σ_r − 2 tr (Σ_g^½ Σ_r Σ_g^½)^½ (Heusel et al.), with the statistics of
torch-fidelity (mean and ``np.cov`` covariance, float64, of the pool3 2048-d features). In the Inception space
the record's key is ``fid``; in the evaluator's penultimate features (offline, NEMGAN's "Fréchet classification
distance") it is ``fcd``, so that the two are never averaged together. ``fid_feature_space`` names the space,
``fid_reference`` the real set: RLS compares with the *balanced* dataset (the default, see
:mod:`metrics.reference`); ``reference=train`` uses the training set as loaded. Reference statistics are
computed once and kept (in the run's reference store and on disk, :mod:`metrics.features`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from metrics.image_base import ReferenceMetric

__all__ = ["FID", "frechet_distance", "frechet_distance_to_reference", "gaussian_statistics", "reference_statistics"]


def gaussian_statistics(features: torch.Tensor, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Mean and covariance (float64) of ``features`` (m, d). Unweighted: ``np.cov`` (ddof = 1), as torch-fidelity.
    Weighted (``weights`` sum to 1): the reliability-weighted unbiased covariance, ``np.cov(aweights=w)``."""
    x = features.to(torch.float64)
    if weights is None:
        mu = x.mean(dim=0)
        xc = x - mu
        sigma = xc.T @ xc / max(x.shape[0] - 1, 1)
    else:
        w = torch.as_tensor(weights, dtype=torch.float64)
        w = w / w.sum()
        mu = w @ x
        xc = x - mu
        sigma = (xc * w[:, None]).T @ xc / max(1.0 - float(w.square().sum()), 1e-12)
    return {"mu": mu.numpy(), "sigma": sigma.numpy()}


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """The Fréchet distance of two Gaussians; tr (Σ1 Σ2)^½ from the symmetric PSD matrix Σ1^½ Σ2 Σ1^½
    (two symmetric eigendecompositions: stable for singular covariances, faster than a general eig/sqrtm)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"frechet_distance: shapes {mu1.shape}, {s1.shape} vs {mu2.shape}, {s2.shape}")
    if not (np.isfinite(s1).all() and np.isfinite(s2).all() and np.isfinite(mu1).all() and np.isfinite(mu2).all()):
        return float("nan")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root @ s2 @ root
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def reference_statistics(features: torch.Tensor, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`gaussian_statistics` plus ``sigma_root`` = Σ^½ (symmetric, PSD), computed once per reference set
    so that every later distance needs one small eigen/singular-value problem instead of two d x d ones."""
    stats = gaussian_statistics(features, weights)
    w, v = np.linalg.eigh((stats["sigma"] + stats["sigma"].T) / 2)
    stats["sigma_root"] = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    return stats


def frechet_distance_to_reference(features: torch.Tensor, ref: dict[str, np.ndarray]) -> float:
    """Fréchet distance of the Gaussian fitted to ``features`` (n, d) to cached reference statistics.

    With A = (X − μ)/√(n−1), Σ = AᵀA and tr (Σ_r^½ Σ Σ_r^½)^½ = Σ singular values of A Σ_r^½, a small
    (n x d) problem when n <= d; otherwise the d x d symmetric eigenvalue problem.
    """
    x = features.to(torch.float64).numpy()
    n, d = x.shape
    if n < 2 or not np.isfinite(x).all():
        return float("nan")
    mu = x.mean(axis=0)
    a = (x - mu) / np.sqrt(n - 1)
    root = ref["sigma_root"]
    if n <= d:
        tr_covmean = np.linalg.svd(a @ root, compute_uv=False).sum()
    else:
        m = root @ (a.T @ a) @ root
        tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    diff = mu - ref["mu"]
    return float(diff @ diff + np.square(a).sum() + np.trace(ref["sigma"]) - 2.0 * tr_covmean)


class FID(ReferenceMetric):
    """``FID(reference="balanced", reference_size=None, seed=0)(fake, data, cache)`` ->
    ``{"fid" | "fcd": value, "fid_feature_space": ..., "fid_reference": ...}``.

    ``reference_size``: real images for the reference statistics (null: the whole set, as torch-fidelity's
    precomputed statistics); ``seed``: draws the reference subset.
    """

    name, label = "fid", "FID"

    def __init__(self, reference: str = "balanced", reference_size: int | None = None, seed: int = 0) -> None:
        super().__init__(reference, reference_size, seed)

    def __repr__(self) -> str:
        return f"FID(reference={self.reference}, reference_size={self.reference_size})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        key = "fid" if space.name == "inception-v3-compat" else "fcd"
        ref = self.reference_images(data, weighted=True)
        out: dict[str, Any] = {"fid_feature_space": space.name, "fid_reference": f"{ref.label}, {ref.size} images"}
        if finite.sum() < 2:
            return {key: float("nan"), **out}
        real = cache.real_statistic(space, ref, "fid_stats", reference_statistics)
        return {key: frechet_distance_to_reference(cache.finite_outputs(space, fake, finite), real), **out}
