"""Config validation before anything is built: keys and value types.

- Every node with a ``_target_``: the target exists and accepts every key (``check_targets``), and each value has
  the type the target's own signature declares (a dataclass field, an ``__init__`` annotation), checked by OmegaConf's
  structured configs (``trainer.steps=10.5`` or ``sampler.gamma=big`` name the field and the expected type).
- The top level (``check_run_config``): only the component groups and the fields of :class:`RunSettings`, typed.

Rules that no type expresses (a range, two fields that must agree) stay with ``core.errors.require`` in the
components themselves and in ``engine.build.check_compatibility``.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.utils import get_object
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from core.errors import ConfigError, require

_HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
# keys the evaluation reads from any metric node (engine.evaluation), whatever the metric's own parameters
_METRIC_NODE_KEYS = {"n_samples"}
#: The component groups of a run (each a node with a ``_target_``, checked by :func:`check_targets`).
GROUP_KEYS = ("dataset", "gan", "loss", "method", "sampler", "trainer", "metrics", "logger")
#: Component groups a run may leave unset (engine.build checks each one present).
OPTIONAL_GROUP_KEYS = ("augment",)


@dataclass
class DataSettings:
    root: str = MISSING  # where image data, decoded caches and trained evaluators live


@dataclass
class PlotSettings:
    enabled: bool = True
    replicas: int = 1  # figures for the first k replicas
    history: List[str] = field(default_factory=list)  # metrics of the periodic evaluations plotted over training


@dataclass
class RLSSettings:
    k: int = MISSING
    gamma: float = MISSING
    features: Optional[str] = None  # sampler=rls_class's feature network for the preset (conf/rls/cifar10.yaml: auto)


@dataclass
class DiaGANSettings:
    k: float = MISSING  # method=diagan's k for a preset whose rows are several methods (conf/method/diagan.yaml)


@dataclass
class LatentSupervisionSettings:
    size: Optional[int] = None
    draw: Optional[str] = None
    start: Optional[int] = None
    every: Optional[int] = None
    batches: Optional[int] = None


@dataclass
class LatentPriorLearningSettings:
    start: Optional[int] = None
    lr: Optional[float] = None
    batch_size: Optional[int] = None
    record_every: Optional[int] = None


@dataclass
class LatentInverterSettings:
    arch: Optional[str] = None
    hidden: Optional[List[int]] = None
    latent_activation: Optional[str] = None
    lr: Optional[float] = None


@dataclass
class LatentSettings:
    """The ``latent`` block (conf/latent/) read by the latent methods' configs (NEMGAN & co.) through oc.select;
    a key left out keeps each method's own default."""

    prior_steepness: Optional[float] = None
    supervision: LatentSupervisionSettings = field(default_factory=LatentSupervisionSettings)
    prior_learning: LatentPriorLearningSettings = field(default_factory=LatentPriorLearningSettings)
    inverter: LatentInverterSettings = field(default_factory=LatentInverterSettings)


@dataclass
class MetricsSettings:
    """The ``metrics`` group's own settings (its other entries are metric nodes, or null to drop one)."""

    n_samples: int = MISSING
    key_metric: Optional[str] = None


@dataclass
class RunSettings:
    """The top-level keys of a run's config besides the component groups (conf/config.yaml)."""

    experiment_name: str = MISSING
    seed: int = MISSING
    data: DataSettings = field(default_factory=DataSettings)
    plots: PlotSettings = field(default_factory=PlotSettings)
    rls: Optional[RLSSettings] = None
    diagan: Optional[DiaGANSettings] = None
    latent: Optional[LatentSettings] = None


