"""Table rows from records: one :class:`Row` per (group, variant) with mean (std) over seeds of each metric, and
the papers' ``mean (std)`` number format. Used by the leaderboard and by the comparison with a paper.

    rows = summarise(group_records(records), metrics)   # sweeps.records.group_records
    format_mean_std(row.metrics["nb_modes"].mean, row.metrics["nb_modes"].std)   # "7.4 (0.9)"
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from sweeps.records import GROUP_KEYS, Record, warn
from sweeps.variants import setting_labels

VARIANT_CHARS = 8
# Metrics shown first (in this order) when present; any other scalar metric follows alphabetically.
PREFERRED_ORDER = (
    "nb_modes", "hq_fraction", "kl_modes", "jsd",
    "kl_classes", "fid", "is", "kid", "fcd", "precision", "recall", "density", "coverage",
)
# Diagnostics recorded next to the metrics but not shown unless named with --metrics.
HIDDEN_BY_DEFAULT = frozenset({"nonfinite_fraction"})
MISSING = "—"


@dataclass
class MetricSummary:
    """mean/std (sample, ddof=1) of one metric over the completed seeds where it is a finite value.

    For list-valued metrics ``mean``/``std`` are element-wise lists. ``values`` keeps the per-seed
    values (ordered like ``seeds``) for later significance tests.
    """

    mean: float | list[float] | None
    std: float | list[float] | None  # None with fewer than two values
    n: int
    values: list[Any]
    seeds: list[int | None]


@dataclass
class Row:
    """One table row: a (group, variant) with its counts and metric summaries."""

    group: tuple[str, ...]
    variant: str
    show_variant: bool  # the group holds several variants
    n_completed: int
    n_diverged: int
    n_failed: int
    seeds: list[int | None]
    metrics: dict[str, MetricSummary]
    variant_id: str = ""  # shortest prefix (>= VARIANT_CHARS) telling the group's variants apart
    setting: str = ""  # the config keys that differ from the group's other variants (sweeps.variants); "" unknown
    steps: list[int] = field(default_factory=list)  # the distinct training steps of the completed seeds

    def key(self, name: str) -> str:
        return self.group[GROUP_KEYS.index(name)]

    @property
    def setting_label(self) -> str:
        """How the row is told apart from its group's other variants: the differing config keys, else the id."""
        return (self.setting or self.variant_id) if self.show_variant else ""


def is_scalar(v: Any) -> bool:
    """A number that can be averaged (bools are not)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def default_metrics(records: Iterable[Record]) -> list[str]:
    """The scalar metrics present in completed records, paper metrics first.

    List-valued metrics (``mode_counts``...) and diagnostics in ``HIDDEN_BY_DEFAULT`` are left out;
    name them with ``--metrics`` to see them.
    """
    names: set[str] = set()
    for rec in records:
        if rec.status == "completed":
            names.update(k for k, v in rec.metrics.items() if is_scalar(v) and k not in HIDDEN_BY_DEFAULT)
    first = [m for m in PREFERRED_ORDER if m in names]
    return first + sorted(names - set(first))


def summarise(grouped: dict[tuple[tuple[str, ...], str], list[Record]], metrics: Sequence[str]) -> list[Row]:
    """One :class:`Row` per (group, variant): counts by status and mean (std) of each metric.

    Non-finite or missing values in a completed record are left out of that metric (its ``n`` says so).
    """
    variants_per_group: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for group, variant in grouped:
        variants_per_group[group].add(variant)
    short = {g: short_ids(v) for g, v in variants_per_group.items()}
    configs: dict[tuple[str, ...], dict[str, dict | None]] = defaultdict(dict)
    for (group, variant), recs in grouped.items():
        configs[group][variant] = next((r.raw.get("config") for r in recs if isinstance(r.raw.get("config"), dict)),
                                       None)
    settings = {g: setting_labels(c) for g, c in configs.items()}
    rows = []
    for (group, variant), recs in grouped.items():
        completed = [r for r in recs if r.status == "completed"]
        rows.append(Row(group=group, variant=variant, show_variant=len(variants_per_group[group]) > 1,
                        n_completed=len(completed), n_diverged=sum(r.status == "diverged" for r in recs),
                        n_failed=sum(r.status == "failed" for r in recs), seeds=[r.seed for r in completed],
                        metrics={m: _summarise_metric(completed, m) for m in metrics},
                        variant_id=short[group][variant], setting=settings[group][variant],
                        steps=sorted({int(r.timing["steps"]) for r in completed if is_scalar(r.timing.get("steps"))})))
    return rows


def short_ids(variants: Iterable[str]) -> dict[str, str]:
    """Variant -> its shortest prefix of at least VARIANT_CHARS characters that is unique among ``variants``."""
    variants = sorted(set(variants))
    length = VARIANT_CHARS
    while len({v[:length] for v in variants}) < len(variants):
        length += 1
    return {v: (v[:length] if v else "?") for v in variants}


def _summarise_metric(completed: Sequence[Record], name: str) -> MetricSummary:
    values, seeds = [], []
    for rec in completed:
        v = rec.value(name)
        if is_scalar(v) and math.isfinite(v):
            values.append(float(v))
            seeds.append(rec.seed)
        elif isinstance(v, list) and v and all(is_scalar(e) and math.isfinite(e) for e in v):
            values.append([float(e) for e in v])
            seeds.append(rec.seed)
    if not values:
        return MetricSummary(None, None, 0, [], [])
    if any(isinstance(v, list) for v in values):
        if not all(isinstance(v, list) for v in values) or len({len(v) for v in values}) != 1:
            warn(f"metric {name!r} mixes scalars and lists of different lengths across seeds; not averaged")
            return MetricSummary(None, None, len(values), values, seeds)
        arr = np.asarray(values, dtype=np.float64)
        mean = arr.mean(axis=0).tolist()
        std = arr.std(axis=0, ddof=1).tolist() if len(values) > 1 else None
        return MetricSummary(mean, std, len(values), values, seeds)
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(values) > 1 else None
    return MetricSummary(float(arr.mean()), std, len(values), values, seeds)


def format_mean_std(mean: float | None, std: float | None) -> str:
    """``mean (std)`` as in the papers' tables: the std with two significant digits, the mean to match.

    ``—`` replaces the std for a single seed, and the whole cell when there is no value.
    """
    if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
        return MISSING
    if std is None or not math.isfinite(std):
        return f"{_fmt_alone(mean)} ({MISSING})"
    if std == 0:
        return f"{_fmt_alone(mean)} (0)"
    decimals = min(max(1 - math.floor(math.log10(std)), 0), 6)
    return f"{mean:.{decimals}f} ({std:.{decimals}f})"


def _fmt_alone(x: float) -> str:
    """A lone number with three significant digits, without exponent for usual magnitudes."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    ax = abs(x)
    if ax >= 1e6 or ax < 1e-4:
        return f"{x:.3g}"
    decimals = min(max(2 - math.floor(math.log10(ax)), 0), 6)
    return f"{x:.{decimals}f}"
