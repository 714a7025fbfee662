"""How a leaderboard is laid out, shared by its Markdown and HTML forms: which tables (one per value of a group
key), which label columns and metrics each shows, and a metric cell's text."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from sweeps.records import GROUP_KEYS
from sweeps.table import MISSING, MetricSummary, Row, format_mean_std


def format_cell(s: MetricSummary, n_completed: int) -> str:
    """``mean (std)`` (element-wise for lists), ``[n=k]`` when only k of the completed seeds had the metric."""
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


def split_tables(rows: Sequence[Row], by: str | None) -> dict[str, list[Row]]:
    """The rows of each table: one per value of the group key ``by`` (sorted), or one table (``None``)."""
    if by is None:
        return {"": list(rows)}
    tables: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        tables[row.key(by)].append(row)
    return dict(sorted(tables.items()))


def label_columns(rows: Sequence[Row], by: str | None) -> list[str]:
    """Group keys that tell this table's rows apart (method always), in GROUP_KEYS order."""
    cols = [k for k in GROUP_KEYS if k != by and (k == "method" or len({r.key(k) for r in rows}) > 1)]
    return cols


def table_metrics(rows: Sequence[Row], metrics: Sequence[str], explicit: bool) -> list[str]:
    """The metrics a table shows: all named ones when ``explicit``, else those some of its rows have."""
    if explicit:
        return list(metrics)
    return [m for m in metrics if any(r.metrics[m].n > 0 for r in rows)]


def row_label(row: Row, labels: Sequence[str]) -> str:
    """A row's name outside its table (figure legends): its label columns' values, then its setting in brackets."""
    text = " · ".join(row.key(k) for k in labels)
    return text + (f" [{row.setting_label}]" if row.setting_label else "")
