"""From a composed config to the parts of a run: instantiate every group, check that the parts fit together, and
the :class:`~gans.method.RunContext` a method is set up with."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from core.errors import ConfigError, DataError, require
from datasets.base import DataBundle
from engine.evaluation import Evaluator
from engine.trainer import TrainerSettings
from engine.validation import check_run_config, check_targets
from gans.method import RunContext
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
    augment: Any = None  # the optional ``augment`` group (gans.augment); None: D sees its inputs as they are


def build_components(cfg: DictConfig) -> Components:
    """Instantiate every part from the config and check that they fit together; allocates no data."""
    for group in GROUPS + ("metrics",):
        require(group in cfg, f"the config has no '{group}' section")
        check_targets(cfg[group], group)
    check_run_config(cfg)
    parts = Components(
        dataset=_instantiate(cfg.dataset), gan=_instantiate(cfg.gan), loss=_instantiate(cfg.loss),
        sampler=_instantiate(cfg.sampler), method=_instantiate(cfg.method), trainer=_instantiate(cfg.trainer),
        evaluator=Evaluator(cfg.metrics), logger=_instantiate(cfg.logger))
    if cfg.get("augment") is not None:
        check_targets(cfg.augment, "augment")
        parts.augment = _instantiate(cfg.augment)
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
    if parts.augment is not None:
        parts.augment.check_data(data.kind, data.sample_shape)
    if trainer.ema_decay is not None:
        require(method.planned_steps(trainer.steps) == trainer.steps,
                f"trainer.ema_decay averages one generator, but method {type(method).__name__} trains several one "
                "after another; set trainer.ema_decay=null")
    if trainer.replicas > 1:
        require(gan.supports_replicas,
                f"trainer.replicas={trainer.replicas}, but this gan trains one replica per process; set "
                "trainer.replicas=1 and sweep seeds instead (python run.py -m seed=0,1,2)")
        require(method.supports_replicas,
                f"trainer.replicas={trainer.replicas}, but method {type(method).__name__} trains one replica per "
                "process; set trainer.replicas=1 and sweep seeds instead (python run.py -m seed=0,1,2)")
    for part, name in ((method, "method"), (sampler, "sampler")):
        missing = set(part.requires) - set(data.provides)
        hint = getattr(part, "requires_hint", None)  # how to get what is missing (e.g. which datasets have it)
        require(not missing, f"{name} {type(part).__name__} needs {sorted(missing)} from the dataset, which "
                             f"'{data.name}' does not provide (it provides {sorted(data.provides)})"
                             + (f"; it {hint}" if hint else ""))
    method.check_loss(parts.loss)
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


def run_context(parts: Components, data: DataBundle, seeds: list[int], device,
                generator: torch.Generator) -> RunContext:
    """What a method's ``setup`` receives: the data, the configured parts, the trainer's settings and a mode
    counter for mixture data."""
    settings = parts.trainer
    return RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=seeds,
                      batch_size=settings.batch_size, steps=settings.steps, device=torch.device(device),
                      generator=generator, update_scheme=settings.update_scheme, n_dis=settings.n_dis,
                      count_modes=mode_counter(data), augment=parts.augment)


def mode_counter(data: DataBundle) -> Callable[[torch.Tensor, float], list[int]] | None:
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
    parts.method.setup(run_context(parts, data, list(range(seed, seed + replicas)), device,
                                   torch.Generator(device).manual_seed(seed)))
    return parts.method, data
