"""Leaderboard: collect every ``results.json`` under some directories and compare methods, mean (std) over seeds.

Usage::

    python -m sweeps.leaderboard DIR [DIR ...] [--metrics nb_modes hq_fraction ...] [--out PREFIX] [--by dataset]

The library is split into small steps so later additions (published paper numbers, Welch tests, an HTML
page) can reuse them::

    records = load_records(dirs)            # every record of every readable results.json
    records, superseded = deduplicate(records)   # one record per (group, variant, seed): newest file wins
    rows = summarise(group_records(records), metrics)   # one Row per (group, variant)
    print(to_markdown(rows, metrics))  ;  to_csv(rows, metrics, path)

A *group* is (experiment, dataset, gan, loss, method). Records of one group with different ``variant``
(hash of the config without seed/replicas) are different settings and get separate rows, marked with a
short variant id. Only ``completed`` records enter the means; ``diverged`` and ``failed`` ones are counted.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
import tempfile
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = [
    "GROUP_KEYS",
    "STATUSES",
    "LeaderboardWarning",
    "Record",
    "MetricSummary",
    "Row",
    "find_results",
    "load_records",
    "deduplicate",
    "group_records",
    "default_metrics",
    "summarise",
    "format_mean_std",
    "to_markdown",
    "to_csv",
    "main",
]

GROUP_KEYS = ("experiment", "dataset", "gan", "loss", "method")
STATUSES = ("completed", "diverged", "failed")
RESULTS_NAME = "results.json"
VARIANT_CHARS = 8
# Metrics shown first (in this order) when present; any other scalar metric follows alphabetically.
PREFERRED_ORDER = (
    "nb_modes", "hq_fraction", "kl_modes", "jsd",
    "kl_classes", "fid", "is", "kid", "fcd", "precision", "recall", "density", "coverage",
)
# Diagnostics recorded next to the metrics but not shown unless named with --metrics.
HIDDEN_BY_DEFAULT = frozenset({"nonfinite_fraction"})
MISSING = "—"


class LeaderboardWarning(UserWarning):
    """A results file or record that was skipped (the table is still built from the rest)."""


def _warn(message: str) -> None:
    warnings.warn(message, LeaderboardWarning, stacklevel=3)


# ============================================================================ loading


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
        """A metric value; ``timing.<key>`` reads the timing block (e.g. ``timing.steps_per_second``)."""
        if name.startswith("timing."):
            return self.timing.get(name[len("timing."):])
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
            found.extend(sorted(q for q in p.rglob(RESULTS_NAME) if q.is_file()))
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
            _warn(f"skipping unreadable results file {path}: {exc}")
            continue
        raw_records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(raw_records, list):
            _warn(f"skipping results file {path}: no 'records' list at the top level")
            continue
        for i, raw in enumerate(raw_records):
            try:
                records.append(_parse_record(raw, path, mtime, i))
            except ValueError as exc:
                _warn(f"skipping record {i} of {path}: {exc}")
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
    return Record(
        group=tuple(str(group[k]) for k in GROUP_KEYS),
        variant=variant or "",
        seed=seed,
        status=status,
        metrics=metrics,
        timing=timing,
        path=path,
        mtime=mtime,
        index=index,
        raw=raw,
    )


# ============================================================================ grouping


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


def group_records(records: Iterable[Record]) -> dict[tuple[tuple[str, ...], str], list[Record]]:
    """Records by (group, variant), sorted by group then variant."""
    out: dict[tuple[tuple[str, ...], str], list[Record]] = defaultdict(list)
    for rec in records:
        out[(rec.group, rec.variant)].append(rec)
    return dict(sorted(out.items()))


def _is_scalar(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def default_metrics(records: Iterable[Record]) -> list[str]:
    """The scalar metrics present in completed records, paper metrics first.

    List-valued metrics (``mode_counts``...) and diagnostics in ``HIDDEN_BY_DEFAULT`` are left out;
    name them with ``--metrics`` to see them.
    """
    names: set[str] = set()
    for rec in records:
        if rec.status == "completed":
            names.update(k for k, v in rec.metrics.items() if _is_scalar(v) and k not in HIDDEN_BY_DEFAULT)
    return _order_metrics(names)


def _order_metrics(names: Iterable[str]) -> list[str]:
    names = set(names)
    first = [m for m in PREFERRED_ORDER if m in names]
    return first + sorted(names - set(first))


# ============================================================================ summary


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
    """One leaderboard row: a (group, variant) with its counts and metric summaries."""

    group: tuple[str, ...]
    variant: str
    show_variant: bool  # the group holds several variants
    n_completed: int
    n_diverged: int
    n_failed: int
    seeds: list[int | None]
    metrics: dict[str, MetricSummary]
    variant_id: str = ""  # shortest prefix (>= VARIANT_CHARS) telling the group's variants apart

    def key(self, name: str) -> str:
        return self.group[GROUP_KEYS.index(name)]


def summarise(
    grouped: dict[tuple[tuple[str, ...], str], list[Record]], metrics: Sequence[str]
) -> list[Row]:
    """One :class:`Row` per (group, variant): counts by status and mean (std) of each metric.

    Non-finite or missing values in a completed record are left out of that metric (its ``n`` says so).
    """
    variants_per_group: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for group, variant in grouped:
        variants_per_group[group].add(variant)
    short = {g: _short_ids(v) for g, v in variants_per_group.items()}
    rows = []
    for (group, variant), recs in grouped.items():
        completed = [r for r in recs if r.status == "completed"]
        summaries = {m: _summarise_metric(completed, m) for m in metrics}
        rows.append(
            Row(
                group=group,
                variant=variant,
                show_variant=len(variants_per_group[group]) > 1,
                n_completed=len(completed),
                n_diverged=sum(r.status == "diverged" for r in recs),
                n_failed=sum(r.status == "failed" for r in recs),
                seeds=[r.seed for r in completed],
                metrics=summaries,
                variant_id=short[group][variant],
            )
        )
    return rows


def _short_ids(variants: Iterable[str]) -> dict[str, str]:
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
        if _is_scalar(v) and math.isfinite(v):
            values.append(float(v))
            seeds.append(rec.seed)
        elif isinstance(v, list) and v and all(_is_scalar(e) and math.isfinite(e) for e in v):
            values.append([float(e) for e in v])
            seeds.append(rec.seed)
    if not values:
        return MetricSummary(None, None, 0, [], [])
    if any(isinstance(v, list) for v in values):
        if not all(isinstance(v, list) for v in values) or len({len(v) for v in values}) != 1:
            _warn(f"metric {name!r} mixes scalars and lists of different lengths across seeds; not averaged")
            return MetricSummary(None, None, len(values), values, seeds)
        arr = np.asarray(values, dtype=np.float64)
        mean = arr.mean(axis=0).tolist()
        std = arr.std(axis=0, ddof=1).tolist() if len(values) > 1 else None
        return MetricSummary(mean, std, len(values), values, seeds)
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(values) > 1 else None
    return MetricSummary(float(arr.mean()), std, len(values), values, seeds)


# ============================================================================ formatting


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


def _format_cell(s: MetricSummary, n_completed: int) -> str:
    if s.mean is None:
        return MISSING
    if isinstance(s.mean, list):
        stds = s.std if s.std is not None else [None] * len(s.mean)
        cell = "[" + ", ".join(format_mean_std(m, sd) for m, sd in zip(s.mean, stds)) + "]"
    else:
        cell = format_mean_std(s.mean, s.std)
    if s.n != n_completed:
        cell += f" [n={s.n}]"
    return cell


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _split_tables(rows: Sequence[Row], by: str | None) -> dict[str, list[Row]]:
    if by is None:
        return {"": list(rows)}
    tables: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        tables[row.key(by)].append(row)
    return dict(sorted(tables.items()))


def _label_columns(rows: Sequence[Row], by: str | None) -> list[str]:
    """Group keys that tell this table's rows apart (method always), in GROUP_KEYS order."""
    cols = [k for k in GROUP_KEYS if k != by and (k == "method" or len({r.key(k) for r in rows}) > 1)]
    return cols


