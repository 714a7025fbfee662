"""Precision and recall for distributions (PRD, Sajjadi et al., NeurIPS 2018): the curves the Rumi paper plots.

Generated (Q) and real (P) embeddings of equal size (the larger set is subsampled) are clustered together, k-means
with ``num_clusters`` clusters on their union; the cluster histograms of each set give two discrete distributions
p, q. For slopes λ = tan θ, θ evenly spaced in (0, π/2) (``num_angles``), the curve is

    α(λ) = Σ_i min(λ p_i, q_i)   (precision),      β(λ) = α(λ) / λ = Σ_i min(p_i, q_i / λ)   (recall),

averaged over ``num_runs`` clusterings (different k-means seeds). Summaries: F_β = max over the curve of
(1 + β²) α β / (β² α + β) with β = 8 (``prd_f8``, recall-weighted) and β = 1/8 (``prd_f1_8``, precision-weighted),
the paper's "F8 / F1/8". Defaults are the paper's (20 clusters, 1001 angles, 10 runs). Embeddings: the configured
image feature space (Inception or the evaluator, as FID) or, for mixtures, the raw coordinates.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.cluster import MiniBatchKMeans

from metrics.image_base import ReferenceMetric, check_int

__all__ = ["PRD", "cluster_histograms", "max_f_beta", "prd_curve", "prd_from_embeddings"]

EPSILON = 1e-10  # keeps the slopes finite and away from zero


def prd_curve(q: np.ndarray, p: np.ndarray, num_angles: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """(precision α, recall β) of the distribution ``q`` (generated) against ``p`` (real) at ``num_angles``
    slopes (see the module docstring); both clipped to [0, 1] against rounding."""
    slopes = np.tan(np.linspace(EPSILON, np.pi / 2 - EPSILON, num_angles))[:, None]
    precision = np.minimum(p[None, :] * slopes, q[None, :]).sum(axis=1)
    recall = precision / slopes[:, 0]
    return np.clip(precision, 0.0, 1.0), np.clip(recall, 0.0, 1.0)


def cluster_histograms(generated: np.ndarray, real: np.ndarray, num_clusters: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The cluster histograms (q, p) of both sets under one k-means clustering of their union."""
    union = np.concatenate([generated, real]).astype(np.float64)
    labels = MiniBatchKMeans(n_clusters=num_clusters, n_init=10, random_state=seed).fit(union).labels_
    q = np.bincount(labels[:len(generated)], minlength=num_clusters) / len(generated)
    p = np.bincount(labels[len(generated):], minlength=num_clusters) / len(real)
    return q, p


def prd_from_embeddings(generated: np.ndarray, real: np.ndarray, num_clusters: int = 20, num_angles: int = 1001,
                        num_runs: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve of ``generated`` against ``real`` (same number of rows), averaged over ``num_runs`` clusterings."""
    if len(generated) != len(real):
        raise ValueError(f"PRD compares sets of equal size, got {len(generated)} generated and {len(real)} real")
    curves = [prd_curve(*cluster_histograms(generated, real, num_clusters, seed + run), num_angles)
              for run in range(num_runs)]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def max_f_beta(precision: np.ndarray, recall: np.ndarray, beta: float = 8.0) -> tuple[float, float]:
    """(F_β, F_1/β) maxima over the curve; F_β weights recall β times as much as precision."""
    def f(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (1 + beta ** 2) * a * b / (beta ** 2 * a + b + EPSILON)
    return float(np.max(f(precision, recall))), float(np.max(f(recall, precision)))


class PRD(ReferenceMetric):
    """``PRD(num_clusters=20, num_angles=1001, num_runs=10, reference="train", reference_size=10000, seed=0,
    final_only=True)``
    -> ``prd_f8``, ``prd_f1_8``, the curve ``prd_precision`` / ``prd_recall`` (lists, plotted in the run's
    ``plots/prd_seed<k>.png``), ``prd_feature_space``, ``prd_reference``. ``reference``: ``train``, ``balanced``,
    ``positives`` or ``negatives`` (:mod:`metrics.reference`; a Rumi split's ``balanced`` is the whole parent
    class of its positives)."""

    name, label = "prd", "PRD"
    kinds = ("image", "toy")

    def __init__(self, num_clusters: int = 20, num_angles: int = 1001, num_runs: int = 10, reference: str = "train",
                 reference_size: int | None = 10000, seed: int = 0, final_only: bool = True) -> None:
        super().__init__(reference, reference_size, seed)
        self.final_only = bool(final_only)  # ten clusterings: not at every periodic evaluation
        self.num_clusters = check_int(num_clusters, "prd.num_clusters", 2)
        self.num_angles = check_int(num_angles, "prd.num_angles", 3)
        self.num_runs = check_int(num_runs, "prd.num_runs", 1)

    def __repr__(self) -> str:
        return f"PRD(num_clusters={self.num_clusters}, reference={self.reference})"

    def __call__(self, fake: torch.Tensor, data, cache=None) -> dict[str, Any]:
        if data.kind == "toy":
            ref = self.reference_images(data, weighted=False)
            finite = torch.isfinite(fake).all(dim=1).cpu().numpy()
            return self.curve(fake.reshape(fake.shape[0], -1)[torch.as_tensor(finite)].double().cpu().numpy(),
                              ref.x.reshape(ref.size, -1).double().cpu().numpy(),
                              {"prd_feature_space": "coordinates", "prd_reference": f"{ref.label}, {ref.size} points"})
        return super().__call__(fake, data, cache)

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        ref = self.reference_images(data, weighted=False)
        info = {"prd_feature_space": space.name, "prd_reference": f"{ref.label}, {ref.size} images"}
        return self.curve(cache.finite_outputs(space, fake, finite).numpy(),
                          cache.real_features(space, ref).double().numpy(), info)

    def curve(self, generated: np.ndarray, real: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
        """The record's values for feature rows of the generated and the real set (the larger one subsampled)."""
        m = min(len(generated), len(real))
        if m < self.num_clusters:
            return {"prd_f8": float("nan"), "prd_f1_8": float("nan"), **info}
        rng = np.random.default_rng(self.seed)
        generated, real = (x if len(x) == m else x[np.sort(rng.choice(len(x), m, replace=False))]
                           for x in (generated, real))
        precision, recall = prd_from_embeddings(generated, real, self.num_clusters, self.num_angles, self.num_runs,
                                                self.seed)
        f8, f1_8 = max_f_beta(precision, recall)
        return {"prd_f8": f8, "prd_f1_8": f1_8, "prd_precision": np.round(precision, 6).tolist(),
                "prd_recall": np.round(recall, 6).tolist(), **info}
