"""Helpers for the image tests: small files in the torchvision on-disk formats, written by the tests themselves,
and one shared data root per test session (the decoded offline MNIST subset and a tiny evaluator are reused)."""
from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import tempfile
from pathlib import Path

import numpy as np

import datasets  # noqa: F401  (registers the modebench_source resolver)
from datasets import sources

_SHARED: dict[str, Path] = {}

# A small, fast MNIST evaluator for tests (the real one trains for a minute or more on CPU).
TINY_EVALUATOR = ["dataset.evaluator.epochs=2", "dataset.evaluator.max_train=1500", "dataset.evaluator.patience=0",
                  "dataset.evaluator.batch_size=64", "dataset.evaluator.lr=1e-3", "dataset.evaluator.arch.hidden=64",
                  "dataset.evaluator.floor=0.5"]


def shared_root() -> Path:
    """A data root shared by the whole test session (never the user's ~/.cache/modebench)."""
    if "root" not in _SHARED:
        _SHARED["root"] = Path(tempfile.mkdtemp(prefix="modebench-test-data-"))
    return _SHARED["root"]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def fake_digits(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """28x28 uint8 images whose content depends on the label (a bright bar at a label-dependent row) plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, y in enumerate(labels):
        x[i, 2 + 2 * int(y): 4 + 2 * int(y), 4:24] = 250
    return x


def write_mnist_like(root: Path, base: str = "mnist", per_class_train=(30,) * 10, per_class_test=(5,) * 10,
                     seed: int = 0, register: bool = True, monkeypatch=None) -> dict[str, np.ndarray]:
    """Write MNIST-format ``.gz`` idx files for ``base`` (mnist | fmnist) under ``root`` in torchvision's layout.

    With ``register`` the module's expected checksums are replaced (through ``monkeypatch``) by those of the
    written files, so they pass verification; without it they fail, as fake files should."""
    folder = Path(root) / sources.FOLDERS[base]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for prefix, counts in (("train", per_class_train), ("t10k", per_class_test)):
        labels = np.concatenate([np.full(c, k) for k, c in enumerate(counts)]).astype(np.uint8)
        labels = labels[rng.permutation(len(labels))]
        images = fake_digits(labels, seed)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            name = f"{prefix}-{kind}.gz"
            with gzip.open(folder / name, "wb") as handle:
                handle.write(idx_bytes(array))
            if register:
                monkeypatch.setitem(sources.CHECKSUMS[base], name, md5(folder / name))
        out[prefix] = (images, labels)
    return out


def write_cifar10(root: Path, per_class_train: int = 12, per_class_test: int = 3, seed: int = 0,
                  monkeypatch=None) -> None:
    """Fake ``cifar-10-batches-py`` pickles (5 train batches, test batch, meta) with registered checksums."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(10), per_class_train)
    labels = labels[rng.permutation(len(labels))]
    chunks = np.array_split(np.arange(len(labels)), 5)
    files = {f"data_batch_{i + 1}": labels[c] for i, c in enumerate(chunks)}
    files["test_batch"] = np.repeat(np.arange(10), per_class_test)
    for name, y in files.items():
        data = rng.integers(0, 256, size=(len(y), 3072), dtype=np.uint8)
        data[:, :1024] = (y[:, None] * 25).astype(np.uint8)  # red channel encodes the class
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, "labels": [int(v) for v in y], "batch_label": name}, handle)
        monkeypatch.setitem(sources.CHECKSUMS["cifar10"], name, md5(folder / name))
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, handle)
    monkeypatch.setitem(sources.CHECKSUMS["cifar10"], "batches.meta", md5(folder / "batches.meta"))


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs",
                     "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows",
                     "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
                     "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin",
                     "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair",
                     "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
                     "Wearing_Necktie", "Young"]


def write_celeba(root: Path, n: int = 40, seed: int = 0, monkeypatch=None, partition=None) -> np.ndarray:
    """Fake CelebA in torchvision's layout: ``n`` 178x218 JPEGs, list_attr_celeba.txt, list_eval_partition.txt
    (checksums registered). Male = every second image; Bald = every fifth; returns the attribute matrix (n, 40)."""
    from PIL import Image

    folder = Path(root) / "celeba"
    images = folder / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    attrs = -np.ones((n, 40), dtype=int)
    attrs[::2, CELEBA_ATTRIBUTES.index("Male")] = 1
    attrs[::5, CELEBA_ATTRIBUTES.index("Bald")] = 1
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    for i, name in enumerate(names):
        pixels = rng.integers(0, 256, size=(218, 178, 3), dtype=np.uint8)
        pixels[:, :, 0] = 255 if attrs[i, CELEBA_ATTRIBUTES.index("Male")] > 0 else 0
        Image.fromarray(pixels).save(images / name, quality=90)
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES)] + [f"{nm} " + " ".join(f"{v:2d}" for v in row)
                                                     for nm, row in zip(names, attrs)]
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    part = partition if partition is not None else [0 if i < int(0.8 * n) else 2 for i in range(n)]
    (folder / "list_eval_partition.txt").write_text("\n".join(f"{nm} {p}" for nm, p in zip(names, part)) + "\n")
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        monkeypatch.setitem(sources.CHECKSUMS["celeba"], name, md5(folder / name))
    return (attrs > 0).astype(np.uint8)
