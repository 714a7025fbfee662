"""modebench entry point: compose -> validate -> build -> train -> evaluate -> record.

    python run.py                                   # the default experiment (RLS paper, RING, rls_discr)
    python run.py dataset=grid method=rls_gauss seed=3
    python run.py -m method=vanilla,rls_gauss dataset=ring,grid seed=0 trainer.replicas=5 logger=none
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import hydra
import torch

from core.cpu_runtime import configure_cpu_runtime

# flush-to-zero floats and a heap that keeps freed memory: before torch starts its thread pool
configure_cpu_runtime()
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from core.errors import ConfigError, DataError, require
from engine.evaluation import Evaluator
from engine.loggers import flatten_replica_metrics
from engine.records import (config_hash, environment, is_finished, load_results, save_results, training_hash,
                            variant_hash)
from engine.trainer import TrainerSettings, TrainState, fit, load_checkpoint, save_checkpoint
from engine.validation import check_targets
from gans.method import RunContext
from metrics import image_plots, plots
from metrics.modes import ModeCoverage

GROUPS = ("dataset", "gan", "loss", "method", "sampler", "trainer", "logger")


@dataclass
class Components:
    """The instantiated (but not yet built) parts of a run."""

    dataset: Any
    gan: Any
    loss: Any
    sampler: Any
    method: Any
    trainer: TrainerSettings
    evaluator: Evaluator
    logger: Any


def build_components(cfg: DictConfig) -> Components:
    """Instantiate every part from the config and check that they fit together; allocates no data."""
    for group in GROUPS + ("metrics",):
        require(group in cfg, f"the config has no '{group}' section")
        check_targets(cfg[group], group)
    parts = Components(
        dataset=_instantiate(cfg.dataset), gan=_instantiate(cfg.gan), loss=_instantiate(cfg.loss),
        sampler=_instantiate(cfg.sampler), method=_instantiate(cfg.method), trainer=_instantiate(cfg.trainer),
        evaluator=Evaluator(cfg.metrics), logger=_instantiate(cfg.logger))
    check_compatibility(parts)
    return parts


def _instantiate(node: DictConfig) -> Any:
    """hydra's instantiate, re-raising our own ConfigError/DataError instead of hydra's wrapper around it, so that
    a bad value gets the one-line message (hydra's wrapper prints a traceback hint and its target)."""
    try:
        return instantiate(node)
    except InstantiationException as exc:
        if isinstance(exc.__cause__, (ConfigError, DataError)):
            raise exc.__cause__ from None
        raise


def check_compatibility(parts: Components) -> None:
    """Cross-component checks: every one names the conflicting choices and a fix."""
    data, gan, method, sampler, trainer = parts.dataset, parts.gan, parts.method, parts.sampler, parts.trainer
    gan.check_data(data.kind, data.sample_shape)
    if trainer.replicas > 1:
        require(gan.supports_replicas,
                f"trainer.replicas={trainer.replicas}, but this gan trains one replica per process; set "
                "trainer.replicas=1 and sweep seeds instead (python run.py -m seed=0,1,2)")
        require(method.supports_replicas,
                f"trainer.replicas={trainer.replicas}, but method {type(method).__name__} trains one replica per "
                "process; set trainer.replicas=1 and sweep seeds instead (python run.py -m seed=0,1,2)")
    for part, name in ((method, "method"), (sampler, "sampler")):
        missing = set(part.requires) - set(data.provides)
        require(not missing, f"{name} {type(part).__name__} needs {sorted(missing)} from the dataset, which "
                             f"'{data.name}' does not provide (it provides {sorted(data.provides)})")
    for name, metric in parts.evaluator.metrics.items():
        kinds = getattr(metric, "kinds", None)
        require(kinds is None or data.kind in kinds,
                f"metrics.{name} ({type(metric).__name__}) scores {'/'.join(kinds or ())} data, but dataset "
                f"'{data.name}' is {data.kind} data; use metrics=toy for mixtures and metrics=images for images")
        missing = set(getattr(metric, "requires", ())) - set(data.provides)
        require(not missing, f"metrics.{name} ({type(metric).__name__}) needs {sorted(missing)} from the dataset, "
                             f"which '{data.name}' does not provide (it provides {sorted(data.provides)}); remove it "
                             f"(metrics.{name}=null) or choose another metrics group")
    method.check(trainer)


def run_context(parts: Components, data, seeds: list[int], device, generator: torch.Generator) -> RunContext:
    """What a method's ``setup`` receives: the data, the configured parts and the trainer's settings."""
    settings = parts.trainer
    return RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=seeds,
                      batch_size=settings.batch_size, steps=settings.steps, device=torch.device(device),
                      generator=generator, update_scheme=settings.update_scheme, n_dis=settings.n_dis,
                      count_modes=mode_counter(data))


