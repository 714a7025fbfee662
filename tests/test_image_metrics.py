# Over 400 lines on purpose: one test module per metric family would scatter the shared reference fixtures.
"""Image metrics (metrics/*) against independent computations: numpy/scipy/sklearn, the prdc package, brute force."""
from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from image_helpers import Given, IntensityEvaluator, TinyEvaluator, image_bundle, intensity_images, memory_cache

from core.errors import ConfigError, DataError
from metrics import reference
from metrics.class_counts import ClassCounts
from metrics.clustering import (Clustering, adjusted_rand_index, cluster_accuracy, cluster_purity,
                                normalized_mutual_info)
from metrics.features import FeatureCache, FeatureExtractor
from metrics.fid import (FID, frechet_distance, frechet_distance_to_reference, gaussian_statistics,
                         reference_statistics)
from metrics.inception_score import InceptionScore
from metrics.kid import KID
from metrics.partial_recall import PartialRecall
from metrics.precision_recall import PrecisionRecall, prdc


def _scipy_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    with warnings.catch_warnings():  # singular covariances (dead ReLU features): sqrtm still converges
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


# ---------------------------------------------------------------------------------------------- FID

def test_frechet_distance_of_a_set_with_itself_is_zero_and_matches_scipy_when_shifted():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((800, 12)) @ rng.standard_normal((12, 12))
    stats = gaussian_statistics(torch.from_numpy(a))
    assert abs(frechet_distance(stats["mu"], stats["sigma"], stats["mu"], stats["sigma"])) < 1e-8
    b = 1.3 * a[::-1] + 0.7 + 0.2 * rng.standard_normal(a.shape)
    other = gaussian_statistics(torch.from_numpy(b))
    ours = frechet_distance(stats["mu"], stats["sigma"], other["mu"], other["sigma"])
    assert ours == pytest.approx(_scipy_fid(a, b), rel=1e-8)
    assert ours > 1.0


def test_frechet_distance_matches_torch_fidelity_and_survives_singular_covariances():
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((6, 20)), rng.standard_normal((9, 20)) + 0.5  # rank-deficient covariances
    sa, sb = gaussian_statistics(torch.from_numpy(a)), gaussian_statistics(torch.from_numpy(b))
    ref = fid_statistics_to_metric(sa, sb, verbose=False)["frechet_inception_distance"]
    assert frechet_distance(sa["mu"], sa["sigma"], sb["mu"], sb["sigma"]) == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("n", [7, 40])  # fewer and more samples than dimensions
def test_distance_to_cached_reference_statistics_equals_the_general_formula(n):
    rng = np.random.default_rng(n)
    real = torch.from_numpy(rng.standard_normal((50, 20)) @ rng.standard_normal((20, 20)))
    fake = torch.from_numpy(rng.standard_normal((n, 20)) * 1.5 + 0.3)
    ref = reference_statistics(real)
    gen = gaussian_statistics(fake)
    expected = frechet_distance(gen["mu"], gen["sigma"], ref["mu"], ref["sigma"])
    assert frechet_distance_to_reference(fake, ref) == pytest.approx(expected, rel=1e-7)
    assert frechet_distance_to_reference(fake, ref) == pytest.approx(_scipy_fid(fake.numpy(), real.numpy()), rel=1e-6)


def test_gaussian_statistics_match_numpy_with_and_without_weights():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 5))
    w = rng.uniform(0.1, 2.0, 300)
    plain = gaussian_statistics(torch.from_numpy(x))
    np.testing.assert_allclose(plain["mu"], x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(plain["sigma"], np.cov(x, rowvar=False), rtol=1e-10)
    weighted = gaussian_statistics(torch.from_numpy(x), w / w.sum())
    np.testing.assert_allclose(weighted["mu"], np.average(x, axis=0, weights=w), rtol=1e-12)
    np.testing.assert_allclose(weighted["sigma"], np.cov(x, rowvar=False, aweights=w), rtol=1e-10)


def test_fcd_metric_equals_a_direct_scipy_computation_in_the_evaluator_space():
    ev = TinyEvaluator()
    data = image_bundle(n=400, evaluator=ev)
    fake = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(5)) * 2 - 1
    out = FID(reference="train")(fake, data, memory_cache())
    with torch.no_grad():
        a = ev.features(fake).double().numpy()
        b = ev.features(data.as_float(data.x)).double().numpy()
    assert set(out) == {"fcd", "fid_feature_space", "fid_reference"}
    assert out["fid_feature_space"] == "tiny_cnn" and out["fid_reference"] == "train, 400 images"
    assert out["fcd"] == pytest.approx(_scipy_fid(a, b), rel=1e-6)
    json.dumps(out)


