"""Real batches of positive/negative training (Rumi-GAN): one positive and one negative batch of the same size per
step, from the dataset's ``positive_indices`` / ``negative_indices``.

The positives go through the configured sampler set up on the positives alone (:func:`datasets.subsets.
subset_bundle`), its indices mapped back to the training set, so any sampler (uniform, RLS, fixed weights) weights
the positives without knowing about negatives. The negatives are uniform epochs of a random permutation, cycled:
each stream runs through its own epochs, so the smaller set is reused as often as the larger one needs (the
authors' code repeats the smaller set and zips the two shuffled streams, REFERENCE §4.3). A batch larger than a
set repeats the set within the batch (the uniform sampler does the same for the positives).
"""
from __future__ import annotations

import torch

from core.errors import ConfigError
from datasets.base import DataBundle
from datasets.subsets import subset_bundle
from samplers.base import EpochPermutation, Sampler

__all__ = ["PositiveNegativeSampler"]


class PositiveNegativeSampler(Sampler):
    """``sample(method)`` -> positive indices (S, B) through ``positive_sampler``; ``sample_negatives()`` ->
    negative indices (S, B) (only with ``negatives=True``). Indices index the whole training set."""

    def __init__(self, positive_sampler: Sampler, negatives: bool = True):
        self.positive = positive_sampler
        self.negatives = bool(negatives)
        self.name = f"{getattr(positive_sampler, 'name', 'sampler')} (positives)"
        self.requires = frozenset(getattr(positive_sampler, "requires", ())) | {"positive_negative"}

    def setup(self, data: DataBundle, replicas: int, batch_size: int, generator: torch.Generator) -> None:
        super().setup(data, replicas, batch_size, generator)
        if data.positive_indices is None or (self.negatives and data.negative_indices is None):
            raise ConfigError(f"dataset '{data.name}' has no positive/negative split; use a Rumi dataset "
                              "(dataset=rumi_mnist, rumi_fmnist, rumi_cifar10, rumi_celeba or rumi_ring)")
        self.positive_indices = data.positive_indices.to(data.x.device).long()
        self.positive_view = subset_bundle(data, self.positive_indices, "positives")
        self.positive.setup(self.positive_view, replicas, batch_size, generator)
        if self.negatives:
            self.negative_indices = data.negative_indices.to(data.x.device).long()
            self.negative_epochs = EpochPermutation(self.negative_indices.numel(), replicas, generator, data.x.device)

    def sample(self, method=None) -> torch.Tensor:
        return self.positive_indices[self.positive.sample(method)]

    def sample_negatives(self) -> torch.Tensor:
        return self.negative_indices[self.negative_epochs.take(self.batch_size, cycle=True)]

    def probabilities(self, method) -> torch.Tensor | None:
        """The positive sampler's distribution spread over the whole training set (zero off the positives)."""
        probs = self.positive.probabilities(method)
        if probs is None:
            return None
        full = torch.zeros(probs.shape[0], self.data.n, dtype=probs.dtype, device=probs.device)
        full[:, self.positive_indices] = probs
        return full

    def state_dict(self) -> dict:
        state = {"positive": self.positive.state_dict()}
        if self.negatives:
            state["negative"] = self.negative_epochs.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.positive.load_state_dict(state["positive"])
        if self.negatives:
            self.negative_epochs.load_state_dict(state["negative"])
