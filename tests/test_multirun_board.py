"""The end of a multirun (sweeps.multirun_board.MultirunBoard, the Hydra callback of conf/config.yaml): the summary
line, then the leaderboard of the multirun's own run folders only; sweeps.run, which prints its own table at the
end, turns the callback's table off."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from omegaconf import OmegaConf

from conftest import ROOT
from engine.preflight import plan_jobs
from sweeps import run as sweep
from sweeps.multirun_board import MultirunBoard

TINY = ["method=vanilla,bures", "trainer=quick", "trainer.steps=20", "logger=none", "trainer.threads=1",
        "trainer.progress=false", "metrics.n_samples=500", "plots.enabled=false"]


def test_a_multirun_ends_with_the_leaderboard_of_its_own_jobs(tmp_path):
    out = tmp_path / "sweep"
    older = out / "older_run"  # another run under the same sweep folder: not one of this multirun's jobs
    older.mkdir(parents=True)
    group = {"experiment": "default", "dataset": "ring", "gan": "mlp", "loss": "ns", "method": "mwugan"}
    (older / "results.json").write_text(json.dumps({"records": [
        {"status": "completed", "seed": 0, "group": group, "metrics": {"nb_modes": 5}, "timing": {"steps": 20}}]}))
    proc = subprocess.run([sys.executable, "run.py", "-m", *TINY, f"hydra.sweep.dir={out}"], cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = f"[modebench] 2 job(s) of {out}: 2 trained"
    assert summary in proc.stdout
    after = proc.stdout.split(summary)[1]
    assert f"[modebench] leaderboard of this multirun (2 run folder(s); `python -m sweeps.leaderboard {out}`" in after
    table = after.split("### dataset: ring")[1]
    head = table.strip().splitlines()[0]
    assert head.startswith("| method | nb_modes | hq_fraction |") and "| n | diverged | failed |" in head
    assert "| bures |" in table and "| vanilla |" in table and "mwugan" not in proc.stdout
    for job in plan_jobs([*TINY, f"hydra.sweep.dir={out}"], multirun=True, validate=False):
        assert (job.run_dir / "results.json").is_file()  # the table's two rows are these folders


def test_board_false_prints_the_summary_only(capsys):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": "multirun/x"}}})
    MultirunBoard(board=False).after_summary(config, [])
    assert capsys.readouterr().out == ""
    MultirunBoard().after_summary(config, [])  # no folder with results: a line, no table and no error
    assert "no leaderboard" in capsys.readouterr().out


def test_sweeps_run_turns_the_callbacks_table_off_only_when_it_prints_its_own(capsys):
    argv = ["rls_table1", "--methods", "vanilla", "--datasets", "ring", "--dry-run"]
    assert sweep.main(argv) == 0
    command = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("command:"))
    assert command.endswith(" hydra.callbacks.summary.board=false")
    assert sweep.main([*argv, "--no-board"]) == 0
    assert "hydra.callbacks.summary.board" not in capsys.readouterr().out
