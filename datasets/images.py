"""Image training sets with class metadata: MNIST family, CIFAR-10, CelebA and the papers' derived sets.

Every spec is config-driven (``conf/dataset/*.yaml``; ratios, classes and sizes are fields) and loads a
:class:`DataBundle` with ``kind="image"``, ``x`` uint8 ``(n, C, size, size)`` (the model sees it in [-1, 1] through
``bundle.as_float``), ``labels`` in 0..K-1, ``observed_weights`` (the class shares of the training set),
``target_weights`` (what a method should generate: balanced unless a spec says otherwise), ``minority``,
``importance_weights[i] = target_w[label_i] / observed_w[label_i]`` and in ``extra``:

- ``class_names``, ``class_counts``, ``source_labels`` (the base dataset's label of each sample), ``indices`` (its
  index in the base split), ``base``, ``source``, ``split``, ``root``, ``fingerprint`` (a hash of the exact data:
  caches of derived features key on it);
- ``evaluator`` (the evaluator spec of the dataset's ``evaluator`` config, or None) and ``evaluator_class_map``
  (evaluator class -> dataset class, -1 for evaluator classes outside the dataset; see ``evaluators``);
- ``positive_indices`` / ``negative_indices`` where a positive/negative split is defined (Rumi-GAN; may overlap);
- ``subgroups``: boolean masks over the samples for the image metrics' ``subgroup`` field (partial recall, RE):
  ``positive`` / ``negative`` for those splits, and every CelebA attribute by its name.

Class proportions are exact: counts proportional to the configured weights (largest-remainder rounding), the
largest such set the source allows unless ``n`` is given; which images of a class are kept is drawn with
``data_seed`` (or the first ones, ``pick: first``), independent of the training seed.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from datasets import sources
from datasets.base import DataBundle, DatasetSpec
from datasets.mixtures import _plain, apportion
from core.errors import ConfigError, DataError, require

__all__ = ["ClassImageDataset", "StackedMNIST", "ColoredMNIST", "MNISTFMNIST", "RumiSplit", "CelebA",
           "resize_images", "convert_channels"]

NATIVE = {"mnist": (1, 28), "fmnist": (1, 28), "cifar10": (3, 32), "celeba": (3, 64)}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fmnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


# -------------------------------------------------------------------------------------------------- transforms
def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> uint8 (n, C, size, size): bilinear, antialiased when shrinking, rounded."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    out = []
    for start in range(0, x.shape[0], 4096):
        chunk = x[start:start + 4096].float()
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False,
                              antialias=size < x.shape[-1])
        out.append(chunk.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else x.new_zeros((0, x.shape[1], size, size))


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (n, C, H, W) -> ``channels``: grey -> RGB repeats the channel; RGB -> grey uses ITU-R 601 luma."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1:
        return x.expand(-1, channels, -1, -1).contiguous()
    if channels == 1 and c == 3:
        luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (x.float() * luma).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise ConfigError(f"cannot convert {c}-channel images to {channels} channels")


# --------------------------------------------------------------------------------------------------- helpers
def _int_list(field: str, value: Any) -> list[int]:
    v = _plain(value)
    require(isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v),
            f"dataset.{field} must be a list of integers, got {value!r}")
    return [int(i) for i in v]


def _positive_int(field: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"dataset.{field} must be a positive integer{' or null' if allow_none else ''}, got {value!r}")
    return int(value)


def _ratio(field: str, value: Any) -> float:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0,
            f"dataset.{field} must be in (0, 1), got {value!r}")
    return float(value)


def _pick(indices: torch.Tensor, count: int, pick: str, gen: torch.Generator) -> torch.Tensor:
    """``count`` of ``indices``: the first ones (file order) or a random subset (sorted back to file order)."""
    if count >= indices.numel():
        return indices
    if pick == "first":
        return indices[:count]
    chosen = torch.randperm(indices.numel(), generator=gen)[:count]
    return indices[chosen.sort().values]


def _target_weights(target: Any, observed: torch.Tensor, positives: Sequence[int] | None = None) -> torch.Tensor:
    k = observed.numel()
    t = _plain(target)
    if t == "balanced":
        return torch.full((k,), 1.0 / k, dtype=torch.float64)
    if t == "observed":
        return observed.clone()
    if t == "positives":
        require(positives is not None, "dataset.target=positives needs a positive/negative split")
        w = torch.zeros(k, dtype=torch.float64)
        w[list(positives)] = 1.0
        return w / w.sum()
    require(isinstance(t, list) and len(t) == k and all(isinstance(v, (int, float)) and v >= 0 for v in t)
            and sum(t) > 0, f"dataset.target must be balanced, observed, positives or a list of {k} weights >= 0, "
                            f"got {target!r}")
    w = torch.tensor(t, dtype=torch.float64)
    return w / w.sum()


class ImageDatasetBase(DatasetSpec):
    """Fields shared by every image set: where the data come from, the image size/channels and the evaluator."""

    kind = "image"
    bases: str = "mnist"  # the base dataset(s) the spec reads ("mnist+fmnist" for two)

    def __init__(self, name: str, base: str, source: str, source_resolved: str | None, root: str | None,
                 download: bool, split: str, size: int | None, channels: int | None, data_seed: int,
                 evaluator: Any, target: Any):
        require(isinstance(name, str) and name != "", f"dataset.name must be a non-empty string, got {name!r}")
        require(base in NATIVE, f"dataset.base must be one of {sorted(NATIVE)}, got {base!r}")
        self.name, self.base = name, base
        self.root = str(sources.resolve_root(root))
        self.download = bool(download)
        resolved = sources.resolve_source(source, self.bases, self.root, self.download)
        if source_resolved is not None:
            require(source == "auto" or source_resolved == source,
                    f"dataset.source_resolved={source_resolved!r} contradicts dataset.source={source!r}")
            resolved = sources.resolve_source(source_resolved, self.bases, self.root, self.download)
        if resolved == "mnist5k" and self.bases != "mnist":
            raise ConfigError(f"dataset '{name}' needs {self.bases.replace('+', ' and ')}, which only "
                              "dataset.source=torchvision provides (the offline subset holds MNIST digits only)")
        self.source = resolved
        self.split = split
        native_c, native_size = NATIVE[base]
        self.size = _positive_int("size", native_size if size is None else size)
        self.channels = _positive_int("channels", native_c if channels is None else channels)
        require(self.channels in (1, 3), f"dataset.channels must be 1 or 3, got {channels!r}")
        require(isinstance(data_seed, int) and data_seed >= 0, "dataset.data_seed must be an integer >= 0")
        self.data_seed = int(data_seed)
        self.evaluator = evaluator
        self.target = _plain(target)
        self.sample_shape = (self.channels, self.size, self.size)

    # -- helpers for subclasses
    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.data_seed)

    def _load(self, base: str | None = None, split: str | None = None) -> dict[str, Any]:
        return sources.load_base(base or self.base, self.source, self.root, split or self.split, self.download)

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return resize_images(convert_channels(x, self.channels), self.size)

    def _fingerprint(self, *parts: Any) -> str:
        digest = hashlib.sha256()
        digest.update(f"{type(self).__name__}|{self.source}|{self.size}|{self.channels}".encode())
        for part in parts:
            if isinstance(part, torch.Tensor):
                digest.update(np.ascontiguousarray(part.cpu().numpy()).tobytes())
            else:
                digest.update(repr(part).encode())
        return digest.hexdigest()[:16]

    def _bundle(self, x: torch.Tensor, labels: torch.Tensor, num_classes: int, class_names: list[str],
                minority: Sequence[int], extra: dict[str, Any], positives: Sequence[int] | None = None,
                class_map: torch.Tensor | None = None) -> DataBundle:
        counts = torch.bincount(labels, minlength=num_classes)
        observed = counts.double() / max(labels.numel(), 1)
        target = _target_weights(self.target, observed, positives)
        ratio = torch.where(observed > 0, target / observed.clamp_min(1e-300), torch.zeros_like(target))
        extra = {"class_names": list(class_names), "class_counts": counts, "base": self.base, "source": self.source,
                 "split": self.split, "root": self.root, "download": self.download, "evaluator": self.evaluator,
                 "evaluator_class_map": class_map, "data_seed": self.data_seed, **extra}
        subgroups = dict(extra.get("subgroups") or {})  # boolean masks for partial recall / RE (metrics.reference)
        if "positive_indices" in extra:
            for part in ("positive", "negative"):  # the two may overlap (Rumi's overlapping sets)
                mask = torch.zeros(labels.numel(), dtype=torch.bool)
                mask[extra[f"{part}_indices"]] = True
                subgroups[part] = mask
        if subgroups:
            extra["subgroups"] = subgroups
        return DataBundle(name=self.name, kind="image", x=x.contiguous(), labels=labels, num_modes=num_classes,
                          observed_weights=observed.float(), target_weights=target.float(),
                          minority=tuple(sorted(int(m) for m in minority)),
                          importance_weights=ratio[labels].float(), extra=extra)

    def _provides(self, minority: bool, split: bool = False) -> frozenset[str]:
        out = {"labels", "classes", "importance_weights"}
        if minority:
            out.add("minority")
        if split:
            out.add("positive_negative")
        if self.evaluator is not None:
            out.add("evaluator")
        return frozenset(out)


# ------------------------------------------------------------------------------------------- class subsets
class ClassImageDataset(ImageDatasetBase):
    """A subset/grouping of a base dataset's classes with configurable class proportions.

    ``classes``: the base classes kept, one entry per dataset class: an int, or a list of ints to merge several
    base classes into one (NEMGAN's MNIST-5); null = all base classes. ``weights``: relative class weights (null =
    the natural proportions of the kept images); ``minority`` classes (dataset indices) are multiplied by
    ``minority_factor`` (RLS: P(minority class) = 0.05 P(majority class)). With natural proportions and no factor,
    every kept image is used (or ``n`` drawn proportionally); otherwise counts are exactly proportional to the
    weights: the largest set the source allows, or exactly ``n``. ``target``: ``balanced`` (uniform over the
    dataset classes), ``observed`` or explicit weights.
    """

    def __init__(self, name: str = "mnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = None, channels: int | None = None, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "balanced", classes: Sequence[Any] | None = None,
                 class_names: Sequence[str] | None = None, weights: Sequence[float] | None = None,
                 minority: Sequence[int] = (), minority_factor: float = 1.0, n: int | None = None,
                 pick: str = "random"):
        self.bases = base if base in NATIVE else "mnist"
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        raw = _plain(classes) if classes is not None else list(range(10))
        require(isinstance(raw, list) and len(raw) >= 1, f"dataset.classes must be a non-empty list, got {classes!r}")
        groups: list[list[int]] = []
        for entry in raw:
            group = entry if isinstance(entry, list) else [entry]
            require(all(isinstance(c, int) and 0 <= c <= 9 for c in group) and group,
                    f"dataset.classes entries must be base labels 0..9 or lists of them, got {entry!r}")
            groups.append([int(c) for c in group])
        flat = [c for g in groups for c in g]
        require(len(set(flat)) == len(flat), f"dataset.classes uses a base class twice: {raw}")
        self.groups = groups
        k = len(groups)
        names = CLASS_NAMES.get(base, [str(i) for i in range(10)])
        self.class_names = (list(_plain(class_names)) if class_names is not None
                            else ["+".join(names[c] for c in g) for g in groups])
        require(len(self.class_names) == k, f"dataset.class_names needs {k} names, got {len(self.class_names)}")
        self.minority = _int_list("minority", minority if minority is not None else [])
        require(all(0 <= m < k for m in self.minority), f"dataset.minority must index the {k} dataset classes, "
                                                        f"got {self.minority}")
        f = minority_factor
        require(isinstance(f, (int, float)) and 0 < float(f) <= 1,
                f"dataset.minority_factor must be in (0, 1], got {f!r}")
        require(not (not self.minority and float(f) != 1.0),
                "dataset.minority_factor has no effect because dataset.minority is empty")
        self.minority_factor = float(f)
        if weights is None:
            self.weights = None
        else:
            w = _plain(weights)
            require(isinstance(w, list) and len(w) == k and all(isinstance(v, (int, float)) and v > 0 for v in w),
                    f"dataset.weights must be {k} positive numbers, got {weights!r}")
            self.weights = [float(v) for v in w]
        self.n = _positive_int("n", n, allow_none=True)
        require(pick in ("random", "first"), f"dataset.pick must be random or first, got {pick!r}")
        self.pick = pick
        self.provides = self._provides(bool(self.minority))

    def class_weights(self) -> list[float] | None:
        """The configured relative weights after the minority factor (None = natural proportions)."""
        if self.weights is None and self.minority_factor == 1.0:
            return None
        w = list(self.weights or [1.0] * len(self.groups))
        for m in self.minority:
            w[m] *= self.minority_factor
        return w

    def counts(self, available: Sequence[int]) -> list[int]:
        """Images per dataset class given the images ``available`` per class (exact proportions)."""
        w = self.class_weights()
        avail = [int(a) for a in available]
        for c, a in enumerate(avail):
            if a == 0:
                raise DataError(f"dataset '{self.name}': the {self.source} source has no image of class "
                                f"{self.class_names[c]} in split {self.split}")
        if w is None:
            if self.n is None:
                return avail
            require(self.n <= sum(avail), f"dataset.n={self.n} exceeds the {sum(avail)} images of these classes")
            counts = apportion(avail, self.n)
        else:
            p = np.asarray(w) / np.sum(w)
            largest = int(math.floor(min(a / q for a, q in zip(avail, p)) + 1e-9))
            n = largest if self.n is None else self.n
            counts = apportion(p, n)
            while self.n is None and any(c > a for c, a in zip(counts, avail)):  # rounding overshoot
                n -= 1
                counts = apportion(p, n)
        over = [(self.class_names[c], cnt, a) for c, (cnt, a) in enumerate(zip(counts, avail)) if cnt > a]
        require(not over, f"dataset '{self.name}': n={sum(counts)} with these proportions needs more images than the "
                          f"{self.source} source has: {', '.join(f'{c}: {n} > {a}' for c, n, a in over)}; lower "
                          f"dataset.n or use a larger source")
        return [int(c) for c in counts]

    def load(self, device: torch.device | str = "cpu") -> DataBundle:
        data = self._load()
        y = data["y"]
        gen = self._generator()
        members = [torch.cat([(y == c).nonzero().squeeze(1) for c in g]).sort().values for g in self.groups]
        counts = self.counts([m.numel() for m in members])
        picked = [_pick(m, cnt, self.pick, gen) for m, cnt in zip(members, counts)]
        labels = torch.cat([torch.full((p.numel(),), c, dtype=torch.int64) for c, p in enumerate(picked)])
        indices = torch.cat(picked)
        order = torch.randperm(indices.numel(), generator=gen)
        indices, labels = indices[order], labels[order]
        class_map = torch.full((10,), -1, dtype=torch.int64)
        for c, g in enumerate(self.groups):
            class_map[g] = c
        extra = {"source_labels": y[indices], "indices": indices, "groups": [list(g) for g in self.groups],
                 "fingerprint": self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split),
                                                  indices, self.groups)}
        return self._bundle(self._images(data["x"][indices]), labels, len(self.groups), self.class_names,
                            self.minority, extra, class_map=class_map).to(device)


# --------------------------------------------------------------------------------------------- stacked MNIST
class StackedMNIST(ImageDatasetBase):
    """Three MNIST digits drawn independently and uniformly (with ``data_seed``) on the R, G, B channels:
    1,000 modes, label = 100·d_R + 10·d_G + d_B. ``n`` samples (60,000 by default: the size of MNIST's train split;
    the papers do not fix it). Target: uniform over the 1,000 modes."""

    def __init__(self, name: str = "stacked_mnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = None, channels: int | None = 3, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "balanced", n: int = 60000):
        require(base == "mnist", "stacked_mnist stacks MNIST digits (dataset.base=mnist)")
        require(channels in (None, 3), "stacked_mnist has 3 channels (one digit each)")
        super().__init__(name, base, source, source_resolved, root, download, split, size, 3, data_seed,
                         evaluator, target)
        self.n = _positive_int("n", n)
        self.provides = self._provides(False)

    def load(self, device="cpu") -> DataBundle:
        data = self._load()
        gen = self._generator()
        idx = torch.randint(data["y"].numel(), (3, self.n), generator=gen)
        x = torch.cat([data["x"][idx[c]] for c in range(3)], dim=1)
        digits = data["y"][idx]  # (3, n)
        labels = 100 * digits[0] + 10 * digits[1] + digits[2]
        extra = {"digits": digits.t().contiguous(), "indices": idx.t().contiguous(),
                 "fingerprint": self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split), idx)}
        return self._bundle(resize_images(x, self.size), labels, 1000, [f"{m:03d}" for m in range(1000)], (),
                            extra, class_map=torch.arange(1000)).to(device)


# --------------------------------------------------------------------------------------------- colored MNIST
class ColoredMNIST(ImageDatasetBase):
    """Dia-GAN's Colored MNIST (REFERENCE 2.9): the first ``n`` MNIST training digits (Dia-GAN: 10,000; null = that or
    the whole source when smaller, e.g. 5,000 with mnist5k), a random permutation (``data_seed``) whose first
    round(n·major_ratio) digits are drawn in ``colors[0]`` (red, label 0, majority) and the rest in ``colors[1]``
    (green, label 1, minority). Colouring binarises the digit (pixel > ``threshold`` -> 1) and multiplies by the RGB
    colour on a black background; then the image is resized to ``size`` (32)."""

    def __init__(self, name: str = "colored_mnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = 32, channels: int | None = 3, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "balanced", n: int | None = None, major_ratio: float = 0.99,
                 colors: Sequence[Sequence[int]] = ((255, 0, 0), (0, 255, 0)), threshold: int = 0):
        require(base == "mnist", "colored_mnist colours MNIST digits (dataset.base=mnist)")
        require(channels in (None, 3), "colored_mnist images have 3 channels")
        super().__init__(name, base, source, source_resolved, root, download, split, size, 3, data_seed,
                         evaluator, target)
        self.n = _positive_int("n", n, allow_none=True)
        self.major_ratio = _ratio("major_ratio", major_ratio)
        cols = _plain(colors)
        require(isinstance(cols, list) and len(cols) == 2 and all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in cols),
            f"dataset.colors must be two RGB triples in 0..255, got {colors!r}")
        self.colors = cols
        require(isinstance(threshold, int) and 0 <= threshold < 255, "dataset.threshold must be in 0..254")
        self.threshold = int(threshold)
        self.provides = self._provides(True)

    def load(self, device="cpu") -> DataBundle:
        data = self._load()
        available = data["y"].numel()
        n = min(10000, available) if self.n is None else self.n
        require(n <= available, f"dataset.n={n} exceeds the {available} digits of the {self.source} source")
        gen = self._generator()
        perm = torch.randperm(n, generator=gen)
        major = int(round(n * self.major_ratio))
        labels = torch.ones(n, dtype=torch.int64)
        labels[perm[:major]] = 0
        binary = (data["x"][:n] > self.threshold).to(torch.uint8)  # (n, 1, 28, 28)
        colors = torch.tensor(self.colors, dtype=torch.uint8)[labels]  # (n, 3)
        x = binary * colors[:, :, None, None]
        extra = {"source_labels": data["y"][:n].clone(), "indices": torch.arange(n),
                 "fingerprint": self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split),
                                                  labels, self.colors, self.threshold)}
        return self._bundle(resize_images(x, self.size), labels, 2, ["red", "green"], (1,), extra,
                            class_map=torch.arange(2)).to(device)


# ----------------------------------------------------------------------------------------------- MNIST-FMNIST
class MNISTFMNIST(ImageDatasetBase):
    """Dia-GAN's MNIST-FMNIST (REFERENCE 2.9): indices 0..n-1 (n = 60,000) in a random permutation; the first
    round(n·major_ratio) positions (0.9: 54,000) take the MNIST training image at that index (label 0, majority),
    the others the Fashion-MNIST training image at the same index (label 1, minority). Grey, resized to 32."""

    bases = "mnist+fmnist"

    def __init__(self, name: str = "mnist_fmnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = 32, channels: int | None = 1, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "balanced", n: int = 60000, major_ratio: float = 0.9):
        require(base == "mnist", "mnist_fmnist mixes MNIST (majority) with Fashion-MNIST (dataset.base=mnist)")
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        self.n = _positive_int("n", n)
        self.major_ratio = _ratio("major_ratio", major_ratio)
        self.provides = self._provides(True)

    def load(self, device="cpu") -> DataBundle:
        mnist, fmnist = self._load("mnist"), self._load("fmnist")
        available = min(mnist["y"].numel(), fmnist["y"].numel())
        require(self.n <= available, f"dataset.n={self.n} exceeds the {available} training images")
        gen = self._generator()
        perm = torch.randperm(self.n, generator=gen)
        major = int(round(self.n * self.major_ratio))
        labels = torch.ones(self.n, dtype=torch.int64)
        labels[perm[:major]] = 0
        idx = torch.arange(self.n)
        is_m = labels == 0
        x = torch.where(is_m[:, None, None, None], mnist["x"][idx], fmnist["x"][idx])
        source_labels = torch.where(is_m, mnist["y"][idx], fmnist["y"][idx])
        fp = self._fingerprint(sources.source_fingerprint("mnist", self.source, self.split),
                               sources.source_fingerprint("fmnist", self.source, self.split), labels)
        extra = {"source_labels": source_labels, "indices": idx, "fingerprint": fp}
        return self._bundle(self._images(x), labels, 2, ["mnist", "fmnist"], (1,), extra,
                            class_map=torch.arange(2)).to(device)


# ---------------------------------------------------------------------------------------------- Rumi splits
RUMI_SPLITS = {
    "even": ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9]),
    "odd": ([1, 3, 5, 7, 9], [0, 2, 4, 6, 8]),
    "overlap": ([1, 2, 4, 5, 7, 9], [0, 2, 3, 6, 8, 9]),  # 2 and 9 are in both sets
    "animals": ([2, 3, 4, 5, 6, 7], [0, 1, 8, 9]),  # CIFAR-10: animals vs vehicles
}


class RumiSplit(ImageDatasetBase):
    """Rumi-GAN's positive/negative splits of a 10-class base (REFERENCE 4.4). ``split``:

    - ``even`` / ``odd`` / ``overlap`` / ``animals``: positives and negatives are whole classes (``overlap``:
      positives {1,2,4,5,7,9}, negatives {0,2,3,6,8,9}: the images of 2 and 9 are in both index sets);
    - ``few`` (the minority case): positives = ``num_few`` images of class ``number`` (the first ones in file order,
      ``pick: first``, as the authors' code; the paper says random), negatives = every image of the other classes;
    - ``single``: positives = all images of ``number``, negatives = the other classes;
    - ``custom``: ``positive_classes`` / ``negative_classes`` as given.

    The training set is the union (each image once); labels are the base classes; ``extra`` holds
    ``positive_indices`` / ``negative_indices`` (into ``x``). ``target: positives`` (default) is the uniform
    distribution over the positive classes (what Rumi-GAN should generate); ``balanced`` is uniform over all 10.
    """

    def __init__(self, name: str = "rumi_mnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = None, channels: int | None = None, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "positives", partition: str = "few", number: int = 5,
                 num_few: int = 200, pick: str = "first", positive_classes: Sequence[int] | None = None,
                 negative_classes: Sequence[int] | None = None):
        require(base in ("mnist", "fmnist", "cifar10"), f"Rumi splits are defined on mnist, fmnist and cifar10, "
                                                        f"got {base!r}")
        self.bases = base
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        valid = tuple(RUMI_SPLITS) + ("few", "single", "custom")
        require(partition in valid, f"dataset.partition must be one of {list(valid)}, got {partition!r}")
        require(isinstance(number, int) and 0 <= number <= 9, f"dataset.number must be a class 0..9, got {number!r}")
        self.partition, self.number = partition, int(number)
        self.num_few = _positive_int("num_few", num_few)
        require(pick in ("random", "first"), f"dataset.pick must be random or first, got {pick!r}")
        self.pick = pick
        if partition in RUMI_SPLITS:
            pos, neg = RUMI_SPLITS[partition]
        elif partition in ("few", "single"):
            pos, neg = [self.number], [c for c in range(10) if c != self.number]
        else:
            require(positive_classes is not None and negative_classes is not None,
                    "dataset.partition=custom needs dataset.positive_classes and dataset.negative_classes")
            pos, neg = _int_list("positive_classes", positive_classes), _int_list("negative_classes", negative_classes)
        if partition != "custom":
            require(positive_classes is None and negative_classes is None,
                    f"dataset.positive_classes/negative_classes are only used with partition=custom "
                    f"(partition={partition} defines them)")
        require(pos and neg and all(0 <= c <= 9 for c in pos + neg), f"invalid positive/negative classes {pos}/{neg}")
        self.positive_classes, self.negative_classes = list(pos), list(neg)
        self.provides = self._provides(partition == "few", split=True)

    def load(self, device="cpu") -> DataBundle:
        data = self._load()
        y = data["y"]
        gen = self._generator()
        keep = []
        for c in sorted(set(self.positive_classes) | set(self.negative_classes)):
            members = (y == c).nonzero().squeeze(1)
            if self.partition == "few" and c == self.number:
                require(self.num_few <= members.numel(),
                        f"dataset.num_few={self.num_few} exceeds the {members.numel()} images of class {c}")
                members = _pick(members, self.num_few, self.pick, gen)
            keep.append(members)
        indices = torch.cat(keep)
        indices = indices[torch.randperm(indices.numel(), generator=gen)]
        labels = y[indices]
        positive = torch.isin(labels, torch.tensor(self.positive_classes))
        negative = torch.isin(labels, torch.tensor(self.negative_classes))
        names = CLASS_NAMES.get(self.base, [str(i) for i in range(10)])
        minority = (self.number,) if self.partition == "few" else ()
        extra = {"source_labels": labels.clone(), "indices": indices,
                 "positive_indices": positive.nonzero().squeeze(1), "negative_indices": negative.nonzero().squeeze(1),
                 "positive_classes": list(self.positive_classes), "negative_classes": list(self.negative_classes),
                 "partition": self.partition,
                 "fingerprint": self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split),
                                                  indices)}
        return self._bundle(self._images(data["x"][indices]), labels, 10, names, minority, extra,
                            positives=self.positive_classes, class_map=torch.arange(10)).to(device)


# ------------------------------------------------------------------------------------------------------ CelebA
class CelebA(ImageDatasetBase):
    """CelebA (aligned): a centre crop of ``crop`` pixels resized to ``size`` (64), the ``split`` partition
    (train: 162,770 images). Labels = the binary ``attribute`` (class 1 = has it). ``minority`` classes can be
    depleted to a fraction ``minority_keep`` of their images (Rumi-GAN's 5% of the females: attribute Male,
    minority [0], minority_keep 0.05); ``positives: minority`` then defines the positive/negative split (the kept
    minority images vs the rest). All 40 attributes are kept in ``extra["attributes"]`` (Dia-GAN's partial recall
    and occurrence of Bald, Eyeglasses, ...)."""

    def __init__(self, name: str = "celeba", base: str = "celeba", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = 64, channels: int | None = 3, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "observed", crop: int = 140, attribute: str = "Bald",
                 minority: Sequence[int] = (1,), minority_keep: float = 1.0, pick: str = "random",
                 positives: str | None = None):
        require(base == "celeba", "dataset.base must be celeba")
        self.bases = "celeba"
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        self.crop = _positive_int("crop", crop)
        require(isinstance(attribute, str) and attribute, "dataset.attribute must be a CelebA attribute name")
        self.attribute = attribute
        self.minority = _int_list("minority", minority if minority is not None else [])
        require(all(m in (0, 1) for m in self.minority), "dataset.minority must list classes 0 and/or 1")
        require(isinstance(minority_keep, (int, float)) and 0 < minority_keep <= 1,
                f"dataset.minority_keep must be in (0, 1], got {minority_keep!r}")
        self.minority_keep = float(minority_keep)
        require(pick in ("random", "first"), f"dataset.pick must be random or first, got {pick!r}")
        self.pick = pick
        require(positives in (None, "minority"), f"dataset.positives must be null or minority, got {positives!r}")
        require(positives is None or len(self.minority) == 1, "dataset.positives=minority needs one minority class")
        self.positives = positives
        self.provides = self._provides(bool(self.minority), split=positives is not None)

    def load(self, device="cpu") -> DataBundle:
        data = sources.load_base("celeba", self.source, self.root, self.split, self.download, size=self.size,
                                 crop=self.crop)
        names = list(data["attribute_names"])
        require(self.attribute in names, f"dataset.attribute={self.attribute!r} is not a CelebA attribute; "
                                         f"choose one of {names}")
        a = names.index(self.attribute)
        y = data["attributes"][:, a].long()
        gen = self._generator()
        keep = []
        for c in (0, 1):
            members = (y == c).nonzero().squeeze(1)
            if c in self.minority and self.minority_keep < 1.0:
                members = _pick(members, max(1, int(round(members.numel() * self.minority_keep))), self.pick, gen)
            keep.append(members)
        indices = torch.cat(keep)
        indices = indices[torch.randperm(indices.numel(), generator=gen)]
        labels = y[indices]
        attributes = data["attributes"][indices]
        extra: dict[str, Any] = {"attributes": attributes, "attribute_names": names,
                                 "subgroups": {n: attributes[:, j].bool() for j, n in enumerate(names)},
                                 "attribute": self.attribute, "indices": indices, "source_labels": labels.clone(),
                                 "fingerprint": self._fingerprint(
                                     sources.source_fingerprint("celeba", self.source, self.split), indices,
                                     self.crop)}
        positives = None
        if self.positives == "minority":
            m = self.minority[0]
            positives = [m]
            extra["positive_indices"] = (labels == m).nonzero().squeeze(1)
            extra["negative_indices"] = (labels != m).nonzero().squeeze(1)
        x = convert_channels(data["x"][indices], self.channels)
        return self._bundle(x, labels, 2, [f"not {self.attribute}", self.attribute], self.minority, extra,
                            positives=positives, class_map=None).to(device)
