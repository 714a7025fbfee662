"""What every image set shares: base datasets' native formats, field checks, and :class:`ImageDatasetBase`, which
reads a base dataset through :mod:`datasets.sources` and packs the loaded bundle with its :class:`ImageInfo`.

Bundles have ``kind="image"``, ``x`` uint8 ``(n, C, size, size)`` (the model sees it in [-1, 1] through
``bundle.as_float``), ``labels`` in 0..K-1, ``observed_weights`` (the class shares of the training set),
``target_weights`` (what a method should generate: balanced unless a spec says otherwise), ``minority``,
``importance_weights[i] = target_w[label_i] / observed_w[label_i]``, ``images`` (:class:`ImageInfo`: provenance,
classes, evaluator spec and class map, subgroup masks), and for positive/negative splits (Rumi-GAN)
``positive_indices`` / ``negative_indices``, which also become the ``positive`` / ``negative`` subgroups.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, require
from datasets import sources
from datasets.base import DataBundle, DatasetSpec, ImageInfo
from datasets.fields import plain
from datasets.transforms import convert_channels, resize_images

NATIVE = {"mnist": (1, 28), "fmnist": (1, 28), "cifar10": (3, 32), "celeba": (3, 64)}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fmnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


# --------------------------------------------------------------------------------------------------- helpers
def int_list(field: str, value: Any) -> list[int]:
    v = plain(value)
    require(isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v),
            f"dataset.{field} must be a list of integers, got {value!r}")
    return [int(i) for i in v]


def positive_int(field: str, value: Any, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
            f"dataset.{field} must be a positive integer{' or null' if allow_none else ''}, got {value!r}")
    return int(value)


def unit_ratio(field: str, value: Any) -> float:
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0,
            f"dataset.{field} must be in (0, 1), got {value!r}")
    return float(value)


def pick_indices(indices: torch.Tensor, count: int, pick: str, gen: torch.Generator) -> torch.Tensor:
    """``count`` of ``indices``: the first ones (file order) or a random subset (sorted back to file order)."""
    if count >= indices.numel():
        return indices
    if pick == "first":
        return indices[:count]
    chosen = torch.randperm(indices.numel(), generator=gen)[:count]
    return indices[chosen.sort().values]


def class_target_weights(target: Any, observed: torch.Tensor, positives: Sequence[int] | None = None) -> torch.Tensor:
    k = observed.numel()
    t = plain(target)
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
        self.size = positive_int("size", native_size if size is None else size)
        self.channels = positive_int("channels", native_c if channels is None else channels)
        require(self.channels in (1, 3), f"dataset.channels must be 1 or 3, got {channels!r}")
        require(isinstance(data_seed, int) and data_seed >= 0, "dataset.data_seed must be an integer >= 0")
        self.data_seed = int(data_seed)
        self.evaluator = evaluator
        self.target = plain(target)
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
                minority: Sequence[int], *, source_labels: torch.Tensor, indices: torch.Tensor, fingerprint: str,
                class_map: torch.Tensor | None = None, positives: Sequence[int] | None = None,
                split: tuple[torch.Tensor, torch.Tensor] | None = None, subgroups: dict[str, torch.Tensor] | None = None,
                attribute: str | None = None, extra: dict[str, Any] | None = None) -> DataBundle:
        """The loaded bundle: weights from the labels, :class:`ImageInfo` from the spec and the given metadata.
        ``split``: (positive, negative) indices into ``x`` (Rumi-GAN; they may overlap), also added to the
        subgroup masks as ``positive`` / ``negative``."""
        counts = torch.bincount(labels, minlength=num_classes)
        observed = counts.double() / max(labels.numel(), 1)
        target = class_target_weights(self.target, observed, positives)
        ratio = torch.where(observed > 0, target / observed.clamp_min(1e-300), torch.zeros_like(target))
        masks = dict(subgroups or {})  # boolean masks for partial recall / RE (metrics.reference)
        for part, idx in zip(("positive", "negative"), split or ()):
            mask = torch.zeros(labels.numel(), dtype=torch.bool)
            mask[idx] = True
            masks[part] = mask
        info = ImageInfo(base=self.base, source=self.source, split=self.split, root=self.root, download=self.download,
                         data_seed=self.data_seed, fingerprint=fingerprint, class_names=list(class_names),
                         class_counts=counts, source_labels=source_labels, indices=indices,
                         evaluator_spec=self.evaluator, evaluator_class_map=class_map, attribute=attribute,
                         subgroups=masks)
        return DataBundle(name=self.name, kind="image", x=x.contiguous(), labels=labels, num_modes=num_classes,
                          observed_weights=observed.float(), target_weights=target.float(),
                          minority=tuple(sorted(int(m) for m in minority)),
                          importance_weights=ratio[labels].float(), images=info,
                          positive_indices=split[0] if split else None, negative_indices=split[1] if split else None,
                          extra=dict(extra or {}))

    def _provides(self, minority: bool, split: bool = False) -> frozenset[str]:
        out = {"labels", "classes", "importance_weights"}
        if minority:
            out.add("minority")
        if split:
            out.add("positive_negative")
        if self.evaluator is not None:
            out.add("evaluator")
        return frozenset(out)

