"""Sampling weights of the multiplicative-weights mixture (MwuGAN, Zhong et al. NeurIPS 2019).

Each replica keeps a distribution w over the training set (S, n); real batches are drawn i.i.d. with
probability w_i. After a generator is trained, every point it under-generates (p_g(x_i) < δ·p(x_i)) has its
weight doubled and the distribution is renormalised: :meth:`MultiplicativeWeightsSampler.update`.
"""
from __future__ import annotations

import torch

from core.errors import require
from samplers.base import WeightedSampler


def multiplicative_update(weights: torch.Tensor, ratio: torch.Tensor, delta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Double the weights where ``ratio = p_g/p < delta`` and renormalise each row.

    weights (S, n) non-negative, ratio (S, n) -> (new normalised weights float64, the boolean mask of doubled points).
    A NaN ratio (a diverged generator) counts as "not generated", so its points are doubled."""
    below = ~(ratio >= delta)
    new = weights.double() * torch.where(below, 2.0, 1.0).to(torch.float64)
    return new / new.sum(-1, keepdim=True), below


class MultiplicativeWeightsSampler(WeightedSampler):
    """A WeightedSampler whose probabilities start from ``initial`` (S, n) and change by :meth:`update`."""

    name = "mwu"

    def __init__(self, initial: torch.Tensor):
        self.initial = initial

    def compute_probabilities(self, data):
        require(self.initial.shape[-1] == data.n, f"initial MWU weights have {self.initial.shape[-1]} entries, "
                                                  f"the training set {data.n}")
        return self.initial

    def update(self, ratio: torch.Tensor, delta: float) -> torch.Tensor:
        """Apply the multiplicative update; returns the mask (S, n) of the doubled points."""
        new, below = multiplicative_update(self.probs, ratio.to(self.probs.device), delta)
        self.set_probabilities(new)
        return below
