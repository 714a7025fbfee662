"""The method's latent mode priors against the data's class prior (NEMGAN-P learns them, §2.4).

``prior_weights`` (softmax(α), M values), and when there are as many latent modes as classes (latent mode j
stands for class j: supervision imposes that order, paper §3.1): ``prior_error`` (learned - true, per mode),
``prior_l1`` = Σ_j |w_j - p_j| and ``prior_kl`` = KL(p ‖ w) in nats, p = the training set's class shares
(``data.observed_weights``, the true class prior the generator should reproduce). Logged at every periodic
evaluation, so the record's history shows them over training.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from evaluators.classes import kl_divergence
from metrics.latent_base import LatentMetric

__all__ = ["PriorMatch"]


class PriorMatch(LatentMetric):
    label = "prior match"

    def score(self, data, cache, latent) -> dict[str, Any]:
        w = latent.mode_weights().numpy()
        out: dict[str, Any] = {"prior_weights": [float(v) for v in w]}
        p = data.observed_weights.detach().double().cpu().numpy()
        if w.size == p.size:
            p = p / p.sum()
            out.update(prior_error=[float(v) for v in w - p], prior_l1=float(np.abs(w - p).sum()),
                       prior_kl=kl_divergence(p, w))
        return out