def _table_metrics(rows: Sequence[Row], metrics: Sequence[str], explicit: bool) -> list[str]:
    if explicit:
        return list(metrics)
    return [m for m in metrics if any(r.metrics[m].n > 0 for r in rows)]


def to_markdown(
    rows: Sequence[Row],
    metrics: Sequence[str],
    *,
    by: str | None = "dataset",
    explicit_metrics: bool = False,
    superseded: int = 0,
) -> str:
    """A Markdown table per value of ``by`` (``None``: one table), rows = methods, plus footnotes.

    Without ``explicit_metrics`` a table only shows the metrics some of its rows have (toy and image
    datasets have different metrics).
    """
    out = io.StringIO()
    any_variant = any(r.show_variant for r in rows)
    any_partial = False
    for title, trows in _split_tables(rows, by).items():
        labels = _label_columns(trows, by)
        tmetrics = _table_metrics(trows, metrics, explicit_metrics)
        show_variant = any(r.show_variant for r in trows)
        header = labels + (["variant"] if show_variant else []) + tmetrics + ["n", "diverged", "failed"]
        if title:
            out.write(f"### {by}: {_md_escape(title)}\n\n")
        out.write("| " + " | ".join(_md_escape(h) for h in header) + " |\n")
        out.write("|" + "|".join(":---" if i < len(labels) + show_variant else "---:" for i in range(len(header))) + "|\n")
        for r in trows:
            cells = [r.key(k) for k in labels]
            if show_variant:
                cells.append(r.variant_id if r.show_variant else "")
            for m in tmetrics:
                s = r.metrics[m]
                any_partial |= s.mean is not None and s.n != r.n_completed
                cells.append(_format_cell(s, r.n_completed))
            cells += [str(r.n_completed), str(r.n_diverged), str(r.n_failed)]
            out.write("| " + " | ".join(_md_escape(c) for c in cells) + " |\n")
        out.write("\n")
    notes = [
        "mean (std) over the completed seeds of each row; std is the sample std (ddof=1), "
        f"{MISSING} when only one seed completed.",
        "`n` counts completed runs; diverged and failed runs are counted in their columns and "
        "excluded from the means.",
    ]
    if any_partial:
        notes.append("[n=k]: the metric was missing or non-finite in some completed runs; k runs were averaged.")
    if any_variant:
        notes.append(
            f"variant: first {VARIANT_CHARS} characters of the config hash without seed/replicas; rows of one "
            "group with different variants are different settings."
        )
    if superseded:
        notes.append(f"{superseded} duplicate record(s) (same group, variant and seed) were replaced by newer files.")
    out.write("\n".join(f"{i}. {n}" for i, n in enumerate(notes, 1)) + "\n")
    return out.getvalue()


