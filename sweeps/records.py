"""The records of results.json files as the tables read them: loading, de-duplication and grouping.

    records = load_records(dirs)                 # every record of every readable results.json
    records, superseded = deduplicate(records)   # one record per (group, variant, seed): newest file wins
    records = pool_variants(records, keys)       # optional: one row over settings that differ only in `keys`
    grouped = group_records(records)             # (group, variant) -> records

A *group* is (experiment, dataset, gan, loss, method); records of one group with different ``variant`` (hash of
the config without seed/replicas) are different settings.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

from engine.records import RESULTS_FILE, variant_hash

GROUP_KEYS = ("experiment", "dataset", "gan", "loss", "method")
INDEXED = re.compile(r"(.+)\[(\d+)\]")  # class_counts[2]: entry 2 of a list-valued metric
STATUSES = ("completed", "diverged", "failed")


class LeaderboardWarning(UserWarning):
    """A results file or record that was skipped (the table is still built from the rest)."""


def warn(message: str) -> None:
    """Report a skipped file, record or metric as a :class:`LeaderboardWarning` (the caller's caller's line)."""
    warnings.warn(message, LeaderboardWarning, stacklevel=3)


@dataclass
class Record:
    """One replica's record from one results.json, with where it came from."""

    group: tuple[str, ...]  # values of GROUP_KEYS
    variant: str
    seed: int | None
    status: str
    metrics: dict[str, Any]
    timing: dict[str, Any]
    path: Path
    mtime: float
    index: int  # position in the file's "records" list
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    def group_dict(self) -> dict[str, str]:
        return dict(zip(GROUP_KEYS, self.group))

    def value(self, name: str) -> Any:
        """A metric value; ``timing.<key>`` reads the timing block (e.g. ``timing.steps_per_second``) and
        ``<metric>[i]`` entry i of a list-valued metric (e.g. ``class_counts[0]``; None when it has no entry i)."""
        if name.startswith("timing."):
            return self.timing.get(name[len("timing."):])
        indexed = INDEXED.fullmatch(name)
        if indexed:
            values, i = self.metrics.get(indexed[1]), int(indexed[2])
            return values[i] if isinstance(values, list) and i < len(values) else None
        return self.metrics.get(name)


def find_results(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    """Every ``results.json`` under the given directories (recursively, sorted); a file path is taken as is.

    Raises ``FileNotFoundError`` for a path that does not exist (a typo must not give an empty table).
    """
    found: list[Path] = []
    for d in dirs:
        p = Path(d)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q for q in p.rglob(RESULTS_FILE) if q.is_file()))
        else:
            raise FileNotFoundError(f"leaderboard: no such file or directory: {p}")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def load_records(dirs: Iterable[str | os.PathLike]) -> list[Record]:
    """Load the records of every results.json under ``dirs``.

    An unreadable or corrupt file, or a malformed record inside a file, is skipped with a
    :class:`LeaderboardWarning` naming the file; it never stops the table.
    """
    records: list[Record] = []
    for path in find_results(dirs):
        try:
            mtime = path.stat().st_mtime
            with open(path, encoding="utf-8") as fh:
                payload = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            warn(f"skipping unreadable results file {path}: {exc}")
            continue
        raw_records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(raw_records, list):
            warn(f"skipping results file {path}: no 'records' list at the top level")
            continue
        for i, raw in enumerate(raw_records):
            try:
                records.append(_parse_record(raw, path, mtime, i))
            except ValueError as exc:
                warn(f"skipping record {i} of {path}: {exc}")
    return records


def _parse_record(raw: Any, path: Path, mtime: float, index: int) -> Record:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    group = raw.get("group")
    if not isinstance(group, dict):
        raise ValueError("no 'group' object")
    missing = [k for k in GROUP_KEYS if group.get(k) in (None, "")]
    if missing:
        raise ValueError(f"group lacks {missing}")
    status = raw.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r} (expected one of {list(STATUSES)})")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    metrics = raw.get("metrics") or {}
    timing = raw.get("timing") or {}
    if not isinstance(metrics, dict) or not isinstance(timing, dict):
        raise ValueError("'metrics' and 'timing' must be objects")
    variant = raw.get("variant")
    if variant is not None and not isinstance(variant, str):
        raise ValueError(f"variant must be a string, got {variant!r}")
    return Record(group=tuple(str(group[k]) for k in GROUP_KEYS), variant=variant or "", seed=seed, status=status,
                  metrics=metrics, timing=timing, path=path, mtime=mtime, index=index, raw=raw)


def deduplicate(records: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """Keep one record per (group, variant, seed): the one from the newest file (mtime).

    Ties (same mtime) go to the later file path, then to the later position in the file, so the choice
    is deterministic. Records without a seed are all kept. Returns ``(kept, superseded)``.
    """
    best: dict[tuple, Record] = {}
    kept_unseeded: list[Record] = []
    superseded: list[Record] = []
    for rec in records:
        if rec.seed is None:
            kept_unseeded.append(rec)
            continue
        key = (rec.group, rec.variant, rec.seed)
        old = best.get(key)
        if old is None:
            best[key] = rec
        elif _newness(rec) >= _newness(old):
            superseded.append(old)
            best[key] = rec
        else:
            superseded.append(rec)
    kept = list(best.values()) + kept_unseeded
    kept.sort(key=lambda r: (r.group, r.variant, r.seed if r.seed is not None else math.inf, str(r.path)))
    return kept, superseded


def _newness(rec: Record) -> tuple:
    return (rec.mtime, str(rec.path), rec.index)


def pool_variants(records: Sequence[Record], keys: Sequence[str]) -> list[Record]:
    """The records with their ``variant`` recomputed from their config without the dotted ``keys``, so that runs
    differing only there (e.g. ``dataset.number``: which digit is the minority) form one row, averaged over them.
    Apply after :func:`deduplicate` (pooled records of one seed are different runs, not duplicates)."""
    pooled = []
    for rec in records:
        config = rec.raw.get("config")
        if not isinstance(config, dict):
            warn(f"record {rec.index} of {rec.path} has no config; it keeps its own variant")
            pooled.append(rec)
            continue
        pooled.append(replace(rec, variant=variant_hash(config, tuple(keys))))
    return pooled


def group_records(records: Iterable[Record]) -> dict[tuple[tuple[str, ...], str], list[Record]]:
    """Records by (group, variant), sorted by group then variant."""
    out: dict[tuple[tuple[str, ...], str], list[Record]] = defaultdict(list)
    for rec in records:
        out[(rec.group, rec.variant)].append(rec)
    return dict(sorted(out.items()))
