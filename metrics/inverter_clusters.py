"""The inverter's clusters of balanced held-out real data: ACC / purity / NMI / ARI (NEMGAN §3, Tables 1-2).

NEMGAN scores "with respect to the latent space reconstruction network" on balanced test data (REFERENCE 3.2:
KMeans on the inverter's ẑ of the test set, balanced by oversampling to the largest class, random_state 0; the
code reports purity as ACC, plus NMI and ARI). Here, for each replica:

- ``inverter_acc`` / ``inverter_purity`` / ``inverter_nmi`` / ``inverter_ari``: KMeans (``n_clusters``, null:
  the dataset's classes; the code uses max(5, classes), which inflates purity for two classes) on the method's
  embedding of the held-out data (NEMGAN: ẑ; ClusterGAN: [ẑ_n, softmax(ℓ)]; InfoGAN: Q's output), against the
  true classes; ACC is the best one-to-one cluster -> class match (Hungarian), purity the majority-class share;
- ``inverter_mode_acc`` / ``..._purity`` / ``..._nmi`` / ``..._ari``: the same for the argmax of the mode
  posterior (no KMeans: the latent modes themselves as clusters).

The held-out data come from :func:`datasets.held_out.balanced_held_out` (mixtures: ``per_class`` fresh samples
per mode; image sets: the test split, oversampled), loaded once in :meth:`prepare`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from datasets.held_out import balanced_held_out
from metrics.clustering import clustering_scores
from metrics.image_base import check_int
from metrics.latent_base import LatentMetric

__all__ = ["InverterClusters"]


class InverterClusters(LatentMetric):
    """``InverterClusters(n_clusters=None, n_init=10, per_class=500, seed=0)`` (see the module docstring)."""

    label = "inverter clusters"

    def __init__(self, n_clusters: int | None = None, n_init: int = 10, per_class: int = 500, seed: int = 0):
        self.n_clusters = check_int(n_clusters, "inverter_clusters.n_clusters", 2, optional=True)
        self.n_init = check_int(n_init, "inverter_clusters.n_init", 1)
        self.per_class = check_int(per_class, "inverter_clusters.per_class", 1)
        self.seed = check_int(seed, "inverter_clusters.seed", 0)
        self._held_out: tuple[Any, Any, Any] | None = None  # (bundle, x, labels) for the run's dataset

    def prepare(self, data, cache=None) -> None:
        """Load the held-out set before training (a missing test split stops the run early)."""
        self.held_out(data)

    def held_out(self, data):
        if self._held_out is None or self._held_out[0] is not data:
            x, labels = balanced_held_out(data, self.per_class, self.seed)
            self._held_out = (data, x, labels.numpy())
        return self._held_out[1], self._held_out[2]

    def score(self, data, cache, latent) -> dict[str, Any]:
        from sklearn.cluster import KMeans

        x, labels = self.held_out(data)
        embedding, posterior = latent.invert(x)
        out: dict[str, Any] = {}
        k = self.n_clusters or data.num_modes
        emb = embedding.double().numpy()
        if np.isfinite(emb).all():
            clusters = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.seed).fit_predict(emb)
            scores = clustering_scores(labels, clusters)
        else:
            scores = clustering_scores(labels, np.zeros_like(labels))
            scores = {key: float("nan") for key in scores}
        out.update({key.replace("cluster_", "inverter_"): value for key, value in scores.items()})
        modes = posterior.argmax(1).numpy()
        out.update({key.replace("cluster_", "inverter_mode_"): value
                    for key, value in clustering_scores(labels, modes).items()})
        out["inverter_held_out"] = int(labels.size)
        return out
