"""Figures a person looks at after a toy run: samples vs data (RLS Fig. 3), samples per mode (Fig. 4)
and the sampling distribution over the training set (Fig. 2)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.figures import save_figure  # noqa: E402
from datasets.base import DataBundle  # noqa: E402

SCATTER_POINTS = 2500  # as the paper's Fig. 3


def _subset(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    if len(x) <= k:
        return x
    return x[np.random.default_rng(seed).choice(len(x), k, replace=False)]


def scatter_samples(path: Path, data: DataBundle, fake: torch.Tensor, title: str) -> Path:
    """Generated samples over real ones (2-D scatter; 1-D histograms; higher dims: first two coordinates)."""
    real = data.x.detach().cpu().numpy().reshape(data.n, -1)
    gen = fake.detach().cpu().numpy().reshape(len(fake), -1)
    gen = gen[np.isfinite(gen).all(1)]
    fig, ax = plt.subplots(figsize=(5, 5) if real.shape[1] > 1 else (7, 3.5))
    if real.shape[1] == 1:
        bins = np.linspace(real.min() - 1, real.max() + 1, 120)
        ax.hist(real[:, 0], bins=bins, density=True, alpha=0.5, color="tab:green", label="real")
        ax.hist(np.clip(gen[:, 0], bins[0], bins[-1]), bins=bins, density=True, alpha=0.5, color="tab:blue",
                label="generated")
    else:
        r, g = _subset(real, SCATTER_POINTS), _subset(gen, SCATTER_POINTS, seed=1)
        ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:green", label="real", alpha=0.6)
        ax.scatter(g[:, 0], g[:, 1], s=2, c="tab:blue", label="generated", alpha=0.6)
        pad = 0.5
        ax.set_xlim(real[:, 0].min() - pad, real[:, 0].max() + pad)
        ax.set_ylim(real[:, 1].min() - pad, real[:, 1].max() + pad)
        ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def mode_bars(path: Path, data: DataBundle, generated_counts: list[int], title: str,
              threshold: int | None = None) -> Path:
    """Training samples per mode next to high-quality generated samples per mode; ``threshold`` (the mode
    metric's ``min_count``) is drawn on the generated bars: a mode is covered when its bar reaches the line."""
    counts = torch.bincount(data.labels.cpu(), minlength=data.num_modes).numpy()
    modes = np.arange(data.num_modes)
    minority = set(data.minority)
    colors = ["tab:red" if m in minority else "tab:gray" for m in modes]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].bar(modes, counts, color=colors)
    axes[0].set_title("training samples per mode (red: minority)", fontsize=9)
    axes[0].set_ylabel("training samples")
    axes[1].bar(modes, generated_counts, color=colors)
    axes[1].set_title("high-quality generated samples per mode", fontsize=9)
    axes[1].set_ylabel("high-quality samples")
    if threshold is not None:
        axes[1].axhline(threshold, color="tab:orange", linestyle="--", linewidth=1,
                        label=f"covered: >= {threshold} samples")
        axes[1].legend(fontsize=7, loc="upper right")
    for ax in axes:
        ax.set_xlabel("mode")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def sampling_weights(path: Path, data: DataBundle, probabilities: torch.Tensor, title: str) -> Path | None:
    """The training set coloured by its sampling probability (2-D data), or probability vs position (1-D)."""
    x = data.x.detach().cpu().numpy().reshape(data.n, -1)
    p = probabilities.detach().double().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 5) if x.shape[1] > 1 else (7, 3.5))
    if x.shape[1] == 1:
        order = np.argsort(x[:, 0])
        ax.plot(x[order, 0], p[order] * len(p), color="tab:blue")
        ax.set_ylabel("n · sampling probability")
    elif x.shape[1] == 2:
        order = np.argsort(p)
        points = ax.scatter(x[order, 0], x[order, 1], c=p[order] * len(p), s=3, cmap="viridis")
        fig.colorbar(points, ax=ax, label="n · sampling probability")
        ax.set_aspect("equal")
    else:
        plt.close(fig)
        return None
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)

