"""Figures of a method's latent structure (NEMGAN and its baselines): samples per latent mode and the learned mode
priors over training. ``engine.figures`` calls :func:`latent_figures` for methods with a latent model."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.figures import save_figure  # noqa: E402
from metrics.image_plots import tile  # noqa: E402

MAX_COLUMNS = 20  # latent modes shown (Stacked MNIST has 1,000)
ROWS = 8  # samples per latent mode in an image grid


def mode_grid(path: Path, samples: torch.Tensor, title: str) -> Path:
    """One column per latent mode (paper Figs. 2 and 5): ``samples`` (M, rows, C, H, W)."""
    m, rows = samples.shape[:2]
    grid = np.concatenate([tile(samples[:, i], side=m) for i in range(rows)], axis=0)  # row i: sample i of each mode
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * m + 0.6), 0.45 * rows + 1.0))
    ax.imshow(grid, interpolation="nearest")
    ax.set_title(title + "\none column per latent mode", fontsize=7)  # two lines: a 2-mode grid is narrow
    ax.axis("off")
    return save_figure(fig, path)


def mode_scatter(path: Path, data, samples: torch.Tensor, title: str) -> Path:
    """Toy data: samples of every latent mode (M, n, 2), coloured by mode, over the real data."""
    real = data.x.detach().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.scatter(real[:, 0], real[:, 1], s=2, c="lightgrey", label="real")
    colours = plt.get_cmap("tab20" if samples.shape[0] > 10 else "tab10")
    for j, points in enumerate(samples.detach().cpu().numpy()):
        points = points[np.isfinite(points).all(1)]
        ax.scatter(points[:, 0], points[:, 1], s=2, color=colours(j % colours.N), label=f"mode {j}")
    ax.set_aspect("equal")
    pad = 0.5
    ax.set_xlim(real[:, 0].min() - pad, real[:, 0].max() + pad)
    ax.set_ylim(real[:, 1].min() - pad, real[:, 1].max() + pad)
    if samples.shape[0] <= 10:
        ax.legend(fontsize=6, markerscale=4, loc="upper right")
    ax.set_title(title + " | samples per latent mode", fontsize=8)
    return save_figure(fig, path)


def prior_trajectory(path: Path, steps: list[int], weights: list[list[float]], true: np.ndarray, title: str) -> Path:
    """The learned mode priors softmax(α) over training (lines) against the data's class prior (dashed)."""
    w = np.asarray(weights, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = plt.get_cmap("tab20" if w.shape[1] > 10 else "tab10")
    for j in range(w.shape[1]):
        ax.plot(steps, w[:, j], color=colours(j % colours.N), linewidth=1.2, label=f"mode {j}")
        if j < true.size:
            ax.axhline(true[j], color=colours(j % colours.N), linestyle="--", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("latent mode prior (dashed: data)")
    if w.shape[1] <= 10:
        ax.legend(fontsize=6, ncol=2)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def latent_figures(folder: Path, data, method, seeds: list[int], title: str) -> dict[str, Path]:
    """``latent_modes/seed<s>`` (a grid or scatter of samples per latent mode) and, when the method learned its
    priors, ``latent_prior/seed<s>`` (their trajectory), for the first replicas (``seeds``)."""
    out: dict[str, Path] = {}
    diagnostics = method.diagnostics() or []
    for r, seed in enumerate(seeds):
        latent = method.latent_model(r)
        shown = min(latent.modes, MAX_COLUMNS)
        per_mode = ROWS if data.kind == "image" else 300
        modes = torch.arange(shown).repeat_interleave(per_mode)
        samples = latent.generate(modes, torch.Generator(latent.device).manual_seed(seed)).cpu()
        samples = samples.view(shown, per_mode, *samples.shape[1:])
        name = f"latent_modes_seed{seed}.png"
        label = f"{title} | seed {seed}"
        if data.kind == "image":
            out[f"latent_modes/seed{seed}"] = mode_grid(Path(folder) / name, samples, label)
        elif samples.shape[-1] == 2:
            out[f"latent_modes/seed{seed}"] = mode_scatter(Path(folder) / name, data, samples, label)
        trajectory = diagnostics[r].get("prior_trajectory") if r < len(diagnostics) else None
        if trajectory and trajectory["steps"]:
            true = data.observed_weights.detach().double().cpu().numpy()
            out[f"latent_prior/seed{seed}"] = prior_trajectory(
                Path(folder) / f"latent_prior_seed{seed}.png", trajectory["steps"], trajectory["weights"], true,
                label + " | learned mode priors")
    return out
