"""How ``sweeps.run`` hands its multiruns to Hydra: the ``hydra/launcher=...`` overrides of ``--launcher`` (with the
parallel launcher's worker count), and running one ``run.py -m`` command with Ctrl-C/SIGTERM forwarded to it."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Callable

from core.errors import ConfigError
from engine.preflight import CONFIG_DIR

PLUGIN_LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm")  # Hydra's own names


def check_launcher(name: str) -> str:
    """``name`` if it is a Hydra launcher (a plugin's or a file of conf/hydra/launcher/), else ConfigError."""
    files = sorted(p.stem for p in (CONFIG_DIR / "hydra" / "launcher").glob("*.yaml"))
    if name not in PLUGIN_LAUNCHERS and name not in files:
        raise ConfigError(f"unknown launcher '{name}'; available: {sorted(set(PLUGIN_LAUNCHERS) | set(files))}")
    return name


def launcher_overrides(name: str, jobs: int | None, threads: int,
                       spec_jobs: int | None = None) -> tuple[list[str], int]:
    """``hydra/launcher=...`` (and its worker count) for the launcher ``name``; the number of jobs that run at once.

    The parallel launcher's workers: ``jobs`` (``--jobs``), else the spec's ``jobs`` (e.g. 1 for a table of GPU
    jobs), else CPU cores / threads. ConfigError for an unknown launcher, or ``jobs`` with another launcher."""
    check_launcher(name)
    if name in ("parallel", "joblib"):
        slots = jobs or spec_jobs or max(1, (os.cpu_count() or 1) // threads)
        return [f"hydra/launcher={name}", f"hydra.launcher.n_jobs={slots}"], slots
    if jobs:
        raise ConfigError(f"--jobs sets the workers of --launcher parallel, not of {name}")
    return [f"hydra/launcher={name}"], 1 if name == "basic" else 0  # 0: as many as the scheduler allows


def launch(command: list[str], cwd: Path, threads: int, log: Callable[[str], None]) -> tuple[int, bool]:
    """Run the multirun command in its own session and wait: (its exit status, whether it was interrupted). The
    first Ctrl-C or SIGTERM is passed on once to its whole process group (the launcher and its workers), whose jobs
    checkpoint and stop; a second one kills them. ``log`` prints the line that says so."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    process = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True)
    forwarded = []

    def forward(signum, frame):
        name = signal.Signals(signum).name
        if forwarded:
            os.killpg(process.pid, signal.SIGKILL)
            return
        forwarded.append(signum)
        log(f"{name}: asking the jobs to checkpoint and stop ({name} again to kill them)")
        os.killpg(process.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait(), bool(forwarded)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