def mode_counter(data) -> Callable[[torch.Tensor, float], list[int]] | None:
    """``count_modes(fake, std_threshold)``: the high-quality samples per mode of one replica's samples (N, d), as
    the mode-coverage metric counts them; None when the data has no mode centres and covariances."""
    if data.centers is None or data.covariances is None:
        return None

    def count_modes(fake: torch.Tensor, std_threshold: float) -> list[int]:
        return ModeCoverage(std_threshold=std_threshold, min_count=1)(fake, data)["mode_counts"]

    return count_modes


def build_method(cfg: DictConfig, replicas: int, device: str = "cpu", seed: int = 0):
    """The configured method set up on ``device`` for seeds ``seed..seed+replicas-1``, without training:
    (method, data). For analysis scripts and tests; ``load_state_dict`` a checkpoint's ``method`` to inspect a run."""
    parts = build_components(cfg)
    data = parts.dataset.load(device)
    parts.method.check(parts.trainer)
    parts.method.setup(run_context(parts, data, list(range(seed, seed + replicas)), device,
                                   torch.Generator(device).manual_seed(seed)))
    return parts.method, data


def execute(cfg: DictConfig, choices: dict[str, str], run_dir: Path) -> list[dict]:
    """Train and evaluate one configuration in ``run_dir``; returns its records (one per replica)."""
    parts = build_components(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    cfg_hash, train_hash, variant = config_hash(resolved), training_hash(resolved), variant_hash(resolved)
    group = {"experiment": cfg.experiment_name, **{k: choices.get(k, "?") for k in ("dataset", "gan", "loss", "method")}}
    group["sampler"] = choices.get("sampler", "?")
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
    setup_seconds = time.perf_counter() - t0
    state = load_checkpoint(run_dir, train_hash, method, generator) or TrainState()
    if state.step:
        print(f"[modebench] resuming from step {state.step}")

    logger = parts.logger
    logger.start(run_dir, name="_".join(f"{k}={v}" for k, v in group.items()) + f"_seed{seeds[0]}",
                 group=group["experiment"], config=resolved)
    evaluator = parts.evaluator

    def evaluate(step: int) -> float | None:
        results, _, _ = evaluator(method, data, _eval_generator(device, cfg.seed, step), final=False)
        state.history.append({"step": step, "metrics": [_scalars(r) for r in results]})
        logger.log(flatten_replica_metrics(results, seeds), step=step)
        return evaluator.key_value(results)

    try:
        state = fit(method, settings, state, evaluate,
                    checkpoint=lambda s: save_checkpoint(run_dir, train_hash, method, s, generator))
        save_checkpoint(run_dir, train_hash, method, state, generator)
        results, fake, eval_seconds = evaluator(method, data, _eval_generator(device, cfg.seed, None))
        images = _plots(cfg, run_dir, data, method, fake, results, seeds)
        logger.log(flatten_replica_metrics(results, seeds), step=state.step)
        logger.log_images(images, step=state.step)
    except BaseException:
        logger.finish(failed=True)
        raise

    timing = {"train_seconds": round(state.train_seconds, 3), "steps": state.step,
              "steps_per_second": round(state.step / max(state.train_seconds, 1e-9), 2),
              "eval_seconds": round(eval_seconds + state.eval_seconds, 3), "setup_seconds": round(setup_seconds, 3)}
    env = environment(device)
    diagnostics = method.diagnostics()
    records = []
    for r, seed in enumerate(seeds):
        diverged_at = state.diverged_at[r] if state.diverged_at else None
        records.append({
            "status": "diverged" if diverged_at is not None else "completed", "seed": seed, "replica": r,
            "replicas": len(seeds), "group": group, "metrics": results[r], "diverged_at_step": diverged_at,
            "timing": timing, "history": [{"step": h["step"], **h["metrics"][r]} for h in state.history],
            "config": resolved, "config_hash": cfg_hash, "variant": variant, "env": env})
        if diagnostics:
            records[-1]["diagnostics"] = diagnostics[r]
    path = save_results(run_dir, records)
    logger.finish(summary=flatten_replica_metrics(results, seeds))
    _print_summary(records, evaluator, timing, path)
    return records


def _eval_generator(device: torch.device, seed: int, step: int | None) -> torch.Generator:
    """Evaluation draws from its own stream, so that evaluating never changes the training trajectory."""
    return torch.Generator(device).manual_seed(1_000_003 * (int(seed) + 1) + (step or 0))


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _plots(cfg, run_dir: Path, data, method, fake, results, seeds) -> dict[str, Path]:
    """Figures for the first ``plots.replicas`` replicas: toy scatter/mode/weight plots, image grids/histograms."""
    if not cfg.plots.enabled or data.kind not in ("toy", "image"):
        return {}
    images: dict[str, Path] = {}
    if data.kind == "image":
        for r in range(min(int(cfg.plots.replicas), len(seeds))):
            title = f"{cfg.experiment_name} | {data.name} | seed {seeds[r]}"
            images.update(image_plots.image_figures(Path(run_dir) / "plots", data, fake[r], results[r], title,
                                                    f"seed{seeds[r]}"))
        return images
    probabilities = method.sampler.probabilities(method)
    for r in range(min(int(cfg.plots.replicas), len(seeds))):
        title = f"{cfg.experiment_name} | {data.name} | seed {seeds[r]}"
        folder = Path(run_dir) / "plots"
        images[f"samples/seed{seeds[r]}"] = plots.scatter_samples(folder / f"samples_seed{seeds[r]}.png", data, fake[r], title)
        if "mode_counts" in results[r]:
            images[f"modes/seed{seeds[r]}"] = plots.mode_bars(folder / f"modes_seed{seeds[r]}.png", data,
                                                              results[r]["mode_counts"], title)
        if probabilities is not None:
            path = plots.sampling_weights(folder / f"weights_seed{seeds[r]}.png", data, probabilities[r], title)
            if path is not None:
                images[f"weights/seed{seeds[r]}"] = path
    shown = seeds[:min(int(cfg.plots.replicas), len(seeds))]
    images.update(method.plots(Path(run_dir) / "plots", data, results, shown,
                               f"{cfg.experiment_name} | {data.name}"))
    return images


def _print_summary(records: list[dict], evaluator: Evaluator, timing: dict, path: Path) -> None:
    keys = [k for k, v in records[0]["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    print(f"[modebench] trained {timing['steps']} steps in {timing['train_seconds']:.1f} s "
          f"({timing['steps_per_second']:.0f} steps/s); results in {path}")
    for record in records:
        shown = ", ".join(f"{k}={record['metrics'][k]:.4g}" for k in keys)
        print(f"  seed {record['seed']} [{record['status']}]: {shown}")


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    try:
        execute(cfg, dict(hydra_cfg.runtime.choices), Path(hydra_cfg.runtime.output_dir))
    except (ConfigError, DataError) as exc:
        kind = "configuration" if isinstance(exc, ConfigError) else "data"
        sys.exit(f"modebench: {kind} error: {exc}")


if __name__ == "__main__":
    main()
