"""A sweep's provenance: the budget and machine lines that head its comparison table, and ``<out>/sweep.json`` (every
invocation, note and job time), written by ``sweeps.run`` (its jobs are ``sweeps.run.Job``s)."""
from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from engine.records import load_results

def budget_text(jobs: list) -> str:
    cfg = jobs[0].planned.cfg
    text = f"{cfg.trainer.steps} steps x batch {cfg.trainer.batch_size} per generator"
    mixtures = sorted({j.method for j in jobs if "num_generators" in j.planned.cfg.method})
    if mixtures:
        cfg_m = next(j for j in jobs if j.method == mixtures[0]).planned.cfg
        text += f" ({', '.join(mixtures)}: {cfg_m.method.num_generators} generators)"
    return text + f"; {cfg.metrics.n_samples} evaluation samples"


def machine_text(slots: int, threads: int, launcher: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    jobs = f"{slots} jobs" if slots else "jobs"
    return (f"{cpu}, {os.cpu_count()} cores ({device}); {jobs} x {threads} thread(s) ({launcher} launcher); "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def fmt_seconds(s: float) -> str:
    return str(dt.timedelta(seconds=int(round(s))))


def write_sweep_json(out: Path, meta: dict, jobs: list, invocation: dict, note: str | None = None) -> Path:
    """Add one invocation (and ``note``) to ``<out>/sweep.json``; its ``meta`` heads the comparison table.

    The table's header lists every distinct command that contributed runs and every note, so a reproduction
    completed over several invocations keeps its whole provenance.
    """
    from core.files import read_json, write_json

    path = out / "sweep.json"
    try:
        state = read_json(path)
    except (OSError, ValueError):
        state = {"invocations": [], "jobs": {}}
    state["invocations"].append(invocation)
    if note:
        state.setdefault("notes", []).append(note)
    for job in jobs:
        entry = state["jobs"].setdefault(job.name, {"seconds": 0.0})
        entry["seconds"] = round(entry["seconds"] + job.seconds, 1)
        entry["status"] = "finished" if job.status in ("trained", "skipped", "finished") else job.status
    wall = sum(i["wall_seconds"] for i in state["invocations"])
    meta = dict(meta, wall_time=f"{fmt_seconds(wall)} over {len(state['invocations'])} invocation(s) "
                                f"(job time {fmt_seconds(sum(j['seconds'] for j in state['jobs'].values()))})",
                command=list(dict.fromkeys(i["argv"] for i in state["invocations"])),
                notes=list(state.get("notes", [])))
    state["meta"] = meta
    write_json(path, state)
    return path


def job_seconds(job) -> float:
    """The time a job trained now took (setup, training, evaluation), from its record."""
    records = (load_results(job.run_dir) or {}).get("records") or [{}]
    timing = records[0].get("timing") or {}
    return sum(float(timing.get(k) or 0) for k in ("setup_seconds", "train_seconds", "eval_seconds"))
