"""What NEMGAN's latent modes generate on the toy mixtures, and what a faithful generator scores there.

    python benchmarks/nemgan_mode_probe.py --ceiling                 # 10k draws of the true RING / GRID mixture
    python benchmarks/nemgan_mode_probe.py --run multirun/nemgan_toy/grid/nemgan_p   # a finished toy run

``--ceiling`` scores ``--draws`` samples of 10,000 points drawn from the true mixture itself with the RLS paper's
mode-coverage rule (a mode counts with >= 50 samples within 3σ): what a generator that matches the data exactly
gets. ``--run`` loads a run folder's checkpoint and, for every latent mode j of every replica, draws ``--n``
samples of mode j (the conditional generator, as metrics/mode_classes.py) and prints the share within 3σ of data
mode j, the share in data mode j's cell (nearest centre j, at any distance) and the median distance to centre j in
units of σ, separately for the minority and the majority modes (docs/nemgan_toy_grid.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def ceiling(dataset: str, draws: int, n: int = 10_000) -> dict[str, float]:
    """nb_modes (mean, min, max) and high-quality samples per minority mode of ``draws`` draws of ``n`` samples
    from the true mixture ``dataset`` (each sample's mode drawn from the mixture weights)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from metrics.modes import ModeCoverage

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        spec = instantiate(compose("config", overrides=[f"dataset={dataset}"]).dataset)
    data = spec.load()
    weights = np.asarray(spec.weights, dtype=float)  # float64 (the bundle stores float32)
    centers = data.centers.double().numpy()
    factors = np.linalg.cholesky(data.covariances.double().numpy())  # Σ_k = L_k L_kᵀ
    rule, rng = ModeCoverage(3.0, 50), np.random.default_rng(0)
    nb, minority = [], []
    for _ in range(draws):
        modes = rng.choice(len(weights), size=n, p=weights / weights.sum())
        noise = np.einsum("nij,nj->ni", factors[modes], rng.standard_normal((n, centers.shape[1])))
        scores = rule(torch.from_numpy(centers[modes] + noise), data)
        nb.append(scores["nb_modes"])
        minority.append(np.mean([scores["mode_counts"][k] for k in data.minority]))
    return {"nb_mean": float(np.mean(nb)), "nb_min": int(min(nb)), "nb_max": int(max(nb)),
            "minority_expected": float(n * weights[list(data.minority)].mean() / weights.sum()),
            "minority_hq": float(np.mean(minority))}


def probe_run(run: Path, n: int) -> tuple[list[int], np.ndarray]:
    """(minority modes, (replicas, M, 3) per latent mode j: share within 3σ of data mode j (the mode-coverage rule,
    as metrics/mode_classes.py), share in mode j's cell (nearest centre j), median Mahalanobis distance to centre j)
    of the finished run folder ``run``."""
    from omegaconf import OmegaConf

    from core.files import load_torch
    from engine.build import build_method
    from metrics.latent_base import sample_classes
    from metrics.modes import nearest_modes, whitening_factors

    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    replicas = int(cfg.trainer.replicas)
    method, data = build_method(cfg, replicas, seed=int(cfg.seed))
    method.load_state_dict(load_torch(run / "checkpoint.pt")["method"])
    centers, whiten = data.centers.double(), whitening_factors(data.covariances)
    out = np.zeros((replicas, method.latent.modes, 3))
    for r in range(replicas):
        model = method.latent_model(r)
        for j in range(model.modes):
            x = model.generate(torch.full((n,), j), torch.Generator().manual_seed(j)).double()
            distance = ((x - centers[j]) @ whiten[j].T).norm(dim=1)
            out[r, j] = [float((sample_classes(x, data, None, 3.0) == j).mean()),
                         float((nearest_modes(x, centers) == j).double().mean()), float(distance.median())]
    return list(data.minority), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ceiling", action="store_true", help="score draws of the true mixtures")
    p.add_argument("--datasets", nargs="+", default=["ring", "grid"])
    p.add_argument("--draws", type=int, default=200, help="draws of 10k samples (--ceiling)")
    p.add_argument("--run", type=Path, default=None, help="a finished nemgan/clustergan/infogan toy run folder")
    p.add_argument("--n", type=int, default=500, help="samples per latent mode (--run)")
    args = p.parse_args(argv)
    if not args.ceiling and args.run is None:
        p.error("give --ceiling, --run DIR or both")
    if args.run is not None and not (args.run / "checkpoint.pt").exists():
        print(f"error: {args.run} has no checkpoint.pt; give the folder of a finished toy run of a latent method",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    if args.ceiling:
        for name in args.datasets:
            c = ceiling(name, args.draws)
            print(f"{name}: true mixture, {args.draws} draws of 10k: nb_modes {c['nb_mean']:.2f} (min {c['nb_min']}, "
                  f"max {c['nb_max']}); a minority mode expects {c['minority_expected']:.1f} samples, "
                  f"{c['minority_hq']:.1f} of them within 3σ (the rule needs 50)")
    if args.run is not None:
        minority, out = probe_run(args.run, args.n)
        majority = [j for j in range(out.shape[1]) if j not in minority]
        print(f"{args.run}: {args.n} samples per latent mode, mean over modes (per replica)")
        for label, modes in (("minority", minority), ("majority", majority)):
            if not modes:
                continue
            part = out[:, modes]
            print(f"  {label} modes {modes[0]}-{modes[-1]}: within 3σ of their data mode "
                  f"{np.round(part[..., 0].mean(1), 3)}, in their cell {np.round(part[..., 1].mean(1), 3)}, "
                  f"median distance {np.round(np.median(part[..., 2], 1), 1)} σ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
