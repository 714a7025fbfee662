"""Synthetic Gaussian mixtures: layouts, mode proportions, labels, importance weights, seeds, configs, validation."""
from __future__ import annotations

import glob
import itertools
import math
import os

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from datasets.layouts import grid, grid_random, mog1d, ring
from datasets.mixtures import GaussianMixture, apportion
from core.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONF = os.path.join(ROOT, "conf", "dataset")
EXPECTED_YAMLS = {"ring", "grid", "ring_balanced", "grid_balanced", "gaussians25", "grid_random", "cube3d", "mog1d"}


def _spec(name: str, **overrides):
    cfg = OmegaConf.load(os.path.join(CONF, f"{name}.yaml"))
    for key, value in overrides.items():
        cfg[key] = value
    return instantiate(cfg)


_CACHE: dict = {}


def _bundle(name: str):
    """Each shipped dataset loaded once per test session (default config, n = 10,000)."""
    if name not in _CACHE:
        _CACHE[name] = _spec(name).load()
    return _CACHE[name]


# --------------------------------------------------------------------------------------------------------------
# layouts


def test_ring_layout_matches_rls_paper():
    b = _bundle("ring")
    c = b.centers.double()
    assert b.num_modes == 8 and c.shape == (8, 2)
    assert torch.allclose(c[0], torch.tensor([0.0, 2.5], dtype=torch.float64), atol=1e-6)  # on top
    assert c[1, 0] > 0 and c[1, 1] < 2.5  # clockwise: mode 1 to the right of the top
    assert torch.allclose(c[2], torch.tensor([2.5, 0.0], dtype=torch.float64), atol=1e-6)  # quarter turn clockwise
    assert torch.allclose(c.norm(dim=1), torch.full((8,), 2.5, dtype=torch.float64), atol=1e-6)
    # clockwise = the polar angle decreases from one mode to the next
    angles = torch.atan2(c[:, 1], c[:, 0])
    steps = torch.remainder(angles[1:] - angles[:-1], 2 * math.pi)
    assert torch.allclose(steps, torch.full((7,), 2 * math.pi - 2 * math.pi / 8, dtype=torch.float64), atol=1e-5)
    assert b.minority == (0, 1, 2, 3)
    w = b.observed_weights.double()
    assert torch.allclose(w[:4] / w[4:].mean(), torch.full((4,), 0.05, dtype=torch.float64), rtol=1e-5)
    assert w[4:].allclose(torch.full((4,), 1 / (4 * 1.05), dtype=torch.float64), rtol=1e-6)
    assert torch.allclose(b.extra["std"], torch.full((8,), 0.05))
    assert torch.allclose(b.covariances, 0.05**2 * torch.eye(2).expand(8, 2, 2))


def test_grid_minority_modes_are_the_two_leftmost_columns():
    b = _bundle("grid")
    c = b.centers
    expected = torch.tensor(list(itertools.product(range(-4, 5, 2), range(-4, 5, 2))), dtype=torch.float32)
    assert torch.equal(c, expected)
    leftmost = {i for i in range(25) if c[i, 0].item() in (-4.0, -2.0)}
    assert set(b.minority) == leftmost == set(range(10))
    w = b.observed_weights.double()
    maj = [i for i in range(25) if i not in leftmost]
    assert torch.allclose(w[list(leftmost)] / w[maj].mean(), torch.full((10,), 0.05, dtype=torch.float64), rtol=1e-5)
    assert math.isclose(w[maj[0]].item(), 1 / 15.5, rel_tol=1e-6)


def test_other_layouts():
    g25 = _bundle("gaussians25")
    assert torch.allclose(g25.centers, grid().centers / 2.828)
    assert torch.allclose(g25.extra["std"], torch.full((25,), 0.05 / 2.828))
    assert g25.extra["mode_counts"].tolist() == [400] * 25

    cube = _bundle("cube3d")
    assert cube.centers.shape == (27, 3)
    assert set(cube.centers.unique().tolist()) == {-2.0, 0.0, 2.0}

    gr = _bundle("grid_random")
    c = gr.centers.double()
    assert c.shape == (25, 2) and bool(((c >= -4) & (c <= 4)).all())
    dist = torch.cdist(c, c) + 1e9 * torch.eye(25, dtype=torch.float64)
    assert dist.min() >= 1.0 - 1e-6
    eig = torch.linalg.eigvalsh(gr.covariances.double())  # principal variances
    assert bool((eig.sqrt() >= 0.02 - 1e-6).all()) and bool((eig.sqrt() <= 0.1 + 1e-6).all())
    assert gr.extra["isotropic"] is False
    off_diag = gr.covariances[:, 0, 1].abs()
    assert (off_diag > 1e-5).sum() >= 20  # rotated, not axis-aligned
    # the layout follows layout_seed (default data_seed); a fixed layout_seed keeps it while the samples change
    a = grid_random(layout_seed=3, data_seed=0)
    b = grid_random(layout_seed=3, data_seed=1)
    assert torch.equal(a.centers, b.centers) and torch.equal(a.covariances, b.covariances)
    assert not torch.equal(grid_random(data_seed=0).centers, grid_random(data_seed=1).centers)

    m = _bundle("mog1d")
    assert m.centers.flatten().tolist() == [0.0, 10.0, -10.0]
    assert m.minority == (1, 2)
    assert np.allclose(m.observed_weights.numpy(), [0.9, 0.05, 0.05], atol=1e-7)
    assert np.allclose(m.target_weights.numpy(), [1 / 3] * 3)