def check_run_config(cfg: DictConfig) -> None:
    """The top level of a composed run config (without its ``hydra`` node): no unknown key (``+foo=bar``), the
    types of :class:`RunSettings` and of the ``metrics`` group's own settings, and ``plots.replicas >= 0``."""
    groups = set(GROUP_KEYS) | set(OPTIONAL_GROUP_KEYS)
    known = {f.name for f in dataclasses.fields(RunSettings)} | groups
    unknown = [k for k in cfg.keys() if k not in known and k != "hydra"]
    require(not unknown, f"unknown top-level key(s) {unknown}; valid top-level keys: {sorted(known)}")
    settings = {}
    for key in cfg.keys():
        if key not in groups and key != "hydra":
            node = cfg._get_node(key)
            settings[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else cfg[key]
    checked = _typed(RunSettings, settings, "")
    if isinstance(cfg.get("metrics"), DictConfig):
        own = {k: cfg.metrics[k] for k in cfg.metrics.keys()
               if not OmegaConf.is_config(cfg.metrics._get_node(k)) and cfg.metrics[k] is not None}
        _typed(MetricsSettings, own, "metrics")
    require(checked.plots.replicas >= 0, f"plots.replicas must be >= 0 (figures for the first k replicas), got "
                                         f"{checked.plots.replicas}")


def check_targets(cfg: Any, where: str) -> None:
    """Walk ``cfg``; for every node with a ``_target_``, check the target exists, accepts every key and that every
    value has the type the target declares.

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
        params = parameter_types(obj)
        if params is not None:
            extra = _METRIC_NODE_KEYS if where.split(".")[0] == "metrics" else set()
            unknown = [k for k in cfg.keys() if k not in _HYDRA_KEYS and k not in params and k not in extra]
            if unknown:
                raise ConfigError(f"unknown key(s) {unknown} in '{where}' ({target}); valid keys: {sorted(params)}")
            _check_types(cfg, params, where)
    for key in cfg.keys():
        if key in _HYDRA_KEYS:
            continue
        node = cfg._get_node(key)
        if OmegaConf.is_config(node):
            check_targets(node, f"{where}.{key}" if where else str(key))


def parameter_types(obj) -> dict[str, Any] | None:
    """Keyword parameters of a callable (a class: its ``__init__``; a dataclass: its fields) and their annotations
    (``Any`` where there is none or it cannot be evaluated); None when it accepts arbitrary keywords."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    hints = _type_hints(obj)
    return {name: hints.get(name, Any) for name, p in signature.parameters.items()
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}


def _type_hints(obj) -> dict[str, Any]:
    function = obj.__init__ if inspect.isclass(obj) else obj
    for source in (function, obj):
        try:
            return typing.get_type_hints(source)
        except Exception:  # a name only imported for type checkers: evaluate what can be, one by one
            continue
    module = inspect.getmodule(obj)
    hints = {}
    for name, value in getattr(function, "__annotations__", {}).items():
        try:
            hints[name] = eval(value, vars(module)) if isinstance(value, str) else value
        except Exception:
            hints[name] = Any
    return hints


def _check_types(node: DictConfig, params: dict[str, Any], where: str) -> None:
    fields, values = [], {}
    for key in node.keys():
        if key in _HYDRA_KEYS:
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and "_target_" in child:
            continue  # a nested component: checked against its own target
        kind = config_type(params.get(key, Any))
        if kind is Any:
            continue
        value = OmegaConf.to_container(child, resolve=True) if OmegaConf.is_config(child) else node[key]
        fields.append((key, kind, field(default=MISSING)))
        values[key] = value
    if fields:
        _typed(dataclasses.make_dataclass("Fields", fields), values, where)


def _typed(schema: type, values: dict, where: str) -> Any:
    """``values`` merged onto the structured config of ``schema``: ConfigError naming the key and the expected type
    when a value does not fit (OmegaConf's own conversions: "5" is an int, 5 a float, 10.5 is not an int)."""
    try:
        return OmegaConf.merge(OmegaConf.structured(schema), values)
    except OmegaConfBaseException as exc:
        key = ".".join(k for k in (where, str(exc.full_key or exc.key or "")) if k)
        message = str(exc.msg if hasattr(exc, "msg") else exc).splitlines()[0]
        if "not in" in message:
            expected = sorted(f.name for f in dataclasses.fields(_schema_at(schema, str(exc.full_key or ""))))
            raise ConfigError(f"unknown key '{key}'; valid keys there: {expected}") from None
        hint = ""
        if isinstance(exc.value, float) and exc.value.is_integer():
            hint = f" (write {key}={int(exc.value)})"
        raise ConfigError(f"{key}: {message}{hint}") from None


def _schema_at(schema: type, full_key: str) -> type:
    """The dataclass of ``schema`` at the parent of the dotted ``full_key``."""
    for part in full_key.split(".")[:-1]:
        hint = typing.get_type_hints(schema).get(part)
        hint = next((a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)), hint)
        if not dataclasses.is_dataclass(hint):
            break
        schema = hint
    return schema


def config_type(annotation: Any) -> Any:
    """The OmegaConf-checkable form of a Python annotation: int, float, bool, str, Optional/List/Dict of those (a
    tuple or sequence as a list); ``Any`` for everything else (unions, classes, callables: not checked)."""
    if annotation in (int, float, bool, str):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = config_type(rest[0]) if len(rest) == 1 else Any
        return Any if inner is Any else Optional[inner]
    if origin in (list, tuple, collections.abc.Sequence):
        if origin is tuple and len(set(args) - {Ellipsis}) > 1:
            return Any
        return List[config_type(args[0]) if args else Any]
    if origin in (dict, collections.abc.Mapping) and args and args[0] is str:
        return Dict[str, config_type(args[1])]
    return Any
