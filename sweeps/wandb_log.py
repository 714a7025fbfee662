"""Send finished runs to Weights & Biases without training again: runs trained with ``logger=none``, or whose
offline W&B files were lost.

    python -m sweeps.wandb_log multirun/rls_table1                    # offline W&B runs in each run folder
    python -m sweeps.wandb_log multirun/rls_table1 --mode online      # straight to the W&B server (wandb login)
    python -m sweeps.wandb_log outputs/default --project my-project --again

Every finished record (one per seed) becomes one W&B run with the layout of a live run (engine.loggers): the same
name, group, job type and config; its curves (``history.csv``: the D/G losses and the evaluations, by step, or the
record's evaluation history for runs older than that file), its figures (``plots/``), its final metrics (as the
summary and a one-row ``results`` table). A seed already logged (``wandb_runs.json`` in the run folder, written by
live runs too) is skipped unless ``--again``. Offline runs are uploaded later with ``wandb sync <run dir>/wandb``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from core.files import read_json
from engine.history import history_rows, read_history
from engine.loggers import WandbLogger, logged_runs, seed_runs
from sweeps.records import find_results

LOGGED_STATUSES = ("completed", "diverged")


def figures_of(run_dir: Path, seed: int) -> dict[str, Path]:
    """The run's figures for ``seed`` as {logger key: path}: ``plots/<kind>_seed<k>.png`` is ``<kind>/seed<k>``
    (the key a live run logs it under); figures that name no seed are shared by every seed."""
    figures = {}
    for path in sorted((run_dir / "plots").glob("*.png")):
        kind, _, tag = path.stem.rpartition("_seed")
        if kind and tag.isdigit():
            if int(tag) == seed:
                figures[f"{kind}/seed{seed}"] = path
        else:
            figures[path.stem] = path
    return figures


def seed_history(run_dir: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """One seed's curve rows in step order: from ``history.csv``, else from the record's own evaluation history
    and final metrics (runs trained before the file existed)."""
    seed = record["seed"]
    rows = [row for row in read_history(run_dir) if row["seed"] == seed]
    if rows:
        return rows
    evaluations = [{"step": h["step"], "metrics": [{k: v for k, v in h.items() if k != "step"}]}
                   for h in record.get("history") or []]
    final = ((record.get("timing") or {}).get("steps") or 0, [record.get("metrics") or {}])
    return history_rows([seed], [], evaluations, final)


def log_run_folder(results_file: Path, logger_options: dict[str, Any], again: bool = False) -> list[str]:
    """Log every finished record of ``results_file`` not logged before (all with ``again``); returns one line per
    seed saying what was done."""
    run_dir = results_file.parent
    records = [r for r in (read_json(results_file) or {}).get("records", []) if r.get("status") in LOGGED_STATUSES]
    lines = []
    for record in records:
        seed, cfg_hash = record["seed"], record["config_hash"]
        if str(seed) in logged_runs(run_dir, cfg_hash) and not again:
            lines.append(f"  {run_dir} seed {seed}: already logged (--again logs it once more)")
            continue
        run = seed_runs(record["group"], record["config"], [seed], cfg_hash, record.get("variant", ""))[0]
        run.config["replica"], run.config["replicas"] = record.get("replica", 0), record.get("replicas", 1)
        logger = WandbLogger(**logger_options)
        logger.start(run_dir, [run])
        exit_code = 1
        try:
            for row in seed_history(run_dir, record):
                logger.log([{k: v for k, v in row.items() if k not in ("seed", "step")}], step=row["step"])
            final_step = (record.get("timing") or {}).get("steps") or 0
            logger.log_images(figures_of(run_dir, seed), step=final_step)
            logger.log_table([record["metrics"]], step=final_step)
            exit_code = 0
        finally:
            logger.finish(summaries=[record["metrics"]], exit_code=exit_code)
        lines.append(f"  {run_dir} seed {seed}: logged as {run.name} (group {run.group}, {logger.mode})")
    return lines


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m sweeps.wandb_log``."""
    parser = argparse.ArgumentParser(prog="python -m sweeps.wandb_log", description=__doc__.split("\n\n")[0])
    parser.add_argument("dirs", nargs="+", help="run folders or folders above them (searched for results.json)")
    parser.add_argument("--mode", choices=("offline", "online"), default=None,
                        help="W&B mode (default: WANDB_MODE, else offline)")
    parser.add_argument("--project", default="modebench")
    parser.add_argument("--entity", default=None)
    parser.add_argument("--again", action="store_true", help="log seeds that were logged before once more")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        files = find_results(args.dirs)
    except FileNotFoundError as exc:
        print(f"modebench: {exc}", file=sys.stderr)
        return 1
    if not files:
        print(f"modebench: no results.json under {' '.join(args.dirs)}: nothing to log", file=sys.stderr)
        return 1
    options = {"project": args.project, "entity": args.entity, "mode": args.mode}
    for path in files:
        for line in log_run_folder(path, options, args.again):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
