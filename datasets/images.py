"""The class-labelled image sets: class subsets of a base dataset with configurable proportions (the MNIST family,
CIFAR-10 subsets) and the papers' derived MNIST sets (stacked, coloured, MNIST-FMNIST).

Every spec is config-driven (``conf/dataset/*.yaml``; ratios, classes and sizes are fields) and loads a bundle as
:mod:`datasets.image_base` describes. Class proportions are exact: counts proportional to the configured weights
(largest-remainder rounding), the largest such set the source allows unless ``n`` is given; which images of a
class are kept is drawn with ``data_seed`` (or the first ones, ``pick: first``), independent of the training seed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.errors import DataError, require
from datasets import sources
from datasets.base import DataBundle
from datasets.fields import plain
from datasets.image_base import (CLASS_NAMES, NATIVE, ImageDatasetBase, int_list, pick_indices, positive_int,
                                 unit_ratio)
from datasets.mixtures import apportion
from datasets.transforms import resize_images

__all__ = ["ClassImageDataset", "StackedMNIST", "ColoredMNIST", "MNISTFMNIST"]


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
        raw = plain(classes) if classes is not None else list(range(10))
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
        self.class_names = (list(plain(class_names)) if class_names is not None
                            else ["+".join(names[c] for c in g) for g in groups])
        require(len(self.class_names) == k, f"dataset.class_names needs {k} names, got {len(self.class_names)}")
        self.minority = int_list("minority", minority if minority is not None else [])
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
            w = plain(weights)
            require(isinstance(w, list) and len(w) == k and all(isinstance(v, (int, float)) and v > 0 for v in w),
                    f"dataset.weights must be {k} positive numbers, got {weights!r}")
            self.weights = [float(v) for v in w]
        self.n = positive_int("n", n, allow_none=True)
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
        picked = [pick_indices(m, cnt, self.pick, gen) for m, cnt in zip(members, counts)]
        labels = torch.cat([torch.full((p.numel(),), c, dtype=torch.int64) for c, p in enumerate(picked)])
        indices = torch.cat(picked)
        order = torch.randperm(indices.numel(), generator=gen)
        indices, labels = indices[order], labels[order]
        class_map = torch.full((10,), -1, dtype=torch.int64)
        for c, g in enumerate(self.groups):
            class_map[g] = c
        fingerprint = self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split), indices,
                                        self.groups)
        return self._bundle(self._images(data["x"][indices]), labels, len(self.groups), self.class_names,
                            self.minority, source_labels=y[indices], indices=indices, fingerprint=fingerprint,
                            class_map=class_map, extra={"groups": [list(g) for g in self.groups]}).to(device)


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
        self.n = positive_int("n", n)
        self.provides = self._provides(False)

    def load(self, device="cpu") -> DataBundle:
        data = self._load()
        gen = self._generator()
        idx = torch.randint(data["y"].numel(), (3, self.n), generator=gen)
        x = torch.cat([data["x"][idx[c]] for c in range(3)], dim=1)
        digits = data["y"][idx]  # (3, n)
        labels = 100 * digits[0] + 10 * digits[1] + digits[2]
        fingerprint = self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split), idx)
        return self._bundle(resize_images(x, self.size), labels, 1000, [f"{m:03d}" for m in range(1000)], (),
                            source_labels=digits.t().contiguous(), indices=idx.t().contiguous(),
                            fingerprint=fingerprint, class_map=torch.arange(1000)).to(device)


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
        self.n = positive_int("n", n, allow_none=True)
        self.major_ratio = unit_ratio("major_ratio", major_ratio)
        cols = plain(colors)
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
        fingerprint = self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split), labels,
                                        self.colors, self.threshold)
        return self._bundle(resize_images(x, self.size), labels, 2, ["red", "green"], (1,),
                            source_labels=data["y"][:n].clone(), indices=torch.arange(n), fingerprint=fingerprint,
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
        self.n = positive_int("n", n)
        self.major_ratio = unit_ratio("major_ratio", major_ratio)
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
        return self._bundle(self._images(x), labels, 2, ["mnist", "fmnist"], (1,), source_labels=source_labels,
                            indices=idx, fingerprint=fp, class_map=torch.arange(2)).to(device)
