"""The one-command Table 1 sweep (sweeps/run.py): its job list, and a tiny sweep that runs, skips and compares."""
import json

from sweeps import run as sweep

from conftest import ROOT


def test_the_table1_sweep_covers_every_row_and_dataset_at_the_paper_budget(capsys):
    spec = sweep.load_spec("rls_table1")
    args = sweep.build_parser().parse_args(["rls_table1"])
    multiruns, out, board, info = sweep.plan(spec, args)
    jobs = sweep.jobs_of(multiruns)
    assert len(jobs) == 22 and {j.dataset for j in jobs} == {"ring", "grid"} and len({j.method for j in jobs}) == 11
    assert out == ROOT / "multirun" / "rls_table1" and board == ROOT / "docs" / "rls_table1"
    job = next(j for j in jobs if j.name == "grid/mwugan")
    assert {"experiment=rls_table1", "trainer.threads=1", "dataset=grid", "method=mwugan"} <= set(job.overrides)
    # the experiment's 30k steps and 10 seeds (replicas of seed 0): no override, so the folder is <out>/grid/mwugan
    assert not any(o.startswith(("trainer.steps=", "trainer.replicas=", "seed=")) for o in job.overrides)
    assert job.run_dir == out / "grid" / "mwugan"
    cfg = job.planned.cfg
    assert cfg.trainer.steps == 30000 and cfg.trainer.replicas == 10 and cfg.seed == 0
    assert cfg.method.num_generators == 15 and cfg.trainer.batch_size == 64
    # reduced budgets get their own folder, so they never overwrite the paper-budget runs
    small = sweep.plan(spec, sweep.build_parser().parse_args(["rls_table1", "--steps", "300", "--seeds", "2"]))
    assert small[1].name == "rls_table1_steps300_seeds2" and "trainer.steps=300" in small[0][0].jobs[0].overrides
    # longest jobs first: the two MWU rows lead the queue, and the multirun runs the methods in that order
    assert sweep.main(["rls_table1", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    listed = [line.split()[1] for line in printed.splitlines() if line.startswith("  ")]
    assert len(listed) == 22 and {listed[0].split("/")[1], listed[3].split("/")[1]} <= {"mwugan", "rls_mwugan"}
    assert "command: python run.py -m method=rls_mwugan,mwugan,rls_bures_discr," in printed


def test_a_tiny_sweep_runs_skips_when_done_and_builds_the_comparison(tmp_path, capfd):
    out, board = tmp_path / "sweep", tmp_path / "board" / "t1"
    argv = ["rls_table1", "--methods", "vanilla", "iwgan", "--datasets", "ring", "--steps", "30", "--seeds", "2",
            "--out", str(out), "--board", str(board), "metrics.n_samples=1000", "trainer.eval_every=0"]
    assert sweep.main(argv) == 0
    printed = capfd.readouterr().out  # the comparison once, at the end: the multirun's own table is turned off
    assert "leaderboard of this multirun" not in printed and printed.count("## rls_table1: ours vs the paper") == 1
    for method in ("vanilla", "iwgan"):
        records = json.loads(next((out / "ring" / method).rglob("results.json")).read_text())["records"]
        assert [r["seed"] for r in records] == [0, 1] and records[0]["timing"]["steps"] == 30
    md = board.with_suffix(".md").read_text()
    assert "| GAN |" in md and "| IwGAN |" in md and "30 steps x batch 64" in md
    assert board.with_suffix(".html").exists() and board.with_suffix(".csv").exists()
    assert sweep.main(argv + ["--note", "rows checked by hand"]) == 0  # all finished: no job is started again
    for method in ("vanilla", "iwgan"):
        log = next((out / "ring" / method).rglob("run.log")).read_text()
        assert log.count("[modebench] rls_table1: dataset=ring") == 1 and "results in" in log
    state = json.loads((out / "sweep.json").read_text())
    vanilla = [job for name, job in state["jobs"].items() if name.startswith("ring/vanilla")]  # <dataset>/<method>/...
    assert len(state["invocations"]) == 2 and len(vanilla) == 1 and vanilla[0]["status"] == "finished"
    header = board.with_suffix(".md").read_text().split("### dataset")[0]
    assert header.count("- command: `python -m sweeps.run rls_table1") == 2  # both invocations' commands
    assert "- note: rows checked by hand" in header and state["notes"] == ["rows checked by hand"]


def test_the_diw_sweep_runs_the_paper_table_with_its_metric_columns(tmp_path):
    spec = sweep.load_spec("diw_table1")
    multiruns, out, board, _ = sweep.plan(spec, sweep.build_parser().parse_args(["diw_table1"]))
    jobs = sweep.jobs_of(multiruns)
    assert len(jobs) == 12 and out == ROOT / "multirun" / "diw_table1" and board == ROOT / "docs" / "diw_table1"
    cfg = jobs[0].planned.cfg
    assert cfg.trainer.steps == 25000 and cfg.trainer.replicas == 5 and cfg.metrics.n_samples == 2500
    out, board = tmp_path / "sweep", tmp_path / "board" / "diw"
    argv = ["diw_table1", "--methods", "veegan", "--datasets", "ring_veegan", "--steps", "20", "--seeds", "1",
            "--out", str(out), "--board", str(board), "metrics.n_samples=500", "trainer.eval_every=0"]
    assert sweep.main(argv) == 0
    table = board.with_suffix(".md").read_text().split("### dataset: ring_veegan")[1]
    header = table.strip().splitlines()[0]
    assert "Modes" in header and "% HQS" in header and "JSD" in header and "kl_modes" not in header


def test_the_dry_run_projects_the_time_of_the_budget_it_would_run(capsys):
    """The spec's base_seconds and costs are at its budget (30k steps, 10 seeds); the projection scales with both."""
    def projected(*extra) -> int:
        argv = ["rls_table1", "--methods", "vanilla", "mwugan", "--datasets", "ring", "--jobs", "2", "--dry-run"]
        assert sweep.main([*argv, *extra]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("projected"))
        hours, minutes, seconds = line.split("longest first: ")[1].split()[0].split(":")
        return 3600 * int(hours) + 60 * int(minutes) + int(seconds)

    full = projected()
    assert abs(full - 194 * 15.6) <= 1  # two jobs on two workers: the MwuGAN job's time
    assert abs(projected("--steps", "2000", "--seeds", "3") - full * 2000 / 30000 * 3 / 10) <= 1



def test_every_sweep_spec_names_an_experiment_with_the_table_layout():
    """sweeps.run and `run.py -m` must agree on run folders: <out>/<dataset>/<method>[/<axes>] for every table."""
    import yaml

    from conftest import compose

    for path in sorted((ROOT / "sweeps").glob("*.yaml")):
        experiment = yaml.safe_load(path.read_text())["experiment"]
        subdir = compose([f"experiment={experiment}"]).hydra.sweep._get_node("subdir")._value()
        assert str(subdir).startswith("${hydra:runtime.choices.dataset}/${hydra:runtime.choices.method}"), path.name