# --------------------------------------------------------------------------------------------------------------
# samples


@pytest.mark.parametrize("name", sorted(EXPECTED_YAMLS))
def test_mode_proportions_match_configured_weights(name):
    b = _bundle(name)
    counts = torch.bincount(b.labels, minlength=b.num_modes)
    assert torch.equal(counts, b.extra["mode_counts"])
    # exact apportionment: every count is floor or ceil of n * w_k
    expected = b.n * b.observed_weights.double()
    assert bool(((counts.double() - expected).abs() < 1.0 + 1e-6).all()), (counts, expected)
    assert int(counts.sum()) == b.n


def test_apportion_is_exact_and_deterministic():
    assert apportion([1, 1, 1], 10) == [4, 3, 3]
    assert apportion([0.05] * 4 + [1] * 4, 10_000) == [119] * 4 + [2381] * 4
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.uniform(0.01, 1, size=rng.integers(1, 30))
        n = int(rng.integers(1, 5000))
        c = np.asarray(apportion(w, n))
        assert c.sum() == n and np.all(np.abs(c - n * w / w.sum()) < 1.0)


@pytest.mark.parametrize("name", sorted(EXPECTED_YAMLS))
def test_labels_are_nearest_mode_and_per_mode_spread_matches(name):
    b = _bundle(name)
    x, c, cov = b.x.double(), b.centers.double(), b.covariances.double()
    if b.extra["isotropic"]:
        nearest = torch.cdist(x, c).argmin(dim=1)
    else:  # anisotropic: the most likely component (Mahalanobis + log det), independent of our code path
        comps = np.stack([multivariate_normal(c[k].numpy(), cov[k].numpy()).logpdf(x.numpy())
                          for k in range(b.num_modes)], axis=1)
        nearest = torch.as_tensor(comps.argmax(axis=1))
    assert torch.equal(nearest, b.labels)
    assert b.labels.dtype == torch.int64 and b.x.dtype == torch.float32 and b.x.shape == (b.n, c.shape[1])
    for k in range(b.num_modes):
        xk = x[b.labels == k]
        nk = xk.shape[0]
        assert nk >= 30
        emp = torch.cov(xk.T).reshape(c.shape[1], c.shape[1])
        # per-axis std along the principal axes of the configured covariance
        evals, evecs = torch.linalg.eigh(cov[k])
        emp_std = torch.sqrt(torch.diagonal(evecs.T @ emp @ evecs))
        tol = 6.0 / math.sqrt(2 * nk)  # ~6 standard errors of a sample std
        assert torch.allclose(emp_std, evals.sqrt(), rtol=tol), (k, emp_std, evals.sqrt())
        assert torch.allclose(xk.mean(0), c[k], atol=6 * evals.max().sqrt().item() / math.sqrt(nk))


def test_samples_are_shuffled():
    b = _bundle("ring")
    first = b.labels[:500]
    assert len(first.unique()) == 8  # a sorted layout would show one mode only


# --------------------------------------------------------------------------------------------------------------
# importance weights


def _scipy_ratio(b, idx):
    x = b.x[idx].double().numpy()
    c, cov = b.centers.double().numpy(), b.covariances.double().numpy()
    logpdf = np.stack([multivariate_normal(c[k], cov[k]).logpdf(x) for k in range(b.num_modes)], axis=1)
    logpdf = logpdf.reshape(len(idx), b.num_modes)
    obs = b.observed_weights.double().numpy()
    obs = obs / obs.sum()
    target = np.full(b.num_modes, 1.0 / b.num_modes)
    return np.exp(logsumexp(logpdf + np.log(target), axis=1) - logsumexp(logpdf + np.log(obs), axis=1))


