"""Before Hydra makes any folder: compose every job of a command line, validate it and check its run folder.

Hydra creates a job's run folder before the task function runs, so a configuration error found there leaves an empty
folder behind. ``plan_jobs`` does the same composition up front (Hydra's compose API; a multirun expanded like its
basic sweeper does) and raises :class:`~core.errors.ConfigError` with one message for: a misspelled key (with the
valid keys, not Hydra's "+key" advice), a value of the wrong type, an impossible combination
(``engine.build.build_components``), a run folder that cannot be created, two jobs sharing one folder, and a folder
holding the finished results of another training setting. ``run.py``, ``sweeps.run`` and the multirun summary use it.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from core.errors import ConfigError
from core.files import unwritable_reason
from engine.build import build_components
from engine.records import config_hash, load_results, training_conflict
from engine.validation import parameter_types

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}


@dataclass
class PlannedJob:
    """One job of a command line: its overrides, composed config (without the ``hydra`` node), group choices, run
    folder (absolute) and configuration hash."""

    overrides: list[str]
    cfg: DictConfig
    choices: dict[str, str]
    run_dir: Path
    config_hash: str


def plan_jobs(overrides: list[str], multirun: bool, config_name: str = "config",
              validate: bool = True) -> list[PlannedJob]:
    """Every job of ``python run.py [-m] <overrides>``, composed and (``validate``) checked: see the module
    docstring. Without ``validate`` only composition errors are raised (to read back the jobs of a sweep)."""
    job_overrides = expand_sweep(overrides) if multirun else [list(overrides)]
    with _composer():
        jobs = [_plan(job, multirun, config_name, validate) for job in job_overrides]
    folders: dict[Path, list[PlannedJob]] = defaultdict(list)
    for job in jobs:
        folders[job.run_dir].append(job)
    for folder, sharing in folders.items():
        if len(sharing) > 1:
            a, b = (" ".join(j.overrides) for j in sharing[:2])
            raise ConfigError(f"jobs '{a}' and '{b}' would share the run folder {folder}: the setting that tells them "
                              "apart is left out of folder names (hydra.job.config.override_dirname.exclude_keys); "
                              "sweep it in separate commands, or give each its own hydra.sweep.dir")
    return jobs


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """The jobs of a multirun's overrides, in the order Hydra's basic sweeper runs them (a cartesian product over
    the swept keys, the first swept key outermost)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
        return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    except HydraException as exc:
        raise ConfigError(str(exc).strip()) from None


@contextmanager
def _composer() -> Iterator[None]:
    """Hydra's compose API on ``conf/`` (or, inside a running Hydra app, on the app's own search path)."""
    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield


def _plan(overrides: list[str], multirun: bool, config_name: str, validate: bool) -> PlannedJob:
    cfg = compose_checked(overrides, config_name)
    run_dir = run_folder(cfg, multirun)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if not validate:
        return PlannedJob(list(overrides), cfg, choices, run_dir, config_hash(resolved))
    build_components(cfg)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    problem = unwritable_reason(run_dir)
    if problem:
        raise ConfigError(f"the run folder {run_dir} cannot be created: {problem}; choose another {key}")
    conflict = training_conflict(load_results(run_dir), resolved)
    if conflict:
        raise ConfigError(f"run folder {run_dir} holds the finished results of another training configuration "
                          f"({conflict}); they are kept: choose another folder ({key}=...), or move that folder "
                          "away to train this configuration there")
    return PlannedJob(list(overrides), cfg, choices, run_dir, config_hash(resolved))


def compose_checked(overrides: list[str], config_name: str = "config") -> DictConfig:
    """``compose(config_name, overrides)`` with the ``hydra`` node, its errors as one-line ConfigErrors; an unknown
    key (``trainer.stepz=5``) lists the valid keys of its section."""
    try:
        return compose(config_name, overrides=list(overrides), return_hydra_config=True)
    except HydraException as exc:
        match = re.match(r"Could not override '([^']+)'", str(exc))
        if match and isinstance(exc.__cause__, OmegaConfBaseException) and "not in struct" in str(exc.__cause__):
            raise ConfigError(_unknown_key_message(match.group(1), overrides, config_name)) from None
        raise ConfigError(_one_line(str(exc))) from None
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc).strip()) from None


def _one_line(message: str) -> str:
    """Hydra's multi-line messages on one line (a list of available options joined by commas)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Available options"):
            return "; ".join(lines[:i]) + f"; {line[0].lower()}{line[1:]} " + ", ".join(lines[i + 1:])
    return "; ".join(lines)


def _unknown_key_message(key: str, overrides: list[str], config_name: str) -> str:
    others = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key]
    cfg = compose(config_name, overrides=others)
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    while parent and not isinstance(node, DictConfig):
        parent, _, _ = parent.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
    where = f"'{parent}'" if parent else "the top level"
    valid = _valid_keys(node)
    return f"unknown key '{key}' (no '{leaf}' in {where}); valid keys of {where}: {valid}"


def _valid_keys(node: DictConfig) -> list[str]:
    """The keys a config section accepts: its own and, under a ``_target_``, the target's parameters."""
    keys = {k for k in node.keys() if k not in _HYDRA_KEYS}
    if "_target_" in node:
        from hydra.utils import get_object

        try:
            keys |= set(parameter_types(get_object(node._target_)) or ())
        except Exception:  # an unimportable target is reported by build_components
            pass
    return sorted(keys)


def run_folder(cfg: DictConfig, multirun: bool) -> Path:
    """The absolute run folder Hydra gives a composed job (``hydra.run.dir``, or ``hydra.sweep.dir`` /
    ``hydra.sweep.subdir`` in a multirun), resolved as in the job (its ``${hydra:...}`` values)."""
    holder = HydraConfig.instance()
    previous = holder.cfg
    try:
        holder.set_config(cfg)
        if multirun:
            folder = Path(str(OmegaConf.select(cfg, "hydra.sweep.dir"))) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
        else:
            folder = Path(str(OmegaConf.select(cfg, "hydra.run.dir")))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"the run folder cannot be resolved: {str(exc).splitlines()[0]}") from None
    finally:
        if previous is not None:
            holder.cfg = previous
    return Path(os.path.abspath(folder.expanduser()))  # as Hydra's runtime.output_dir

