"""The ``evaluator`` config group: specs that load (or train, on first use) an evaluator and check it against its
accuracy floor.

A dataset names its evaluator in its config (``dataset.evaluator``, a node of the ``evaluator`` config group); the
loaded bundle carries the spec in ``data.images.evaluator_spec`` and ``evaluators.evaluator_for(data)`` loads it
once per bundle. The image metrics may name another one (``metrics.features.evaluator``, a node of the same group).

:class:`ClassifierSpec` trains on the base dataset's own train split (``mnist5k``: the first 400 digits of each
class), with a stratified ``val_fraction`` of it held back for early stopping (best weights restored);
``accuracy`` is measured on the held-out split (the official test split; ``mnist5k``: the last 100 digits of each
class). The trained weights are cached in ``<root>/modebench/evaluators/<name>-<key>.pt`` (atomic write), ``key``
= hash of (data fingerprint, architecture, seed, training settings), so a second use loads them without
retraining (the returned evaluator's ``info["loaded_from_cache"]`` says which). An evaluator whose held-out
accuracy is below its ``floor`` (per source) raises :class:`DataError` naming it and its accuracy.
"""
from __future__ import annotations

import copy
import hashlib
import json
import time
from typing import Any, Mapping, Sequence

import torch

from core.errors import DamagedFileError, DataError, require
from core.files import load_torch, read_cached, save_torch
from datasets import sources
from datasets.image_base import CLASS_NAMES
from evaluators.networks import ARCHITECTURES
from evaluators.training import train_network
from evaluators.wrappers import ColourEvaluator, StackedEvaluator, TrainedEvaluator

__all__ = ["ClassifierSpec", "ColourRuleSpec", "EvaluatorSpec", "StackedMNISTSpec"]


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


class EvaluatorSpec:
    """Base of the ``evaluator`` config group: ``load(data, device)`` -> a ready evaluator (floor checked).
    ``data`` (a loaded bundle, or None) tells where the training data are (``data.images``: source, root)."""

    name = "evaluator"

    def load(self, data, device: torch.device | str | None = None):  # pragma: no cover - interface
        raise NotImplementedError

    def _floor(self, floor: Any, source: str) -> float:
        f = _plain(floor)
        if isinstance(f, Mapping):
            require(source in f or "default" in f,
                    f"evaluator {self.name}: no accuracy floor for source {source!r} (floors: {dict(f)})")
            return float(f.get(source, f.get("default")))
        return float(f)

    def check_floor(self, evaluator, floor: float, source: str, what: str = "held-out accuracy") -> None:
        value = getattr(evaluator, "accuracy")
        if value < floor:
            raise DataError(f"evaluator {evaluator.name} reaches {what} {value:.4f} on the {source} data, below "
                            f"its floor {floor:.4f}; its class counts and features would not be trustworthy. "
                            f"Check the data, train it longer (evaluator settings in conf/evaluator/), or lower "
                            f"dataset.evaluator.floor knowingly. Cache: {evaluator.info.get('cache', 'none')}")


