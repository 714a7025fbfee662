"""Where the discriminator-RLS sampler puts its mass on GRID: per column, per row and per mode, against uniform.

    python benchmarks/rls_grid_mass.py                              # fresh discriminators (the default init)
    python benchmarks/rls_grid_mass.py gan.init=torch               # another init
    python benchmarks/rls_grid_mass.py --run multirun/rls_table1/grid/rls_discr   # the final D of a finished run

Prints, averaged over the replicas, the probability mass that `sampler=rls_discr` gives to each column (x) and row
(y) of the 5x5 grid and each mode's mass divided by its uniform share (1 = no reweighting). Scores are computed
on the whole training set with n := data size (`DiscriminatorRLSSampler.probabilities`); the two-stage subsets
of training (20 x batch) give the same picture in expectation.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def grid_mass(overrides: list[str], run: Path | None, replicas: int) -> dict[str, np.ndarray]:
    """(replicas, 5) column and row masses and the (5, 5) mass/uniform ratio per mode (rows: x, cols: y)."""
    from hydra import compose, initialize_config_dir

    from core.files import load_torch
    from engine.build import build_method

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=rls_table1", "dataset=grid", "method=rls_discr",
                                           "logger=none", *overrides])
    method, data = build_method(cfg, replicas)
    if run is not None:
        state = load_torch(run / "checkpoint.pt")  # checksum checked, loaded without running code
        method.load_state_dict(state["method"])
    probs = method.sampler.probabilities(method).double().numpy()
    mode = data.labels.long().numpy()
    column, row = mode // 5, mode % 5  # modes are numbered with x varying slowest
    uniform = np.bincount(mode, minlength=25) / len(mode)
    per_mode = np.stack([probs[:, mode == k].sum(1) for k in range(25)], axis=1)  # (R, 25)
    return {"column": np.stack([probs[:, column == c].sum(1) for c in range(5)], axis=1),
            "row": np.stack([probs[:, row == c].sum(1) for c in range(5)], axis=1),
            "column_uniform": np.array([uniform[c * 5:(c + 1) * 5].sum() for c in range(5)]),
            "ratio": (per_mode.mean(0) / uniform).reshape(5, 5)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="run.py overrides (e.g. gan.init=torch)")
    p.add_argument("--run", type=Path, default=None, help="a finished grid run folder whose final D to use")
    p.add_argument("--replicas", type=int, default=10)
    args = p.parse_args(argv)
    if args.run is not None and not (args.run / "checkpoint.pt").exists():
        print(f"error: {args.run} has no checkpoint.pt; give a run folder of experiment=rls_table1 on grid",
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    out = grid_mass(args.overrides, args.run, args.replicas)
    np.set_printoptions(precision=3, suppress=True)
    print(f"discriminators: {'final of ' + str(args.run) if args.run else 'freshly initialised'} "
          f"{' '.join(args.overrides)} ({args.replicas} replicas)")
    print(f"mass per column x = -4..4: {out['column'].mean(0)}   uniform: {out['column_uniform']}")
    print(f"mass per row    y = -4..4: {out['row'].mean(0)}")
    print(f"middle column (x = 0) per replica: {out['column'][:, 2]}")
    print("mode mass / uniform share (rows x = -4..4, columns y = -4..4):")
    print(out["ratio"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
