"""The RLS Table 4 preset and sweep (rls_cifar10): its jobs across GAN families, the published numbers (single
runs, class-count columns), and the comparison table built from runs of two GAN families."""

import pytest
import torch

from conftest import QUICK, compose_run
from data_helpers import write_cifar10
from engine.run import execute
from sweeps import run as sweep
from sweeps.compare import compare_records
from sweeps.html_report import paper_page
from sweeps.paper import load_paper
from sweeps.paper_report import to_markdown
from sweeps.records import deduplicate, load_records
from test_stylegan2_runs import SMALL_STYLEGAN2, TINY_CIFAR_EVALUATOR

from conftest import ROOT


def test_the_sweep_runs_the_three_rows_on_both_datasets_with_each_gan_family(capsys):
    spec = sweep.load_spec("rls_cifar10")
    multiruns, out, board, info = sweep.plan(spec, sweep.build_parser().parse_args(["rls_cifar10"]))
    jobs = sweep.jobs_of(multiruns)
    assert len(multiruns) == 1 and multiruns[0].axes == ("method", "dataset", "gan")
    assert len(jobs) == 18 and {j.gan for j in jobs} == {"stylegan2", "sngan32", "dcgan32"}
    assert {j.method for j in jobs} == {"vanilla", "rls_discr", "rls_class"}
    assert {j.dataset for j in jobs} == {"cifar10_06", "cifar10_016"}
    assert {j.planned.cfg.gan._target_ for j in jobs if j.gan == "sngan32"} == {"gans.sngan.SNGAN"}
    job = next(j for j in jobs if j.name == "cifar10_016/rls_discr/gan=stylegan2")
    assert job.run_dir == out / "cifar10_016" / "rls_discr" / "gan=stylegan2" and board == ROOT / "docs" / "rls_cifar10"
    assert job.cost == 2.0 and next(j for j in jobs if j.name == "cifar10_06/vanilla/gan=dcgan32").cost == 0.02
    cfg = job.planned.cfg
    assert cfg.gan._target_ == "gans.stylegan2.StyleGAN2" and cfg.dataset.classes == [0, 1, 6]
    assert (cfg.trainer.steps, cfg.trainer.batch_size, cfg.trainer.update_scheme) == (156000, 32, "alternating")
    assert (cfg.sampler.sketch_dim, cfg.sampler.gamma, cfg.metrics.n_samples) == (25, 1e-4, 10000)
    assert cfg.gan.r1_gamma == 0.1 and cfg.gan.mapping_layers == 8 and cfg.loss._target_.endswith("NonSaturating")
    assert cfg.augment.policy == "color,translation,cutout" and cfg.gan.r1_inputs == "augmented"
    assert cfg.trainer.ema_decay == pytest.approx(0.5 ** (32 / 1e6))  # half-life 1,000 kimg at batch 32
    cls = next(j for j in jobs if j.name == "cifar10_06/rls_class/gan=dcgan32").planned.cfg
    assert cls.gan._target_ == "gans.dcgan.DCGAN32" and cls.sampler.features == "auto" and cls.sampler.k == 25
    assert cls.trainer.steps == 156000  # the same preset, another GAN family
    sn = next(j for j in jobs if j.name == "cifar10_06/vanilla/gan=sngan32").planned.cfg
    assert sn.gan._target_ == "gans.sngan.SNGAN" and sn.augment.policy == "color,translation,cutout"
    # one run.py -m command sweeps the GAN families, costliest first; finished families drop out of it
    assert multiruns[0].sweep[:3] == ["method=rls_discr,vanilla,rls_class", "dataset=cifar10_06,cifar10_016",
                                      "gan=stylegan2,sngan32,dcgan32"]
    for j in jobs:
        j.status = "finished" if j.gan == "dcgan32" or j.dataset == "cifar10_06" else "pending"
    assert sweep.remaining_sweep(multiruns[0])[:3] == ["method=rls_discr,vanilla,rls_class", "dataset=cifar10_016",
                                                       "gan=stylegan2,sngan32"]
    only = sweep.jobs_of(sweep.plan(spec, sweep.build_parser().parse_args(["rls_cifar10", "--gans", "dcgan32"]))[0])
    assert len(only) == 6 and {j.gan for j in only} == {"dcgan32"}
    assert sweep.main(["rls_cifar10", "--gans", "dcgan32", "--dry-run"]) == 0
    assert " gan=dcgan32 experiment=rls_cifar10 " in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown gan"):
        sweep.plan(spec, sweep.build_parser().parse_args(["rls_cifar10", "--gans", "nogan"]))
    with pytest.raises(SystemExit, match="no `gans` list"):
        sweep.plan(sweep.load_spec("rls_table1"), sweep.build_parser().parse_args(["rls_table1", "--gans", "mlp"]))
    with pytest.raises(SystemExit, match="pick families with --gans"):
        sweep.plan(spec, sweep.build_parser().parse_args(["rls_cifar10", "gan=dcgan32"]))
    with pytest.raises(SystemExit, match="trains one replica per process"):  # StyleGAN2 seeds are not replicas
        sweep.plan(spec, sweep.build_parser().parse_args(["rls_cifar10", "--seeds", "2"]))


