"""Every method of issue 4 runs a few steps end to end through run.py, with two replicas."""
import math

import numpy as np
import pytest
from scipy import stats

from conftest import QUICK, compose_run
from engine.build import build_components
from engine.run import execute

CASES = {
    "drs": ["method=drs"],
    "gold": ["method=gold"],
    "gold+drs": ["method=gold", "method.drs.enabled=true"],
    "topk": ["method=topk"],
    "topk-hinge": ["method=topk", "loss=hinge"],
    "diagan": ["method=diagan"],
    "diagan-alternating": ["method=diagan", "trainer.update_scheme=alternating"],
    "dia-hingegan": ["method=diagan", "loss=hinge"],
    "unrolled": ["method=unrolled", "trainer.steps=60"],
    "unrolled-alternating": ["method=unrolled", "trainer.update_scheme=alternating", "trainer.steps=60"],
    "veegan": ["method=veegan"],
    "veegan-alternating": ["method=veegan", "trainer.update_scheme=alternating"],
    "diwgan": ["method=diwgan", "method.ae_steps=200", "method.progress=false", "dataset.n=2000"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_method_runs_with_two_replicas(tmp_path, name):
    cfg, choices = compose_run(QUICK + CASES[name] + ["trainer.replicas=2", "seed=3"])
    records = execute(cfg, choices, tmp_path / name)
    assert [r["seed"] for r in records] == [3, 4]
    assert all(r["status"] == "completed" for r in records)
    for r in records:
        assert {"nb_modes", "hq_fraction", "jsd"} <= set(r["metrics"])
        assert 0.0 <= r["metrics"]["jsd"] <= math.log(2) + 1e-9
    assert records[0]["metrics"] != records[1]["metrics"]  # independent replicas


def test_dia_hingegan_records_the_raw_hinge_output(tmp_path):
    cfg, choices = compose_run(QUICK + ["method=diagan", "loss=hinge", "method.phase1_fraction=1.0"])
    records = execute(cfg, choices, tmp_path / "hinge")
    assert records[0]["diagnostics"]["phase2_step"] is None  # phase 1 only
    assert "drs_acceptance" not in records[0]["diagnostics"]  # no auxiliary D without phase 2: no DRS


def test_minority_samples_have_higher_ldrv_on_average_over_seeds(tmp_path):
    """Dia-GAN Table 1 (Gaussian): the minor group (the 10% tail of N(0, 9 I)) has a higher LDRV than the major
    group. Four fixed seeds, trained together; one-sided paired t-test on log(LDRV_minor / LDRV_major)."""
    cfg, choices = compose_run(QUICK + [
        "dataset=gaussian_minority", "method=diagan", "method.phase1_fraction=1.0", "method.record_every=15",
        "trainer.steps=1500", "trainer.replicas=4", "seed=0", "metrics.modes=null", "metrics.jsd=null",
        "metrics.key_metric=null"])
    records = execute(cfg, choices, tmp_path / "minority")
    ldrv = np.array([r["diagnostics"]["ldrv_per_mode"] for r in records])  # (seeds, [major, minor])
    log_ratio = np.log(ldrv[:, 1] / ldrv[:, 0])
    assert log_ratio.mean() > np.log(1.3)
    assert stats.ttest_1samp(log_ratio, 0.0, alternative="greater").pvalue < 0.01


@pytest.mark.parametrize("overrides, words", [
    (["method=diagan", "method.pack=2"], "pack=1"),
    (["method=gold", "method.start_fraction=2"], "start_fraction"),
    (["method=topk", "method.min_rate=0"], "min_rate"),
    (["method=diwgan", "method.n_targets=100"], "n_targets=100"),
])
def test_bad_method_configs_raise_our_config_error_before_training(overrides, words):
    """Our ConfigError comes through (not hydra's InstantiationException around it), naming the field."""
    from core.errors import ConfigError

    cfg, _ = compose_run(QUICK + overrides)
    with pytest.raises(ConfigError, match=words):
        build_components(cfg)
