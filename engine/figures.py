"""The figures of a finished run, written under ``<run dir>/plots`` for the first ``plots.replicas`` replicas."""
from __future__ import annotations

from pathlib import Path

from metrics import curve_plots, image_plots, plots


def run_figures(cfg, run_dir: Path, data, method, fake, results, seeds, history=(), final_step: int = 0
                ) -> dict[str, Path]:
    """Toy runs: samples over data, samples per mode, sampling weights and the method's own figures; image runs:
    sample grids and class histograms; both: the PRD curve and the ``plots.history`` metrics of the periodic
    evaluations (``history``: the trainer's [{step, metrics: [per replica]}]) over training. Returns {logger key:
    path} ({} with ``plots.enabled=false``)."""
    if not cfg.plots.enabled or data.kind not in ("toy", "image"):
        return {}
    folder = Path(run_dir) / "plots"
    shown = seeds[:min(int(cfg.plots.replicas), len(seeds))]
    images: dict[str, Path] = {}
    for r, seed in enumerate(shown):
        title = f"{cfg.experiment_name} | {data.name} | seed {seed}"
        replica_history = [{"step": h["step"], **h["metrics"][r]} for h in history]
        images.update(curve_plots.curve_figures(folder, results[r], replica_history, cfg.plots.get("history", ()),
                                                title, f"seed{seed}", final_step))
    if data.kind == "image":
        for r, seed in enumerate(shown):
            title = f"{cfg.experiment_name} | {data.name} | seed {seed}"
            images.update(image_plots.image_figures(folder, data, fake[r], results[r], title, f"seed{seed}"))
        return images
    probabilities = method.sampler.probabilities(method)
    for r, seed in enumerate(shown):
        title = f"{cfg.experiment_name} | {data.name} | seed {seed}"
        images[f"samples/seed{seed}"] = plots.scatter_samples(folder / f"samples_seed{seed}.png", data, fake[r], title)
        if "mode_counts" in results[r]:
            images[f"modes/seed{seed}"] = plots.mode_bars(folder / f"modes_seed{seed}.png", data,
                                                          results[r]["mode_counts"], title)
        if probabilities is not None:
            path = plots.sampling_weights(folder / f"weights_seed{seed}.png", data, probabilities[r], title)
            if path is not None:
                images[f"weights/seed{seed}"] = path
    images.update(method.plots(folder, data, results, shown, f"{cfg.experiment_name} | {data.name}"))
    return images
