"""Image benchmarks: DCGAN training steps per second, and the cost of building RLS class features.

1. ``gan=dcgan`` (RLS Table 7) on 012-MNIST, batch 64, simultaneous updates: seconds per step for ``method=vanilla``
   and ``method=rls_discr`` (sketch k = 25, gamma = 1e-4: 20 x 64 = 1,280 extra discriminator passes per step),
   and ``gan=dcgan32``; projected time for the paper's 30k steps, compared with the paper's P100 (supplementary
   Table 5: GAN 1,063 s and RLS BuresGAN Discr. 2,006 s for 30k steps on 012-MNIST).
2. ``sampler=rls_class`` set-up: the evaluator's penultimate features, UMAP to k dims and the leverage scores, on the
   5,000 real digits of the offline subset and on 60,000 synthetic digits (the 5,000 shifted by up to +-2 pixels
   with light noise, so that UMAP sees no duplicates; the size of MNIST's training set). numba's one-off
   compilation of UMAP is timed separately (it recurs in every new process).

    OMP_NUM_THREADS=1 python benchmarks/bench_images.py [--steps 20] [--skip-umap] [--threads 1]

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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.root or tempfile.mkdtemp(prefix="modebench-bench-")
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; data root {root}")

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
