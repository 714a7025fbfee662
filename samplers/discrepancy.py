"""Dia-GAN's phase-2 sampler: real batches drawn with probability ∝ the discrepancy score (Lee et al. 2021, §4.1).

The scores come from the method (``gans.diagan.DiaGAN`` computes them from the recorded LDRs at the phase boundary
and calls ``set_probabilities``), so this sampler is not chosen on the command line: the method swaps it in. Draws
are i.i.d. with replacement, like the ``WeightedRandomSampler(weights, len(dataset), replacement=True)`` of the
Dia-GAN code; each replica has its own probabilities (S, n).
"""
from __future__ import annotations

import torch

from samplers.base import WeightedSampler


class DiscrepancySampler(WeightedSampler):
    """``WeightedSampler`` whose probabilities are set from outside; uniform until they are."""

    name = "discrepancy"

    def compute_probabilities(self, data) -> torch.Tensor:
        return torch.ones(data.n, dtype=torch.float64)
