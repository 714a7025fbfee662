"""A positive/negative split of a Gaussian mixture (Rumi-GAN on toy data): some modes are the positives, the others
the negatives. No paper has this set; it is the CPU-seconds check of the Rumi methods (docs/rumi.md)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from core.errors import require
from datasets.base import DataBundle, DatasetSpec
from datasets.fields import is_int, plain
from datasets.mixtures import GaussianMixture

__all__ = ["PositiveNegativeMixture"]

TARGETS = ("positives", "balanced")


class PositiveNegativeMixture(DatasetSpec):
    """``mixture`` (a :class:`GaussianMixture`, e.g. the RLS ring with its minority modes) with ``positive_modes``
    and ``negative_modes`` (mode indices; they may overlap, every mode in at least one). The bundle is the
    mixture's with ``positive_indices`` / ``negative_indices`` (the samples of those modes) and ``target_weights``
    uniform over the positive modes (``target: positives``, what a Rumi method should generate) or over all modes
    (``balanced``). The density ratio to the target is not carried (``importance_weights`` is None)."""

    kind = "toy"

    def __init__(self, mixture: GaussianMixture, positive_modes: Sequence[int], negative_modes: Sequence[int],
                 target: str = "positives", name: str = "rumi_ring"):
        require(isinstance(mixture, GaussianMixture),
                f"dataset.mixture must be a Gaussian mixture config (e.g. datasets.layouts.ring), got {mixture!r}")
        k = mixture.num_modes
        modes = {}
        for field, value in (("positive_modes", positive_modes), ("negative_modes", negative_modes)):
            values = plain(value)
            require(isinstance(values, list) and values and all(is_int(m) and 0 <= m < k for m in values),
                    f"dataset.{field} must be a non-empty list of mode indices in [0, {k - 1}], got {value!r}")
            modes[field] = sorted(set(int(m) for m in values))
        missing = sorted(set(range(k)) - set(modes["positive_modes"]) - set(modes["negative_modes"]))
        require(not missing, f"modes {missing} are neither positive nor negative; list every mode in "
                             "dataset.positive_modes or dataset.negative_modes")
        require(target in TARGETS, f"dataset.target must be one of {list(TARGETS)}, got {target!r}")
        self.mixture, self.target, self.name = mixture, target, str(name)
        self.positive_modes, self.negative_modes = modes["positive_modes"], modes["negative_modes"]
        self.sample_shape = mixture.sample_shape
        self.provides = (frozenset(mixture.provides) - {"importance_weights"}) | {"positive_negative"}

    def __repr__(self) -> str:
        return (f"PositiveNegativeMixture({self.mixture!r}, positive_modes={self.positive_modes}, "
                f"negative_modes={self.negative_modes}, target={self.target})")

    def load(self, device: torch.device | str = "cpu") -> DataBundle:
        bundle = self.mixture.load("cpu")
        labels = bundle.labels
        k = bundle.num_modes
        target = torch.zeros(k, dtype=torch.float32)
        target[self.positive_modes if self.target == "positives" else list(range(k))] = 1.0
        bundle.name = self.name
        bundle.positive_indices = torch.isin(labels, torch.tensor(self.positive_modes)).nonzero().squeeze(1)
        bundle.negative_indices = torch.isin(labels, torch.tensor(self.negative_modes)).nonzero().squeeze(1)
        bundle.target_weights = target / target.sum()
        bundle.importance_weights = None
        bundle.extra.update(positive_modes=list(self.positive_modes), negative_modes=list(self.negative_modes))
        return bundle.to(device)