class ClassifierSpec(EvaluatorSpec):
    """A classifier trained by the suite (see the module docstring).

    ``base``: the data it learns: ``mnist``, ``fmnist``, ``cifar10``, ``celeba`` (multi-label over
    ``attributes``) or ``mnist_vs_fmnist`` (2 classes: MNIST digit vs Fashion-MNIST item). ``architecture``: a
    name in :data:`networks.ARCHITECTURES` with keyword ``arch`` settings. Training: ``optimizer`` adam | sgd,
    ``lr``, ``momentum``, ``weight_decay``, ``schedule`` constant | cosine, ``epochs`` (maximum), ``patience``
    (early stopping on the validation accuracy; 0 = off), ``batch_size``, ``val_fraction``, ``augment`` none |
    flip | shift (+-2 px) | crop_flip (+-4 px and flips), ``seed``, ``max_train`` (cap on training images;
    null = all). ``floor``: the minimum held-out accuracy, one number or a mapping source -> number (``default``
    for the rest);
    ``balanced_floor``: for multi-label evaluators, the minimum mean balanced accuracy over the attributes.
    ``source_settings``: per-source replacements of training settings (``{mnist5k: {lr: 1e-3}}``).
    """

    def __init__(self, name: str = "mnist_cnn", base: str = "mnist", architecture: str = "mnist_cnn",
                 arch: Mapping[str, Any] | None = None, input_size: int = 28, channels: int = 1, crop: int = 140,
                 attributes: Sequence[str] | None = None, optimizer: str = "adam", lr: float = 1e-4,
                 momentum: float = 0.9, weight_decay: float = 0.0, schedule: str = "constant", epochs: int = 100,
                 patience: int = 5, batch_size: int = 32, val_fraction: float = 0.1, augment: str = "none",
                 seed: int = 0, max_train: int | None = None, floor: Any = 0.0, balanced_floor: float = 0.0,
                 source_settings: Mapping[str, Mapping[str, Any]] | None = None):
        require(base in ("mnist", "fmnist", "cifar10", "celeba", "mnist_vs_fmnist"),
                f"evaluator.base must be mnist, fmnist, cifar10, celeba or mnist_vs_fmnist, got {base!r}")
        require(architecture in ARCHITECTURES, f"evaluator.architecture must be one of {sorted(ARCHITECTURES)}, "
                                               f"got {architecture!r}")
        require(optimizer in ("adam", "sgd"), f"evaluator.optimizer must be adam or sgd, got {optimizer!r}")
        require(schedule in ("constant", "cosine"), "evaluator.schedule must be constant or cosine")
        require(augment in ("none", "flip", "shift", "crop_flip"),
                f"evaluator.augment must be none, flip, shift or crop_flip, got {augment!r}")
        require(int(epochs) >= 1 and int(batch_size) >= 1 and lr > 0, "evaluator epochs, batch_size, lr must be > 0")
        require(0.0 <= float(val_fraction) < 1.0, "evaluator.val_fraction must be in [0, 1)")
        require(base != "celeba" or attributes, "a celeba evaluator needs evaluator.attributes")
        self.name, self.base, self.architecture = name, base, architecture
        self.arch = dict(_plain(arch) or {})
        self.input_size, self.channels, self.crop = int(input_size), int(channels), int(crop)
        self.attributes = list(_plain(attributes)) if attributes else None
        self.optimizer, self.lr, self.momentum, self.weight_decay = optimizer, float(lr), float(momentum), float(weight_decay)
        self.schedule, self.epochs, self.patience, self.batch_size = schedule, int(epochs), int(patience), int(batch_size)
        self.val_fraction, self.augment, self.seed = float(val_fraction), augment, int(seed)
        self.max_train = None if max_train is None else int(max_train)
        self.floor, self.balanced_floor = _plain(floor), float(balanced_floor)
        self.multilabel = base == "celeba"
        self.source_settings = {str(k): dict(v) for k, v in (_plain(source_settings) or {}).items()}
        tunable = set(self.settings()) - {"base", "architecture", "arch", "input_size", "channels", "attributes"}
        for src, values in self.source_settings.items():
            unknown = set(values) - tunable
            require(not unknown, f"evaluator.source_settings.{src}: unknown or fixed fields {sorted(unknown)} "
                                 f"(tunable: {sorted(tunable)})")

    def for_source(self, source: str) -> "ClassifierSpec":
        """This spec with the training settings of ``source_settings[source]`` applied (e.g. a learning rate for
        the 4,000-digit offline subset)."""
        values = self.source_settings.get(source)
        if not values:
            return self
        spec = copy.copy(self)
        for key, value in values.items():
            setattr(spec, key, type(getattr(self, key))(value) if getattr(self, key) is not None else value)
        spec.source_settings = {}
        return spec

    # -- identity
    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "base", "architecture", "arch", "input_size", "channels", "crop", "attributes", "optimizer", "lr",
            "momentum", "weight_decay", "schedule", "epochs", "patience", "batch_size", "val_fraction", "augment",
            "seed", "max_train")}

    def cache_key(self, source: str) -> str:
        bases = ("mnist", "fmnist") if self.base == "mnist_vs_fmnist" else (self.base,)
        data = [sources.source_fingerprint(b, source, "train+test") for b in bases]
        text = json.dumps({"settings": self.settings(), "data": data, "source": source}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    # -- data
    def _splits(self, source: str, root: str, download: bool):
        if self.base == "mnist_vs_fmnist":
            require(source == "torchvision", "the mnist_vs_fmnist evaluator needs Fashion-MNIST (source=torchvision)")
            (mtr, mte), (ftr, fte) = (sources.classifier_splits(b, source, root, download) for b in ("mnist", "fmnist"))

            def pair(a, b):
                k = min(a["y"].numel(), b["y"].numel())  # balanced classes
                return {"x": torch.cat([a["x"][:k], b["x"][:k]]),
                        "y": torch.cat([torch.zeros(k, dtype=torch.long), torch.ones(k, dtype=torch.long)])}
            return pair(mtr, ftr), pair(mte, fte), ["mnist", "fmnist"]
        if self.base == "celeba":
            tr, te = sources.classifier_splits("celeba", source, root, download, size=self.input_size, crop=self.crop)
            names = list(tr["attribute_names"])
            missing = [a for a in self.attributes if a not in names]
            require(not missing, f"evaluator.attributes {missing} are not CelebA attributes ({names})")
            cols = [names.index(a) for a in self.attributes]
            return ({"x": tr["x"], "y": tr["attributes"][:, cols].float()},
                    {"x": te["x"], "y": te["attributes"][:, cols].float()}, list(self.attributes))
        tr, te = sources.classifier_splits(self.base, source, root, download)
        return tr, te, CLASS_NAMES.get(self.base, [str(i) for i in range(10)])

    def build_network(self, num_classes: int) -> torch.nn.Module:
        return ARCHITECTURES[self.architecture](num_classes=num_classes, in_channels=self.channels, **self.arch)

    # -- load or train
    def load(self, data=None, device=None, *, source: str | None = None, root: str | None = None,
             download: bool | None = None) -> TrainedEvaluator:
        info = data.images if data is not None else None
        source = source or (info.source if info else None) or "mnist5k"
        root = str(sources.resolve_root(root or (info.root if info else None)))
        download = bool((info.download if info else False) if download is None else download)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.source_settings:
            return self.for_source(source).load(data, device, source=source, root=root, download=download)
        key = self.cache_key(source)
        evaluator = self._load_or_train(source, root, download, device, key)
        self.check_floor(evaluator, self._floor(self.floor, source), source)
        if self.multilabel and evaluator.info.get("balanced_accuracy", 1.0) < self.balanced_floor:
            raise DataError(f"evaluator {evaluator.name} reaches a mean balanced accuracy of "
                            f"{evaluator.info['balanced_accuracy']:.4f} over {self.attributes}, below its floor "
                            f"{self.balanced_floor}; per attribute: {evaluator.info.get('per_attribute')}")
        return evaluator

    def _read_cache(self, path, key: str) -> tuple[dict, torch.nn.Module]:
        """The cached weights (checksum, safe loading: core.files.load_torch) and the network built from them;
        :class:`DamagedFileError` when they do not fit this evaluator."""
        blob = load_torch(path)
        try:
            if blob["key"] != key:
                raise ValueError(f"it holds the weights of key {blob['key']}, not {key}")
            net = self.build_network(blob["num_classes"])
            net.load_state_dict(blob["state_dict"])
            float(blob["accuracy"]), list(blob["class_names"]), dict(blob["info"])
        except Exception as exc:
            raise DamagedFileError(f"evaluator cache {path} does not fit evaluator {self.name} "
                                   f"({type(exc).__name__}: {exc})") from None
        return blob, net

    def _load_or_train(self, source, root, download, device, key) -> TrainedEvaluator:
        path = sources.modebench_dir(root, "evaluators", f"{self.name}-{key}.pt")
        fingerprint = f"{self.name}-{key}"  # keys the image metrics' cached reference statistics
        cached = read_cached(path, lambda p: self._read_cache(p, key), f"retraining evaluator {self.name}")
        if cached is not None:
            blob, net = cached
            info = {**blob["info"], "cache": str(path), "loaded_from_cache": True}
            return TrainedEvaluator(self.name, net, self.channels, self.input_size, blob["accuracy"],
                                    blob["num_classes"], blob["class_names"], device, self.multilabel, info,
                                    fingerprint)
        train, test, class_names = self._splits(source, root, download)
        num_classes = len(class_names)
        print(f"[modebench] training evaluator {self.name} on {self.base} ({source}, {train['x'].shape[0]} images) "
              f"on {device}; cached afterwards in {path}")
        start = time.perf_counter()
        net, info = train_network(self, train, test, num_classes, device)
        info.update(train_seconds=round(time.perf_counter() - start, 1), source=source, cache=str(path),
                    loaded_from_cache=False)
        blob = {"key": key, "state_dict": {k: v.cpu() for k, v in net.state_dict().items()},
                "accuracy": info["accuracy"], "num_classes": num_classes, "class_names": class_names,
                "settings": self.settings(), "info": info}
        try:
            save_torch(path, blob)
        except OSError as exc:
            print(f"[modebench] could not cache evaluator {self.name} in {path} ({exc})")
        print(f"[modebench] evaluator {self.name}: held-out accuracy {info['accuracy']:.4f} after "
              f"{info['epochs_trained']} epochs ({info['train_seconds']} s)")
        return TrainedEvaluator(self.name, net, self.channels, self.input_size, info["accuracy"], num_classes,
                                class_names, device, self.multilabel, info, fingerprint)


class StackedMNISTSpec(EvaluatorSpec):
    """The digit classifier ``digit`` (a :class:`ClassifierSpec`, e.g. ``mnist_cnn``) on each colour channel."""

    def __init__(self, digit: ClassifierSpec, name: str = "stacked_mnist"):
        require(isinstance(digit, ClassifierSpec), "evaluator.digit must be a classifier spec (mnist_cnn)")
        self.digit, self.name = digit, name

    def load(self, data=None, device=None, **kwargs):
        return StackedEvaluator(self.digit.load(data, device, **kwargs))


class ColourRuleSpec(EvaluatorSpec):
    """Colored MNIST's colour rule (see :class:`ColourEvaluator`); ``floor`` on its accuracy on the dataset."""

    def __init__(self, name: str = "colour", channels: Sequence[int] = (0, 1), floor: Any = 0.99):
        ch = list(_plain(channels))
        require(len(ch) == 2 and all(c in (0, 1, 2) for c in ch), "evaluator.channels: two channel indices")
        self.name, self.channels, self.floor = name, ch, _plain(floor)

    def load(self, data=None, device=None, **kwargs):
        require(data is not None, "the colour evaluator measures its accuracy on the dataset; pass the bundle")
        rule = ColourEvaluator(self.channels, 0.0, self.name)
        pred = rule.predict(data.x.cpu())
        rule.accuracy = float((pred == data.labels.cpu()).float().mean())
        source = data.images.source if data.images is not None else ""
        self.check_floor(rule, self._floor(self.floor, source), source, "accuracy on the dataset")
        return rule