def test_fcd_of_the_training_set_against_itself_is_zero():
    data = image_bundle(n=400, evaluator=TinyEvaluator(), uint8=False)
    out = FID(reference="train")(data.x, data, memory_cache())
    assert abs(out["fcd"]) < 1e-8


def test_balanced_reference_reweights_classes_to_the_target():
    ev = TinyEvaluator()
    data = image_bundle(counts=[200, 150, 20], evaluator=ev)
    ref = reference.reference_set(data, "balanced", None, weighted=True)
    labels = data.labels.numpy()
    per_class = np.bincount(labels, weights=ref.weights, minlength=3)
    np.testing.assert_allclose(per_class, [1 / 3] * 3, rtol=1e-12)
    fake = torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = FID(reference="balanced")(fake, data, memory_cache())
    with torch.no_grad():
        a = ev.features(fake).double().numpy()
        b = ev.features(data.as_float(data.x)).double().numpy()
    w = ref.weights
    ours = frechet_distance(a.mean(0), np.cov(a, rowvar=False), np.average(b, 0, w), np.cov(b, rowvar=False, aweights=w))
    assert out["fcd"] == pytest.approx(ours, rel=1e-6, abs=1e-9)
    assert out["fid_reference"].startswith("balanced (class-reweighted")
    # the train reference gives another number: the reference set matters and is recorded
    assert FID(reference="train")(fake, data, memory_cache())["fcd"] != pytest.approx(out["fcd"], rel=1e-3)


def test_balanced_sample_reference_is_exactly_balanced_and_prefers_the_datasets_balanced_set():
    data = image_bundle(counts=[200, 150, 20])
    ref = reference.reference_set(data, "balanced", None, weighted=False)
    assert ref.size == 60 and ref.weights is None  # 20 per class: limited by the rarest class
    balanced = torch.zeros(90, 1, 8, 8, dtype=torch.uint8)
    data.images.balanced_x = balanced
    ref = reference.reference_set(data, "balanced", 50, weighted=True)
    assert ref.size == 50 and ref.weights is None and "balanced_x" in ref.label


def test_balanced_reference_without_images_of_a_target_class_is_a_data_error():
    data = image_bundle(counts=[50, 50, 0])
    with pytest.raises(DataError, match="no training image"):
        reference.reference_set(data, "balanced", None, weighted=True)


def test_reference_statistics_are_cached_on_disk_and_reused(tmp_path):
    ev = TinyEvaluator()
    data = image_bundle(n=300, evaluator=ev)
    fake = torch.rand(100, 1, 8, 8) * 2 - 1
    run = lambda: memory_cache(cache_dir=str(tmp_path))  # a new run: nothing in memory
    first = FID(reference="train")(fake, data, run())
    assert len(list(tmp_path.glob("fid_stats-*.npz"))) == 1
    ev.calls["features"] = 0
    second = FID(reference="train")(fake, data, run())
    assert ev.calls["features"] == 100  # only the generated images: the real statistics came from disk
    assert second["fcd"] == pytest.approx(first["fcd"], rel=1e-12)
    cached = next(tmp_path.glob("fid_stats-*.npz"))
    cached.write_bytes(b"truncated")  # a corrupt file is recomputed and replaced, never half-used
    assert FID(reference="train")(fake, data, run())["fcd"] == pytest.approx(first["fcd"], rel=1e-12)
    assert cached.stat().st_size > 1000
    with torch.no_grad():  # other weights, other file
        ev.head.weight.zero_()
        ev.body[0].weight.mul_(2)
    FID(reference="train")(fake, data, run())
    assert len(list(tmp_path.glob("fid_stats-*.npz"))) == 2