def to_csv(rows: Sequence[Row], metrics: Sequence[str], path: str | os.PathLike | None = None) -> str:
    """One CSV row per (group, variant) with ``<metric>_mean``, ``<metric>_std``, ``<metric>_n`` columns.

    Numbers are written at full precision; list-valued means/stds are JSON lists; a missing std is empty.
    Returns the CSV text and writes it to ``path`` (atomically) when given.
    """
    header = list(GROUP_KEYS) + ["variant", "n_completed", "n_diverged", "n_failed", "seeds"]
    for m in metrics:
        header += [f"{m}_mean", f"{m}_std", f"{m}_n"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        line: list[Any] = list(r.group) + [
            r.variant, r.n_completed, r.n_diverged, r.n_failed, " ".join(str(s) for s in r.seeds)
        ]
        for m in metrics:
            s = r.metrics[m]
            line += [_csv_value(s.mean), _csv_value(s.std), s.n]
        writer.writerow(line)
    text = buf.getvalue()
    if path is not None:
        _atomic_write(Path(path), text)
    return text


def _csv_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return json.dumps(v)
    return repr(float(v))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ============================================================================ CLI


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sweeps.leaderboard",
        description="Compare methods across runs: mean (std) over seeds of every results.json under DIRs.",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="run/sweep directories searched recursively for results.json")
    p.add_argument(
        "--metrics", nargs="+", metavar="NAME", default=None,
        help="metrics to show (default: every scalar metric present; list-valued ones such as mode_counts "
             "only when named; timing.<key> reads the timing block)",
    )
    p.add_argument("--out", metavar="PREFIX", default=None, help="also write PREFIX.md and PREFIX.csv")
    p.add_argument(
        "--paper", metavar="YAML", default=None,
        help="compare with a paper's published table (sweeps/paper/*.yaml): our mean (std) beside the paper's, "
             "flags, bold, Welch stars; --out then also writes PREFIX.html with the figures (sweeps.compare)",
    )
    p.add_argument("--meta", metavar="JSON", default=None,
                   help="with --paper: a sweep.json whose command, budget, seeds, machine and wall time head the table")
    p.add_argument(
        "--by", default="dataset", choices=list(GROUP_KEYS) + ["none"],
        help="one table per value of this group key (default: dataset; 'none' for a single table)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0 ok, 1 no records, 2 bad arguments/paths)."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeaderboardWarning)
        try:
            records = load_records(args.dirs)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        records, superseded = deduplicate(records)
        explicit = args.metrics is not None
        metrics = list(dict.fromkeys(args.metrics)) if explicit else default_metrics(records)
        if args.paper:  # the comparison with a paper table lives in sweeps.compare
            from sweeps import compare

            return compare.main(args, records, metrics if explicit else None)
        rows = summarise(group_records(records), metrics)
        if explicit:
            for m in metrics:
                if not any(r.metrics[m].n for r in rows):
                    _warn(f"metric {m!r} was not found (finite) in any completed record")
    for w in caught:
        if issubclass(w.category, LeaderboardWarning):
            print(f"warning: {w.message}", file=sys.stderr)
        else:  # pragma: no cover - foreign warnings keep their usual display
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if not records:
        print(f"error: no readable results.json records under {' '.join(args.dirs)}", file=sys.stderr)
        return 1
    by = None if args.by == "none" else args.by
    md = to_markdown(rows, metrics, by=by, explicit_metrics=explicit, superseded=len(superseded))
    sys.stdout.write(md)
    if args.out:
        prefix = Path(args.out)
        _atomic_write(prefix.with_name(prefix.name + ".md"), md)
        to_csv(rows, metrics, prefix.with_name(prefix.name + ".csv"))
        print(f"\nwrote {prefix}.md and {prefix}.csv", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