@pytest.mark.parametrize("name", ["ring", "grid", "mog1d"])
def test_importance_weights_match_scipy(name):
    b = _bundle(name)
    idx = torch.randperm(b.n, generator=torch.Generator().manual_seed(1))[:400]
    minority_idx = torch.nonzero(torch.isin(b.labels, torch.tensor(b.minority))).flatten()[:100]
    idx = torch.cat([idx, minority_idx])
    ref = _scipy_ratio(b, idx)
    np.testing.assert_allclose(b.importance_weights[idx].double().numpy(), ref, rtol=1e-5)
    # in a minority mode the ratio is ~ (1/K) / p_min, in a majority mode ~ (1/K) / p_maj
    w = b.observed_weights.double()
    k_min, k_maj = b.minority[0], [k for k in range(b.num_modes) if k not in b.minority][0]
    centre_ratio = lambda k: (1.0 / b.num_modes) / w[k].item()  # noqa: E731
    iw = b.importance_weights.double()
    assert math.isclose(iw[b.labels == k_min].median().item(), centre_ratio(k_min), rel_tol=1e-3)
    assert math.isclose(iw[b.labels == k_maj].median().item(), centre_ratio(k_maj), rel_tol=1e-3)


def test_importance_weights_off_mode_points_are_finite():
    spec = ring()
    x = torch.tensor([[0.0, 0.0], [100.0, -100.0], [1e3, 1e3]])
    log_ratio = spec.log_density(x, "target") - spec.log_density(x, "observed")
    assert torch.isfinite(log_ratio).all()


@pytest.mark.parametrize("name", ["ring_balanced", "grid_balanced", "gaussians25", "grid_random", "cube3d"])
def test_balanced_sets_have_unit_importance_weights(name):
    b = _bundle(name)
    assert torch.equal(b.importance_weights, torch.ones(b.n))
    assert torch.allclose(b.observed_weights, b.target_weights)
    assert b.minority == ()


def test_minority_factor_one_means_balanced():
    b = ring(minority_factor=1.0, n=800).load()
    assert b.minority == () and torch.equal(b.importance_weights, torch.ones(800))
    assert b.extra["mode_counts"].tolist() == [100] * 8


# --------------------------------------------------------------------------------------------------------------
# seeds


def test_data_seed_determines_the_data():
    a1 = ring(n=2000, data_seed=5).load()
    a2 = ring(n=2000, data_seed=5).load()
    b = ring(n=2000, data_seed=6).load()
    assert torch.equal(a1.x, a2.x) and torch.equal(a1.labels, a2.labels)
    assert torch.equal(a1.importance_weights, a2.importance_weights)
    assert not torch.equal(a1.x, b.x)
    assert not torch.equal(a1.labels, b.labels)


def test_data_does_not_depend_on_the_global_torch_seed():
    torch.manual_seed(0)
    a = grid(n=1000, data_seed=3).load()
    torch.manual_seed(123)
    torch.rand(10)
    b = grid(n=1000, data_seed=3).load()
    assert torch.equal(a.x, b.x)


# --------------------------------------------------------------------------------------------------------------
# configs


def test_every_dataset_yaml_is_shipped():
    names = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(CONF, "*.yaml"))}
    assert EXPECTED_YAMLS <= names


MIXTURE_YAMLS = sorted(p for p in glob.glob(os.path.join(CONF, "*.yaml"))
                       if str(OmegaConf.load(p).get("_target_", "")).startswith("datasets.layouts."))


def test_toy_yamls_are_found():
    assert {os.path.splitext(os.path.basename(p))[0] for p in MIXTURE_YAMLS} >= EXPECTED_YAMLS


@pytest.mark.parametrize("path", MIXTURE_YAMLS, ids=os.path.basename)
def test_every_yaml_instantiates_and_loads_consistently(path):
    cfg = OmegaConf.load(path)
    spec = instantiate(cfg)
    assert isinstance(spec, GaussianMixture)
    assert spec.kind == "toy" and {"mixture", "labels", "importance_weights"} <= spec.provides
    name = os.path.splitext(os.path.basename(path))[0]
    assert spec.name == name
    b = _bundle(name) if name in EXPECTED_YAMLS else spec.load()
    assert b.name == name and b.kind == "toy"
    k, d = b.centers.shape
    assert b.num_modes == k == spec.num_modes and d == spec.dim
    assert b.x.shape == (cfg.n, d) and b.labels.shape == (cfg.n,)
    assert b.covariances.shape == (k, d, d)
    assert b.observed_weights.shape == b.target_weights.shape == (k,)
    assert math.isclose(b.observed_weights.sum().item(), 1.0, abs_tol=1e-6)
    assert math.isclose(b.target_weights.sum().item(), 1.0, abs_tol=1e-6)
    assert torch.allclose(b.target_weights, torch.full((k,), 1.0 / k))
    assert b.importance_weights.shape == (cfg.n,) and bool(torch.isfinite(b.importance_weights).all())
    assert bool((b.importance_weights > 0).all())
    assert all(0 <= i < k for i in b.minority)
    assert int(b.labels.min()) >= 0 and int(b.labels.max()) < k
    # the importance-weighted mode shares are the balanced target (exactly, up to the density overlap)
    iw_share = torch.bincount(b.labels, weights=b.importance_weights.double(), minlength=k)
    iw_share = iw_share / iw_share.sum()
    assert torch.allclose(iw_share.float(), b.target_weights, atol=2e-3)


