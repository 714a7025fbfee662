"""One run of a composed configuration in its run folder: build -> skip if finished -> lock the folder -> set up ->
train (periodic evaluation, checkpoints, resume) -> final evaluation -> figures -> records (one per replica, or
``failed`` ones when it raises) -> logger summary."""
from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from engine.build import build_components, run_context
from engine.extras import TrainingExtras
from engine.figures import run_figures
from engine.history import history_rows, scalars, write_history
from engine.loggers import seed_runs
from core.errors import require
from engine.lock import run_lock
from engine.records import (config_hash, environment, failed_records, is_finished, load_results, results_path,
                            save_results, training_conflict, training_hash, variant_hash)
from engine.trainer import TrainState, fit, load_checkpoint, save_checkpoint


def execute(cfg: DictConfig, choices: dict[str, str], run_dir: Path, log: Path | None = None) -> list[dict]:
    """Train and evaluate one configuration in ``run_dir``; returns its records (one per replica).

    ``choices`` are hydra's runtime choices of the config groups (they name the run). A folder that already holds
    finished results of the same configuration is not trained again; one with a checkpoint resumes from it; one with
    finished results of another training setting is refused (ConfigError: nothing is overwritten). Training holds
    the folder's lock (engine.lock: RunBusyError when another process trains it). A run that raises leaves a
    ``failed`` record per replica naming the error and ``log`` (the file with its traceback)."""
    parts = build_components(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    cfg_hash = config_hash(resolved)
    group = {"experiment": cfg.experiment_name,
             **{k: choices.get(k, "?") for k in ("dataset", "gan", "loss", "method", "sampler")}}
    identity = {"group": group, "config": resolved, "config_hash": cfg_hash, "variant": variant_hash(resolved)}
    done = _finished_records(run_dir, cfg_hash, resolved)
    if done is not None:
        return done
    with run_lock(run_dir):
        done = _finished_records(run_dir, cfg_hash, resolved)  # the lock's last holder may just have finished it
        if done is not None:
            return done
        seeds = [int(cfg.seed) + r for r in range(parts.trainer.replicas)]
        try:
            return _train(cfg, parts, run_dir, seeds, training_hash(resolved), identity,
                              choices.get("metrics", "?"))
        except Exception as exc:
            save_results(run_dir, failed_records(exc, log, seeds, identity))
            raise


def _finished_records(run_dir: Path, cfg_hash: str, resolved: dict) -> list[dict] | None:
    """The records when ``run_dir`` is finished for this configuration; ConfigError when it holds a finished run of
    another training setting; None otherwise (train, resume or re-evaluate)."""
    previous = load_results(run_dir)
    if is_finished(previous, cfg_hash):
        print(f"[modebench] {run_dir} already holds finished results for this configuration; skipping "
              "(its stored results below; `python -m sweeps.wandb_log` sends them to W&B)")
        print_summary(previous["records"], results_path(run_dir))
        return previous["records"]
    conflict = training_conflict(previous, resolved)
    require(conflict is None,
            f"run folder {run_dir} holds the finished results of another training configuration ({conflict}); "
            "they are kept: choose another folder (hydra.run.dir=..., or hydra.sweep.dir=... for -m), or move "
            "that folder away to train this configuration there")
    return None


def _train(cfg: DictConfig, parts, run_dir: Path, seeds: list[int], train_hash: str, identity: dict,
           metrics_group: str) -> list[dict]:
    """Set up, train (resuming from a checkpoint of ``train_hash``), evaluate, plot and record; ``metrics_group``
    (the metrics config chosen) is named in the startup line."""
    settings = parts.trainer
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = settings.resolve_device()
    torch.manual_seed(int(cfg.seed))
    group = identity["group"]
    print(f"[modebench] {group['experiment']}: dataset={group['dataset']} gan={group['gan']} loss={group['loss']} "
          f"method={group['method']} sampler={group['sampler']} metrics={metrics_group} | seeds {seeds} | "
          f"{settings.steps} steps x batch {settings.batch_size} on {device} | {run_dir}")

    t0 = time.perf_counter()
    data = parts.dataset.load(device)
    parts.evaluator.prepare(data)  # metrics' helper networks (e.g. a class evaluator) before training
    generator = torch.Generator(device).manual_seed(int(cfg.seed))
    method = parts.method
    method.setup(run_context(parts, data, seeds, device, generator))
    extras = TrainingExtras(settings, method, device, image_data=data.kind == "image")
    setup_seconds = time.perf_counter() - t0
    state = load_checkpoint(run_dir, train_hash, method, generator) or TrainState()
    if state.step:
        extras.load_state_dict(state.extras)
        print(f"[modebench] resuming from step {state.step}")

    logger = parts.logger
    logger.start(run_dir, seed_runs(group, identity["config"], seeds, identity["config_hash"], identity["variant"]))
    evaluator = parts.evaluator

    def evaluate(step: int) -> float | None:
        with extras.evaluation():
            results, _, _ = evaluator(method, data, _eval_generator(device, cfg.seed, step), final=False)
        state.history.append({"step": step, "metrics": [scalars(r) for r in results]})
        logger.log(results, step=step)
        return evaluator.key_value(results)

    def log_losses(row: list) -> None:
        step, loss_d, loss_g = row
        logger.log([{"loss_d": d, "loss_g": g} for d, g in zip(loss_d, loss_g)], step=step)

    def checkpoint(s: TrainState) -> None:
        s.extras = extras.state_dict()
        save_checkpoint(run_dir, train_hash, method, s, generator)
        write_history(run_dir, history_rows(seeds, s.losses, s.history))

    exit_code, summaries = 1, None  # what the logger records if anything below raises (or is interrupted)
    try:
        state = fit(method, settings, state, evaluate, checkpoint=checkpoint, extras=extras, on_losses=log_losses)
        checkpoint(state)
        with extras.evaluation():
            results, fake, eval_seconds = evaluator(method, data, _eval_generator(device, cfg.seed, None))
            images = run_figures(cfg, run_dir, data, method, fake, results, seeds, state.history, state.step,
                                 group["method"], state.losses)
        write_history(run_dir, history_rows(seeds, state.losses, state.history, (state.step, results)))
        logger.log(results, step=state.step)
        logger.log_images(images, step=state.step)
        logger.log_table(results, step=state.step)
        timing = {"train_seconds": round(state.train_seconds, 3), "steps": state.step,
                  "steps_per_second": round(state.step / max(state.train_seconds, 1e-9), 2),
                  "eval_seconds": round(eval_seconds + state.eval_seconds, 3),
                  "setup_seconds": round(setup_seconds, 3)}
        records = _records(state, results, seeds, method.diagnostics(),
                           {**identity, "timing": timing, "env": environment(device), "training": extras.description})
        path = save_results(run_dir, records)
        exit_code, summaries = 0, results
    finally:
        logger.finish(summaries=summaries, exit_code=exit_code)
    print(f"[modebench] trained {timing['steps']} steps in {timing['train_seconds']:.1f} s "
          f"({timing['steps_per_second']:.0f} steps/s)")
    print_summary(records, path)
    return records


def _records(state: TrainState, results: list[dict], seeds: list[int], diagnostics: list[dict] | None,
             shared: dict) -> list[dict]:
    """One record per replica: status, seed, final metrics, evaluation history, the method's diagnostics and the
    fields every replica shares (group, timing, config and its hashes, environment), in the results file's order."""
    records = []
    for r, seed in enumerate(seeds):
        diverged_at = state.diverged_at[r] if state.diverged_at else None
        records.append({
            "status": "diverged" if diverged_at is not None else "completed", "seed": seed, "replica": r,
            "replicas": len(seeds), "group": shared["group"], "metrics": results[r], "diverged_at_step": diverged_at,
            "timing": shared["timing"], "history": [{"step": h["step"], **h["metrics"][r]} for h in state.history],
            "config": shared["config"], "config_hash": shared["config_hash"], "variant": shared["variant"],
            "env": shared["env"], "training": shared["training"]})
        if diagnostics:
            records[-1]["diagnostics"] = diagnostics[r]
    return records


def _eval_generator(device: torch.device, seed: int, step: int | None) -> torch.Generator:
    """Evaluation draws from its own stream, so that evaluating never changes the training trajectory."""
    return torch.Generator(device).manual_seed(1_000_003 * (int(seed) + 1) + (step or 0))


def print_summary(records: list[dict], path: Path) -> None:
    """Where the results are, every replica's numeric metrics (those of the first record), one line per replica,
    and with several replicas their mean (std) over the replicas (sample std, ddof 1) that did not diverge."""
    keys = list(scalars(records[0].get("metrics") or {}))
    print(f"[modebench] results in {path}")
    for record in records:
        metrics = record.get("metrics") or {}
        shown = ", ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics)
        print(f"  seed {record['seed']} [{record['status']}]: {shown}")
    completed = [r["metrics"] for r in records if r.get("status") == "completed"]
    if len(completed) > 1:
        shown = ", ".join(f"{k}={mean_std([m[k] for m in completed if k in m])}" for k in keys)
        print(f"  mean (std) over {len(completed)} seeds: {shown}")


def mean_std(values: list[float]) -> str:
    """``mean (std)`` with 4 significant digits; the std is the sample std (ddof 1), as in the paper tables."""
    values = [float(v) for v in values if math.isfinite(float(v))]
    if not values:
        return "nan"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ({std:.2g})"