def test_reference_statistics_outlive_an_evaluation_in_the_runs_extractor():
    ev = TinyEvaluator()
    data = image_bundle(n=300, evaluator=ev)
    extractor = FeatureExtractor(cache_dir=False)  # memory only: what the run keeps, not a file
    metrics = (FID(reference="train"), PrecisionRecall(reference="train"))
    for step in range(3):  # three evaluations of the same run, each with its own batch and cache
        fake = torch.rand(100, 1, 8, 8, generator=torch.Generator().manual_seed(step)) * 2 - 1
        cache = FeatureCache(extractor)
        for metric in metrics:
            metric(fake, data, cache)
    assert ev.calls["features"] == 300 + 3 * 100  # the real images once, each evaluation's batch once
    assert data.images.evaluator_spec.loads == 1  # the bundle's evaluator was loaded once, for the whole run


# ---------------------------------------------------------------------------------------------- P/R/D/C

@pytest.mark.parametrize("n_real, n_fake, dim, k, shift", [(200, 150, 8, 3, 0.3), (120, 180, 3, 5, 0.0),
                                                             (90, 90, 20, 1, 1.0)])
def test_prdc_equals_the_prdc_package(n_real, n_fake, dim, k, shift, monkeypatch):
    from prdc import compute_prdc

    rng = np.random.default_rng(n_real + k)
    real = rng.standard_normal((n_real, dim)).astype(np.float32)
    fake = (rng.standard_normal((n_fake, dim)) * 1.2 + shift).astype(np.float32)
    expected = compute_prdc(real, fake, nearest_k=k)
    ours = prdc(torch.from_numpy(real), torch.from_numpy(fake), k)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(expected[key]), abs=1e-12), key
    import metrics.precision_recall as pr
    monkeypatch.setattr(pr, "_CHUNK_ELEMENTS", 257)  # tiny chunks: the same numbers
    assert pr.prdc(torch.from_numpy(real), torch.from_numpy(fake), k) == ours


def test_precision_recall_metric_uses_the_evaluator_features():
    from prdc import compute_prdc

    ev = TinyEvaluator()
    data = image_bundle(n=250, evaluator=ev)
    fake = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    out = PrecisionRecall(k=3, reference="train", reference_size=None)(fake, data, memory_cache())
    with torch.no_grad():
        real = ev.features(data.as_float(data.x)).numpy()
        gen = ev.features(fake).numpy()
    expected = compute_prdc(real, gen, nearest_k=3)
    for key in ("precision", "recall", "density", "coverage"):
        assert out[key] == pytest.approx(float(expected[key]), abs=1e-6)
    assert out["prdc_feature_space"] == "tiny_cnn"


# ---------------------------------------------------------------------------------------------- partial recall

