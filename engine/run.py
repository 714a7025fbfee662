"""One run of a composed configuration in its run folder: build -> set up -> train (periodic evaluation,
checkpoints, resume) -> final evaluation -> figures -> records (one per replica) -> logger summary."""
from __future__ import annotations

import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from engine.build import build_components, run_context
from engine.extras import TrainingExtras
from engine.figures import run_figures
from engine.loggers import flatten_replica_metrics
from engine.records import (config_hash, environment, is_finished, load_results, save_results, training_hash,
                            variant_hash)
from engine.trainer import TrainState, fit, load_checkpoint, save_checkpoint


def execute(cfg: DictConfig, choices: dict[str, str], run_dir: Path) -> list[dict]:
    """Train and evaluate one configuration in ``run_dir``; returns its records (one per replica).

    ``choices`` are hydra's runtime choices of the config groups (they name the run). A folder that already holds
    finished results of the same configuration is not trained again; one with a checkpoint resumes from it."""
    parts = build_components(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    cfg_hash, train_hash, variant = config_hash(resolved), training_hash(resolved), variant_hash(resolved)
    group = {"experiment": cfg.experiment_name,
             **{k: choices.get(k, "?") for k in ("dataset", "gan", "loss", "method", "sampler")}}
    previous = load_results(run_dir)
    if is_finished(previous, cfg_hash):
        print(f"[modebench] {run_dir} already holds finished results for this configuration; skipping")
        return previous["records"]

    settings = parts.trainer
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = settings.resolve_device()
    seeds = [int(cfg.seed) + r for r in range(settings.replicas)]
    torch.manual_seed(int(cfg.seed))
    print(f"[modebench] {group['experiment']}: dataset={group['dataset']} gan={group['gan']} loss={group['loss']} "
          f"method={group['method']} sampler={group['sampler']} | seeds {seeds} | {settings.steps} steps x batch "
          f"{settings.batch_size} on {device} | {run_dir}")

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
    logger.start(run_dir, name="_".join(f"{k}={v}" for k, v in group.items()) + f"_seed{seeds[0]}",
                 group=group["experiment"], config=resolved)
    evaluator = parts.evaluator

    def evaluate(step: int) -> float | None:
        with extras.evaluation():
            results, _, _ = evaluator(method, data, _eval_generator(device, cfg.seed, step), final=False)
        state.history.append({"step": step, "metrics": [_scalars(r) for r in results]})
        logger.log(flatten_replica_metrics(results, seeds), step=step)
        return evaluator.key_value(results)

    def checkpoint(s: TrainState) -> None:
        s.extras = extras.state_dict()
        save_checkpoint(run_dir, train_hash, method, s, generator)

    try:
        state = fit(method, settings, state, evaluate, checkpoint=checkpoint, extras=extras)
        checkpoint(state)
        with extras.evaluation():
            results, fake, eval_seconds = evaluator(method, data, _eval_generator(device, cfg.seed, None))
            images = run_figures(cfg, run_dir, data, method, fake, results, seeds)
        logger.log(flatten_replica_metrics(results, seeds), step=state.step)
        logger.log_images(images, step=state.step)
    except BaseException:
        logger.finish(failed=True)
        raise

    timing = {"train_seconds": round(state.train_seconds, 3), "steps": state.step,
              "steps_per_second": round(state.step / max(state.train_seconds, 1e-9), 2),
              "eval_seconds": round(eval_seconds + state.eval_seconds, 3), "setup_seconds": round(setup_seconds, 3)}
    shared = {"group": group, "timing": timing, "config": resolved, "config_hash": cfg_hash, "variant": variant,
              "env": environment(device), "training": extras.description}
    records = _records(state, results, seeds, method.diagnostics(), shared)
    path = save_results(run_dir, records)
    logger.finish(summary=flatten_replica_metrics(results, seeds))
    _print_summary(records, timing, path)
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


def _scalars(metrics: dict) -> dict:
    """The numeric (non-bool) entries of a metrics dict: what the evaluation history keeps."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _print_summary(records: list[dict], timing: dict, path: Path) -> None:
    """The run's speed and every replica's numeric metrics (those of the first record), one line per replica."""
    keys = list(_scalars(records[0]["metrics"]))
    print(f"[modebench] trained {timing['steps']} steps in {timing['train_seconds']:.1f} s "
          f"({timing['steps_per_second']:.0f} steps/s); results in {path}")
    for record in records:
        shown = ", ".join(f"{k}={record['metrics'][k]:.4g}" for k in keys)
        print(f"  seed {record['seed']} [{record['status']}]: {shown}")
