"""Timings and accuracy of samplers/leverage.py (a script, not a test).

    python benchmarks/bench_leverage.py            # rls_primal step shapes + RING n = 2k/4k/10k (~2 min)
    python benchmarks/bench_leverage.py --grid     # also the unbalanced GRID
    python benchmarks/bench_leverage.py --quick    # skip the exact n = 10,000 reference (~40 s each)

On a CPU shared with other jobs, 2 torch threads can be 10-40x slower on these small ops (OpenMP
threads waiting for a descheduled sibling); compare with --threads 1 when timings look odd.

Part 1: rls_primal on the per-training-step shapes, float64 (default) vs float32 solve, with the max
relative error vs a float64 reference on ReLU-like (ill-conditioned) discriminator-style features.
Part 2: rls_gaussian exact (dual, O(n^3)) vs the default approximation (and the "rrls" estimator) on
the unbalanced 2-D sets, sigma = 0.15, gamma = 1e-3, with the approximation errors:
TV = total variation between the sampling distributions, med/q99/max = relative score error
quantiles, mode = largest relative error of a mode's total sampling probability.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from samplers.leverage import DEFAULT_NUM_LANDMARKS, rls_gaussian, rls_primal  # noqa: E402

SIGMA, GAMMA = 0.15, 1e-3


def unbalanced_ring(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(8) / 8
    centers = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    w = np.array([0.05] * 4 + [1.0] * 4)
    labels = rng.choice(8, size=n, p=w / w.sum())
    return centers[labels] + 0.05 * rng.standard_normal((n, 2)), labels


def unbalanced_grid(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = np.arange(-4.0, 5.0, 2.0)
    centers = np.array([(a, b) for a in g for b in g])
    w = np.ones(25)
    w[:10] = 0.05  # the two leftmost columns
    labels = rng.choice(25, size=n, p=w / w.sum())
    return centers[labels] + 0.05 * rng.standard_normal((n, 2)), labels


def median_time(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_primal() -> None:
    print("\n## rls_primal, per-step shapes (median of 50 calls); max relative error vs a float64 reference")
    print("## on ReLU-like features, moderate (cond(C + n gamma I) ~ 1e4) and 10x larger (cond ~ 1e6)")
    print(f"{'shape (S, n, k)':<17} {'f64 ms':>8} {'f32 ms':>8} {'f64/f32':>8} "
          f"{'f64 err':>9} {'f32 err':>9} {'f64 err x10':>12} {'f32 err x10':>12}")
    gen = torch.Generator().manual_seed(0)
    for shape in [(1, 1280, 128), (10, 1280, 128), (1, 1280, 25)]:
        s, n, k = shape
        x = torch.randn(s, n, 2, generator=gen)
        h = torch.tanh(3 * x @ torch.randn(2, 256, generator=gen))
        pre = h @ torch.randn(256, k, generator=gen) / 16
        t64 = median_time(lambda: rls_primal(pre, GAMMA), 50)
        t32 = median_time(lambda: rls_primal(pre, GAMMA, dtype=torch.float32), 50)
        errs = []
        for scale in (1.0, 10.0):
            phi = torch.nn.functional.leaky_relu(scale * pre, 0.2)
            ref = rls_primal(phi.double(), GAMMA)
            for dtype in (torch.float64, torch.float32):
                errs.append(((rls_primal(phi, GAMMA, dtype=dtype).double() - ref).abs() / ref).max().item())
        print(f"{str(shape):<17} {t64 * 1e3:8.3f} {t32 * 1e3:8.3f} {t64 / t32:8.2f} "
              f"{errs[0]:9.1e} {errs[1]:9.1e} {errs[2]:12.1e} {errs[3]:12.1e}")


def errors(approx: np.ndarray, exact: np.ndarray, labels: np.ndarray) -> tuple[float, ...]:
    p, q = approx / approx.sum(), exact / exact.sum()
    rel = np.abs(approx - exact) / exact
    k = labels.max() + 1
    mode = np.max(np.abs(np.bincount(labels, p, k) / np.bincount(labels, q, k) - 1))
    return 0.5 * np.abs(p - q).sum(), np.median(rel), np.quantile(rel, 0.99), rel.max(), mode


def bench_gaussian(name: str, builder, sizes: list[int], seeds: int, skip_exact_above: int) -> None:
    print(f"\n## rls_gaussian on the unbalanced {name.upper()} (sigma={SIGMA}, gamma={GAMMA}); approx = "
          f"default num_landmarks={DEFAULT_NUM_LANDMARKS}, errors = worst over {seeds} seeds, time = median")
    print(f"{'n':>6} {'estimator':<11} {'exact s':>8} {'approx s':>9} {'speed-up':>9} "
          f"{'TV':>9} {'med rel':>9} {'q99 rel':>9} {'max rel':>9} {'mode':>9} {'d_eff':>7}")
    for n in sizes:
        x_np, labels = builder(n)
        x = torch.from_numpy(x_np)
        exact = None
        t_exact = float("nan")
        if n <= skip_exact_above:
            t0 = time.perf_counter()
            exact = rls_gaussian(x, SIGMA, GAMMA, exact_max_n=10**9).numpy()
            t_exact = time.perf_counter() - t0
        for estimator in ("projection", "rrls"):
            times, errs = [], []
            for seed in range(seeds):
                g = torch.Generator().manual_seed(seed)
                t0 = time.perf_counter()
                approx = rls_gaussian(x, SIGMA, GAMMA, exact_max_n=0, estimator=estimator, generator=g).numpy()
                times.append(time.perf_counter() - t0)
                if exact is not None:
                    errs.append(errors(approx, exact, labels))
            t_approx = statistics.median(times)
            worst = np.max(np.array(errs), axis=0) if errs else [float("nan")] * 5
            d_eff = exact.sum() if exact is not None else approx.sum()
            print(f"{n:>6} {estimator:<11} {t_exact:8.2f} {t_approx:9.2f} {t_exact / t_approx:9.1f} "
                  + " ".join(f"{e:9.1e}" for e in worst) + f" {d_eff:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", action="store_true", help="also benchmark the unbalanced grid")
    parser.add_argument("--quick", action="store_true", help="no exact reference above n = 4000")
    parser.add_argument("--seeds", type=int, default=3, help="approximation seeds per size")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    parser.add_argument("--primal-only", action="store_true", help="only the rls_primal table")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_primal()
    if args.primal_only:
        return
    skip = 4000 if args.quick else 10**9
    bench_gaussian("ring", unbalanced_ring, [2000, 4000, 10000], args.seeds, skip)
    if args.grid:
        bench_gaussian("grid", unbalanced_grid, [2000, 4000, 10000], args.seeds, skip)


if __name__ == "__main__":
    main()
