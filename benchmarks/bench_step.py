"""Per-step training time of toy methods, measured in-process on the real method objects.

The VM this project runs on shows +-20% run-to-run noise, and methods sharing one process slow each
other down (caches), so every method runs in its own process, several rounds interleaved with the other
methods, each round timing several windows after a warm-up. Reported: the best and the median window
over all rounds (timeit's convention: the best is the least disturbed estimate); ratios use the best.
``--clock process`` times the process's CPU time instead of the wall clock: on a machine shared with other jobs
(load above its cores) the wall clock counts the time the benchmark waits for a core; use it with ``--threads 1``.

    python benchmarks/bench_step.py [--methods vanilla rls_discr ...] [--replicas 1] [--rounds 3]
    python benchmarks/bench_step.py --methods vanilla rumi_lsgan --dataset rumi_ring --threads 1   # Rumi's extra
        # negative batch (docs/rumi.md; images: --dataset rumi_mnist gan=rumi_mnist dataset.source=mnist5k metrics=rumi)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.cpu_runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # as run.py

from hydra import compose, initialize_config_dir  # noqa: E402

from engine.build import build_components  # noqa: E402
from gans.method import RunContext  # noqa: E402


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def build(method: str, dataset: str, replicas: int, extra: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"method={method}", f"dataset={dataset}", *extra])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    settings = parts.trainer
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler,
                     seeds=list(range(replicas)), batch_size=settings.batch_size, steps=1, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0), update_scheme=settings.update_scheme,
                     n_dis=settings.n_dis)
    parts.method.setup(ctx)
    return parts.method


def child(args) -> None:
    """Time one method: warm-up, then ``windows`` windows of ``steps`` steps; print the times as JSON."""
    if args.threads:
        torch.set_num_threads(args.threads)
    method = build(args.child, args.dataset, args.replicas, args.overrides)
    for i in range(args.warmup):
        method.train_step(i)
    times = []
    clock = CLOCKS[args.clock]
    for _ in range(args.windows):
        start = clock()
        for i in range(args.steps):
            method.train_step(i)
        times.append((clock() - start) / args.steps)
    print(json.dumps(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["vanilla", "rls_gauss", "rls_discr"])
    parser.add_argument("--dataset", default="ring")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000, help="steps per timing window")
    parser.add_argument("--warmup", type=int, default=2000, help="steps before timing (lets training settle)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: elapsed time; process: the process's CPU time (a machine shared with other jobs)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*", help="extra config overrides, e.g. trainer.update_scheme=alternating")
    args = parser.parse_args()
    if args.child:
        return child(args)

    times: dict[str, list[float]] = {name: [] for name in args.methods}
    for _ in range(args.rounds):
        for name in args.methods:
            cmd = [sys.executable, __file__, "--child", name, "--dataset", args.dataset, "--replicas", str(args.replicas),
                   "--windows", str(args.windows), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--clock", args.clock,
                   *(["--threads", str(args.threads)] if args.threads else []), *args.overrides]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            times[name] += json.loads(out.strip().splitlines()[-1])

    base = min(times[args.methods[0]])
    print(f"\n{args.dataset}, replicas={args.replicas}, threads={args.threads or torch.get_num_threads()}; "
          f"{args.rounds} rounds x {args.windows} windows of {args.steps} steps after {args.warmup} warm-up steps, "
          f"one process per method and round; {args.clock} clock")
    print(f"| method | best ms/step | median ms/step | steps/s (best) | seed-steps/s (best) | vs {args.methods[0]} |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        best, median = min(values), statistics.median(values)
        print(f"| {name} | {best * 1e3:.3f} | {median * 1e3:.3f} | {1 / best:.0f} | {args.replicas / best:.0f} | "
              f"{best / base - 1:+.0%} |")


if __name__ == "__main__":
    main()
