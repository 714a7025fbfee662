"""How image metrics plug into the run: per-metric sample counts, final-only metrics, compatibility checks,
plots and the metrics configs."""
from __future__ import annotations

import pytest
import torch
from image_helpers import TinyEvaluator, image_bundle
from omegaconf import OmegaConf

from engine import figures, run
from conftest import compose_run
from core.errors import ConfigError
from engine.evaluation import Evaluator


class _Method:
    def __init__(self):
        self.asked = []

    def generate(self, n, generator=None):
        self.asked.append(n)
        return torch.arange(n, dtype=torch.float32).reshape(1, n, 1, 1, 1).expand(1, n, 1, 8, 8).contiguous()


class _Seen:
    def __init__(self, n_samples=None, final_only=False):
        if n_samples is not None:
            self.n_samples = n_samples
        self.final_only = final_only
        self.seen = []

    def __call__(self, fake, data, cache=None):
        self.seen.append(fake.shape[0])
        return {}


def test_evaluator_draws_the_largest_request_and_skips_final_only_metrics_periodically():
    ev = Evaluator(OmegaConf.create({"n_samples": 10}))
    plain, big = _Seen(), _Seen(n_samples=25, final_only=True)
    ev.metrics = {"plain": plain, "big": big}
    method = _Method()
    _, fake, _ = ev(method, None, torch.Generator(), final=False)
    assert method.asked == [10] and plain.seen == [10] and big.seen == [] and fake.shape[1] == 10
    _, fake, _ = ev(method, None, torch.Generator())
    assert method.asked[-1] == 25 and plain.seen[-1] == 10 and big.seen == [25] and fake.shape[1] == 10


def test_every_image_metric_runs_through_the_evaluator_and_records_json(tmp_path):
    import json

    cfg, _ = compose_run(["metrics=images_fast", "metrics.features.space=classifier", "metrics.n_samples=150",
                          "metrics.features.evaluator={_target_:image_helpers.TinySpec}",
                          f"metrics.features.cache_dir={tmp_path}",
                          "metrics.kid.subset_size=50", "metrics.clustering.n_init=1",
                          "metrics.reconstruction.n_train=200", "metrics.reconstruction.epochs=1"])
    evaluator = Evaluator(cfg.metrics)
    data = image_bundle(n=240, counts=[120, 90, 30], minority=(2,))

    class Method:
        def generate(self, n, generator=None):
            return torch.rand(1, n, 1, 8, 8, generator=generator) * 2 - 1

    results, fake, _ = evaluator(Method(), data, torch.Generator().manual_seed(0))
    record = json.loads(json.dumps(results[0]))
    assert fake.shape == (1, 150, 1, 8, 8)
    for key in ("class_counts", "kl_classes", "fcd", "kcd", "classifier_score", "precision", "recall", "density",
                "coverage", "partial_recall_minority", "partial_recall_majority", "cluster_acc", "cluster_nmi",
                "cluster_ari", "re_minority", "re_majority", "re_all"):
        assert key in record, key
    assert record["fid_feature_space"] == record["kid_feature_space"] == record["prdc_feature_space"] == "tiny_cnn"
    assert sum(record["class_counts"]) + record["other_count"] == 150
    network = evaluator.features.evaluator.evaluator
    real_passes = network.calls["features"] - 150  # the generated batch once (its features are shared)
    periodic, _, _ = evaluator(Method(), data, torch.Generator().manual_seed(0), final=False)
    assert "re_all" not in periodic[0] and "fcd" in periodic[0]
    # a later evaluation computes its own batch's features; the real reference statistics are the run's
    assert network.calls["features"] == 150 + real_passes + 150 and evaluator.features.evaluator.loads == 1


def test_image_metrics_with_toy_data_stop_before_training():
    cfg, _ = compose_run(["metrics=images"])
    with pytest.raises(ConfigError, match="metrics=toy"):
        run.build_components(cfg)


@pytest.mark.parametrize("option", ["images", "images_fast", "images_stacked"])
def test_image_metric_configs_compose_and_instantiate(option):
    cfg, choices = compose_run([f"metrics={option}", "metrics.features.space=classifier",
                                "+evaluator@metrics.features.evaluator=mnist_cnn"])
    evaluator = Evaluator(cfg.metrics)
    assert choices["metrics"] == option
    # one feature extractor for every metric: one override changes them all, no metric node repeats it
    assert evaluator.features.space == "classifier" and evaluator.features.evaluator.name == "mnist_cnn"
    assert evaluator.features.per_channel == (True if option == "images_stacked" else "auto")
    assert "features" not in evaluator.metrics
    for name, node in cfg.metrics.items():
        if name != "features" and OmegaConf.is_dict(node):
            assert not {"feature_space", "evaluator", "per_channel", "inception_weights", "cache_dir"} & set(node)
    assert ("clustering" in evaluator.metrics) == (option != "images_stacked")


def test_image_metrics_default_to_the_papers_budgets():
    cfg, _ = compose_run(["metrics=images"])
    m = Evaluator(cfg.metrics).metrics
    assert cfg.metrics.n_samples == 10000
    assert (m["reconstruction"].n_train, m["reconstruction"].epochs, m["reconstruction"].batch_size) == (50000, 50, 128)
    assert m["precision_recall"].k == m["partial_recall"].k == 3 and m["precision_recall"].reference_size == 10000
    assert m["fid"].reference == "balanced" and (m["kid"].subsets, m["kid"].subset_size) == (100, 1000)
    assert m["inception_score"].splits == 10 and Evaluator(cfg.metrics).features.space == "auto"


def test_image_runs_save_sample_grids_and_class_histograms(tmp_path):
    cfg = OmegaConf.create({"plots": {"enabled": True, "replicas": 2}, "experiment_name": "test"})
    data = image_bundle(n=150, counts=[100, 40, 10], evaluator=TinyEvaluator())
    fake = torch.rand(2, 120, 1, 8, 8) * 2 - 1
    results = [{"class_counts": [60, 40, 15], "other_count": 5}, {"fid": 1.0}]
    images = figures.run_figures(cfg, tmp_path, data, None, fake, results, [3, 4])
    assert set(images) == {"samples/seed3", "classes/seed3", "samples/seed4"}
    for path in images.values():
        assert path.is_file() and path.stat().st_size > 1000
    assert figures.run_figures(OmegaConf.create({"plots": {"enabled": False, "replicas": 1}, "experiment_name": "t"}),
                               tmp_path, data, None, fake, results, [3, 4]) == {}


def test_rgb_and_uint8_grids():
    from metrics.image_plots import tile

    x = torch.randint(0, 256, (7, 3, 5, 5), dtype=torch.uint8)
    grid = tile(x, side=3, pad=1)
    assert grid.shape == (3 * 6 + 1, 3 * 6 + 1, 3)
    assert grid[1:6, 1:6].tolist() == (x[0].permute(1, 2, 0).float() / 255).tolist()
