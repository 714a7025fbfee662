"""Stop signals in the middle of training (a cluster's time limit, a scheduler's SIGTERM): the trainer finishes its
step, writes its checkpoint and hands over to the handler installed before it (submitit's requeue), or stops with a
message; the stopped run resumes to the numbers of an uninterrupted run (submitit's own requeue of a stopped job:
tests/test_launchers.py). And one process per run folder."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import QUICK, ROOT, compose_run
from core.errors import RunBusyError
from engine.lock import run_lock
from engine.run import execute
from gans.method import GANMethod

STEPS = ["method=vanilla", "trainer.steps=240", "trainer.ckpt_every=0", "trainer.threads=1"]


def _execute(run_dir, overrides=STEPS):
    cfg, choices = compose_run(QUICK + overrides)
    return execute(cfg, choices, run_dir)


def _signal_at(step: int, signum: int):
    def hook(self, current: int) -> None:
        if current == step:
            os.kill(os.getpid(), signum)
    return hook


def _checkpoint_step(run_dir) -> int:
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["state"]["step"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_without_a_handler_before_it_a_stop_signal_checkpoints_and_exits(tmp_path, monkeypatch, signum):
    straight = _execute(tmp_path / "straight")
    monkeypatch.setattr(GANMethod, "on_step_end", _signal_at(60, signum))
    with pytest.raises(SystemExit) as stop:
        _execute(tmp_path / "stopped")
    assert stop.value.code == 128 + signum and _checkpoint_step(tmp_path / "stopped") == 61
    monkeypatch.undo()
    assert _execute(tmp_path / "stopped")[0]["metrics"] == straight[0]["metrics"]
    assert signal.getsignal(signum) is signal.SIG_DFL  # the trainer's handler is gone after training


def test_a_handler_before_it_that_returns_lets_training_go_on(tmp_path, monkeypatch):
    """submitit ignores SIGTERM (its handler only logs): the checkpoint is written, training continues."""
    straight = _execute(tmp_path / "straight")
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        monkeypatch.setattr(GANMethod, "on_step_end", _signal_at(60, signal.SIGTERM))
        records = _execute(tmp_path / "on")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert calls == [signal.SIGTERM] and records[0]["metrics"] == straight[0]["metrics"]


def test_a_second_process_on_a_run_folder_is_refused_and_names_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        with pytest.raises(RunBusyError, match=f"in use by pid {os.getpid()} on host"):
            _execute(run_dir)
        proc = subprocess.run([sys.executable, "run.py", *QUICK, *STEPS, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and f"in use by pid {os.getpid()}" in proc.stderr
    assert "not training it a second time" in proc.stderr and not (run_dir / "results.json").exists()
    assert _execute(run_dir)[0]["status"] == "completed"  # free again


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_message(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").write_text(json.dumps({"pid": 4194304, "host": "gone", "started": "2026-01-01T00:00:00"}))
    assert _execute(run_dir)[0]["status"] == "completed"
    assert f"taking over the lock of {run_dir} left by pid 4194304 on host gone" in capsys.readouterr().out
    assert (run_dir / ".lock").read_text() == ""  # released cleanly
