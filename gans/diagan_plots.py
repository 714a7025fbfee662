"""Dia-GAN diagnostics a researcher looks at (Lee et al. 2021, Fig. 2):

- ``ldrm_modes_seed<k>.png``: mean LDRM of each mode's training samples over training (window of the last
  ``method.window`` snapshots at every snapshot; needs ``method.diagnostics=true``), as a modes x steps heat map
  with the phase-2 step marked (Fig. 2a);
- ``ldrm_box_seed<k>.png``: the distribution of LDRM over each mode's training samples at the scoring step (box
  plots) against the number of high-quality generated samples of that mode (bars; at the scoring step with
  ``method.diagnostics=true``, else the final evaluation's ``mode_counts``) (Fig. 2b);
- ``scores_seed<k>.png``: LDRM, sqrt(LDRV) and the discrepancy score over the data plane (2-D data).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from core.figures import save_figure  # noqa: E402


def ldrm_over_training(path: Path, steps: list[int], per_mode: np.ndarray, phase2_step: int | None,
                       title: str) -> Path:
    """Heat map of per-mode mean LDRM (modes x snapshot steps)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    values = np.asarray(per_mode, dtype=float).T  # (modes, steps)
    finite = values[np.isfinite(values)]
    bound = float(np.nanpercentile(np.abs(finite), 99)) if finite.size else 1.0
    image = ax.imshow(values, aspect="auto", cmap="coolwarm", vmin=-bound, vmax=bound, interpolation="nearest",
                      extent=(steps[0], steps[-1], values.shape[0] - 0.5, -0.5))
    fig.colorbar(image, ax=ax, label="mean LDRM of the mode's training samples")
    if phase2_step is not None:
        ax.axvline(phase2_step, color="k", linestyle="--", linewidth=1)
        ax.text(phase2_step, values.shape[0] - 0.6, " phase 2", va="bottom", fontsize=8)
    ax.set_xlabel("training step")
    ax.set_ylabel("mode")
    ax.set_title(f"{title}\nLDRM per mode over training (window of the last snapshots)", fontsize=9)
    return save_figure(fig, path)


def ldrm_box(path: Path, ldrm: np.ndarray, labels: np.ndarray, groups: int, hq_counts: list[int] | None,
             counts_label: str, title: str) -> Path:
    """Box plot of LDRM per mode with the high-quality generated samples per mode on a twin axis."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * groups + 2), 4))
    data = [ldrm[labels == g] for g in range(groups)]
    ax.boxplot([d if d.size else np.array([np.nan]) for d in data], positions=np.arange(groups), widths=0.6,
               showfliers=False)
    ax.set_xlabel("mode")
    ax.set_ylabel("LDRM (training samples)")
    if hq_counts is not None and len(hq_counts) == groups:
        twin = ax.twinx()
        twin.bar(np.arange(groups), hq_counts, color="tab:blue", alpha=0.3, width=0.8)
        twin.set_ylabel(counts_label, color="tab:blue")
    ax.set_xlim(-0.7, groups - 0.3)
    ax.set_title(f"{title}\nLDRM per mode vs high-quality generated samples", fontsize=9)
    return save_figure(fig, path)


def score_plane(path: Path, x: np.ndarray, ldrm: np.ndarray, ldrv: np.ndarray, score: np.ndarray,
                title: str) -> Path:
    """Training samples coloured by LDRM, sqrt(LDRV) and the discrepancy score (2-D data)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    for ax, values, name in zip(axes, (ldrm, np.sqrt(np.clip(ldrv, 0, None)), score),
                                ("LDRM", "sqrt(LDRV)", "discrepancy score")):
        order = np.argsort(values)
        points = ax.scatter(x[order, 0], x[order, 1], c=values[order], s=3, cmap="viridis")
        fig.colorbar(points, ax=ax)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def diagan_figures(method, folder: Path, data, results: list[dict], seeds: list[int], title: str) -> dict[str, Path]:
    """The figures above for the first ``len(seeds)`` replicas of a trained ``DiaGAN`` (those its recorded
    history and boundary scores allow): {logger key: path}."""
    images: dict[str, Path] = {}
    folder = Path(folder)
    labels = data.labels.detach().cpu().numpy()
    phase2 = method.p1 if method.p1 < method.total_steps else None
    for r, seed in enumerate(seeds):
        name = f"{title} | seed {seed}"
        if len(method.history) >= 2:
            steps = [h["step"] for h in method.history]
            per_mode = np.stack([h["ldrm"][r].numpy() for h in method.history])
            images[f"ldrm_modes/seed{seed}"] = ldrm_over_training(folder / f"ldrm_modes_seed{seed}.png", steps,
                                                                  per_mode, phase2, name)
        b = method.boundary
        if b is None:
            continue
        ldrm, ldrv, score = (b[key][r].numpy() for key in ("ldrm", "ldrv", "score"))
        if b.get("hq_counts") is not None:
            counts, counts_label = b["hq_counts"][r], f"HQ samples at step {b['step']}"
        else:
            counts, counts_label = results[r].get("mode_counts") if r < len(results) else None, "HQ samples (final)"
        images[f"ldrm_box/seed{seed}"] = ldrm_box(folder / f"ldrm_box_seed{seed}.png", ldrm, labels, method.groups,
                                                  counts, counts_label, f"{name} | scores at step {b['step']}")
        x = data.x.detach().cpu().numpy().reshape(data.n, -1)
        if x.shape[1] == 2:
            images[f"scores/seed{seed}"] = score_plane(folder / f"scores_seed{seed}.png", x, ldrm, ldrv, score,
                                                       f"{name} | scores at step {b['step']} (k={method.k})")
    return images
