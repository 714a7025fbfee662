"""Figures for image runs: a grid of generated samples next to real ones, and generated images per class.

``engine.figures`` calls :func:`image_figures` for the first ``plots.replicas`` replicas of an image run; every
function returns the paths it wrote, which the logger uploads.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.figures import save_figure  # noqa: E402

GRID_SIDE = 10  # 10 x 10 samples per grid


def _to_display(images: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) uint8 or [-1, 1] floats -> (n, H, W, 3) floats in [0, 1] (grey repeated; C > 3: first 3)."""
    x = images.detach().cpu()
    x = x.float().div(255.0) if x.dtype == torch.uint8 else torch.nan_to_num(x.float(), nan=-1.0).add(1).div(2)
    x = x.clamp(0, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] == 2:
        x = torch.cat([x, torch.zeros_like(x[:, :1])], dim=1)
    return x[:, :3].permute(0, 2, 3, 1).numpy()


def tile(images: torch.Tensor, side: int = GRID_SIDE, pad: int = 2) -> np.ndarray:
    """The first side x side images as one (side·(H+pad)+pad, ..., 3) array on a white background."""
    x = _to_display(images[: side * side])
    n, h, w, _ = x.shape
    rows = max(1, int(np.ceil(n / side)))
    grid = np.ones((rows * (h + pad) + pad, side * (w + pad) + pad, 3))
    for i in range(n):
        r, c = divmod(i, side)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = x[i]
    return grid


def sample_grid(path: Path, fake: torch.Tensor, title: str, real: torch.Tensor | None = None,
                side: int = GRID_SIDE) -> Path:
    """Generated samples (left) and, when given, real training images (right)."""
    panels = [("generated", fake)] + ([("real", real)] if real is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.5), squeeze=False)
    for ax, (name, images) in zip(axes[0], panels):
        ax.imshow(tile(images, side), interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def class_histogram(path: Path, data, counts: list[int], title: str, other: int = 0) -> Path:
    """Generated images per class (bars) against the training set's and the balanced target's shares."""
    counts = np.asarray(counts, dtype=np.float64)
    k = counts.size
    total = counts.sum() + other
    gen = counts / max(total, 1)
    observed = data.observed_weights.detach().double().cpu().numpy().reshape(-1)
    target = data.target_weights.detach().double().cpu().numpy().reshape(-1)
    observed, target = observed / observed.sum(), target / target.sum()
    minority = set(int(m) for m in data.minority)
    classes = np.arange(k)
    fig, ax = plt.subplots(figsize=(min(14, max(5, 0.5 * k + 2)), 3.8))
    colors = ["tab:red" if c in minority else "tab:blue" for c in classes]
    ax.bar(classes, gen, color=colors, width=0.8 if k <= 100 else 1.0, label="generated (red: minority)")
    edges = np.arange(k + 1) - 0.5  # one step per bar, centred on it like the bars
    ax.stairs(observed, edges, color="black", linewidth=1.2, label="training set")
    ax.stairs(target, edges, color="tab:green", linestyle="--", linewidth=1.2, label="balanced target")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel("class")
    ax.set_ylabel("share of generated images")
    if k <= 30:
        names = getattr(getattr(data, "images", None), "class_names", None)
        ax.set_xticks(classes, names if names is not None and len(names) == k else [str(c) for c in classes],
                      rotation=0 if k <= 10 else 45, fontsize=8)
    note = f"; {int(other)} of {int(total)} images in no class" if other else ""
    fig.suptitle(title + note, fontsize=9, wrap=True)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def image_figures(folder: Path, data, fake: torch.Tensor, metrics: dict[str, Any], title: str,
                  tag: str) -> dict[str, Path]:
    """Every image-run figure for one replica: ``samples/<tag>`` (grid) and, when the metrics counted
    classes, ``classes/<tag>`` (histogram). Returns {logger key: path}."""
    folder = Path(folder)
    real = data.x[torch.randperm(data.n, generator=torch.Generator().manual_seed(0))[: GRID_SIDE ** 2].to(data.x.device)]
    out = {f"samples/{tag}": sample_grid(folder / f"samples_{tag}.png", fake, title, real)}
    if isinstance(metrics.get("class_counts"), list):
        out[f"classes/{tag}"] = class_histogram(folder / f"classes_{tag}.png", data, metrics["class_counts"], title,
                                                int(metrics.get("other_count", 0)))
    return out

