"""Curves of a run, for any kind of data: the PRD curve of the final evaluation (Rumi Figs. 3-4 (d)-(f)) and the
metrics of the periodic evaluations over training (FID/FCD over iterations, Figs. 3-4 (a)-(c)).

``engine.figures`` calls :func:`curve_figures` for the first ``plots.replicas`` replicas of every run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.figures import save_figure  # noqa: E402


def prd_plot(path: Path, precision: Sequence[float], recall: Sequence[float], title: str, f8: float,
             f1_8: float) -> Path:
    """Precision against recall (Sajjadi et al.'s axes: recall on x), with the F8 / F1/8 summaries."""
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot(recall, precision, color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"{title}\nPRD: F8 = {f8:.3f}, F1/8 = {f1_8:.3f}", fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def history_plot(path: Path, steps: Sequence[int], series: dict[str, Sequence[float]], title: str) -> Path:
    """Each named metric over training steps, one panel per metric."""
    fig, axes = plt.subplots(1, len(series), figsize=(4.2 * len(series), 3.4), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(steps, values, marker="o", markersize=3)
        ax.set_xlabel("iteration")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def curve_figures(folder: Path, metrics: dict[str, Any], history: list[dict[str, Any]], keys: Sequence[str],
                  title: str, tag: str, final_step: int) -> dict[str, Path]:
    """``prd/<tag>`` when the final metrics hold a PRD curve; ``history/<tag>`` with the ``keys`` that the
    periodic evaluations (``history``: [{step, metric: value}], one replica's) recorded, the final value appended at
    ``final_step``. Returns {logger key: path}."""
    folder = Path(folder)
    out: dict[str, Path] = {}
    if isinstance(metrics.get("prd_precision"), list):
        out[f"prd/{tag}"] = prd_plot(folder / f"prd_{tag}.png", metrics["prd_precision"], metrics["prd_recall"],
                                     title, metrics["prd_f8"], metrics["prd_f1_8"])
    points = [*history, {"step": final_step, **metrics}]
    series = {}
    for key in keys:
        values = [p.get(key) for p in points]
        if sum(isinstance(v, (int, float)) and np.isfinite(v) for v in values) >= 2:
            series[key] = [v if isinstance(v, (int, float)) else np.nan for v in values]
    if series:
        out[f"history/{tag}"] = history_plot(folder / f"history_{tag}.png", [p["step"] for p in points], series, title)
    return out
