"""PRD (Sajjadi et al. 2018) against a direct implementation: loops over the slopes and the bins, sklearn's KMeans
on the union, and embeddings of known overlap."""
import math

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from metrics.prd import PRD, cluster_histograms, max_f_beta, prd_curve, prd_from_embeddings


def direct_curve(q, p, num_angles):
    """α(λ) = Σ_i min(λ p_i, q_i), β(λ) = Σ_i min(p_i, q_i / λ), one slope and one bin at a time."""
    precision, recall = [], []
    for theta in np.linspace(1e-10, math.pi / 2 - 1e-10, num_angles):
        lam = math.tan(theta)
        precision.append(sum(min(lam * pi, qi) for pi, qi in zip(p, q)))
        recall.append(sum(min(pi, qi / lam) for pi, qi in zip(p, q)))
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def blobs(centres, n, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + 0.05 * rng.standard_normal((n, len(c))) for c in np.asarray(centres, float)])


def test_the_curve_equals_the_direct_formula_on_random_histograms():
    rng = np.random.default_rng(0)
    q, p = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    precision, recall = prd_curve(q, p, num_angles=51)
    want_precision, want_recall = direct_curve(q, p, 51)
    np.testing.assert_allclose(precision, want_precision, atol=1e-12)
    np.testing.assert_allclose(recall, want_recall, atol=1e-12)


def test_f_beta_is_the_maximum_of_the_weighted_harmonic_mean():
    rng = np.random.default_rng(1)
    precision, recall = rng.uniform(0.1, 1, 40), rng.uniform(0.1, 1, 40)
    f8, f1_8 = max_f_beta(precision, recall)
    assert f8 == pytest.approx(max(65 * a * b / (64 * a + b) for a, b in zip(precision, recall)), rel=1e-8)
    assert f1_8 == pytest.approx(max(65 * a * b / (64 * b + a) for a, b in zip(precision, recall)), rel=1e-8)


def test_histograms_are_the_shares_of_each_set_in_the_clusters_of_the_union():
    generated = blobs([[0, 0], [0, 0], [0, 0], [5, 0]], 50, 0)  # 3/4 of the generated points on the first blob
    real = blobs([[0, 0], [5, 0], [5, 0], [0, 5]], 50, 1)
    q, p = cluster_histograms(generated, real, num_clusters=3, seed=0)
    labels = KMeans(3, n_init=10, random_state=0).fit(np.concatenate([generated, real])).labels_
    want_q = np.bincount(labels[:200], minlength=3) / 200
    want_p = np.bincount(labels[200:], minlength=3) / 200
    # the same partition up to the cluster numbering: compare the sorted pairs (q_i, p_i)
    assert sorted(zip(q.round(6), p.round(6))) == sorted(zip(want_q.round(6), want_p.round(6)))
    assert sorted(q.round(6)) == [0.0, 0.25, 0.75]
    assert sorted(p.round(6)) == [0.25, 0.25, 0.5]


def test_identical_sets_give_a_curve_through_one_one():
    x = np.random.default_rng(2).standard_normal((400, 5))
    precision, recall = prd_from_embeddings(x, x.copy(), num_clusters=10, num_angles=1001, num_runs=2)
    middle = 500  # θ = π/4, λ = 1
    assert precision[middle] == pytest.approx(1.0, abs=1e-6) and recall[middle] == pytest.approx(1.0, abs=1e-6)
    assert max_f_beta(precision, recall) == pytest.approx((1.0, 1.0), abs=1e-6)


def test_disjoint_sets_give_a_curve_near_zero():
    generated = blobs([[0, 0], [1, 0]], 100, 0)
    real = blobs([[20, 20], [21, 20]], 100, 1)
    precision, recall = prd_from_embeddings(generated, real, num_clusters=4, num_angles=101, num_runs=2)
    assert precision.max() < 1e-6 and recall.max() < 1e-6


def test_half_overlap_reaches_half_precision_and_half_recall():
    """Generated on blobs A, B; real on B, C: at most half of either set is matched by the other."""
    generated = blobs([[0, 0], [5, 0]], 200, 0)
    real = blobs([[5, 0], [0, 5]], 200, 1)
    precision, recall = prd_from_embeddings(generated, real, num_clusters=3, num_angles=1001, num_runs=2)
    assert precision.max() == pytest.approx(0.5, abs=0.01)
    assert recall.max() == pytest.approx(0.5, abs=0.01)
    assert precision[500] == pytest.approx(0.5, abs=0.01) and recall[500] == pytest.approx(0.5, abs=0.01)


def test_the_metric_subsamples_the_larger_set_and_records_the_curve():
    rng = np.random.default_rng(3)
    metric = PRD(num_clusters=5, num_angles=11, num_runs=1)
    out = metric.curve(rng.standard_normal((300, 3)), rng.standard_normal((120, 3)), {"prd_reference": "x"})
    assert len(out["prd_precision"]) == len(out["prd_recall"]) == 11
    assert 0 < out["prd_f1_8"] <= 1 and 0 < out["prd_f8"] <= 1
    assert math.isnan(metric.curve(np.zeros((3, 3)), np.zeros((3, 3)), {})["prd_f8"])  # fewer rows than clusters


def test_the_toy_path_compares_coordinates_with_the_positives():
    from datasets.positive_negative import PositiveNegativeMixture
    from datasets.layouts import ring

    data = PositiveNegativeMixture(ring(8, 2.5, 0.05, minority=(), minority_factor=1.0, n=2000, data_seed=0),
                                   positive_modes=[0, 2, 4, 6], negative_modes=[1, 3, 5, 7]).load()
    metric = PRD(num_clusters=8, num_angles=101, num_runs=1, reference="positives", reference_size=None)
    on_positives = data.x[data.positive_indices][:500]
    on_negatives = data.x[data.negative_indices][:500]
    assert metric(on_positives, data)["prd_f8"] > 0.95
    assert metric(on_negatives, data)["prd_f8"] < 0.05
    assert math.isnan(metric(torch.full((50, 2), float("nan")), data)["prd_f8"])  # non-finite rows dropped
