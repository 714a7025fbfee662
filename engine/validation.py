"""Config validation before anything is built: unknown keys under a ``_target_`` are errors."""
from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf

from core.errors import ConfigError

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# keys the evaluation reads from any metric node (engine.evaluation), whatever the metric's own parameters
_METRIC_NODE_KEYS = {"n_samples"}


def check_targets(cfg: Any, where: str) -> None:
    """Walk ``cfg``; for every node with a ``_target_``, check the target exists and accepts every key.

    A misspelled key (``sampler.sigmaa``) would otherwise surface as a TypeError deep inside a run, or
    be silently ignored by a permissive constructor; here it stops the run with the valid keys listed.
    """
    if isinstance(cfg, ListConfig):
        for i, item in enumerate(cfg):
            check_targets(item, f"{where}[{i}]")
        return
    if not isinstance(cfg, DictConfig):
        return
    target = cfg.get("_target_") if "_target_" in cfg else None
    if target is not None:
        try:
            obj = get_object(target)
        except Exception as exc:
            raise ConfigError(f"{where}._target_: cannot import '{target}' ({exc})") from None
        params = _parameters(obj)
        if params is not None:
            extra = _METRIC_NODE_KEYS if where.split(".")[0] == "metrics" else set()
            unknown = [k for k in cfg.keys() if k not in _HYDRA_KEYS and k not in params and k not in extra]
            if unknown:
                raise ConfigError(f"unknown key(s) {unknown} in '{where}' ({target}); valid keys: {sorted(params)}")
    for key in cfg.keys():
        if key in _HYDRA_KEYS:
            continue
        node = cfg._get_node(key)
        if OmegaConf.is_config(node):
            check_targets(node, f"{where}.{key}" if where else str(key))


def _parameters(obj) -> set[str] | None:
    """Keyword parameters of a callable; None when it accepts arbitrary keywords."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return {name for name, p in signature.parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
