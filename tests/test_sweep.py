"""A two-job multirun through the real command line, then a leaderboard built from it."""
import json
import subprocess
import sys

from conftest import ROOT


def test_two_job_multirun_builds_a_leaderboard(tmp_path):
    sweep_dir = tmp_path / "sweep"
    cmd = [sys.executable, "run.py", "-m", "method=vanilla,rls_gauss", "trainer=quick", "trainer.replicas=2",
           "logger=none", "metrics.n_samples=2000", "plots.enabled=true", f"hydra.sweep.dir={sweep_dir}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(sweep_dir.rglob("results.json"))
    assert len(results) == 2
    for path in results:
        records = json.loads(path.read_text())["records"]
        assert [r["seed"] for r in records] == [0, 1]
        assert (path.parent / "plots" / "samples_seed0.png").exists()
    out = tmp_path / "board"
    board = subprocess.run([sys.executable, "-m", "sweeps.leaderboard", str(sweep_dir), "--out", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert board.returncode == 0, board.stderr
    assert "vanilla" in board.stdout and "rls_gauss" in board.stdout
    csv = (tmp_path / "board.csv").read_text()
    assert "nb_modes_mean" in csv and csv.count("\n") >= 3
