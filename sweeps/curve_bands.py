"""Training curves of a leaderboard table: for each row, the mean over its completed seeds of D's loss, G's loss and
the table's headline metric against the step, with a shaded ±1 std band (sample std, ddof=1) where at least two
seeds have the step; one colour per row. Read from each record's run folder (``history.csv``, engine.history);
a folder trained before the curves were recorded has none: its row gets no curve.

    figures = board_figures(rows, metrics, records, by, prefix)   # {table title: CurveFigure}, PREFIX_curves_*.png
    figures = paper_figures(comp, records, prefix)                # the same per dataset of a paper comparison
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.figures import save_figure  # noqa: E402
from engine.history import LOSS_COLUMNS, read_history, series  # noqa: E402
from sweeps.board_layout import label_columns, row_label, split_tables, table_metrics  # noqa: E402
from sweeps.compare import Comparison  # noqa: E402
from sweeps.records import Record, group_records  # noqa: E402
from sweeps.table import Row  # noqa: E402

AXIS_LABELS = {"loss_d": "D loss", "loss_g": "G loss"}
BAND_NOTE = "mean over the completed seeds; band: ±1 std (ddof=1) where at least two seeds have the step"


@dataclass(frozen=True)
class Band:
    """One quantity of one row over the steps: mean and sample std over the seeds that measured it at each step."""

    steps: np.ndarray  # the union of the seeds' steps, increasing
    mean: np.ndarray
    std: np.ndarray  # nan where fewer than two seeds have the step
    n: np.ndarray  # how many seeds have the step


@dataclass
class CurveFigure:
    """The training-curves figure of one table."""

    table: str  # the table's title (its dataset; "" for a single table)
    metric: str | None  # the headline metric plotted under the losses
    path: Path | None  # None: no row of the table has a history
    without: list[str] = field(default_factory=list)  # labels of the rows whose run folders hold no history


def mean_std_band(curves: Sequence[tuple[Sequence[int], Sequence[float]]]) -> Band | None:
    """The :class:`Band` of the seeds' ``(steps, values)`` curves: at each step any of them has, the mean and the
    sample std of the finite values measured there. None when there is no finite value at all."""
    at: dict[int, list[float]] = defaultdict(list)
    for steps, values in curves:
        for step, value in zip(steps, values):
            if math.isfinite(value):
                at[int(step)].append(float(value))
    if not at:
        return None
    steps = sorted(at)
    return Band(steps=np.asarray(steps, dtype=np.int64),
                mean=np.asarray([np.mean(at[s]) for s in steps]),
                std=np.asarray([np.std(at[s], ddof=1) if len(at[s]) >= 2 else np.nan for s in steps]),
                n=np.asarray([len(at[s]) for s in steps], dtype=np.int64))


def row_bands(records: Sequence[Record], keys: Sequence[str]) -> dict[str, Band]:
    """The band of each of ``keys`` over the completed, seeded ``records`` (one curve per record, from its run
    folder's history.csv); keys no record measured are left out ({} when no folder has a history)."""
    histories: dict[Path, list] = {}
    curves: dict[str, list] = defaultdict(list)
    for rec in records:
        if rec.status != "completed" or rec.seed is None:
            continue
        folder = rec.path.parent
        if folder not in histories:
            histories[folder] = read_history(folder)
        for key in keys:
            steps, values = series(histories[folder], key, rec.seed)
            if steps:
                curves[key].append((steps, values))
    bands = {key: mean_std_band(curves[key]) for key in keys}
    return {key: band for key, band in bands.items() if band is not None}


def headline_metric(records: Sequence[Record], metrics: Sequence[str]) -> str | None:
    """The metric a table's curves show: the most common ``config.metrics.key_metric`` of its completed records,
    else the first of the table's ``metrics`` (None when there is neither)."""
    named = Counter()
    for rec in records:
        config = rec.raw.get("config")
        block = config.get("metrics") if isinstance(config, dict) else None
        key = block.get("key_metric") if isinstance(block, dict) else None
        if rec.status == "completed" and isinstance(key, str) and key:
            named[key] += 1
    if named:
        return named.most_common(1)[0][0]
    return metrics[0] if metrics else None


def curves_plot(path: Path, title: str, lines: Sequence[tuple[str, dict[str, Band]]], metric: str | None) -> Path:
    """D's loss, G's loss and ``metric`` (one panel each, stacked over a shared step axis) with one colour per
    ``(label, bands)`` line: the mean, its ±1 std band, and an error bar where a band has a single step."""
    keys = [*LOSS_COLUMNS, *([metric] if metric else [])]
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.4, 2.3 * len(keys) + 0.9), sharex=True, squeeze=False)
    palette = plt.get_cmap("tab10" if len(lines) <= 10 else "tab20")
    for i, (label, bands) in enumerate(lines):
        colour = palette(i % palette.N)
        for ax, key in zip(axes[:, 0], keys):
            band = bands.get(key)
            if band is None:
                continue
            marker = {"marker": "o", "markersize": 3} if key == metric else {}
            ax.plot(band.steps, band.mean, color=colour, linewidth=1.2, label=label, **marker)
            if len(band.steps) == 1:
                ax.errorbar(band.steps, band.mean, yerr=np.nan_to_num(band.std), color=colour, capsize=3)
            else:
                ax.fill_between(band.steps, band.mean - band.std, band.mean + band.std, color=colour, alpha=0.2,
                                linewidth=0)
    for ax, key in zip(axes[:, 0], keys):
        ax.set_ylabel(AXIS_LABELS.get(key, key))
        ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("iteration")
    axes[0][0].legend(fontsize=7, ncol=2 if len(lines) > 4 else 1, loc="best")
    fig.suptitle(f"{title}: mean ± 1 std over seeds" if title else "mean ± 1 std over seeds", fontsize=9)
    return save_figure(fig, path)


