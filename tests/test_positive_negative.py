"""The positive/negative source of Rumi training: batch sizes, cycling of the smaller set, no negative in the positive
stream, a weighted sampler's frequencies on the positives; the toy split and the data subset it is built on."""
import numpy as np
import pytest
import torch
from scipy import stats

from core.errors import ConfigError
from datasets.base import DataBundle
from datasets.layouts import ring
from datasets.positive_negative import PositiveNegativeMixture
from datasets.subsets import subset_bundle
from samplers.base import UniformSampler, WeightedSampler
from samplers.positive_negative import PositiveNegativeSampler


def _bundle(n_pos=7, n_neg=40, n_both=3, seed=0) -> DataBundle:
    """Samples 0..: positives only, then negatives only, then samples in both sets (an overlapping class)."""
    n = n_pos + n_neg + n_both
    x = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 2)
    labels = torch.cat([torch.zeros(n_pos), torch.ones(n_neg), torch.full((n_both,), 2)]).long()
    both = torch.arange(n_pos + n_neg, n)
    return DataBundle(name="pn", kind="toy", x=x, labels=labels, num_modes=3, observed_weights=torch.ones(3) / 3,
                      target_weights=torch.tensor([0.5, 0.0, 0.5]),
                      positive_indices=torch.cat([torch.arange(n_pos), both]),
                      negative_indices=torch.cat([torch.arange(n_pos, n_pos + n_neg), both]))


class _Fixed(WeightedSampler):
    def __init__(self, probs):
        self.fixed = torch.as_tensor(probs, dtype=torch.float64)

    def compute_probabilities(self, data):
        assert data.n == self.fixed.numel()  # set up on the positives alone
        return self.fixed


def test_both_streams_have_the_batch_size_and_stay_in_their_sets():
    data = _bundle()
    sampler = PositiveNegativeSampler(UniformSampler())
    sampler.setup(data, replicas=3, batch_size=16, generator=torch.Generator().manual_seed(0))
    negatives_only = set(range(7, 47))
    for _ in range(20):
        pos, neg = sampler.sample(None), sampler.sample_negatives()
        assert pos.shape == neg.shape == (3, 16)
        assert not set(pos.flatten().tolist()) & negatives_only  # no negative ever in the positive stream
        assert set(neg.flatten().tolist()) <= set(data.negative_indices.tolist())


def test_the_smaller_set_is_cycled_within_and_across_batches():
    data = _bundle(n_pos=7, n_neg=40, n_both=3)  # 10 positives, 43 negatives
    sampler = PositiveNegativeSampler(UniformSampler())
    sampler.setup(data, replicas=2, batch_size=25, generator=torch.Generator().manual_seed(1))
    pos = sampler.sample(None)
    counts = torch.stack([torch.bincount(row, minlength=data.n)[data.positive_indices] for row in pos])
    assert counts.min() >= 2 and counts.max() <= 3  # 25 from 10: every positive twice, five of them a third time
    # the negatives (43 >= 20) come in epochs of a permutation: two batches of 20 per epoch, disjoint, no repeats
    sampler.setup(data, replicas=2, batch_size=20, generator=torch.Generator().manual_seed(1))
    for _ in range(5):
        first, second = sampler.sample_negatives(), sampler.sample_negatives()
        for a, b in zip(first, second):
            assert len(set(a.tolist()) | set(b.tolist())) == 40


def test_a_weighted_sampler_sets_the_frequencies_of_the_positives():
    data = _bundle()
    probs = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
    sampler = PositiveNegativeSampler(_Fixed(probs))
    sampler.setup(data, replicas=1, batch_size=64, generator=torch.Generator().manual_seed(2))
    draws = torch.cat([sampler.sample(None) for _ in range(300)], dim=1)[0]
    observed = torch.bincount(draws, minlength=data.n)[data.positive_indices].numpy()
    assert observed.sum() == draws.numel()  # every draw is a positive
    assert stats.chisquare(observed, probs * observed.sum()).pvalue > 1e-3
    full = sampler.probabilities(None)[0]
    np.testing.assert_allclose(full[data.positive_indices].numpy(), probs)
    assert full.sum().item() == pytest.approx(1.0) and full[7:47].abs().max() == 0


def test_a_bundle_without_a_split_is_refused():
    data = _bundle()
    data.positive_indices = None
    with pytest.raises(ConfigError, match="positive/negative split"):
        PositiveNegativeSampler(UniformSampler()).setup(data, 1, 8, torch.Generator())


def test_state_dict_resumes_both_streams():
    data = _bundle()
    a = PositiveNegativeSampler(UniformSampler())
    a.setup(data, 2, 8, torch.Generator().manual_seed(3))
    a.sample(None), a.sample_negatives()
    state, gen_state = a.state_dict(), a.generator.get_state()
    expected = (a.sample(None), a.sample_negatives())
    b = PositiveNegativeSampler(UniformSampler())
    b.setup(data, 2, 8, torch.Generator())
    b.load_state_dict(state)
    b.generator.set_state(gen_state)
    assert torch.equal(b.sample(None), expected[0]) and torch.equal(b.sample_negatives(), expected[1])


def test_subset_bundle_restricts_per_sample_fields_and_keeps_class_metadata():
    data = _bundle()
    view = subset_bundle(data, data.positive_indices, "positives")
    assert view.n == 10 and torch.equal(view.x, data.x[data.positive_indices])
    assert view.num_modes == 3 and torch.equal(view.target_weights, data.target_weights)
    np.testing.assert_allclose(view.observed_weights.numpy(), [0.7, 0.0, 0.3])
    assert view.positive_indices is None and view.negative_indices is None


def test_the_toy_split_marks_modes_and_targets_the_positives():
    spec = PositiveNegativeMixture(ring(n=2000), positive_modes=[0, 2, 4, 6], negative_modes=[1, 3, 5, 7])
    assert "positive_negative" in spec.provides and "importance_weights" not in spec.provides
    b = spec.load()
    assert set(b.labels[b.positive_indices].tolist()) == {0, 2, 4, 6}
    assert set(b.labels[b.negative_indices].tolist()) == {1, 3, 5, 7}
    assert b.positive_indices.numel() + b.negative_indices.numel() == b.n
    np.testing.assert_allclose(b.target_weights.numpy(), [0.25, 0, 0.25, 0, 0.25, 0, 0.25, 0])
    assert b.minority == (0, 1, 2, 3)
    with pytest.raises(ConfigError, match="neither positive nor negative"):
        PositiveNegativeMixture(ring(), positive_modes=[0], negative_modes=[1])
    with pytest.raises(ConfigError, match="positive_modes"):
        PositiveNegativeMixture(ring(), positive_modes=[9], negative_modes=list(range(8)))
