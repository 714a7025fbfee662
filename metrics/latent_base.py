"""What the metrics of a method's latent structure share (metrics/inverter_clusters.py, prior_match.py,
mode_classes.py): they score the method's inverter, mode priors and conditional generator, which the engine's
evaluation hands them as ``latent`` (a ``gans.latent_model.LatentModel`` of one replica) because they declare
``uses_latent_model``; and the dataset class of real or generated samples.

Contract: ``metric(fake, data, cache=None, latent=None) -> dict``; the engine refuses such a metric before
training when the method has no latent model (methods with ``provides_latent_model``: nemgan_*, infogan,
clustergan).
"""
from __future__ import annotations

import numpy as np
import torch

from core.errors import ConfigError
from evaluators.classes import predicted_classes
from metrics.features import FeatureCache
from metrics.modes import nearest_modes, whitening_factors

__all__ = ["LatentMetric", "sample_classes"]


def sample_classes(x: torch.Tensor, data, cache: FeatureCache, std_threshold: float) -> np.ndarray:
    """The dataset class of each sample (N,), -1 for none: mixtures, the nearest mode when the sample lies within
    ``std_threshold`` standard deviations of it (the mode-coverage rule); images, the evaluator's class."""
    if data.kind == "image":
        space = cache.classifier_for(data)
        return predicted_classes(cache.outputs(space, x, ["logits"])["logits"], data)
    centers = data.centers.to(torch.float64).cpu()
    points = x.detach().to(torch.float64).cpu()
    finite = torch.isfinite(points).all(dim=1)
    out = np.full(points.shape[0], -1, dtype=np.int64)
    if finite.any():
        p = points[finite]
        idx = nearest_modes(p, centers)
        z = torch.einsum("nij,nj->ni", whitening_factors(data.covariances.cpu())[idx], p - centers[idx])
        out[finite.numpy()] = torch.where(z.square().sum(1) <= std_threshold ** 2, idx, -1).numpy()
    return out


class LatentMetric:
    """Base: ``kinds``, ``uses_latent_model`` and the check that the evaluation passed the latent model."""

    kinds = ("toy", "image")
    requires: frozenset[str] = frozenset()
    uses_latent_model = True
    label = "latent metric"

    def __call__(self, fake: torch.Tensor, data, cache: FeatureCache | None = None, latent=None) -> dict:
        if latent is None:
            raise ConfigError(f"metrics: {self.label} scores a method's inverter and latent modes; the evaluation "
                              "passes them (latent=...) for methods that have them (nemgan_*, infogan, clustergan)")
        return self.score(data, FeatureCache() if cache is None else cache, latent)

    def score(self, data, cache: FeatureCache, latent) -> dict:  # pragma: no cover - interface
        raise NotImplementedError
