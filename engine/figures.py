"""The figures of a finished run, written under ``<run dir>/plots`` for the first ``plots.replicas`` replicas."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from metrics import curve_plots, image_plots, latent_plots, plots


def figure_title(cfg, data_name: str, method_name: str | None, result: dict[str, Any], seed: int) -> str:
    """What a figure shows in one line: method, dataset, training steps, seed and the run's headline metric
    (``metrics.key_metric``), e.g. ``rls_discr on ring | 30000 steps | seed 0 | nb_modes = 8``."""
    parts = [f"{method_name or cfg.experiment_name} on {data_name}"]
    steps = OmegaConf.select(cfg, "trainer.steps")
    if steps is not None:
        parts.append(f"{int(steps)} steps")
    parts.append(f"seed {seed}")
    key = OmegaConf.select(cfg, "metrics.key_metric")
    value = result.get(key) if key else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        parts.append(f"{key} = {value:.4g}")
    return " | ".join(parts)


def run_figures(cfg, run_dir: Path, data, method, fake, results, seeds, history=(), final_step: int = 0,
                method_name: str | None = None, losses=()) -> dict[str, Path]:
    """Toy runs: samples over data, samples per mode, sampling weights and the method's own figures; image runs:
    sample grids and class histograms; both: the PRD curve, the ``plots.history`` metrics of the periodic
    evaluations (``history``: the trainer's [{step, metrics: [per replica]}]) over training, the training curves
    (``losses``: the trainer's [step, [loss_d], [loss_g]] rows, and ``metrics.key_metric``), and samples per latent
    mode and learned priors (NEMGAN & co.). ``method_name`` (the method's config choice) heads the titles. Returns
    {logger key: path} ({} with ``plots.enabled=false``)."""
    if not cfg.plots.enabled or data.kind not in ("toy", "image"):
        return {}
    folder = Path(run_dir) / "plots"
    shown = seeds[:min(int(cfg.plots.replicas), len(seeds))]
    images: dict[str, Path] = {}
    for r, seed in enumerate(shown):
        title = figure_title(cfg, data.name, method_name, results[r], seed)
        replica_history = [{"step": h["step"], **h["metrics"][r]} for h in history]
        images.update(curve_plots.curve_figures(folder, results[r], replica_history, cfg.plots.get("history", ()),
                                                title, f"seed{seed}", final_step, losses, r,
                                                OmegaConf.select(cfg, "metrics.key_metric")))
    if data.kind == "image":
        for r, seed in enumerate(shown):
            title = figure_title(cfg, data.name, method_name, results[r], seed)
            images.update(image_plots.image_figures(folder, data, fake[r], results[r], title, f"seed{seed}"))
        return images | _latent(folder, data, method, shown, f"{method_name or cfg.experiment_name} on {data.name}")
    probabilities = method.sampler.probabilities(method)
    threshold = OmegaConf.select(cfg, "metrics.modes.min_count")
    for r, seed in enumerate(shown):
        title = figure_title(cfg, data.name, method_name, results[r], seed)
        images[f"samples/seed{seed}"] = plots.scatter_samples(folder / f"samples_seed{seed}.png", data, fake[r], title)
        if "mode_counts" in results[r]:
            images[f"modes/seed{seed}"] = plots.mode_bars(folder / f"modes_seed{seed}.png", data,
                                                          results[r]["mode_counts"], title, threshold)
        if probabilities is not None:
            path = plots.sampling_weights(folder / f"weights_seed{seed}.png", data, probabilities[r], title)
            if path is not None:
                images[f"weights/seed{seed}"] = path
    title = f"{method_name or cfg.experiment_name} on {data.name}"
    images.update(method.plots(folder, data, results, shown, title))
    return images | _latent(folder, data, method, shown, title)


def _latent(folder: Path, data, method, shown, title: str) -> dict[str, Path]:
    """Samples per latent mode and the learned mode priors, for methods with a latent model (NEMGAN & co.)."""
    if not getattr(method, "provides_latent_model", False):
        return {}
    return latent_plots.latent_figures(folder, data, method, shown, title)
