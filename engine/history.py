"""A run's curves: ``<run dir>/history.csv``, one row per (seed, step) with D's and G's losses (recorded every
``trainer.log_every`` steps) and the scalar metrics of the periodic evaluations and of the final one (at the last
step); a cell is empty where that quantity was not measured at that step.

It is rewritten (atomically) at every checkpoint and at the end of the run, so an interrupted run keeps its curves.
The per-run figure (``plots/curves_seed<k>.png``), the leaderboard's mean ± std bands and ``sweeps.wandb_log``
read it back with :func:`read_history`.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from core.files import write_text

HISTORY_FILE = "history.csv"
LOSS_COLUMNS = ("loss_d", "loss_g")


def history_rows(seeds: Sequence[int], losses: Sequence[Sequence], evaluations: Sequence[dict],
                 final: tuple[int, Sequence[dict]] | None = None) -> list[dict[str, Any]]:
    """The rows of :data:`HISTORY_FILE`, sorted by seed then step.

    ``losses``: the trainer's ``[step, [loss_d per replica], [loss_g per replica]]``; ``evaluations``: its periodic
    evaluations ``{"step", "metrics": [scalars per replica]}``; ``final``: ``(step, [final metrics per replica])``,
    whose scalar entries land at that step."""
    table: dict[tuple[int, int], dict[str, Any]] = {}

    def cell(r: int, step: int) -> dict[str, Any]:
        return table.setdefault((seeds[r], int(step)), {"seed": seeds[r], "step": int(step)})

    for step, loss_d, loss_g in losses:
        for r in range(len(seeds)):
            cell(r, step).update(loss_d=float(loss_d[r]), loss_g=float(loss_g[r]))
    points = [(h["step"], h["metrics"]) for h in evaluations] + ([final] if final else [])
    for step, per_replica in points:
        for r, metrics in enumerate(per_replica):
            cell(r, step).update(scalars(metrics))
    return [table[key] for key in sorted(table)]


def write_history(run_dir: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (from :func:`history_rows`) to ``<run_dir>/history.csv`` atomically; columns: seed, step, the
    losses, then the metrics in name order."""
    metrics = sorted({k for row in rows for k in row} - {"seed", "step", *LOSS_COLUMNS})
    columns = ["seed", "step", *LOSS_COLUMNS, *metrics]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _format(v) for k, v in row.items()})
    path = Path(run_dir) / HISTORY_FILE
    write_text(path, text.getvalue())
    return path


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``<run_dir>/history.csv`` (seed and step as int, the rest as float; empty cells left out);
    [] when the run has none (it predates the file, or it has not reached its first checkpoint)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: int(v) if k in ("seed", "step") else float(v) for k, v in row.items() if v != ""}
                for row in csv.DictReader(handle)]


def series(rows: Sequence[dict[str, Any]], key: str, seed: int | None = None) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` for ``seed`` (every seed's when None), in step order, where it was measured."""
    points = sorted((row["step"], row[key]) for row in rows if key in row and (seed is None or row["seed"] == seed))
    return [s for s, _ in points], [v for _, v in points]


def scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric (non-bool) entries of a metrics dict, as floats: what the history and the logger keep."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _format(value: Any) -> Any:
    """Floats with full precision (repr), non-finite ones as nan/inf (csv and float() both read them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value) if isinstance(value, float) else value
