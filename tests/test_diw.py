"""Dual importance weight GAN: KDE vs scipy, Hungarian pairing vs scipy and brute force, the weights and the loss."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import gaussian_kde

from conftest import QUICK, compose_run
from engine.build import build_components
from gans.diw import normalized_weights, optimal_pairing
from gans.kde import GaussianKDE, kde_factor
from gans.method import RunContext


@pytest.mark.parametrize("bandwidth", ["scott", "silverman", 0.3])
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_kde_density_and_weights_match_scipy_gaussian_kde(bandwidth, dim):
    rng = np.random.default_rng(dim)
    points = rng.normal(size=(2, 60, dim)) * np.array([1.0, 0.3, 2.0][:dim])
    points[1] += 3.0 * rng.normal(size=(1, dim))  # the second replica elsewhere
    queries = rng.normal(size=(2, 25, dim)) * 1.5
    kde = GaussianKDE(torch.as_tensor(points), bandwidth)
    log_density = kde.log_density(torch.as_tensor(queries))
    weights = normalized_weights(log_density)
    for r in range(2):
        ref = gaussian_kde(points[r].T, bw_method=bandwidth)
        assert kde.factor == pytest.approx(ref.factor)
        np.testing.assert_allclose(log_density[r].numpy(), ref.logpdf(queries[r].T), rtol=1e-6, atol=1e-9)
        expected = ref.evaluate(queries[r].T)
        np.testing.assert_allclose(weights[r].numpy(), expected / expected.mean(), rtol=1e-5, atol=1e-250)


def test_kde_samples_follow_the_estimate():
    points = torch.tensor([[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]]], dtype=torch.float64)
    kde = GaussianKDE(points, 0.1)
    draws = kde.sample(20000, torch.Generator().manual_seed(0))
    np.testing.assert_allclose(draws.mean(1)[0].numpy(), [2.0, 2.0], atol=0.05)
    # a mixture of the points (population covariance) and the kernel N(0, 0.1² Cov_ddof1)
    expected = np.cov(points[0].T.numpy(), bias=True) + 0.01 * np.cov(points[0].T.numpy())
    np.testing.assert_allclose(np.cov(draws[0].T.numpy()), expected, rtol=0.03, atol=0.03)
    assert kde_factor("scott", 100, 2) == pytest.approx(100 ** (-1 / 6))


def test_a_degenerate_point_set_still_has_a_density():
    points = torch.zeros(1, 10, 2, dtype=torch.float64)
    kde = GaussianKDE(points)
    values = kde.log_density(torch.tensor([[[0.0, 0.0], [1.0, 0.0]]]))
    assert torch.isfinite(values[0, 0]) and values[0, 0] > values[0, 1]


def _brute_force(cost):
    rows, cols = cost.shape
    best = min(itertools.permutations(range(cols), rows), key=lambda perm: sum(cost[i, j] for i, j in enumerate(perm)))
    return sum(cost[i, j] for i, j in enumerate(best))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (5, 5), (6, 6), (3, 5), (4, 6)])
def test_pairing_is_optimal_one_to_one_against_brute_force_and_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    cost = rng.random((4, *shape))
    cost[1] = np.round(cost[1] * 3)  # ties
    columns = optimal_pairing(torch.as_tensor(cost)).numpy()
    for r in range(4):
        assert len(set(columns[r])) == shape[0]  # one to one
        total = cost[r][np.arange(shape[0]), columns[r]].sum()
        assert total == pytest.approx(_brute_force(cost[r]))
        rows, cols = linear_sum_assignment(cost[r])
        assert total == pytest.approx(cost[r][rows, cols].sum())


def test_pairing_of_euclidean_codes_matches_scipy_on_a_batch():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 64, 2, generator=gen), torch.randn(3, 64, 2, generator=gen)
    cost = torch.cdist(a.double(), b.double())
    columns = optimal_pairing(cost)
    for r in range(3):
        rows, cols = linear_sum_assignment(cost[r].numpy())
        assert cost[r, torch.arange(64), columns[r]].sum().item() == pytest.approx(cost[r].numpy()[rows, cols].sum())


def _method(overrides, replicas=2):
    cfg, _ = compose_run(QUICK + ["method=diwgan", "method.ae_steps=300", "method.progress=false", "dataset.n=2000",
                              *overrides])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=list(range(replicas)),
                     batch_size=cfg.trainer.batch_size, steps=cfg.trainer.steps, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0))
    parts.method.setup(ctx)
    return parts.method, data


def test_importance_term_weights_pairing_and_gradient():
    method, data = _method(["method.history=2", "method.alpha=0.5"])
    replicas, batch = 2, 64
    assert method.targets.shape == (replicas, batch, 2)
    # targets are encoded training samples (kde_weighted_real): each is the code of some training point
    codes = method.autoencoder.encode(data.x.unsqueeze(0).expand(replicas, -1, -1))
    for r in range(replicas):
        distances = torch.cdist(method.targets[r].double(), codes[r].double()).min(1).values
        assert distances.max() < 1e-5
    fakes = [torch.randn(replicas, batch, 2, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    for step, fake in enumerate(fakes):
        fake = fake.clone().requires_grad_(True)
        previous = method.real_distance.clone()
        term = method.importance_term(fake)
        w_g, w_r = method.last_weights["w_g"], method.last_weights["w_r"]
        if step == 0:  # no past generated set, no past distance: uniform weights
            assert torch.equal(w_g, torch.ones_like(w_g)) and torch.equal(w_r, torch.ones_like(w_r))
        else:
            torch.testing.assert_close(w_r, previous / previous.mean(-1, keepdim=True))
            assert w_g.mean(-1).allclose(torch.ones(replicas, dtype=torch.float64))
        # recompute the term by hand from the optimal pairing
        with torch.no_grad():
            s_g = method.autoencoder.encode(fake)
        cost = torch.cdist(method.targets.double(), s_g.double())
        expected = []
        for r in range(replicas):
            rows, cols = linear_sum_assignment(cost[r].numpy())
            d = cost[r].numpy()[rows, cols]
            expected.append(0.5 * np.mean(w_r[r].numpy()[rows] * w_g[r].numpy()[cols] * d))
        np.testing.assert_allclose(term.detach().numpy(), expected, rtol=1e-4)
        term.sum().backward()
        assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert method.gen_added == 3


def test_generator_importance_weights_are_kde_densities_of_the_past_batches():
    method, _ = _method(["method.history=2"])
    past = [torch.randn(2, 64, 2, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    for p in past:
        method.importance_term(p)
    current = torch.randn(2, 64, 2, generator=torch.Generator().manual_seed(9))
    method.importance_term(current)
    with torch.no_grad():
        history = torch.cat([method.autoencoder.encode(p) for p in past[1:]], dim=1)  # the last N = 2 sets
        codes = method.autoencoder.encode(current)
    for r in range(2):
        ref = gaussian_kde(history[r].double().numpy().T).evaluate(codes[r].double().numpy().T)
        np.testing.assert_allclose(method.last_weights["w_g"][r].numpy(), ref / ref.mean(), rtol=1e-4)


def test_the_autoencoder_reconstructs_the_data():
    method, data = _method([])
    assert max(method.ae_mse) < 0.05  # relative reconstruction error after 300 steps
    assert not any(p.requires_grad for p in method.autoencoder.parameters())  # frozen during GAN training
