"""Clustering accuracy (Hungarian matching), purity, NMI and ARI (NEMGAN §3).

NEMGAN clusters the latent codes its inverter assigns to balanced real test data and compares the clusters with
the true classes. That needs the method's inverter, which a metric (``metric(fake, data, cache)``) does not see; the
generic metric here asks the complementary question about the *generated* images: KMeans (k = the dataset's
classes) on the evaluator's penultimate features of the generated images, compared with the classes the
evaluator assigns to them (dataset classes; images of no dataset class form one extra label). High ACC/NMI/ARI
mean the generated images form pure, well-separated modes that agree with the real classes; blurred or
in-between images and collapsed modes lower them. A method with an inverter (NEMGAN) can score its own
clusters with :func:`clustering_scores` (the functions take any two labelings).

- ``cluster_acc``: max over one-to-one cluster->class maps of the share of matched images
  (``scipy.optimize.linear_sum_assignment`` on the contingency table; rectangular tables are allowed);
- ``cluster_purity``: each cluster takes its majority class (NEMGAN's code calls this ACC);
- ``cluster_nmi``: mutual information over the arithmetic mean of the entropies (sklearn's default);
- ``cluster_ari``: the adjusted Rand index (Hubert and Arabie).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from evaluators.classes import predicted_classes
from metrics.image_base import FeatureMetric, check_int

__all__ = ["Clustering", "adjusted_rand_index", "cluster_accuracy", "cluster_purity", "clustering_scores",
           "contingency_table", "normalized_mutual_info"]


def contingency_table(labels_true, labels_pred) -> np.ndarray:
    """Counts n_ij of (true class i, cluster j) over the distinct values of each labeling."""
    t = np.asarray(labels_true).reshape(-1)
    p = np.asarray(labels_pred).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"labelings of different lengths: {t.shape[0]} vs {p.shape[0]}")
    _, ti = np.unique(t, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    table = np.zeros((ti.max(initial=-1) + 1, pi.max(initial=-1) + 1), dtype=np.int64)
    np.add.at(table, (ti, pi), 1)
    return table


def cluster_accuracy(labels_true, labels_pred) -> float:
    """Best one-to-one matching of clusters to classes (Hungarian algorithm), as a share of the images."""
    c = contingency_table(labels_true, labels_pred)
    if c.sum() == 0:
        return float("nan")
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].sum() / c.sum())


def cluster_purity(labels_true, labels_pred) -> float:
    c = contingency_table(labels_true, labels_pred)
    return float(c.max(axis=0).sum() / c.sum()) if c.sum() else float("nan")


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_info(labels_true, labels_pred) -> float:
    """NMI with the arithmetic-mean normaliser (sklearn's default, including its special cases)."""
    c = contingency_table(labels_true, labels_pred).astype(np.float64)
    if c.shape[0] == c.shape[1] <= 1:
        return 1.0
    if min(c.shape) == 1:  # one labeling is constant: no information (exactly, not up to rounding)
        return 0.0
    n = c.sum()
    a, b = c.sum(axis=1), c.sum(axis=0)
    i, j = np.nonzero(c)
    nij = c[i, j]
    mi = float(np.sum(nij / n * (np.log(nij) + np.log(n) - np.log(a[i]) - np.log(b[j]))))
    if mi <= 0:
        return 0.0
    return mi / ((_entropy(a) + _entropy(b)) / 2)


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """ARI from the pair confusion matrix (exact integer arithmetic; 1.0 for identical partitions)."""
    c = contingency_table(labels_true, labels_pred)
    n = int(c.sum())
    a, b = c.sum(axis=1), c.sum(axis=0)
    sum_sq = int((c.astype(object) ** 2).sum())
    tp = sum_sq - n
    fp = int((c.astype(object) @ b.astype(object)).sum()) - sum_sq
    fn = int((c.T.astype(object) @ a.astype(object)).sum()) - sum_sq
    tn = n * n - fp - fn - sum_sq
    if fn == 0 and fp == 0:
        return 1.0
    return float(2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)))


def clustering_scores(labels_true, labels_pred) -> dict[str, float]:
    return {"cluster_acc": cluster_accuracy(labels_true, labels_pred),
            "cluster_purity": cluster_purity(labels_true, labels_pred),
            "cluster_nmi": normalized_mutual_info(labels_true, labels_pred),
            "cluster_ari": adjusted_rand_index(labels_true, labels_pred)}


class Clustering(FeatureMetric):
    """``Clustering(n_clusters=None, n_init=10, max_samples=10000)(fake, data, cache)`` -> ``cluster_acc``,
    ``cluster_purity``, ``cluster_nmi``, ``cluster_ari`` (see the module docstring).

    ``n_clusters``: null = ``data.num_modes``; ``max_samples``: KMeans on at most that many generated images;
    ``seed``: KMeans' random state (NEMGAN: 0).
    """

    name, label = "clustering", "clustering"
    space = "classifier"  # the evaluator's features and classes, whatever metrics.features.space says

    def __init__(self, n_clusters: int | None = None, n_init: int = 10, max_samples: int | None = 10000,
                 seed: int = 0) -> None:
        super().__init__(seed)
        self.n_clusters = check_int(n_clusters, "clustering.n_clusters", 2, optional=True)
        self.n_init = check_int(n_init, "clustering.n_init", 1)
        self.max_samples = check_int(max_samples, "clustering.max_samples", 2, optional=True)

    def __repr__(self) -> str:
        return f"Clustering(n_clusters={self.n_clusters}, n_init={self.n_init}, max_samples={self.max_samples})"

    @torch.no_grad()
    def score(self, fake, finite, data, space, cache) -> dict[str, Any]:
        from sklearn.cluster import KMeans

        feats = cache.finite_outputs(space, fake, finite, "features").numpy()
        labels = predicted_classes(cache.finite_outputs(space, fake, finite, "logits"), data)
        if self.max_samples is not None and feats.shape[0] > self.max_samples:
            keep = np.sort(np.random.default_rng(self.seed).choice(feats.shape[0], self.max_samples, replace=False))
            feats, labels = feats[keep], labels[keep]
        k = self.n_clusters or data.num_modes
        if feats.shape[0] < k:
            return {key: float("nan") for key in ("cluster_acc", "cluster_purity", "cluster_nmi", "cluster_ari")}
        clusters = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit_predict(feats)
        return clustering_scores(labels, clusters)
