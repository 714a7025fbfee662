"""What became of each job of a multirun, read from its run folder: trained now, skipped (already finished), failed
(its error and log), busy (another process holds its lock) or unfinished (interrupted; a checkpoint resumes it).

Printed at the end of every ``python run.py -m`` by :class:`MultirunSummary` (registered in conf/config.yaml as its
subclass sweeps.multirun_board.MultirunBoard, which adds the leaderboard), a Hydra callback, whatever the launcher
(basic, joblib, submitit): the jobs' own processes need not report back, the folders tell. ``sweeps.run`` prints the
same table for its jobs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from engine.lock import lock_holder
from engine.preflight import PlannedJob, plan_jobs
from engine.records import is_finished, load_results, results_path
from engine.trainer import CHECKPOINT_FILE

OUTCOMES = ("trained", "skipped", "failed", "busy", "unfinished")


@dataclass
class JobOutcome:
    job: PlannedJob
    status: str  # one of OUTCOMES
    detail: str = ""  # the error and its log (failed), the lock's holder (busy), the checkpoint (unfinished)


def job_outcomes(jobs: Sequence[PlannedJob], since: float) -> list[JobOutcome]:
    """Each job's outcome; results written at or after ``since`` (a time.time()) count as "trained" now."""
    outcomes = []
    for job in jobs:
        results = load_results(job.run_dir)
        if is_finished(results, job.config_hash):
            fresh = results_path(job.run_dir).stat().st_mtime >= since
            outcomes.append(JobOutcome(job, "trained" if fresh else "skipped"))
            continue
        failed = [r for r in (results or {}).get("records", []) if r.get("status") == "failed"
                  and r.get("config_hash") == job.config_hash]
        holder = lock_holder(job.run_dir)
        if holder:
            outcomes.append(JobOutcome(job, "busy", f"in use by {holder}"))
        elif failed:
            error = failed[0].get("error") or {}
            outcomes.append(JobOutcome(job, "failed", f"{error.get('type')}: {error.get('message')} "
                                                      f"(log: {error.get('log')})"))
        else:
            resumes = (job.run_dir / CHECKPOINT_FILE).exists()
            outcomes.append(JobOutcome(job, "unfinished", "a checkpoint resumes it" if resumes else "not started"))
    return outcomes


def summary_text(outcomes: Sequence[JobOutcome], name: Any = None) -> str:
    """A count per outcome, then one line per job that is not done (failed, busy, unfinished)."""
    counts = {s: sum(o.status == s for o in outcomes) for s in OUTCOMES}
    head = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines = [f"[modebench] {len(outcomes)} job(s){f' of {name}' if name else ''}: {head}"]
    for o in outcomes:
        if o.status in ("failed", "busy", "unfinished"):
            lines.append(f"  {o.status.upper():10s} {o.job.run_dir}: {o.detail}")
    return "\n".join(lines)


class MultirunSummary(Callback):
    """At the end of a multirun: print :func:`summary_text` of its jobs; exit with status 1 when a job failed."""

    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started = time.time()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        overrides = [*config.hydra.overrides.hydra, *config.hydra.overrides.task]  # hydra.sweep.dir=... included
        jobs = plan_jobs([str(o) for o in overrides], multirun=True, validate=False)
        outcomes = job_outcomes(jobs, self.started - 1.0)  # a second of margin for the file system's clock
        print(summary_text(outcomes, config.hydra.sweep.dir), flush=True)
        self.after_summary(config, outcomes)
        if any(o.status == "failed" for o in outcomes):
            raise SystemExit(1)

    def after_summary(self, config: DictConfig, outcomes: Sequence[JobOutcome]) -> None:
        """What a subclass prints after the summary, before the exit status (sweeps.multirun_board.MultirunBoard:
        the multirun's leaderboard); nothing here."""
