"""StyleGAN2 training speed at the RLS Table 4 protocol (conf/experiment/rls_cifar10.yaml: batch 32, one D step with
R1 and one G step per iteration, DiffAugment on every D input, 32x32 CIFAR-shaped images), for gan=stylegan2 (the DiffAugment setting) and
gan=stylegan2_ada_cifar, method=vanilla and rls_discr, on CPU or CUDA; plus what one iteration costs in
floating-point operations and in operator calls, from which the 156k-iteration time on another device is projected.

    OMP_NUM_THREADS=1 python benchmarks/bench_stylegan2.py --threads 1 --steps 1 --windows 1 --warmup 1 \\
        --gans stylegan2 --out docs/figures/stylegan2_bench_cpu.json
    python benchmarks/bench_stylegan2.py --device cuda --steps 100 --modconv scaled grouped \\
        --out docs/figures/stylegan2_bench_cuda.json

The data are random uint8 tensors of CIFAR's shape (5,250 images, the size of 06-CIFAR10); speed does not depend
on the pixels. Each timing is the best of ``--windows`` windows of ``--steps`` iterations after ``--warmup`` ones
(timeit's convention; CUDA is synchronised around each window). The projection (printed, and in the JSON) is
time = max(FLOPs / (utilisation x peak), operator calls x per-call cost) per iteration, for the peak and per-call
cost given on the command line (defaults: an H100/H200's dense TF32 tensor-core peak, 495 TFLOP/s, at 10% and 30%
utilisation, and 8 µs per eager PyTorch operator call): an estimate, not a measurement.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.cpu_runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # as run.py

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402

import engine.build  # noqa: E402,F401  (registers the config resolvers)
from datasets.base import DataBundle, ImageInfo  # noqa: E402
from engine.build import build_components  # noqa: E402
from gans.method import RunContext  # noqa: E402

PAPER_ITERATIONS = 156_000  # RLS §3.3


def compose(overrides):
    from hydra import compose as hcompose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hcompose("config", overrides=overrides)


def synthetic_cifar(device, n: int = 5250, seed: int = 0) -> DataBundle:
    """Random CIFAR-shaped images (uint8, 3x32x32) with two classes, the minority first (as 06-CIFAR10)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    labels = (torch.arange(n) >= n // 21).long()
    counts = torch.bincount(labels, minlength=2)
    info = ImageInfo(base="synthetic", source="memory", split="train", root="", download=False, data_seed=seed,
                     fingerprint=f"synthetic-cifar-{n}-{seed}", class_names=["airplane", "frog"], class_counts=counts,
                     source_labels=labels.clone(), indices=torch.arange(n))
    return DataBundle(name="synthetic_cifar", kind="image", x=x.to(device), labels=labels.to(device), num_modes=2,
                      observed_weights=counts.double() / n, target_weights=torch.full((2,), 0.5), minority=(0,),
                      images=info)


def build_method(gan: str, method: str, modconv: str, data: DataBundle, device: torch.device):
    parts = build_components(compose(["experiment=rls_cifar10", f"gan={gan}", f"method={method}",
                                      f"gan.modconv={modconv}", "logger=none"]))
    s = parts.trainer
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=[0],
                     batch_size=s.batch_size, steps=1, device=device, generator=torch.Generator(device).manual_seed(0),
                     update_scheme=s.update_scheme, n_dis=s.n_dis, augment=parts.augment)  # DiffAugment
    parts.method.setup(ctx)
    return parts.method


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_iterations(method, steps: int, windows: int, warmup: int, device: torch.device) -> float:
    for i in range(warmup):
        method.train_step(i)
    best = float("inf")
    for _ in range(windows):
        sync(device)
        t0 = time.perf_counter()
        for i in range(steps):
            method.train_step(i)
        sync(device)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


class OperationCounter(TorchDispatchMode):
    """Counts ATen operator calls (on the order of the kernel launches of an eager GPU step) and their FLOPs
    (torch.utils.flop_counter's formulas: convolutions and matrix products, forward and backward)."""

    def __init__(self):
        super().__init__()
        self.calls, self.flops = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.calls += 1
        formula = flop_registry.get(func.overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def iteration_cost(method) -> tuple[float, int]:
    """(FLOPs, ATen operator calls) of one training iteration."""
    counter = OperationCounter()
    with counter:
        method.train_step(0)
    return float(counter.flops), int(counter.calls)


def project(flops: float, calls: int, peak: float, utilisation: float, per_call: float) -> float:
    """Seconds per iteration on a device of ``peak`` FLOP/s at ``utilisation``, or bound by operator calls."""
    return max(flops / (peak * utilisation), calls * per_call)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--gans", nargs="+", default=["stylegan2", "stylegan2_ada_cifar"])
    p.add_argument("--methods", nargs="+", default=["vanilla", "rls_discr"])
    p.add_argument("--modconv", nargs="+", default=["scaled"], help="modulated-conv implementations to time")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--windows", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--peak", type=float, default=495e12, help="FLOP/s of the projected device (H100/H200 TF32 dense)")
    p.add_argument("--utilisation", type=float, nargs="+", default=[0.1, 0.3])
    p.add_argument("--per-call", type=float, default=8e-6, help="seconds per eager operator call on that device")
    p.add_argument("--out", default=None, help="write the results as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = synthetic_cifar(device)
    rows = []
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}; batch 32, alternating D (+R1) and G steps")
    for gan in args.gans:
        for method_name in args.methods:
            for modconv in args.modconv:
                method = build_method(gan, method_name, modconv, data, device)
                seconds = time_iterations(method, args.steps, args.windows, args.warmup, device)
                flops, calls = iteration_cost(method)
                row = {"gan": gan, "method": method_name, "modconv": modconv, "seconds_per_iteration": seconds,
                       "iterations_per_second": 1.0 / seconds, "paper_budget_hours": seconds * PAPER_ITERATIONS / 3600,
                       "gflops_per_iteration": flops / 1e9, "operator_calls_per_iteration": calls,
                       "projected_hours": {f"{u:g}": project(flops, calls, args.peak, u, args.per_call)
                                           * PAPER_ITERATIONS / 3600 for u in args.utilisation}}
                rows.append(row)
                projected = ", ".join(f"{float(u) * 100:.0f}%: {h:.2f} h" for u, h in row["projected_hours"].items())
                print(f"{gan:20s} {method_name:10s} {modconv:8s} {seconds:8.3f} s/it ({1 / seconds:7.2f} it/s) -> "
                      f"{row['paper_budget_hours']:8.1f} h for 156k here; {flops / 1e9:7.1f} GFLOP, {calls} op calls "
                      f"per it -> projected at {args.peak / 1e12:.0f} TFLOP/s: {projected}")
                del method
                if args.out:  # after every row, so that an interrupted benchmark keeps what it measured
                    write_json(Path(args.out), device, args, rows)
    if args.out:
        print(f"wrote {args.out}")
    return 0


def write_json(path: Path, device: torch.device, args, rows: list[dict]) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    meta = {"device": str(device), "device_name": name,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "peak_flops": args.peak,
            "per_call_seconds": args.per_call, "steps": args.steps, "windows": args.windows, "warmup": args.warmup}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