def table_figure(path: Path, title: str, lines: Sequence[tuple[str, Sequence[Record]]],
                 metrics: Sequence[str]) -> CurveFigure:
    """The :class:`CurveFigure` of one table whose rows are ``(label, records)``: written to ``path`` when some row
    has a history."""
    metric = headline_metric([r for _, recs in lines for r in recs], metrics)
    keys = [*LOSS_COLUMNS, *([metric] if metric else [])]
    bands = [(label, row_bands(recs, keys)) for label, recs in lines]
    drawn = [(label, b) for label, b in bands if b]
    without = [label for label, b in bands if not b]
    return CurveFigure(title, metric, curves_plot(path, title, drawn, metric) if drawn else None, without)


def figure_path(prefix: str | Path, title: str) -> Path:
    """``<PREFIX>_curves_<title>.png`` (``<PREFIX>_curves.png`` for an untitled table), next to PREFIX.md."""
    prefix = Path(prefix)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", title)
    return prefix.with_name(f"{prefix.name}_curves{'_' + name if name else ''}.png")


def board_figures(rows: Sequence[Row], metrics: Sequence[str], records: Sequence[Record], by: str | None,
                  prefix: str | Path) -> dict[str, CurveFigure]:
    """A figure per leaderboard table (sweeps.board_layout.split_tables), its rows labelled as in the tables."""
    grouped = group_records(records)
    figures = {}
    for title, trows in split_tables(rows, by).items():
        labels = label_columns(trows, by)
        lines = [(row_label(r, labels), grouped.get((r.group, r.variant), [])) for r in trows]
        figures[title] = table_figure(figure_path(prefix, title), title, lines, table_metrics(trows, metrics, False))
    return figures


def paper_figures(comp: Comparison, records: Sequence[Record], prefix: str | Path) -> dict[str, CurveFigure]:
    """A figure per dataset of a comparison with a paper, our rows labelled as in its tables."""
    grouped = group_records(records)
    return {dataset: table_figure(figure_path(prefix, dataset), dataset,
                                  [(r.display, grouped.get((r.row.group, r.row.variant), []))
                                   for r in table if r.row is not None], comp.metrics)
            for dataset, table in comp.tables.items()}


def markdown_links(figures: dict[str, CurveFigure]) -> str:
    """A "training curves" section for PREFIX.md linking the written figures (they lie next to it); "" when there
    is none."""
    drawn = [f for f in figures.values() if f.path is not None]
    if not drawn:
        return ""
    lines = [f"![training curves{': ' + f.table if f.table else ''}]({f.path.name})" for f in drawn]
    return "\n### training curves\n\n" + BAND_NOTE + ".\n\n" + "\n".join(lines) + "\n"
