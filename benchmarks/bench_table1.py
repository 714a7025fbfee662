"""Speed of the RLS Table 1 reproduction on this machine, against the paper's P100 timings (supplementary Table 5).

    python benchmarks/bench_table1.py single [--steps 3000] [--rounds 2] [--methods ...]
        every method's single-run training time on `ring` (1 replica, 1 thread), measured through run.py at
        --steps steps per generator and scaled to the paper's 30k; next to the paper's time as a ratio
        (target <= 1.0). MwuGAN rows train their 15 generators at --steps each.
    python benchmarks/bench_table1.py sweep [--steps 400] [--rounds 2]
        the whole-sweep projection: per-step cost of every method with 10 replicas and 1 thread (the sweep's
        jobs), the MWU weight-update and evaluation costs, then a longest-first schedule of the 22 jobs
        on --jobs workers (target <= 2 h on 2 cores). Beside it the matrix-product floor: each step's
        matmul FLOPs (counted) at this core's best float32 bmm rate on the steps' shapes.
    python benchmarks/bench_table1.py actual multirun/rls_table1
        the measured times of a finished sweep (sweep.json and every results.json).

Noise: the machine is shared, so each measurement runs in its own process, methods interleaved over
--rounds rounds; the best round is reported (the least disturbed), the median beside it, with the load
average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = ["vanilla", "pacgan", "bures", "rls_gauss", "rls_discr", "iwgan", "iwmmdgan", "mwugan", "rls_mwugan",
           "rls_bures_gauss", "rls_bures_discr"]
PAPER_STEPS = 30000


def paper_seconds() -> dict[tuple[str, str], float]:
    from sweeps.paper import load_paper

    table = load_paper(ROOT / "sweeps" / "paper" / "rls_table5.yaml")
    return {(r.dataset, r.method): r.values["train_seconds"][0] for r in table.rows}


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


# ------------------------------------------------------------------------------------------ single runs


def run_once(method: str, steps: int, dataset: str = "ring", replicas: int = 1, extra=()) -> dict:
    from engine.records import RESULTS_FILE

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "run.py", f"method={method}", f"dataset={dataset}", "experiment=rls_table1",
               f"trainer.replicas={replicas}", "trainer.threads=1", f"trainer.steps={steps}", "trainer.eval_every=0",
               "trainer.ckpt_every=0", "trainer.progress=false", "logger=none", "plots.enabled=false",
               f"hydra.run.dir={tmp}", *extra]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
        wall = time.perf_counter() - start
        timing = json.loads((Path(tmp) / RESULTS_FILE).read_text())["records"][0]["timing"]
    return dict(timing, wall=wall)


def single(args) -> None:
    paper = paper_seconds()
    print(f"before: {load()}")
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    for _ in range(args.rounds):
        for m in args.methods:
            results[m].append(run_once(m, args.steps))
    print(f"after: {load()}")
    scale = PAPER_STEPS / args.steps
    print(f"\n`ring`, 1 replica, 1 thread, {args.steps} steps per generator scaled x{scale:g} to 30k; best of "
          f"{args.rounds} rounds (median in brackets). train = training loop only (MWU weight updates included); "
          "total = train + set-up + final evaluation of 10k samples (the paper's times include periodic "
          "evaluation and plotting).\n")
    print("| method | train s (30k) | total s (30k) | paper P100 s | ratio total/paper |")
    print("|---|---:|---:|---:|---:|")
    for m, runs in results.items():
        train = [r["train_seconds"] * scale for r in runs]
        total = [r["train_seconds"] * scale + r["setup_seconds"] + r["eval_seconds"] for r in runs]
        p = paper.get(("ring", m))
        ratio = f"{min(total) / p:.2f}" if p else "—"
        print(f"| {m} | {min(train):.1f} ({statistics.median(train):.1f}) | {min(total):.1f} "
              f"({statistics.median(total):.1f}) | {p if p else '— (not in Table 5)'} | {ratio} |")


# --------------------------------------------------------------------------------------- sweep projection


def child(args) -> None:
    """In one process: ms/step of a method with --replicas replicas (1 thread), its matrix-product GFLOP per step,
    set-up, evaluation and, for MWU, the cost of one weight update. Prints JSON."""
    import torch

    from core.cpu_runtime import configure_cpu_runtime

    configure_cpu_runtime()  # as run.py
    torch.set_num_threads(1)
    from engine.build import build_components
    from engine.evaluation import Evaluator
    from gans.method import RunContext
    from hydra import compose, initialize_config_dir

    start = time.perf_counter()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["experiment=rls_table1", f"method={args.child}", f"dataset={args.dataset}"])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=list(range(args.replicas)),
                     batch_size=cfg.trainer.batch_size, steps=PAPER_STEPS, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0))
    method = parts.method
    method.setup(ctx)
    setup = time.perf_counter() - start
    for i in range(args.warmup):
        method.train_step(i)
    windows = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(args.steps):
            method.train_step(i)
        windows.append((time.perf_counter() - t) / args.steps)
    out = {"step": min(windows), "setup": setup, "gflop": matmul_gflop_per_step(method)}
    evaluator = Evaluator(cfg.metrics)
    gen = torch.Generator().manual_seed(0)
    if hasattr(method, "next_generator"):
        t = time.perf_counter()
        method.next_generator()  # the first update also computes the data density (once per run)
        out["first_update"] = time.perf_counter() - t
        t = time.perf_counter()
        method.next_generator()
        out["update"] = time.perf_counter() - t
        while len(method.finished) < method.num_generators - 1:
            method.finished.append(method.finished[-1])
    t = time.perf_counter()
    evaluator(method, method.data, gen)
    out["eval"] = time.perf_counter() - t
    print(json.dumps(out))


def matmul_gflop_per_step(method, steps: int = 5) -> float:
    """Matrix-product GFLOP of one training step, counted by torch's FlopCounterMode (mm, bmm, baddbmm, ...;
    Cholesky factors and triangular solves, small here, are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        for i in range(steps):
            method.train_step(i)
    return counter.get_total_flops() / steps / 1e9


