import numpy as np
import pytest
import torch
from scipy import stats

from datasets.base import DataBundle
from core.errors import ConfigError
from samplers.base import EpochPermutation, UniformSampler, WeightedSampler, safe_probabilities
from samplers.leverage import rls_from_features
from samplers.rls import DiscriminatorRLSSampler, GaussianRLSSampler


def _bundle(x, labels=None, kind="toy"):
    n = x.shape[0]
    labels = torch.zeros(n, dtype=torch.long) if labels is None else labels
    k = int(labels.max()) + 1
    w = torch.bincount(labels, minlength=k).double() / n
    return DataBundle(name="t", kind=kind, x=x, labels=labels, num_modes=k, observed_weights=w,
                      target_weights=torch.full((k,), 1 / k, dtype=torch.float64))


def test_epoch_permutation_covers_every_index_once_per_epoch():
    perm = EpochPermutation(100, 3, torch.Generator().manual_seed(0), "cpu")
    chunks = torch.cat([perm.take(20) for _ in range(5)], dim=1)
    for r in range(3):
        assert sorted(chunks[r].tolist()) == list(range(100))
    assert not torch.equal(chunks[0], chunks[1])  # replicas draw their own permutations
    nxt = perm.take(20)  # a new epoch starts
    assert nxt.shape == (3, 20)


def test_uniform_sampler_shapes_and_iid_mode():
    data = _bundle(torch.randn(50, 2))
    for shuffle in (True, False):
        sampler = UniformSampler(shuffle=shuffle)
        sampler.setup(data, 2, 8, torch.Generator().manual_seed(0))
        idx = sampler.sample()
        assert idx.shape == (2, 8) and idx.min() >= 0 and idx.max() < 50


class _Fixed(WeightedSampler):
    def __init__(self, p):
        self.p = p

    def compute_probabilities(self, data):
        return self.p


def test_weighted_sampler_frequencies_follow_the_probabilities():
    p = torch.tensor([0.5, 0.3, 0.15, 0.05, 0.0])
    sampler = _Fixed(p)
    sampler.setup(_bundle(torch.randn(5, 2)), 2, 20_000, torch.Generator().manual_seed(1))
    idx = sampler.sample()
    for r in range(2):
        counts = np.bincount(idx[r].numpy(), minlength=5)
        assert counts[4] == 0
        chi2 = stats.chisquare(counts[:4], f_exp=p[:4].numpy() * 20_000)
        assert chi2.pvalue > 1e-3


def test_safe_probabilities_turns_broken_rows_uniform():
    scores = torch.tensor([[1.0, 3.0, 0.0], [float("nan"), float("nan"), float("nan")], [-1.0, 0.0, 0.0]])
    probs = safe_probabilities(scores)
    torch.testing.assert_close(probs[0], torch.tensor([0.25, 0.75, 0.0], dtype=torch.float64))
    torch.testing.assert_close(probs[1], torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(probs[2], torch.full((3,), 1 / 3, dtype=torch.float64))


def test_gaussian_rls_sampler_oversamples_a_small_cluster():
    gen = torch.Generator().manual_seed(0)
    big = torch.randn(950, 2, generator=gen) * 0.05
    small = torch.randn(50, 2, generator=gen) * 0.05 + torch.tensor([3.0, 0.0])
    labels = torch.cat([torch.zeros(950), torch.ones(50)]).long()
    sampler = GaussianRLSSampler(sigma=0.15, gamma=1e-3)
    sampler.setup(_bundle(torch.cat([big, small]), labels), 1, 10_000, torch.Generator().manual_seed(0))
    share_small = (labels[sampler.sample()[0]] == 1).float().mean().item()
    assert share_small > 0.15  # uniform sampling would give 0.05
    with pytest.raises(ConfigError, match="sigma"):
        GaussianRLSSampler(sigma=-1)


class _FeatureMethod:
    """Stands in for a GAN method: its 'discriminator features' are the data themselves."""

    def discriminator_features(self, x):
        return x


def test_discriminator_rls_sampler_draws_from_a_uniform_subset_by_leverage():
    gen = torch.Generator().manual_seed(0)
    n = 2000
    x = torch.zeros(n, 3)
    x[:, 0] = 1 + 0.01 * torch.randn(n, generator=gen)
    rare = torch.arange(0, n, 20)  # 5% of the points point elsewhere in feature space
    x[rare] = torch.tensor([0.0, 1.0, 0.0]) + 0.01 * torch.randn(len(rare), 3, generator=gen)
    labels = torch.zeros(n, dtype=torch.long)
    labels[rare] = 1
    sampler = DiscriminatorRLSSampler(gamma=1e-3, subset_factor=20)
    sampler.setup(_bundle(x, labels), 2, 32, torch.Generator().manual_seed(0))
    picks = torch.cat([sampler.sample(_FeatureMethod()) for _ in range(20)], dim=1)
    assert picks.shape == (2, 640) and picks.max() < n
    assert (labels[picks] == 1).float().mean() > 0.25  # uniform: 0.05
    probs = sampler.probabilities(_FeatureMethod())
    assert probs.shape == (2, n)
    torch.testing.assert_close(probs[0], rls_from_features(x.unsqueeze(0), 1e-3)[0].double() /
                               rls_from_features(x.unsqueeze(0), 1e-3)[0].double().sum())


def test_discriminator_rls_sketch_reduces_the_feature_dimension():
    sampler = DiscriminatorRLSSampler(gamma=1e-4, sketch_dim=5)
    data = _bundle(torch.randn(300, 40))
    sampler.setup(data, 1, 10, torch.Generator().manual_seed(0))
    phi = sampler._features(_FeatureMethod(), torch.arange(300).unsqueeze(0))
    assert phi.shape == (1, 300, 5)
    # a Gaussian sketch roughly preserves squared norms on average (E||S^T v||^2 = ||v||^2)
    ratio = phi.square().sum(-1).mean() / data.x.square().sum(-1).mean()
    assert 0.6 < ratio.item() < 1.4
