"""The dataset's kind chooses the default metrics group; an explicit ``metrics=...`` still wins."""
import pytest

from conftest import compose_run
from engine.build import build_components


@pytest.mark.parametrize("dataset, expected", [
    ("ring", "toy"), ("grid", "toy"), ("mog1d", "toy"),
    ("mnist", "images"), ("mnist012_unbalanced", "images"), ("cifar10_06", "images"), ("celeba", "images"),
    ("rumi_fmnist", "images"), ("stacked_mnist", "images_stacked"), ("synthetic_cifar10", "none"),
])
def test_the_dataset_kind_picks_the_default_metrics(dataset, expected):
    _, choices = compose_run([f"dataset={dataset}"])
    assert choices["metrics"] == expected


def test_image_data_builds_without_naming_a_metrics_group():
    cfg, choices = compose_run(["dataset=mnist012_unbalanced", "gan=dcgan", "method=rls_class", "logger=none"])
    parts = build_components(cfg)  # the toy metrics would stop here: ModeCoverage needs a mixture
    assert choices["metrics"] == "images"
    assert "modes" not in parts.evaluator.metrics and "class_counts" in parts.evaluator.metrics


@pytest.mark.parametrize("overrides, expected", [
    (["dataset=mnist012_unbalanced", "metrics=mnist_classes"], "mnist_classes"),
    (["dataset=mnist", "metrics=images_fast"], "images_fast"),
    (["experiment=rls_mnist012_cpu"], "mnist_classes"),
    (["experiment=rls_mnist012_cpu", "metrics=images_fast"], "images_fast"),
    (["experiment=rls_table1"], "toy"),
])
def test_an_explicit_metrics_choice_wins(overrides, expected):
    _, choices = compose_run(overrides)
    assert choices["metrics"] == expected
