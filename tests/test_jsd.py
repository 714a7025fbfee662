"""The canonical-cell JSD metric against scipy and hand-made cases."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2

from datasets.layouts import grid, ring
from metrics.jsd import CanonicalJSD, canonical_histogram, jensen_shannon
from metrics.modes import whitening_factors


def test_jensen_shannon_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, q = rng.random(9), rng.random(9)
        q[3] = 0.0
        assert jensen_shannon(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-10)
        assert jensen_shannon(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-10)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert jensen_shannon([1, 2, 3], [2, 4, 6]) == 0.0


def test_cells_are_nearest_mode_within_the_threshold_plus_off_mode():
    data = ring(num_modes=4, radius=2.0, std=0.1, minority=[], minority_factor=1.0, n=400).load()
    centers, whiten = data.centers.double(), whitening_factors(data.covariances)
    x = torch.tensor([[0.0, 2.0], [0.0, 2.25], [0.0, 2.35], [2.0, 0.0], [0.0, 0.0], [float("nan"), 0.0]])
    counts = canonical_histogram(x, centers, whiten, 3.0)
    # mode 0 on top (0, 2): 2.25 is within 3 std (0.3), 2.35 is not; mode 1 at (2, 0) clockwise
    assert counts.tolist() == [2, 1, 0, 0, 3]


def test_jsd_of_the_training_set_is_zero_and_of_a_collapse_is_large():
    spec = grid(shape=[3, 3], spacing=2.0, std=0.05, n=9000)
    data = spec.load()
    metric = CanonicalJSD(std_threshold=3.0)
    assert metric(data.x, data)["jsd"] == pytest.approx(0.0, abs=1e-12)
    collapsed = data.centers[4].repeat(5000, 1)  # everything on the central mode
    value = metric(collapsed, data)["jsd"]
    real = canonical_histogram(data.x, data.centers.double(), whitening_factors(data.covariances), 3.0)
    fake = np.zeros(10)
    fake[4] = 1.0
    assert value == pytest.approx(jensenshannon(real, fake) ** 2, rel=1e-9)
    assert CanonicalJSD(base=2)(collapsed, data)["jsd"] == pytest.approx(value / math.log(2))


def test_the_analytic_target_reference():
    data = grid(shape=[2, 2], spacing=4.0, std=0.1, n=4000).load()
    metric = CanonicalJSD(std_threshold=2.0, reference="target")
    inside = chi2.cdf(4.0, 2)
    hist = metric.real_histogram(data, data.centers.double(), whitening_factors(data.covariances), [0.25] * 4)
    np.testing.assert_allclose(hist, [0.25 * inside] * 4 + [1 - inside])
    # the training set is close to the analytic reference
    assert metric(data.x, data)["jsd"] < 1e-3