# The products that dominate the sweep's steps (10 replicas): a 128x128 layer on a 128-sample batch, and the
# feature covariance and whitening of RLS discriminator sampling on its 1,280-sample subset.
GEMM_SHAPES = [((10, 128, 128), (10, 128, 128)), ((10, 128, 1280), (10, 1280, 128)), ((10, 1280, 128), (10, 128, 128))]


def gemm_peak() -> None:
    """Best float32 GFLOP/s of torch.bmm on GEMM_SHAPES with 1 thread, operands in cache. Prints JSON."""
    import torch

    torch.set_num_threads(1)
    best = 0.0
    for shape_a, shape_b in GEMM_SHAPES:
        a, b = torch.randn(shape_a), torch.randn(shape_b)
        flop = 2 * shape_a[0] * shape_a[1] * shape_a[2] * shape_b[2]
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(50):
                torch.bmm(a, b)
            best = max(best, 50 * flop / (time.perf_counter() - start) / 1e9)
    print(json.dumps({"gflops": best}))


def measure(method: str, args, dataset: str = "ring") -> dict:
    cmd = [sys.executable, __file__, "--child", method, "--dataset", dataset, "--replicas", str(args.replicas),
           "--steps", str(args.steps), "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1")).stdout
    return json.loads(out.strip().splitlines()[-1])


