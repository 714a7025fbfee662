"""Curves of a run, for any kind of data: the PRD curve of the final evaluation (Rumi Figs. 3-4 (d)-(f)), the
metrics of the periodic evaluations over training (FID/FCD over iterations, Figs. 3-4 (a)-(c)), and the training
curves (D's and G's losses and the headline metric over the steps).

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


def training_curves_plot(path: Path, losses: dict[str, tuple[Sequence[int], Sequence[float]]],
                         metric: tuple[str, Sequence[int], Sequence[float]] | None, title: str) -> Path:
    """D's and G's losses over the steps (one panel), and the headline metric ``(name, steps, values)`` of the
    evaluations over the steps (a second panel) when it was measured at least twice."""
    panels = 2 if metric and len(metric[1]) >= 2 else 1
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.4), squeeze=False)
    ax = axes[0][0]
    for name, (steps, values) in losses.items():
        ax.plot(steps, values, linewidth=1.0, label={"loss_d": "D loss", "loss_g": "G loss"}.get(name, name))
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if panels == 2:
        name, steps, values = metric
        axes[0][1].plot(steps, values, marker="o", markersize=3, color="tab:green")
        axes[0][1].set_xlabel("iteration")
        axes[0][1].set_ylabel(name)
        axes[0][1].grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def curve_figures(folder: Path, metrics: dict[str, Any], history: list[dict[str, Any]], keys: Sequence[str],
                  title: str, tag: str, final_step: int, losses: Sequence[Sequence] = (), replica: int = 0,
                  key_metric: str | None = None) -> dict[str, Path]:
    """``prd/<tag>`` when the final metrics hold a PRD curve; ``history/<tag>`` with the ``keys`` that the
    periodic evaluations (``history``: [{step, metric: value}], one replica's) recorded, the final value appended at
    ``final_step``; ``curves/<tag>`` with ``replica``'s losses (the trainer's ``[step, [loss_d], [loss_g]]`` rows)
    and ``key_metric`` over training. Returns {logger key: path}."""
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
    if losses:
        steps = [row[0] for row in losses]
        loss_series = {"loss_d": (steps, [row[1][replica] for row in losses]),
                       "loss_g": (steps, [row[2][replica] for row in losses])}
        measured = [(p["step"], p[key_metric]) for p in points
                    if key_metric and isinstance(p.get(key_metric), (int, float)) and np.isfinite(p[key_metric])]
        metric = (key_metric, [s for s, _ in measured], [v for _, v in measured]) if measured else None
        out[f"curves/{tag}"] = training_curves_plot(folder / f"curves_{tag}.png", loss_series, metric, title)
    return out
