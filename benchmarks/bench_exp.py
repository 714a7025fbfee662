"""Speed of ``torch.exp`` against ``core.numerics.floored_exp`` on Gaussian-kernel arguments, by range.

On x86 CPUs exp is 10-30x slower where its result underflows; kernels of far-apart points (IwMmdGAN's
feature-space MMD, the MWU data KDE) spend most of their time there.

    python benchmarks/bench_exp.py [--size 16384] [--repeats 2000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.cpu_runtime import configure_cpu_runtime  # noqa: E402
from core.numerics import floored_exp  # noqa: E402


def per_call_us(fn, x: torch.Tensor, repeats: int) -> float:
    for _ in range(10):
        fn(x)
    start = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=2000)
    args = parser.parse_args()
    configure_cpu_runtime()  # as run.py
    torch.set_num_threads(1)
    print(f"{args.size} elements, 1 thread, microseconds per call\n")
    print("| dtype | argument range | torch.exp | floored_exp | ratio |")
    print("|---|---|---:|---:|---:|")
    ranges = {torch.float32: [(-10, 0), (-80, 0), (-100, -88), (-250, 0)],
              torch.float64: [(-10, 0), (-700, 0), (-1000, -710)]}
    for dtype, spans in ranges.items():
        for low, high in spans:
            x = torch.empty(args.size, dtype=dtype).uniform_(low, high)
            plain, guarded = per_call_us(torch.exp, x, args.repeats), per_call_us(floored_exp, x, args.repeats)
            print(f"| {str(dtype).removeprefix('torch.')} | [{low}, {high}] | {plain:.1f} | {guarded:.1f} | "
                  f"{plain / guarded:.2f} |")


if __name__ == "__main__":
    main()