def test_the_published_numbers_are_single_runs_with_class_count_columns():
    paper = load_paper(ROOT / "sweeps" / "paper" / "rls_cifar10.yaml")
    assert paper.runs == 1 and paper.datasets == ["cifar10_06", "cifar10_016"] and len(paper.rows) == 6
    row = paper.row("cifar10_016", "rls_class")
    assert row.proposed and row.values["class_counts[2]"][0] == 1155 and row.values["fid"][1] is None
    assert paper.row("cifar10_06", "vanilla").values.keys() == {"class_counts[0]", "class_counts[1]", "is", "fid"}


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_comparison_shows_each_paper_row_once_per_gan_family(tmp_path, monkeypatch, one_thread):
    root, out = tmp_path / "data", tmp_path / "sweep"
    write_cifar10(root, per_class_train=40, per_class_test=4, monkeypatch=monkeypatch)
    small = {"stylegan2": SMALL_STYLEGAN2, "dcgan32": ["gan=dcgan32"]}
    for gan, gan_overrides in small.items():
        for method in ("vanilla", "rls_discr"):
            cfg, choices = compose_run(QUICK + [
                "experiment=rls_cifar10", f"data.root={root}", *gan_overrides, *TINY_CIFAR_EVALUATOR,
                "dataset=cifar10_06", f"method={method}", "trainer.steps=2", "trainer.batch_size=8",
                "trainer.threads=1", "metrics=mnist_classes", "metrics.n_samples=32"])
            execute(cfg, choices, out / "cifar10_06" / method / f"gan={gan}")  # the table layout
    records, _ = deduplicate(load_records([out]))
    paper = load_paper(ROOT / "sweeps" / "paper" / "rls_cifar10.yaml")
    comp = compare_records(records, paper=paper)
    rows = comp.tables["cifar10_06"]
    assert [r.display for r in rows[:3]] == ["StyleGAN2 + Aug. [dcgan32]", "StyleGAN2 + Aug. [stylegan2]",
                                             "RLS StyleGAN2 + Aug. Disc. (proposed) [dcgan32]"]
    assert rows[-1].display == "RLS StyleGAN2 + Aug. Class. (proposed)" and rows[-1].row is None  # not run here
    cell = rows[1].cells["class_counts[0]"]
    assert cell.paper[0] == 261 and cell.outside is None  # no ± 2 std flag against a single published run
    assert cell.mean == rows[1].row.metrics["class_counts[0]"].mean is not None
    assert not [t for t in comp.tests if t.source == "paper"]  # no Welch test on single runs
    md = to_markdown(comp)
    assert "| 261 |" in md.replace("**", "") and "without a spread" in md and "Mode 1 (paper)" in md
    page = paper_page(comp, tmp_path / "board.html").read_text()  # the HTML page: one card per GAN family
    assert "StyleGAN2 + Aug. [dcgan32]" in page and "StyleGAN2 + Aug. [stylegan2]" in page