def sweep(args) -> None:
    from sweeps.run import Job, project

    print(f"before: {load()}")
    runs: dict[str, list[dict]] = {m: [] for m in args.methods}
    peaks = []
    for _ in range(args.rounds):
        for m in args.methods:
            runs[m].append(measure(m, args))
        peaks.append(json.loads(subprocess.run([sys.executable, __file__, "--child", "gemm_peak"], cwd=ROOT,
                                               check=True, capture_output=True, text=True).stdout)["gflops"])
    peak = max(peaks)
    print(f"after: {load()}")
    best = {m: {k: min(r[k] for r in rs) for k in rs[0]} for m, rs in runs.items()}
    seconds, floors = {}, {}
    print(f"\n{args.replicas} replicas (seeds) per job, 1 thread; best of {args.rounds} rounds of 3 windows x "
          f"{args.steps} steps after {args.warmup} warm-up steps; one process per measurement. GFLOP = matrix "
          f"products per step (FlopCounterMode); floor = their time at this core's best float32 bmm rate on the "
          f"steps' shapes, {peak:.0f} GFLOP/s (the step's other work taken as free).\n")
    print("| method | ms/step | GFLOP/step | floor ms/step | floor/step | steps | train s | set-up s | MWU updates s "
          "| final eval s | job s | vs vanilla |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m, b in best.items():
        generators = 15 if "mwu" in m else 1
        steps = generators * PAPER_STEPS
        updates = (b.get("first_update", 0) + (generators - 2) * b.get("update", 0)) if generators > 1 else 0
        train = steps * b["step"]
        job = train + updates + b["setup"] + b["eval"]
        seconds[m] = job
        floor_step = b["gflop"] / peak
        floors[m] = steps * floor_step
        print(f"| {m} | {b['step'] * 1e3:.2f} | {b['gflop']:.3f} | {floor_step * 1e3:.2f} | "
              f"{floor_step / b['step']:.0%} | {steps} | {train:.0f} | {b['setup']:.1f} | {updates:.1f} | "
              f"{b['eval']:.1f} | {job:.0f} | {job / seconds.get('vanilla', job):.2f} |")
    datasets = ("ring", "grid")
    jobs = [Job(d, m, [], Path("."), seconds[m]) for d in datasets for m in args.methods]
    total = sum(j.cost for j in jobs)
    wall = project(jobs, args.jobs, 1.0)
    floor_jobs = [Job(d, m, [], Path("."), floors[m]) for d in datasets for m in args.methods]
    floor_total = sum(j.cost for j in floor_jobs)
    print(f"\n{len(jobs)} jobs (both datasets assumed to cost the same per step as `ring`): {total / 3600:.2f} CPU-hours; "
          f"longest-first on {args.jobs} workers: {wall / 3600:.2f} h projected wall time (target <= 2 h), "
          f"plus ~5 s start-up per job.")
    print(f"Matrix-product floor of the same jobs: {floor_total / 3600:.2f} CPU-hours, "
          f"{project(floor_jobs, args.jobs, 1.0) / 3600:.2f} h on {args.jobs} workers; the measured steps spend "
          f"{floor_total / total:.0%} of the sweep's time in matrix products at that rate, so a 2 h sweep needs "
          f"{floor_total / (2 * 3600 * args.jobs):.0%} of it overall.")
    print("cost column for sweeps/rls_table1.yaml: {" + ", ".join(
        f"{m}: {seconds[m] / seconds['vanilla']:.2f}" for m in args.methods) + "}")


def actual(args) -> None:
    from sweeps.records import load_records

    state = json.loads((Path(args.dir) / "sweep.json").read_text())
    print(json.dumps(state.get("meta", {}), indent=1))
    records = load_records([args.dir])
    per_job: dict[str, dict] = {}
    for r in records:
        key = f"{r.group[1]}/{r.group[4]}"
        per_job[key] = r.timing
    print("\n| job | train s | eval s | set-up s | launcher s |")
    print("|---|---:|---:|---:|---:|")
    for key in sorted(per_job):
        t = per_job[key]
        print(f"| {key} | {t.get('train_seconds', 0):.0f} | {t.get('eval_seconds', 0):.0f} | "
              f"{t.get('setup_seconds', 0):.0f} | {state['jobs'].get(key, {}).get('seconds', '—')} |")
    wall = sum(i["wall_seconds"] for i in state["invocations"])
    print(f"\nsweep wall time: {wall / 3600:.2f} h over {len(state['invocations'])} invocation(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["single", "sweep", "actual"], default="single")
    parser.add_argument("dir", nargs="?", default="multirun/rls_table1")
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dataset", default="ring")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "gemm_peak":
        return gemm_peak()
    if args.child:
        args.steps = args.steps or 400
        return child(args)
    if args.mode == "single":
        args.steps = args.steps or 3000
        return single(args)
    if args.mode == "sweep":
        args.steps = args.steps or 400
        return sweep(args)
    return actual(args)


if __name__ == "__main__":
    main()
