"""Every method of issue 15 runs a few steps end to end through run.py (engine.run.execute) on the toy
positive/negative ring and on the offline MNIST minority split; bad combinations fail before training."""
import math

import pytest

from conftest import QUICK, build_method, compose_run
from data_helpers import TINY_EVALUATOR, shared_root
from core.errors import ConfigError
from engine.build import build_components
from engine.run import execute

FAST = ["trainer.threads=1", "trainer.steps=20", "trainer.batch_size=32"]
TOY = QUICK + FAST + ["dataset=rumi_ring", "metrics=rumi_toy", "metrics.prd.num_runs=1", "metrics.prd.num_angles=101"]
IMAGES = QUICK + FAST + [
    "trainer.steps=3", "trainer.batch_size=16", "dataset=rumi_mnist", "dataset.source=mnist5k",
    "dataset.num_few=20", "gan=rumi_mnist", "metrics=rumi", "metrics.n_samples=64", "metrics.features.space=classifier",
    "metrics.prd.num_runs=1", "metrics.prd.num_clusters=5", "metrics.prd.num_angles=101", *TINY_EVALUATOR]

METHODS = {
    "rumi_lsgan": ["method=rumi_lsgan"],
    "rumi_lsgan-paper-labels": ["method=rumi_lsgan", "loss=rumi_lsgan_paper"],
    "rumi_lsgan-split": ["method=rumi_lsgan", "method.d_updates=split", "trainer.update_scheme=alternating"],
    "rumi_lsgan-rls": ["method=rumi_lsgan", "sampler=rls_gauss"],
    "rumi_sgan": ["method=rumi_sgan"],
    "rumi_sgan-code-form": ["method=rumi_sgan", "loss.form=code", "loss.alpha_pos=2.5", "loss.alpha_neg=0.5"],
    "lsgan": ["method=lsgan"],
    "acgan": ["method=acgan"],
    "cgan_pd": ["method=cgan_pd"],
    "tacgan": ["method=tacgan"],
}
IMAGE_METHODS = ["rumi_lsgan", "rumi_sgan", "lsgan", "acgan", "cgan_pd", "tacgan"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_methods_run_on_the_toy_split(tmp_path, name):
    cfg, choices = compose_run(TOY + METHODS[name] + ["trainer.replicas=2"])
    records = execute(cfg, choices, tmp_path / name)
    assert [r["status"] for r in records] == ["completed", "completed"]
    for r in records:
        m = r["metrics"]
        assert 0 <= m["negative_share"] <= 1 and 0 <= m["positive_share"] <= 1 - m["negative_share"] + 1e-12
        assert 0 <= m["positive_covered"] <= 4 and 0 <= m["minority_positive_covered"] <= 2
        assert 0 <= m["prd_f8"] <= 1 and len(m["prd_precision"]) == 101
    assert records[0]["metrics"] != records[1]["metrics"]


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_methods_run_on_the_offline_mnist_minority_split(tmp_path, name):
    cfg, choices = compose_run(IMAGES + [f"data.root={shared_root()}", *METHODS[name]])
    (record,) = execute(cfg, choices, tmp_path / name)
    assert record["status"] == "completed" and record["timing"]["steps"] == 3
    m = record["metrics"]
    assert sum(m["class_counts"]) == 64
    assert math.isclose(m["negative_share"], sum(m["class_counts"][c] for c in range(10) if c != 5) / 64)
    assert math.isfinite(m["fcd"]) and 0 <= m["prd_f8"] <= 1


@pytest.mark.parametrize("overrides, words", [
    (["dataset=ring", "method=rumi_lsgan"], "positive/negative split"),
    (["dataset=ring", "method=lsgan"], "positive/negative split"),
    (["dataset=ring", "method=rumi_lsgan", "metrics=rumi_toy"], "positive/negative split"),
    (["dataset=rumi_ring", "method=rumi_lsgan", "loss=lsgan"], "loss=rumi_lsgan"),
    (["dataset=rumi_ring", "method=rumi_lsgan", "method.d_updates=split"], "trainer.update_scheme=alternating"),
    (["dataset=rumi_ring", "method=rumi_lsgan", "loss.a=1.5"], "loss.a"),
    (["dataset=rumi_ring", "method=rumi_lsgan", "loss.beta_neg=0"], "loss.beta_neg"),
    (["dataset=rumi_ring", "method=acgan", "method.pack=2"], "pack"),
    (["dataset=rumi_ring", "method=acgan", "loss=wgan_gp"], "loss=ns, lsgan or hinge"),
])
def test_bad_combinations_fail_before_training_naming_the_fix(overrides, words):
    cfg, _ = compose_run(QUICK + overrides)
    with pytest.raises(ConfigError, match=words):
        build_components(cfg)


@pytest.mark.parametrize("name", ["acgan", "cgan_pd", "tacgan"])
def test_a_conditional_method_refuses_data_with_a_single_class_before_training(name):
    one_mode = ["dataset=ring", "dataset.num_modes=1", "dataset.minority=[]", "dataset.minority_factor=1"]
    with pytest.raises(ConfigError, match="needs class labels of at least 2 classes; dataset 'ring' has 1"):
        build_method(one_mode + [f"method={name}"])