def test_partial_recall_matches_brute_force():
    ev = TinyEvaluator(dim=4)
    data = image_bundle(counts=[150, 100, 40], minority=(2,), evaluator=ev)
    fake = torch.rand(120, 1, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    out = PartialRecall(subgroup="minority", k=3)(fake, data, memory_cache())
    with torch.no_grad():
        real = ev.features(data.as_float(data.x)).double().numpy()
        gen = ev.features(fake).double().numpy()
    radius = [sorted(np.linalg.norm(gen - g, axis=1))[3] for g in gen]  # 3rd neighbour, self excluded
    inside = [any(np.linalg.norm(r - gen[j]) < radius[j] for j in range(len(gen))) for r in real]
    minority = data.labels.numpy() == 2
    assert out["partial_recall_minority"] == pytest.approx(np.mean(np.array(inside)[minority]), abs=1e-12)
    assert out["partial_recall_majority"] == pytest.approx(np.mean(np.array(inside)[~minority]), abs=1e-12)
    assert out["partial_recall_sizes"] == {"minority": 40, "majority": 250}


def test_partial_recall_of_a_missing_subgroup_is_low_and_of_a_covered_one_high():
    ev = IntensityEvaluator(classes=3)
    labels = torch.arange(300) % 3
    data = image_bundle(n=300, evaluator=ev, uint8=False)
    data.x = intensity_images(labels, 3, seed=1)
    fake = intensity_images(torch.arange(200) % 2, 3, seed=2)  # classes 0 and 1 only: the minority 2 is missing
    out = PartialRecall(subgroup=[2], k=3)(fake, data, memory_cache(space="classifier"))
    assert out["partial_recall_classes_2"] == 0.0
    assert out["partial_recall_not_classes_2"] > 0.8


def test_partial_recall_subgroup_from_a_dataset_mask_and_skipped_without_minority():
    data = image_bundle(n=120, evaluator=TinyEvaluator(), minority=(), subgroups={"Bald": torch.arange(120) % 4 == 0})
    fake = torch.rand(60, 1, 8, 8) * 2 - 1
    out = PartialRecall(subgroup="Bald")(fake, data, memory_cache())
    assert out["partial_recall_sizes"] == {"Bald": 30, "not_Bald": 90}
    assert "partial_recall_note" in PartialRecall()(fake, data)
    with pytest.raises(ConfigError, match="subgroups"):
        PartialRecall(subgroup="Eyeglasses")(fake, data, memory_cache())


# ---------------------------------------------------------------------------------------------- class counts

def test_class_counts_and_kl_match_numpy():
    ev = TinyEvaluator(classes=3)
    data = image_bundle(n=90, evaluator=ev)
    data.target_weights = torch.tensor([0.5, 0.3, 0.2])
    fake = torch.rand(400, 1, 8, 8, generator=torch.Generator().manual_seed(6)) * 2 - 1
    out = ClassCounts()(fake, data)
    with torch.no_grad():
        pred = ev.logits(fake).argmax(1).numpy()
    counts = np.bincount(pred, minlength=3)
    p = counts / counts.sum()
    q = np.array([0.5, 0.3, 0.2])
    assert out["class_counts"] == counts.tolist()
    assert out["kl_classes"] == pytest.approx(float(np.sum(p[p > 0] * np.log(p[p > 0] / q[p > 0]))), rel=1e-6)
    assert out["classes_covered"] == int((counts >= 1).sum())
    assert out["evaluator"] == "tiny_cnn" and out["evaluator_accuracy"] == 0.99 and out["other_count"] == 0
    json.dumps(out)


def test_class_counts_of_known_classes_and_the_evaluator_class_map():
    ev = IntensityEvaluator(classes=4)
    data = image_bundle(n=40, classes=2, minority=(1,), evaluator=ev, uint8=False)
    classes = torch.tensor([0] * 50 + [1] * 30 + [2] * 15 + [3] * 5)
    fake = intensity_images(classes, 4, seed=3)
    out = ClassCounts()(fake, data)  # identity map: evaluator classes 2, 3 are not dataset classes
    assert out["class_counts"] == [50, 30] and out["other_count"] == 20
    assert out["kl_classes"] == pytest.approx(50 / 80 * np.log(50 / 80 / 0.5) + 30 / 80 * np.log(30 / 80 / 0.5))
    data.images.evaluator_class_map = [-1, -1, 0, 1]  # e.g. mnist2 built from two other digits
    out = ClassCounts()(fake, data)
    assert out["class_counts"] == [15, 5] and out["other_count"] == 80


def test_stacked_images_are_classified_per_channel_into_k_to_the_c_modes():
    k, c = 3, 3
    ev = IntensityEvaluator(classes=k)
    data = image_bundle(n=27, classes=k ** c, shape=(c, 8, 8), minority=(), evaluator=ev, uint8=False)
    digits = torch.stack([torch.arange(200) % 3, (torch.arange(200) // 3) % 3, torch.zeros(200, dtype=torch.long)], 1)
    fake = intensity_images(digits, k, shape=(c, 8, 8), seed=4)
    out = ClassCounts(min_count=1)(fake, data)
    expected = np.bincount((digits[:, 0] * 9 + digits[:, 1] * 3 + digits[:, 2]).numpy(), minlength=27)
    assert out["class_counts"] == expected.tolist()
    assert out["classes_covered"] == 9 and out["evaluator"] == "intensity (per channel)"
    q = np.full(27, 1 / 27)
    p = expected / expected.sum()
    assert out["kl_classes"] == pytest.approx(float(np.sum(p[p > 0] * np.log(p[p > 0] / q[p > 0]))))
    one_channel = Given(TinyEvaluator(channels=1, classes=27))
    with pytest.raises(ConfigError, match="per_channel"):  # the evaluator takes one channel: a clear error
        ClassCounts()(fake, data, memory_cache(per_channel=False, evaluator=one_channel))


def test_nonfinite_images_are_counted_and_left_out():
    ev = IntensityEvaluator(classes=3)
    data = image_bundle(n=30, evaluator=ev, uint8=False)
    fake = intensity_images(torch.arange(100) % 3, 3)
    fake[:10] = float("nan")
    out = ClassCounts()(fake, data)
    assert sum(out["class_counts"]) == 90 and out["nonfinite_fraction"] == pytest.approx(0.1)
    assert np.isfinite(FID(reference="train")(fake, data, memory_cache())["fcd"])


def test_classifier_score_equals_torch_fidelity_on_the_evaluator_logits():
    from torch_fidelity.metric_isc import isc_features_to_metric

    ev = TinyEvaluator(classes=5)
    data = image_bundle(n=30, classes=5, evaluator=ev)
    fake = torch.rand(200, 1, 8, 8) * 2 - 1
    out = InceptionScore(splits=4)(fake, data)
    with torch.no_grad():
        ref = isc_features_to_metric(ev.logits(fake).double(), splits=4, shuffle=True, rng_seed=2020)
    assert out["classifier_score"] == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert out["classifier_score_std"] == pytest.approx(ref["inception_score_std"], rel=1e-6, abs=1e-12)
    assert out["is_feature_space"] == "tiny_cnn"


def test_kcd_equals_torch_fidelity_kid_and_is_about_zero_for_the_same_distribution():
    from torch_fidelity.metric_kid import kid_features_to_metric

    ev = TinyEvaluator()
    data = image_bundle(n=600, evaluator=ev, uint8=False)
    fake = data.x[::2].clone()
    out = KID(reference="train", reference_size=None, subsets=5, subset_size=100)(fake, data, memory_cache())
    with torch.no_grad():
        ref = kid_features_to_metric(ev.features(fake), ev.features(data.x), kid_subsets=5, kid_subset_size=100,
                                     rng_seed=2020, verbose=False)
    assert out["kcd"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-5, abs=1e-9)
    assert abs(out["kcd"]) < 5 * out["kcd_std"] + 1e-6


# ---------------------------------------------------------------------------------------------- clustering

def test_cluster_accuracy_is_the_best_permutation_by_brute_force_and_matches_scipy():
    from scipy.optimize import linear_sum_assignment

    rng = np.random.default_rng(7)
    for trial in range(5):
        k = 4
        y = rng.integers(0, k, 60)
        c = np.where(rng.random(60) < 0.6, (y + trial) % k, rng.integers(0, k, 60))
        brute = max(np.mean(np.array(perm)[c] == y) for perm in itertools.permutations(range(k)))
        assert cluster_accuracy(y, c) == pytest.approx(brute, abs=1e-12)
        table = np.zeros((k, k))
        np.add.at(table, (c, y), 1)
        r, s = linear_sum_assignment(-table)
        assert cluster_accuracy(y, c) == pytest.approx(table[r, s].sum() / 60, abs=1e-12)
    assert cluster_accuracy([0, 0, 1, 1], [5, 5, 7, 7]) == 1.0
    assert cluster_purity([0, 1, 0, 1], [0, 0, 0, 0]) == 0.5


@pytest.mark.parametrize("seed", range(4))
def test_nmi_and_ari_equal_sklearn(seed):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, 200)
    c = np.where(rng.random(200) < 0.5, y, rng.integers(0, 7, 200))
    assert normalized_mutual_info(y, c) == pytest.approx(normalized_mutual_info_score(y, c), abs=1e-12)
    assert adjusted_rand_index(y, c) == pytest.approx(adjusted_rand_score(y, c), abs=1e-12)
    for a, b in [([0, 0, 0], [1, 1, 1]), ([0, 1, 2], [0, 0, 0]), ([0, 0, 1, 1], [0, 1, 0, 1]), ([1, 2], [1, 2])]:
        assert normalized_mutual_info(a, b) == pytest.approx(normalized_mutual_info_score(a, b), abs=1e-12)
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


def test_clustering_metric_finds_separated_generated_modes():
    ev = IntensityEvaluator(classes=3)
    data = image_bundle(n=30, evaluator=ev, uint8=False)
    fake = intensity_images(torch.arange(300) % 3, 3, noise=0.02)
    out = Clustering(n_init=2)(fake, data)
    assert out == {"cluster_acc": 1.0, "cluster_purity": 1.0, "cluster_nmi": pytest.approx(1.0),
                   "cluster_ari": 1.0}
    collapsed = intensity_images(torch.zeros(300, dtype=torch.long), 3, noise=0.05)  # one mode, 3 clusters
    out = Clustering(n_init=2)(collapsed, data)
    assert out["cluster_acc"] < 0.5 and out["cluster_nmi"] == 0.0


# ---------------------------------------------------------------------------------------------- plumbing

def test_every_classifier_metric_classifies_the_generated_images_once():
    ev = TinyEvaluator()
    data = image_bundle(n=100, evaluator=ev)
    fake = torch.rand(80, 1, 8, 8) * 2 - 1
    cache = memory_cache()  # one evaluation: the metrics share its features
    for metric in (ClassCounts(), FID(reference="train"), InceptionScore(splits=2), PrecisionRecall(),
                   Clustering(n_init=1)):
        metric(fake, data, cache)
    # generated images once per output; real images once (FID's statistics and P/R share the features)
    assert ev.calls["logits"] == 80
    assert ev.calls["features"] == 80 + 100
    KID(reference="train", subsets=2, subset_size=50)(fake, data, cache)
    PartialRecall(subgroup=[1])(fake, data, cache)  # subsets are sliced from the cached features
    assert ev.calls["features"] == 80 + 100
    ClassCounts()(fake, data)  # called without the evaluation's cache: it makes its own and computes again
    assert ev.calls["logits"] == 2 * 80


def test_an_evaluator_with_a_joint_pass_runs_once_per_image_and_gives_the_same_numbers():
    class Joint(TinyEvaluator):
        def features_and_logits(self, x):
            self.calls["joint"] = self.calls.get("joint", 0) + x.shape[0]
            f = self.body(x)
            return f, self.head(f)

    fake = torch.rand(80, 1, 8, 8) * 2 - 1
    results = []
    for ev in (TinyEvaluator(), Joint()):
        data = image_bundle(n=100, evaluator=ev)
        cache = memory_cache()
        out = {**ClassCounts()(fake, data, cache), **FID(reference="train")(fake, data, cache)}
        results.append({k: v for k, v in out.items() if k != "evaluator"})
    assert ev.calls == {"features": 0, "logits": 0, "joint": 180}
    assert results[1]["class_counts"] == results[0]["class_counts"]
    assert results[1]["fcd"] == pytest.approx(results[0]["fcd"], rel=1e-9)


def test_the_metrics_evaluator_is_the_datasets_own_unless_the_features_config_names_one():
    data = image_bundle(n=20, name="no_evaluator")
    with pytest.raises(ConfigError, match="no evaluator"):
        ClassCounts()(torch.zeros(4, 1, 8, 8), data)
    named = Given(IntensityEvaluator(classes=3))
    assert ClassCounts()(torch.zeros(4, 1, 8, 8), data, memory_cache(evaluator=named))["evaluator"] == "intensity"
    data = image_bundle(n=20, evaluator=TinyEvaluator())
    assert ClassCounts()(torch.zeros(4, 1, 8, 8), data)["evaluator"] == "tiny_cnn"  # the dataset's own
    # a config node wins over the dataset's own, and is loaded once for the extractor's lifetime (the run)
    extractor = FeatureExtractor(evaluator=named, cache_dir=False)
    for _ in range(2):
        assert ClassCounts()(torch.zeros(4, 1, 8, 8), data, FeatureCache(extractor))["evaluator"] == "intensity"
    assert named.loads == 2  # one per extractor above, not one per call
    with pytest.raises(ConfigError, match="evaluator config node"):  # no dotted strings resolved at run time
        FeatureExtractor(evaluator="image_helpers.TinyEvaluator")


@pytest.mark.parametrize("make, message", [
    (lambda: FeatureExtractor(space="fancy"), "space"),
    (lambda: FID(reference="everything"), "reference"),
    (lambda: PrecisionRecall(k=0), "k"),
    (lambda: KID(subsets=0), "subsets"),
    (lambda: PartialRecall(subgroup=[]), "subgroup"),
    (lambda: FeatureExtractor(per_channel="sometimes"), "per_channel"),
    (lambda: FeatureExtractor(cache_dir=3), "cache_dir"),
    (lambda: Clustering(n_clusters=1), "n_clusters"),
])
def test_invalid_fields_are_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_image_metrics_refuse_toy_data_and_wrong_shapes():
    data = image_bundle(n=20, evaluator=TinyEvaluator())
    with pytest.raises(ValueError, match="shape"):
        ClassCounts()(torch.zeros(5, 3, 8, 8), data)
    data.kind = "toy"
    with pytest.raises(ConfigError, match="metrics=toy"):
        ClassCounts()(torch.zeros(5, 1, 8, 8), data)