def test_command_line_style_overrides():
    spec = _spec("ring", minority_factor=0.1, n=20000)
    b = spec.load()
    assert b.n == 20000
    w = b.observed_weights.double()
    assert math.isclose((w[0] / w[7]).item(), 0.1, rel_tol=1e-6)
    assert _spec("grid", shape=[3, 3], minority=[0, 1, 2]).num_modes == 9


def test_to_device_keeps_everything():
    b = ring(n=100).load("cpu")
    assert b.x.device.type == "cpu" and b.importance_weights.device.type == "cpu"


# --------------------------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "builder, kwargs, field",
    [
        (ring, {"n": 0}, "dataset.n"),
        (ring, {"n": -5}, "dataset.n"),
        (ring, {"n": 10.5}, "dataset.n"),
        (ring, {"std": 0.0}, "dataset.std"),
        (ring, {"std": -0.1}, "dataset.std"),
        (ring, {"radius": 0}, "dataset.radius"),
        (ring, {"num_modes": 0}, "dataset.num_modes"),
        (ring, {"minority_factor": 0.0}, "dataset.minority_factor"),
        (ring, {"minority_factor": 1.5}, "dataset.minority_factor"),
        (ring, {"minority": [0, 8]}, "dataset.minority"),
        (ring, {"minority": [-1]}, "dataset.minority"),
        (ring, {"minority": [1, 1]}, "dataset.minority"),
        (ring, {"minority": [], "minority_factor": 0.05}, "dataset.minority_factor"),
        (ring, {"minority": list(range(8))}, "dataset.minority"),
        (ring, {"data_seed": -1}, "dataset.data_seed"),
        (ring, {"weights": [1, 2]}, "dataset.weights"),
        (ring, {"weights": [1, 1, 1, 1, 1, 1, 1, 0]}, "dataset.weights"),
        (grid, {"spacing": -2}, "dataset.spacing"),
        (grid, {"shape": [5, 0]}, "dataset.shape"),
        (grid, {"divide_by": 0}, "dataset.divide_by"),
        (grid_random, {"std_min": 0.2, "std_max": 0.1}, "dataset.std_min"),
        (grid_random, {"min_separation": 10.0}, "dataset.min_separation"),
        (grid_random, {"low": 1.0, "high": -1.0}, "dataset.low"),
        (mog1d, {"means": []}, "dataset.means"),
        (mog1d, {"std": [1.0, 1.0]}, "dataset.std"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(builder, kwargs, field):
    with pytest.raises(ConfigError) as err:
        builder(**kwargs)
    assert field in str(err.value)


def test_bad_values_through_hydra_name_the_field():
    # hydra wraps the error in an InstantiationException whose cause is our ConfigError
    with pytest.raises(Exception) as err:
        _spec("ring", std=-1.0)
    assert isinstance(err.value.__cause__, ConfigError)
    assert "dataset.std" in str(err.value.__cause__) and "-1.0" in str(err.value.__cause__)


def test_unknown_key_is_an_error():
    with pytest.raises(Exception, match="bogus"):
        _spec("ring", bogus=1)


def test_general_spec_validation():
    with pytest.raises(ConfigError, match="exactly one of dataset.std"):
        GaussianMixture([[0.0, 0.0]], std=None, covariances=None)
    with pytest.raises(ConfigError, match="exactly one of dataset.std"):
        GaussianMixture([[0.0, 0.0]], std=1.0, covariances=[[[1.0, 0.0], [0.0, 1.0]]])
    with pytest.raises(ConfigError, match="dataset.covariances"):
        GaussianMixture([[0.0, 0.0]], covariances=[[[1.0, 2.0], [2.0, 1.0]]])  # not positive definite
    with pytest.raises(ConfigError, match="dataset.centers"):
        GaussianMixture([0.0, 1.0], std=1.0)


def test_general_spec_with_full_covariances_and_weights():
    cov = [[[0.04, 0.01], [0.01, 0.02]], [[0.01, 0.0], [0.0, 0.09]]]
    spec = GaussianMixture([[0.0, 0.0], [5.0, 5.0]], covariances=cov, weights=[3.0, 1.0], n=4000, data_seed=2)
    b = spec.load()
    assert b.extra["mode_counts"].tolist() == [3000, 1000]
    assert torch.allclose(b.covariances, torch.tensor(cov))
    ref = _scipy_ratio(b, torch.arange(0, 4000, 40))
    np.testing.assert_allclose(b.importance_weights[::40].double().numpy(), ref, rtol=1e-5)
