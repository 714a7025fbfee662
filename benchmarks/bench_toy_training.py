"""Training speed of the toy GANs through the real entry point (python run.py), against the targets of
the foundation issue: vanilla on `ring`, 30k steps, one replica, at most 45 s of training (the RLS
paper's P100 time, supplementary Table 5); replicas=10 at least 3x the seed-steps/s of one replica;
rls_discr at most +100% over vanilla per step; rls_gauss scores for n = 10,000 in under 10 s.

    python benchmarks/bench_toy_training.py [--steps 30000] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(overrides: list[str], steps: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "run.py", *overrides, f"trainer.steps={steps}", "trainer.eval_every=0",
               "trainer.ckpt_every=0", "trainer.progress=false", "logger=none", "plots.enabled=false",
               f"hydra.run.dir={tmp}"]
        if threads:
            cmd.append(f"trainer.threads={threads}")
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
        record = json.loads((Path(tmp) / "results.json").read_text())["records"][0]
    return record["timing"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    rows = []
    vanilla = train(["method=vanilla"], args.steps, args.threads)
    rows.append(("vanilla, 1 replica", vanilla, 1))
    replicas = train(["method=vanilla", "trainer.replicas=10"], args.steps, args.threads)
    rows.append(("vanilla, 10 replicas", replicas, 10))
    discr = train(["method=rls_discr"], args.steps, args.threads)
    rows.append(("rls_discr, 1 replica", discr, 1))
    gauss = train(["method=rls_gauss"], args.steps, args.threads)
    rows.append(("rls_gauss, 1 replica", gauss, 1))

    print(f"\n{args.steps} steps on `ring`, batch 64 (train time excludes evaluation and set-up)\n")
    print("| run | train s | steps/s | seed-steps/s | set-up s |")
    print("|---|---|---|---|---|")
    for name, t, s in rows:
        print(f"| {name} | {t['train_seconds']:.1f} | {t['steps_per_second']:.0f} | "
              f"{t['steps_per_second'] * s:.0f} | {t['setup_seconds']:.1f} |")
    scale = 30000 / args.steps
    print(f"\nvanilla, 30k steps: {vanilla['train_seconds'] * scale:.1f} s (target <= 45 s, the paper's P100 time; "
          f"ratio {vanilla['train_seconds'] * scale / 45:.2f})")
    speedup = replicas["steps_per_second"] * 10 / vanilla["steps_per_second"]
    print(f"replicas=10: {speedup:.2f}x the seed-steps/s of one replica (target >= 3x)")
    overhead = vanilla["steps_per_second"] / discr["steps_per_second"] - 1
    print(f"rls_discr step overhead over vanilla: {100 * overhead:+.0f}% (target <= +100%; the paper's code: "
          f"about +290%)")
    print(f"rls_gauss set-up (data + scores for n = 10,000): {gauss['setup_seconds']:.1f} s (target < 10 s)")


if __name__ == "__main__":
    main()
