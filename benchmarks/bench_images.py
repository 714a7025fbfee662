"""Image benchmarks: training steps per second of every image GAN with 1 and 10 seed replicas, DCGAN steps against
the RLS paper's P100, and the cost of building RLS class features.

0. ``--replicas`` section (``--device cpu|cuda``): every image GAN (dcgan, dcgan32, sngan32, ssgan32, sngan64,
   ssgan64) at batch 64 on synthetic data of its shape, with 1 and 10 replicas (``trainer.replicas``: grouped
   layers), the trainer's step scheme for it (DCGANs: one simultaneous D/G update; SNGAN/SSGAN: n_dis 5 D steps on
   fresh batches + 1 G step) and the speed options given (``--channels-last``, ``--compile``, ``--bf16``,
   ``--tf32``): seconds per step, steps/s, seed-steps/s (replicas x steps/s), the 10-replica gain, and the
   projected time of the paper budgets (DCGAN MNIST 30k steps; SNGAN32 CIFAR-10 100k steps) beside the issue's
   targets for an H100/H200-class GPU (<= 100 s, <= 1 h, 10 replicas >= 5x the seed-steps/s of one).

1. ``gan=dcgan`` (RLS Table 7) on 012-MNIST, batch 64, simultaneous updates: seconds per step for ``method=vanilla``
   and ``method=rls_discr`` (sketch k = 25, gamma = 1e-4: 20 x 64 = 1,280 extra discriminator passes per step),
   and ``gan=dcgan32``; projected time for the paper's 30k steps, compared with the paper's P100 (supplementary
   Table 5: GAN 1,063 s and RLS BuresGAN Discr. 2,006 s for 30k steps on 012-MNIST).
2. ``sampler=rls_class`` set-up: the evaluator's penultimate features, UMAP to k dims and the leverage scores, on the
   5,000 real digits of the offline subset and on 60,000 synthetic digits (the 5,000 shifted by up to +-2 pixels
   with light noise, so that UMAP sees no duplicates; the size of MNIST's training set). numba's one-off
   compilation of UMAP is timed separately (it recurs in every new process).

    OMP_NUM_THREADS=1 python benchmarks/bench_images.py [--steps 20] [--skip-umap] [--threads 1]
    python benchmarks/bench_images.py --replicas --device cuda --skip-gan --skip-umap   # the GPU figures
    python benchmarks/bench_images.py --replicas --gans dcgan sngan32 --replica-counts 1 10 --steps 2

Time on a shared CPU is noisy: each timing is the best of a few windows (timeit's convention).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from core.cpu_runtime import configure_cpu_runtime  # noqa: E402

configure_cpu_runtime()  # as run.py

import datasets  # noqa: E402,F401  (registers the modebench_source resolver)
from engine.build import build_components  # noqa: E402
from gans.method import RunContext  # noqa: E402

PAPER_P100 = {"vanilla": 1063.0 / 30000, "rls_discr": 2006.0 / 30000}  # s/step, 012-MNIST (supp. Table 5)


def compose(overrides):
    from hydra import compose as hcompose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hcompose("config", overrides=overrides)


def build_method(overrides, root):
    cfg = compose([f"data.root={root}", "logger=none", *overrides])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    s = parts.trainer
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=[0],
                     batch_size=s.batch_size, steps=1, device=torch.device("cpu"),
                     generator=torch.Generator().manual_seed(0), update_scheme=s.update_scheme, n_dis=s.n_dis)
    parts.method.setup(ctx)
    return parts.method


def time_steps(method, steps: int, windows: int = 3, warmup: int = 3) -> float:
    for i in range(warmup):
        method.train_step(i)
    best = float("inf")
    for _ in range(windows):
        t0 = time.perf_counter()
        for i in range(steps):
            method.train_step(i)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


# (gan config, dataset overrides giving its sample shape, step scheme overrides)
IMAGE_GANS = {
    "dcgan": (["dataset=synthetic_cifar10", "dataset.size=28", "dataset.channels=1"], []),
    "dcgan32": (["dataset=synthetic_cifar10"], []),
    "sngan32": (["dataset=synthetic_cifar10"], ["trainer.update_scheme=alternating", "trainer.n_dis=5"]),
    "ssgan32": (["dataset=synthetic_cifar10"], ["trainer.update_scheme=alternating", "trainer.n_dis=5"]),
    "sngan64": (["dataset=synthetic_celeba"], ["trainer.update_scheme=alternating", "trainer.n_dis=5"]),
    "ssgan64": (["dataset=synthetic_celeba"], ["trainer.update_scheme=alternating", "trainer.n_dis=5"]),
}
BUDGETS = {"dcgan": (30000, 100.0), "sngan32": (100000, 3600.0)}  # paper steps, target seconds on one H100/H200


def replica_method(gan: str, replicas: int, device: str, speed: list[str], batch: int = 64):
    """The vanilla method of ``gan`` with ``replicas`` seeds on ``device``, set up as run.py does (speed options
    applied by engine.extras): (method, extras)."""
    from engine.build import run_context
    from engine.extras import TrainingExtras

    data_overrides, scheme = IMAGE_GANS[gan]
    cfg = compose(["logger=none", "metrics=none", "method=vanilla", f"gan={gan}", f"trainer.batch_size={batch}",
                   "dataset.n=2000", *data_overrides, *scheme, *speed])
    parts = build_components(cfg)
    data = parts.dataset.load(device)
    method = parts.method
    method.setup(run_context(parts, data, list(range(replicas)), device, torch.Generator(device).manual_seed(0)))
    extras = TrainingExtras(parts.trainer, method, torch.device(device), image_data=True)
    return method, extras


def time_replica_steps(method, extras, device: str, steps: int, windows: int, warmup: int) -> float:
    """Best seconds per training step over ``windows`` windows of ``steps`` steps (after ``warmup`` steps)."""
    def run(n, first):
        for i in range(n):
            with extras.step_context():
                method.train_step(first + i)
            extras.after_step(first + i + 1)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    run(warmup, 0)
    best = float("inf")
    for w in range(windows):
        t0 = time.perf_counter()
        run(steps, warmup + w * steps)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def replica_table(gans, counts, device, steps, windows, warmup, speed) -> None:
    print(f"\n## seed replicas on {device} (batch 64; speed options: {' '.join(speed) or 'defaults'})\n")
    print("| gan | replicas | s/step | steps/s | seed-steps/s | vs 1 replica | paper budget | target |")
    print("|---|---|---|---|---|---|---|---|")
    for gan in gans:
        single = None
        for replicas in counts:
            method, extras = replica_method(gan, replicas, device, speed)
            sec = time_replica_steps(method, extras, device, steps, windows, warmup)
            del method, extras
            seed_rate = replicas / sec
            single = seed_rate if replicas == 1 else single
            gain = f"{seed_rate / single:.1f}x" if single and replicas > 1 else "-"
            budget, target = "-", "-"
            if gan in BUDGETS:
                paper_steps, limit = BUDGETS[gan]
                budget = f"{paper_steps} steps: {paper_steps * sec:.0f} s"
                target = f"<= {limit:.0f} s" + (f" ({'met' if paper_steps * sec <= limit else 'missed'})"
                                                if device.startswith("cuda") else " (GPU target)")
            if replicas >= 10 and single:
                target += f"; gain >= 5x ({'met' if seed_rate / single >= 5 else 'missed'})" \
                    if device.startswith("cuda") else "; gain >= 5x (GPU target)"
            print(f"| {gan} | {replicas} | {sec:.4f} | {1 / sec:.2f} | {seed_rate:.2f} | {gain} | {budget} | {target} |",
                  flush=True)


def synthetic_60k(x: torch.Tensor, n: int = 60000, seed: int = 0) -> torch.Tensor:
    """n digits made from the 5,000 real ones: random shifts of up to +-2 pixels and uniform noise of +-8 grey levels."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(x.shape[0], (n,), generator=gen)
    out = torch.empty((n, *x.shape[1:]), dtype=torch.uint8)
    shifts = torch.randint(-2, 3, (n, 2), generator=gen)
    for start in range(0, n, 5000):
        chunk = x[idx[start:start + 5000]].float()
        for j in range(chunk.shape[0]):
            chunk[j] = torch.roll(chunk[j], shifts=tuple(shifts[start + j].tolist()), dims=(1, 2))
        chunk += torch.empty_like(chunk).uniform_(-8, 8, generator=gen)
        out[start:start + 5000] = chunk.clamp_(0, 255).round_().to(torch.uint8)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps per timing window")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--root", default=None, help="data root (default: a temporary folder)")
    parser.add_argument("--skip-umap", action="store_true")
    parser.add_argument("--skip-gan", action="store_true")
    parser.add_argument("--replicas", action="store_true", help="the seed-replica table of every image GAN")
    parser.add_argument("--device", default="cpu", help="device of the replica table (cpu, cuda)")
    parser.add_argument("--gans", nargs="+", default=list(IMAGE_GANS), choices=list(IMAGE_GANS))
    parser.add_argument("--replica-counts", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--windows", type=int, default=3, help="timing windows (best of)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN autotuning, compilation)")
    parser.add_argument("--channels-last", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--tf32", choices=["auto", "true", "false"], default="auto")
    parser.add_argument("--compile", action="store_true", help="trainer.compile=true")
    parser.add_argument("--bf16", action="store_true", help="trainer.autocast=bf16")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.root or tempfile.mkdtemp(prefix="modebench-bench-")
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, {device_name}; data root {root}")

    if args.replicas:
        speed = [f"trainer.channels_last={args.channels_last}", f"trainer.tf32={args.tf32}",
                 *(["trainer.compile=true"] if args.compile else []), *(["trainer.autocast=bf16"] if args.bf16 else [])]
        replica_table(args.gans, args.replica_counts, args.device, args.steps, args.windows, args.warmup, speed)

    if not args.skip_gan:
        base = ["dataset=mnist012_unbalanced", "dataset.source=mnist5k", "trainer.batch_size=64", "metrics=mnist_classes"]
        rows = [("dcgan vanilla", ["gan=dcgan", "method=vanilla"], "vanilla"),
                ("dcgan rls_discr k=25", ["gan=dcgan", "method=rls_discr", "sampler.sketch_dim=25",
                                          "sampler.gamma=1e-4"], "rls_discr"),
                ("dcgan32 vanilla", ["gan=dcgan32", "method=vanilla", "dataset.size=32"], None)]
        print("\n| model | s/step (CPU) | steps/s | 30k steps | paper P100 s/step | CPU / P100 |\n|---|---|---|---|---|---|")
        for name, overrides, paper in rows:
            sec = time_steps(build_method(base + overrides, root), args.steps)
            p = PAPER_P100.get(paper) if paper else None
            print(f"| {name} | {sec:.3f} | {1 / sec:.2f} | {30000 * sec / 3600:.1f} h | "
                  f"{p:.4f} | {sec / p:.1f}x |" if p else
                  f"| {name} | {sec:.3f} | {1 / sec:.2f} | {30000 * sec / 3600:.1f} h | - | - |")

    if not args.skip_umap:
        from datasets import sources
        from evaluators import evaluator_for
        from samplers.leverage import rls_from_features
        from samplers.rls_class import reduce_features

        cfg = compose([f"data.root={root}", "dataset=mnist", "dataset.source=mnist5k"])
        from hydra.utils import instantiate
        data = instantiate(cfg.dataset).load("cpu")
        t0 = time.perf_counter()
        evaluator = evaluator_for(data)
        t_eval = time.perf_counter() - t0
        print(f"\nevaluator {evaluator.name}: held-out accuracy {evaluator.accuracy:.4f}; "
              f"{'loaded from cache' if evaluator.info.get('loaded_from_cache') else 'trained'} in {t_eval:.1f} s")
        t0 = time.perf_counter()
        reduce_features(torch.randn(300, 16), 2, "umap", 15, 0.1, "euclidean", 0)
        t_jit = time.perf_counter() - t0
        print(f"UMAP first call (numba compilation + 300 points): {t_jit:.1f} s")
        big = synthetic_60k(sources.load_mnist5k(root)["x"])
        print("\n| images | k | features (s) | UMAP (s) | leverage scores (s) | total (s) |\n|---|---|---|---|---|---|")
        for name, x in (("5k real", data.x), ("60k synthetic", big)):
            for k in (10, 25):
                t0 = time.perf_counter()
                feats = evaluator.features(x)
                t1 = time.perf_counter()
                emb = reduce_features(feats, k, "umap", 15, 0.1, "euclidean", 0)
                t2 = time.perf_counter()
                rls_from_features(emb, 1e-4)
                t3 = time.perf_counter()
                print(f"| {name} | {k} | {t1 - t0:.1f} | {t2 - t1:.1f} | {t3 - t2:.3f} | {t3 - t0:.1f} |")
        print("\n(the paper's RLS BuresGAN Class. vs BuresGAN difference on 012-MNIST, P100: 1,615 - 1,357 = 258 s, "
              "which includes its classifier features and UMAP)")


if __name__ == "__main__":
    main()
