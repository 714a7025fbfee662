"""Mode-coverage metrics (metrics/modes.py) against analytic values and independent numpy/scipy computations."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2, entropy

from datasets.base import DataBundle
from core.errors import ConfigError
from metrics.modes import ModeCoverage


def make_bundle(centers, covariances=None, *, std=None, target=None, name="toy") -> DataBundle:
    """A minimal mixture bundle: centres (K, d) plus covariances (K, d, d) or isotropic std (scalar or (K,))."""
    centers = torch.as_tensor(np.asarray(centers, dtype=np.float64), dtype=torch.float32)
    k, d = centers.shape
    if covariances is None:
        s = torch.as_tensor(np.broadcast_to(np.asarray(std, dtype=np.float64), (k,)).copy())
        covariances = s.square()[:, None, None] * torch.eye(d, dtype=torch.float64)
    covariances = torch.as_tensor(covariances, dtype=torch.float32)
    weights = torch.full((k,), 1.0 / k) if target is None else torch.as_tensor(target, dtype=torch.float32)
    return DataBundle(
        name=name,
        kind="toy",
        x=centers.clone(),
        labels=torch.arange(k),
        num_modes=k,
        observed_weights=weights.clone(),
        target_weights=weights,
        centers=centers,
        covariances=covariances,
    )


def ring_centers(k: int = 8, radius: float = 2.5) -> np.ndarray:
    theta = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.sin(theta), np.cos(theta)], axis=1)


def sample_mixture(centers, covariances, weights, n, seed) -> np.ndarray:
    rng = np.random.default_rng(seed)
    comp = rng.choice(len(centers), size=n, p=np.asarray(weights) / np.sum(weights))
    chol = np.linalg.cholesky(covariances)
    eps = rng.standard_normal((n, centers.shape[1]))
    return centers[comp] + np.einsum("nij,nj->ni", chol[comp], eps)


def points_at_radius(center, sigma, radius_in_sigmas, n, rng) -> np.ndarray:
    u = rng.standard_normal((n, len(center)))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.asarray(center) + radius_in_sigmas * sigma * u


# ---------------------------------------------------------------------------- analytic checks


def test_exact_ring_mixture_covers_all_modes_with_analytic_hq_fraction():
    centers, sigma, n = ring_centers(), 0.05, 200_000
    cov = np.broadcast_to(sigma**2 * np.eye(2), (8, 2, 2))
    fake = sample_mixture(centers, cov, np.ones(8), n, seed=0)
    out = ModeCoverage()(torch.tensor(fake, dtype=torch.float32), make_bundle(centers, std=sigma))

    # In 2-D, P(‖x-μ‖ ≤ 3σ) = 1 - exp(-9/2) ≈ 0.9889 (not the 1-D 0.9973).
    p = 1 - math.exp(-4.5)
    assert abs(out["hq_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert abs(out["hq_fraction"] - 0.9973) > 0.005  # would fail if the 1-D rule were used
    assert out["nb_modes"] == 8
    assert sum(out["assigned_counts"]) == n
    assert out["nonfinite_fraction"] == 0.0
    # balanced samples vs balanced target: KL is only multinomial noise, ≈ (K-1)/(2N)
    assert 0.0 <= out["kl_modes"] < 1e-3


def test_anisotropic_3d_mixture_matches_chi2_mass():
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0, 0], [3, 0, 0], [0, 3, 0], [0, 0, 3]], dtype=np.float64)
    a = rng.standard_normal((4, 3, 3)) * 0.1
    cov = a @ a.transpose(0, 2, 1) + 0.002 * np.eye(3)  # SPD, std ≲ 0.3 against separation 3
    n = 100_000
    fake = sample_mixture(centers, cov, np.ones(4), n, seed=2)
    bundle = make_bundle(centers, cov)
    for t in (3.0, 4.0):
        out = ModeCoverage(std_threshold=t)(torch.tensor(fake), bundle)
        p = chi2.cdf(t**2, df=3)  # mass of a 3-D Gaussian within Mahalanobis radius t
        assert abs(out["hq_fraction"] - p) < 5 * math.sqrt(p * (1 - p) / n), (t, out["hq_fraction"], p)
        assert out["nb_modes"] == 4


def test_samples_from_one_mode_cover_one_mode():
    centers, sigma = ring_centers(), 0.05
    cov = np.broadcast_to(sigma**2 * np.eye(2), (8, 2, 2))
    weights = np.eye(8)[3]
    fake = sample_mixture(centers, cov, weights, 10_000, seed=3)
    out = ModeCoverage()(torch.tensor(fake, dtype=torch.float32), make_bundle(centers, std=sigma))
    assert out["nb_modes"] == 1
    assert [i for i, c in enumerate(out["mode_counts"]) if c > 0] == [3]
    assert out["assigned_counts"][3] == 10_000
    assert out["kl_modes"] == pytest.approx(math.log(8))  # KL(δ_3 ‖ uniform_8)


# ---------------------------------------------------------------------------- thresholds


def test_fifty_sample_rule():
    centers, sigma = ring_centers(), 0.05
    rng = np.random.default_rng(4)
    fake = np.concatenate(
        [
            points_at_radius(centers[0], sigma, 1.0, 49, rng),  # 49 hq in mode 0 -> not covered
            points_at_radius(centers[1], sigma, 1.0, 50, rng),  # 50 hq in mode 1 -> covered
            points_at_radius(centers[2], sigma, 5.0, 500, rng),  # many, none hq -> not covered
        ]
    )
    bundle = make_bundle(centers, std=sigma)
    out = ModeCoverage()(torch.tensor(fake), bundle)
    assert out["mode_counts"][:3] == [49, 50, 0]
    assert out["assigned_counts"][:3] == [49, 50, 500]
    assert out["nb_modes"] == 1
    assert ModeCoverage(min_count=49)(torch.tensor(fake), bundle)["nb_modes"] == 2
    assert ModeCoverage(min_count=51)(torch.tensor(fake), bundle)["nb_modes"] == 0
    assert ModeCoverage(min_count=1)(torch.tensor(fake), bundle)["nb_modes"] == 2


def test_sigma_threshold_per_mode_std():
    # modes with different std: the threshold must use each mode's own σ
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    stds = np.array([0.05, 0.2, 1.0])
    rng = np.random.default_rng(5)
    inside = np.concatenate([points_at_radius(c, s, 2.9, 20, rng) for c, s in zip(centers, stds)])
    outside = np.concatenate([points_at_radius(c, s, 3.1, 30, rng) for c, s in zip(centers, stds)])
    fake = torch.tensor(np.concatenate([inside, outside]))
    bundle = make_bundle(centers, std=stds)

    out = ModeCoverage(std_threshold=3.0, min_count=1)(fake, bundle)
    assert out["mode_counts"] == [20, 20, 20]
    assert out["assigned_counts"] == [50, 50, 50]
    assert out["hq_fraction"] == pytest.approx(60 / 150)

    out4 = ModeCoverage(std_threshold=4.0, min_count=1)(fake, bundle)  # Dia-GAN's 4σ: all count
    assert out4["mode_counts"] == [50, 50, 50]
    out2 = ModeCoverage(std_threshold=2.0, min_count=1)(fake, bundle)
    assert out2["mode_counts"] == [0, 0, 0] and out2["nb_modes"] == 0


def test_anisotropic_threshold_uses_mahalanobis_not_euclid():
    centers = np.array([[0.0, 0.0], [5.0, 5.0]])
    cov = np.array([np.diag([0.1**2, 0.01**2]), np.eye(2) * 0.01])
    fake = torch.tensor([[0.2, 0.0], [0.0, 0.05], [0.0, 0.02], [-0.29, 0.0]], dtype=torch.float64)
    out = ModeCoverage(min_count=1)(fake, make_bundle(centers, cov))
    # 2σ, 5σ, 2σ, 2.9σ along the axes: Euclid alone would accept (0, 0.05) and reject nothing
    assert out["mode_counts"] == [3, 0]
    assert out["assigned_counts"] == [4, 0]


# ---------------------------------------------------------------------------- independent references


def test_kl_matches_scipy_entropy():
    centers = ring_centers(5, radius=3.0)
    target = np.array([0.1, 0.2, 0.3, 0.25, 0.15])
    rng = np.random.default_rng(6)
    counts = [100, 0, 300, 50, 7]
    fake = np.concatenate(
        [points_at_radius(c, 0.05, r, m, rng) for c, m, r in zip(centers, counts, (1, 1, 10, 1, 1))]
    )
    bundle = make_bundle(centers, std=0.05, target=target)
    out = ModeCoverage()(torch.tensor(fake), bundle)
    assert out["assigned_counts"] == counts
    assert out["mode_counts"] == [100, 0, 0, 50, 7]  # mode 2's samples are 10σ away: assigned, not hq
    p = np.asarray(counts, dtype=np.float64)
    q = bundle.target_weights.double().numpy()  # the float32-stored target the metric sees
    assert out["kl_modes"] == pytest.approx(entropy(p / p.sum(), q), rel=1e-9, abs=1e-12)
    assert out["kl_modes"] == pytest.approx(entropy(p / p.sum(), target), rel=1e-6)


def test_isotropic_mahalanobis_equals_euclidean_brute_force():
    rng = np.random.default_rng(7)
    k, d, n, t = 12, 2, 5000, 3.0
    centers = rng.uniform(-5, 5, size=(k, d))
    stds = rng.uniform(0.05, 0.5, size=k)
    fake = centers[rng.integers(0, k, n)] + rng.standard_normal((n, d)) * rng.uniform(0.05, 1.5, size=(n, 1))
    out = ModeCoverage(std_threshold=t, min_count=20)(torch.tensor(fake), make_bundle(centers, std=stds))

    dist = np.linalg.norm(fake[:, None, :] - centers[None, :, :], axis=2)
    nearest = dist.argmin(axis=1)
    hq = dist[np.arange(n), nearest] <= t * stds[nearest]  # the paper's Euclidean rule
    ref_counts = np.bincount(nearest[hq], minlength=k)
    assert out["mode_counts"] == ref_counts.tolist()
    assert out["assigned_counts"] == np.bincount(nearest, minlength=k).tolist()
    assert out["nb_modes"] == int((ref_counts >= 20).sum())
    assert out["hq_fraction"] == pytest.approx(hq.mean())


def test_anisotropic_brute_force_and_chunking_invariance():
    rng = np.random.default_rng(8)
    k, d, n = 7, 3, 3000
    centers = rng.uniform(-3, 3, size=(k, d))
    a = rng.standard_normal((k, d, d)) * 0.3
    cov = a @ a.transpose(0, 2, 1) + 0.01 * np.eye(d)
    fake = centers[rng.integers(0, k, n)] + rng.standard_normal((n, d)) * 0.5
    bundle = make_bundle(centers, cov)
    cov32 = bundle.covariances.double().numpy()  # what the metric sees

    nearest = np.linalg.norm(fake[:, None] - centers[None], axis=2).argmin(axis=1)
    diff = fake - bundle.centers.double().numpy()[nearest]
    maha2 = np.einsum("ni,nij,nj->n", diff, np.linalg.inv(cov32)[nearest], diff)
    ref = np.bincount(nearest[maha2 <= 9.0], minlength=k)

    full = ModeCoverage(min_count=10)(torch.tensor(fake), bundle)
    tiny = ModeCoverage(min_count=10, max_chunk_elements=7)(torch.tensor(fake), bundle)
    assert full["mode_counts"] == ref.tolist()
    assert tiny == full


# ---------------------------------------------------------------------------- robustness and validation


def test_nonfinite_samples_are_counted_not_crashed_on():
    centers, sigma = ring_centers(4), 0.05
    good = torch.tensor(centers, dtype=torch.float32).repeat_interleave(25, dim=0)  # 100 hq samples
    bad = torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0], [0.0, -float("inf")], [float("nan")] * 2])
    out = ModeCoverage(min_count=25)(torch.cat([good, bad]), make_bundle(centers, std=sigma))
    assert out["nonfinite_fraction"] == pytest.approx(4 / 104)
    assert out["hq_fraction"] == pytest.approx(100 / 104)
    assert out["assigned_counts"] == [25, 25, 25, 25]
    assert out["nb_modes"] == 4
    assert out["kl_modes"] == pytest.approx(0.0, abs=1e-12)
    json.dumps(out)

    all_bad = ModeCoverage()(torch.full((10, 2), float("nan")), make_bundle(centers, std=sigma))
    assert all_bad["nb_modes"] == 0 and all_bad["hq_fraction"] == 0.0
    assert all_bad["nonfinite_fraction"] == 1.0 and math.isnan(all_bad["kl_modes"])


def test_result_is_plain_python():
    centers = ring_centers(3)
    out = ModeCoverage(min_count=1)(torch.tensor(centers, dtype=torch.float32), make_bundle(centers, std=0.1))
    assert type(out["nb_modes"]) is int and type(out["hq_fraction"]) is float and type(out["kl_modes"]) is float
    assert all(type(c) is int for c in out["mode_counts"] + out["assigned_counts"])
    assert json.loads(json.dumps(out)) == out


@pytest.mark.parametrize(
    "kwargs", [{"std_threshold": 0}, {"std_threshold": -1.0}, {"std_threshold": float("nan")},
               {"std_threshold": True}, {"min_count": 0}, {"min_count": 2.5}, {"min_count": -3}]
)
def test_invalid_parameters_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        ModeCoverage(**kwargs)


def test_dataset_without_centres_is_a_clear_error():
    bundle = make_bundle(ring_centers(2), std=0.1, name="mnist")
    bundle.centers = None
    with pytest.raises(ConfigError, match="centres.*'mnist'"):
        ModeCoverage()(torch.zeros(5, 2), bundle)


def test_wrong_sample_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        ModeCoverage()(torch.zeros(5, 3), make_bundle(ring_centers(2), std=0.1))
