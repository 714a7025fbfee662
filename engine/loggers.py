"""Experiment loggers: Weights & Biases (offline unless told otherwise) or nothing.

A run folder trains one or more seeds (``trainer.replicas``); the logger keeps **one W&B run per seed**, so that W&B
groups and aggregates seeds as its users expect: every seed's run has the same ``group`` (the variant:
``<experiment>/<dataset>/<method>``), ``job_type`` (the method) and config, but for its own ``seed`` and
``replica``. The engine and ``sweeps.wandb_log`` (which re-logs finished runs trained with ``logger=none``) describe
the runs with :func:`seed_runs` and log through the same calls.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.files import read_json, write_json
from engine.history import scalars

LOGGED_FILE = "wandb_runs.json"  # in the run folder: which (config hash, seed) went to which W&B run
_SEED_KEY = re.compile(r"(^|/)seed(\d+)(?=/|$)")


@dataclass
class SeedRun:
    """What one seed's W&B run is called and holds."""

    seed: int
    name: str
    group: str
    job_type: str
    config: dict[str, Any]


def seed_runs(group: dict[str, str], config: dict[str, Any], seeds: Sequence[int], config_hash: str,
              variant: str) -> list[SeedRun]:
    """One :class:`SeedRun` per seed of a run folder. ``group``: the run's experiment and config-group choices;
    ``config``: its resolved config, copied per seed with ``seed``/``replica`` set to that replica's."""
    variant_name = f"{group['experiment']}/{group['dataset']}/{group['method']}"
    runs = []
    for r, seed in enumerate(seeds):
        seed_config = {**config, "seed": seed, "replica": r, "replicas": len(seeds), "config_hash": config_hash,
                       "variant": variant, "choices": dict(group)}
        runs.append(SeedRun(seed, f"{group['dataset']}/{group['method']}/seed{seed}", variant_name,
                            group["method"], seed_config))
    return runs


class NullLogger:
    """``logger=none``: logs nothing."""

    def start(self, run_dir: str | Path, runs: Sequence[SeedRun]) -> None:
        """Open one run per seed (``runs`` in replica order)."""

    def log(self, per_seed: Sequence[dict[str, Any]], step: int) -> None:
        """Log replica r's scalars (``per_seed[r]``) into seed r's run at ``step``."""

    def log_images(self, images: dict[str, str | Path], step: int) -> None:
        """Log figures: a key naming a seed (``samples/seed3``) goes to that seed's run (as ``samples``), the others
        to every run."""

    def log_table(self, per_seed: Sequence[dict[str, Any]], step: int) -> None:
        """Log each seed's final metrics as a one-row table ``results`` in its run."""

    def finish(self, summaries: Sequence[dict[str, Any]] | None = None, exit_code: int = 0) -> None:
        """End every run; ``exit_code`` != 0 marks them failed (a run that raised or was interrupted)."""


class WandbLogger(NullLogger):
    """One W&B run per seed (see the module docstring). Runs are always finished (the engine calls :meth:`finish`
    in a ``finally``), with a non-zero exit code when the job failed or was interrupted, so a worker process that
    runs several jobs one after another (Hydra's joblib launcher) starts each with fresh runs. The console stays
    quiet (no W&B banners or history footer); finished runs are listed in ``<run dir>/wandb_runs.json``.

    The mode comes from ``mode`` or the WANDB_MODE environment variable and defaults to ``offline``: no account is
    needed, and ``wandb sync <run_dir>/wandb/offline-run-*`` uploads later. wandb >= 0.19.10 talks to its own
    service process, so it needs no multiprocessing start method inside joblib (loky) or submitit workers.
    """

    def __init__(self, project: str = "modebench", entity: str | None = None, mode: str | None = None,
                 tags: list[str] | None = None):
        self.project, self.entity, self.tags = project, entity, list(tags or [])
        self.mode = mode or os.environ.get("WANDB_MODE", "offline")
        self.runs: list[Any] = []
        self.seeds: list[int] = []
        self.run_dir: Path | None = None
        self.config_hash: str | None = None

    def start(self, run_dir, runs):
        import wandb  # imported here: it is slow to import and unused with logger=none

        self._wandb = wandb
        self.run_dir = Path(run_dir)
        settings = wandb.Settings(quiet=True, silent=True, console="off")
        self.seeds = [run.seed for run in runs]
        self.config_hash = runs[0].config.get("config_hash") if runs else None
        self.runs = [wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(run_dir),
                                name=run.name, group=run.group, job_type=run.job_type, config=run.config,
                                tags=self.tags, reinit="create_new", settings=settings) for run in runs]

    def log(self, per_seed, step):
        for run, metrics in zip(self.runs, per_seed):
            run.log(scalars(metrics), step=step)

    def log_images(self, images, step):
        for key, path in images.items():
            match = _SEED_KEY.search(key)
            seed = int(match.group(2)) if match else None
            name = (_SEED_KEY.sub("", key).strip("/") or key) if match else key
            for run, run_seed in zip(self.runs, self.seeds):
                if seed is None or seed == run_seed:
                    run.log({name: self._wandb.Image(str(path))}, step=step)

    def log_table(self, per_seed, step):
        for run, metrics in zip(self.runs, per_seed):
            values = scalars(metrics)
            run.log({"results": self._wandb.Table(columns=list(values), data=[list(values.values())])}, step=step)

    def finish(self, summaries=None, exit_code=0):
        logged = {}
        for r, run in enumerate(self.runs):
            if summaries:
                run.summary.update(scalars(summaries[r]))
            run.finish(exit_code=exit_code)
            logged[str(self.seeds[r])] = {"id": run.id, "mode": self.mode, "project": self.project}
        if self.runs and exit_code == 0:
            record_logged(self.run_dir, self.config_hash, logged)
        self.runs = []


def record_logged(run_dir: Path, config_hash: str | None, runs: dict[str, dict]) -> None:
    """Note in ``<run_dir>/wandb_runs.json`` that the seeds of ``config_hash`` were logged as ``runs``."""
    path = Path(run_dir) / LOGGED_FILE
    known = read_json(path) if path.is_file() else {}
    known.setdefault(str(config_hash), {}).update(runs)
    write_json(path, known)


def logged_runs(run_dir: Path, config_hash: str) -> dict[str, dict]:
    """{seed: W&B run} of ``config_hash`` already logged from ``run_dir`` (see :func:`record_logged`)."""
    path = Path(run_dir) / LOGGED_FILE
    return (read_json(path) if path.is_file() else {}).get(str(config_hash), {})
