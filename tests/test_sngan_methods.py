"""Every method of the suite on SNGAN / SSGAN (small widths) and small CIFAR-10-shaped data on CPU: a few training
steps (Dia-GAN through its phase boundary), samples, and refusals for the methods that only apply to flat toy
samples; one run through run.py with metrics; and every image preset and sweep job composes and builds."""
import glob
from pathlib import Path

import pytest
import torch

from conftest import QUICK, compose_run
from core.errors import ConfigError
from data_helpers import write_cifar10
from engine.build import build_components, build_method
from engine.run import execute

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["gan=sngan32", "gan.ngf=8", "gan.ndf=8", "metrics=none", "trainer.batch_size=8", "trainer.steps=4",
         "trainer.update_scheme=alternating", "trainer.n_dis=2", "dataset=cifar10_06", "dataset.source=torchvision"]
TINY_EVALUATOR = ["dataset.evaluator.arch.depth=8", "dataset.evaluator.arch.width=4", "dataset.evaluator.epochs=1",
                  "dataset.evaluator.floor.torchvision=0.0", "dataset.evaluator.batch_size=16"]
DRS = ["method.drs.burn_in=2", "method.drs.batch_size=32"]  # DRS's set-up at a test's scale
METHODS = {
    "vanilla": [], "drs": DRS, "gold": DRS, "gold_drs": DRS, "topk": DRS, "topk_drs": DRS, "bures": [], "pacgan": [],
    "iwgan": [], "iwmmdgan": [], "mwugan": ["method.num_generators=2", "method.density=discriminator"], "unrolled": ["method.unroll_steps=1"],
    "diagan": ["method.record_every=1", *DRS],
    "dia-hingegan": ["method=diagan", "loss=hinge", "method.record_every=1", *DRS],
    "rls_discr": ["sampler.sketch_dim=4"], "rls_bures_discr": ["sampler.sketch_dim=4"],
    "rls_class": ["sampler.k=4", "sampler.reduction=sketch", *TINY_EVALUATOR],
    "rls_bures_class": ["sampler.k=4", "sampler.reduction=sketch", *TINY_EVALUATOR],
    "ssgan-vanilla": ["method=vanilla", "gan=ssgan32"],
    "ssgan-diagan": ["method=diagan", "gan=ssgan32", "method.record_every=1", *DRS],
    "augmented-diagan": ["method=diagan", "augment=diffaugment", "method.record_every=1", *DRS],
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    write_cifar10(tmp_path, per_class_train=12, per_class_test=2, monkeypatch=monkeypatch)
    return tmp_path


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_trains_on_sngan(cifar_root, name):
    method_name = name if not any(o.startswith("method=") for o in METHODS[name]) else []
    overrides = QUICK + [f"data.root={cifar_root}", *SMALL, *([f"method={method_name}"] if method_name else []),
                         *METHODS[name]]
    cfg, _ = compose_run(overrides)
    method, data = build_method(cfg, replicas=2)
    for step in range(method.planned_steps(cfg.trainer.steps)):
        method.train_step(step)
    assert torch.isfinite(method.loss_d).all() and torch.isfinite(method.loss_g).all()
    samples = method.generate(16, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, 16, 3, 32, 32) and torch.isfinite(samples).all()
    if name.endswith("diagan"):
        assert method.phase == 2 and method.aux_D is not None  # through the phase boundary


@pytest.mark.parametrize("method", ["diwgan", "veegan", "rls_gauss", "rls_bures_gauss", "rls_mwugan"])
def test_toy_only_methods_are_refused_on_images_before_training(cifar_root, method):
    cfg, _ = compose_run(QUICK + [f"data.root={cifar_root}", *SMALL, f"method={method}"])
    with pytest.raises(ConfigError, match="toy|flat|low-dimensional"):
        build_method(cfg, replicas=1)


def test_dia_gan_on_sngan_through_run_py_with_metrics(cifar_root):
    cfg, choices = compose_run(QUICK + [f"data.root={cifar_root}", *SMALL, "method=diagan", "method.record_every=1",
                                        "metrics=images_fast", "metrics.n_samples=64", "metrics.features.space=classifier",
                                        "metrics.kid=null", "metrics.clustering=null", "metrics.reconstruction=null",
                                        "metrics.class_counts=null", "metrics.partial_recall=null",
                                        "+metrics.precision_recall.n_samples=32", "trainer.replicas=2",
                                        "trainer.lr_decay=linear", *DRS, *TINY_EVALUATOR])
    records = execute(cfg, choices, cifar_root / "run")
    assert [r["status"] for r in records] == ["completed", "completed"]
    for r in records:
        assert {"fcd", "precision", "recall", "classifier_score"} <= set(r["metrics"])
        assert r["diagnostics"]["phase2_step"] == 3 and 0 < r["diagnostics"]["drs_acceptance"] <= 1
    assert records[0]["metrics"]["fcd"] != records[1]["metrics"]["fcd"]  # independent replicas


def _sweep_jobs():
    from sweeps.run import build_parser, jobs_of, load_spec, plan

    for name in ["diagan_cifar10", "diagan_cifar10_ssgan", "diagan_celeba", "diagan_celeba_ssgan", "diagan_table6",
                 "diagan_cifar10_hinge", "diagan_celeba_hinge", "rls_cifar10_sngan"]:
        spec = load_spec(name)
        jobs = jobs_of(plan(spec, build_parser().parse_args([name]))[0])
        for i, job in enumerate(jobs):  # the first job of every sweep in the default run, all of them with -m slow
            yield pytest.param(job.overrides, id=f"{name}:{job.name}", marks=() if i == 0 else pytest.mark.slow)


@pytest.mark.parametrize("overrides", list(_sweep_jobs()))
def test_every_image_preset_job_composes_and_builds(overrides):
    cfg, _ = compose_run(overrides)
    parts = build_components(cfg)  # every group instantiated and checked, no data loaded
    assert parts.trainer.steps in (50000, 75000) and parts.trainer.n_dis == 5 and parts.trainer.lr_decay == "linear"
    assert type(parts.gan).__name__ in ("SNGAN", "SSGAN") and parts.gan.resolution == cfg.dataset.size


def test_paper_files_of_the_image_tables_load():
    from sweeps.paper import load_paper

    for path in glob.glob(str(ROOT / "sweeps" / "paper" / "diagan_*.yaml")):
        table = load_paper(path)
        assert table.rows and all(v[1] is None for r in table.rows for v in r.values.values())
    table2 = load_paper(ROOT / "sweeps" / "paper" / "diagan_cifar10.yaml")
    assert table2.row("cifar10", "diagan").values == {"fid": (19.66, None), "is": (7.95, None)}
    assert table2.row("cifar10", "vanilla").values == {"fid": (26.90, None), "is": (7.36, None)}
