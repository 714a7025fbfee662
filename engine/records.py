"""results.json: one file per run directory holding one record per replica (see DESIGN.md)."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from core.files import read_json, write_json

RESULTS_FILE = "results.json"

# Settings that do not change a run's numbers: excluded from the config hash, so changing them neither
# re-runs finished work nor invalidates a checkpoint.
NON_RESULT_KEYS = (
    "logger", "plots", "data.root", "dataset.root", "dataset.download", "metrics.inception_weights",
    "metrics.*.inception_weights", "metrics.cache_dir", "metrics.*.cache_dir", "trainer.device", "trainer.progress",
    "sampler.inception_weights",
    "trainer.threads", "trainer.eval_every", "trainer.ckpt_every", "trainer.check_every",
    "trainer.log_every",
)
# Settings added after runs existed, at the value that reproduces those runs: a config holding one of them at that
# value hashes like a config without it, so adding a feature neither re-runs finished work nor splits a table's
# rows into variants. (Those that change numbers when set count fully once set.)
NEUTRAL_DEFAULTS = {
    "augment": {"_target_": "gans.augment.Augmentation"}, "trainer.lr_decay": "none", "trainer.lr_decay_start": 0.0, "trainer.lr_decay_end": 1.0,
    "trainer.ema_decay": None, "trainer.ema_start": 0, "trainer.channels_last": "auto", "trainer.tf32": "auto",
    "trainer.compile": False, "trainer.autocast": "none",
    # sampler=rls_class's feature network (issue 18): the evaluator's features, as before the Inception option
    "sampler.features": "evaluator", "sampler.features_resolved": "evaluator", "sampler.batch_size": 50,
}
# ...and additionally the seeds: runs that differ only in these are the same setting (one "variant").
SEED_KEYS = ("seed", "trainer.replicas")
# Evaluation settings do not change the trained model: a run whose config differs from a finished one
# only in these re-evaluates the final checkpoint instead of training again.
EVAL_KEYS = ("metrics",)


def _drop(cfg: dict, dotted: str) -> None:
    """Remove a dotted key (a ``*`` segment matches every child); parents left empty are removed too (a
    config that only adds such keys hashes like one without them)."""
    key, _, rest = dotted.partition(".")
    if not isinstance(cfg, dict):
        return
    if key == "*":
        for child in list(cfg):
            _drop(cfg, f"{child}.{rest}")
        return
    if key not in cfg:
        return
    if not rest:
        cfg.pop(key)
        return
    _drop(cfg[key], rest)
    if cfg[key] == {}:
        cfg.pop(key)


def _value(cfg: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(cfg, dict) or key not in cfg:
            return _ABSENT
        cfg = cfg[key]
    return cfg


_ABSENT = object()


def _without(cfg: dict, drop: tuple[str, ...]) -> dict:
    cfg = json.loads(json.dumps(cfg, default=str))
    neutral = tuple(k for k, v in NEUTRAL_DEFAULTS.items() if _value(cfg, k) == v)
    for key in drop + neutral:
        _drop(cfg, key)
    return cfg


def _digest(cfg: dict, drop: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps(_without(cfg, drop), sort_keys=True).encode()).hexdigest()[:16]


def variant_config(cfg: dict) -> dict:
    """The part of a resolved config that :func:`variant_hash` hashes (what tells settings apart)."""
    return _without(cfg, NON_RESULT_KEYS + SEED_KEYS)


def config_hash(cfg: dict) -> str:
    """Identity of a run: the resolved config without settings that do not affect its results."""
    return _digest(cfg, NON_RESULT_KEYS)


def training_hash(cfg: dict) -> str:
    """Identity of the trained model: the config hash without the evaluation settings (keys checkpoints)."""
    return _digest(cfg, NON_RESULT_KEYS + EVAL_KEYS)


def variant_hash(cfg: dict, pooled: tuple[str, ...] = ()) -> str:
    """Identity of a setting across seeds: the config hash without the seed and replica count (and without the
    dotted keys ``pooled``, for a table that averages over them, e.g. every digit as the minority)."""
    return _digest(cfg, NON_RESULT_KEYS + SEED_KEYS + tuple(pooled))


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {"git_commit": git_commit(), "torch": torch.__version__, "device": str(device), "device_name": name,
            "python": platform.python_version(), "threads": torch.get_num_threads()}


def results_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / RESULTS_FILE


def load_results(run_dir: str | Path) -> dict | None:
    """The run directory's results, or None if absent or unreadable."""
    path = results_path(run_dir)
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def is_finished(results: dict | None, cfg_hash: str) -> bool:
    """True when every record of the run has this config hash and a final status."""
    records = (results or {}).get("records") or []
    return bool(records) and all(r.get("config_hash") == cfg_hash and r.get("status") in ("completed", "diverged")
                                 for r in records)


def save_results(run_dir: str | Path, records: list[dict]) -> Path:
    """Write the records as standard JSON (a NaN or infinite metric becomes null; the status says why)."""
    path = results_path(run_dir)
    write_json(path, {"records": records})
    return path


def training_conflict(results: dict | None, cfg: dict) -> str | None:
    """How the finished run in a folder was trained differently from ``cfg`` (up to five ``key: old -> new``), or
    None when there is no finished run or it has this training setting (evaluation settings may differ: the final
    checkpoint is then re-evaluated)."""
    finished = [r for r in (results or {}).get("records") or [] if r.get("status") in ("completed", "diverged")]
    old = finished[0].get("config") if finished else None
    if not isinstance(old, dict) or training_hash(old) == training_hash(cfg):
        return None
    drop = NON_RESULT_KEYS + EVAL_KEYS
    before, after = _flatten(_without(old, drop)), _flatten(_without(cfg, drop))
    changes = [f"{k}: {before.get(k, '(absent)')} -> {after.get(k, '(absent)')}"
               for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]
    return "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")


def _flatten(cfg: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def failed_records(exc: BaseException, log: Path | None, seeds: list[int], shared: dict) -> list[dict]:
    """One ``failed`` record per replica of a run that raised: the error's type and message and the log that holds
    its traceback, beside the fields every record has (group, config and its hashes, environment)."""
    error = {"type": type(exc).__name__, "message": str(exc).strip()[:2000], "log": str(log) if log else None}
    return [{"status": "failed", "seed": seed, "replica": r, "replicas": len(seeds), "metrics": {}, "error": error,
             **shared} for r, seed in enumerate(seeds)]
