"""Experiment loggers: Weights & Biases (offline unless told otherwise) or nothing."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class NullLogger:
    """``logger=none``: logs nothing."""

    def start(self, run_dir: str | Path, name: str, group: str, config: dict) -> None:
        pass

    def log(self, metrics: dict[str, Any], step: int) -> None:
        pass

    def log_images(self, images: dict[str, str | Path], step: int) -> None:
        pass

    def finish(self, summary: dict[str, Any] | None = None, exit_code: int = 0) -> None:
        """End the run; ``exit_code`` != 0 marks it failed (a run that raised or was interrupted)."""


class WandbLogger(NullLogger):
    """One W&B run per run (per job of a multirun, grouped by experiment); replica metrics are logged as
    ``seed<k>/<metric>`` plus their mean. The run is always finished (the engine calls :meth:`finish` in a
    ``finally``), with a non-zero exit code when the job failed or was interrupted, so a worker process that runs
    several jobs one after another (Hydra's joblib launcher) starts each with a fresh run.

    The mode comes from ``mode`` or the WANDB_MODE environment variable and defaults to ``offline``:
    no account is needed, and ``wandb sync <run_dir>/wandb/offline-run-*`` uploads later. wandb >= 0.19.10 talks to
    its own service process, so it needs no multiprocessing start method inside joblib (loky) or submitit workers.
    """

    def __init__(self, project: str = "modebench", entity: str | None = None, mode: str | None = None,
                 tags: list[str] | None = None):
        self.project, self.entity, self.tags = project, entity, list(tags or [])
        self.mode = mode or os.environ.get("WANDB_MODE", "offline")
        self.run = None

    def start(self, run_dir, name, group, config):
        import wandb  # imported here: it is slow to import and unused with logger=none

        self._wandb = wandb
        self.run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, dir=str(run_dir),
                              name=name, group=group, config=config, tags=self.tags, reinit="finish_previous")

    def log(self, metrics, step):
        if self.run is not None:
            self.run.log(metrics, step=step)

    def log_images(self, images, step):
        if self.run is not None and images:
            self.run.log({key: self._wandb.Image(str(path)) for key, path in images.items()}, step=step)

    def finish(self, summary=None, exit_code=0):
        if self.run is not None:
            if summary:
                self.run.summary.update(summary)
            self.run.finish(exit_code=exit_code)
            self.run = None


def flatten_replica_metrics(per_replica: list[dict[str, Any]], seeds: list[int]) -> dict[str, float]:
    """Scalar metrics of every replica as ``seed<k>/<name>`` plus ``mean/<name>`` over replicas."""
    flat: dict[str, float] = {}
    sums: dict[str, list[float]] = {}
    for seed, metrics in zip(seeds, per_replica):
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[f"seed{seed}/{key}"] = float(value)
                sums.setdefault(key, []).append(float(value))
    for key, values in sums.items():
        flat[f"mean/{key}"] = sum(values) / len(values)
    return flat
