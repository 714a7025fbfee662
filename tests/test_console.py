"""What a run prints and keeps: the run's lines (and the mean (std) over its seeds) in the console and in
``run.log``; a re-run of a finished folder prints the stored results; Ctrl-C stops with one line and status 130."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from engine.run import mean_std

RUN = [sys.executable, str(ROOT / "run.py"), "logger=none", "trainer.progress=false", "trainer.threads=1",
       "plots.enabled=false", "metrics.n_samples=2000", "method=vanilla"]


def _run(run_dir, *overrides):
    return subprocess.run([*RUN, f"hydra.run.dir={run_dir}", *overrides], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_mean_std_is_the_sample_std_of_the_finite_values():
    values = [0.5, 0.75, 1.5, float("nan")]
    mean, std = np.mean(values[:3]), np.std(values[:3], ddof=1)
    assert mean_std(values) == f"{mean:.4g} ({std:.2g})"
    assert mean_std([2.0]) == "2 (0)" and mean_std([]) == "nan"


def test_a_replica_run_prints_its_seeds_and_their_mean_into_the_console_and_run_log(tmp_path):
    run_dir = tmp_path / "run"
    done = _run(run_dir, "trainer.steps=40", "trainer.replicas=3")
    assert done.returncode == 0, done.stderr
    log = (run_dir / "run.log").read_text()
    for text in (done.stdout, log):
        assert "[modebench] default: dataset=ring" in text and "trained 40 steps" in text
        assert text.count("  seed ") == 3 and "mean (std) over 3 seeds: nb_modes=" in text

    again = _run(run_dir, "trainer.steps=40", "trainer.replicas=3")
    assert again.returncode == 0 and "already holds finished results" in again.stdout
    assert again.stdout.count("  seed ") == 3 and "mean (std) over 3 seeds" in again.stdout
    assert "trained 40 steps" not in again.stdout  # nothing was trained again
    assert (run_dir / "run.log").read_text().startswith(log)  # appended to, never overwritten


def test_ctrl_c_checkpoints_and_exits_130_with_one_line(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen([*RUN, f"hydra.run.dir={run_dir}", "trainer.steps=1000000", "trainer.log_every=50"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 120
    while not (run_dir / "run.log").is_file() or "[modebench] default" not in (run_dir / "run.log").read_text():
        assert time.time() < deadline and process.poll() is None, "the run did not start"
        time.sleep(0.2)
    time.sleep(2.0)  # a few hundred training steps
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err + out and "KeyboardInterrupt" not in err + out
    final = [line for line in err.splitlines() if line.startswith("modebench:")]
    assert len(final) == 1 and final[0].startswith("modebench: interrupted (Ctrl-C) after step ")
    assert "checkpoint saved" in final[0] and (run_dir / "checkpoint.pt").is_file()
    assert (run_dir / "history.csv").is_file()  # the curves so far are kept with the checkpoint
    assert final[0] in (run_dir / "run.log").read_text()
