"""Evaluator networks trained by the suite on first use, cached in the data root, and checked against a floor.

The interface the metrics and the ``rls_class`` sampler use (every evaluator object):

- ``name`` (str), ``num_classes`` (int), ``accuracy`` (held-out accuracy, float), ``feature_dim`` (int),
  ``multilabel`` (bool: CelebA attributes), ``class_names``;
- ``features(x) -> (N, d)``: the penultimate layer; ``logits(x) -> (N, num_classes)``; ``predict(x) -> (N,)``
  class indices (multi-label: ``(N, A)`` 0/1). ``x`` is ``(N, C, H, W)`` uint8 or float in [-1, 1] at any size
  and 1 or 3 channels: it is converted to the network's input (bilinear resize, grey <-> RGB) in chunks, and the
  outputs come back on ``x``'s device.

A dataset names its evaluator in its config (``dataset.evaluator``, a node of the ``evaluator`` config group);
the loaded bundle carries the spec in ``data.extra["evaluator"]``; :func:`evaluator_for` returns the trained
network (training it on first use), :func:`dataset_labels` maps its predictions to the dataset's classes.

Training: on the base dataset's own train split (``mnist5k``: the first 400 digits of each class), with a
stratified ``val_fraction`` of it held back for early stopping (best weights restored); ``accuracy`` is measured
on the held-out split (the official test split; ``mnist5k``: the last 100 digits of each class). The trained
weights are cached in ``<root>/modebench/evaluators/<name>-<key>.pt`` (atomic write), ``key`` = hash of (data
fingerprint, architecture, seed, training settings), so a second use loads them without retraining. An evaluator
whose held-out accuracy is below its ``floor`` (per source) raises :class:`DataError` naming it and its accuracy.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any, Mapping, Sequence

import torch
from torch.nn import functional as F

from datasets import sources
from datasets.images import convert_channels, resize_images
from core.errors import ConfigError, DataError, require
from core.files import save_torch
from evaluators.networks import ARCHITECTURES

_MEMO: dict[tuple, Any] = {}
TRAIN_LOG: list[str] = []  # names of evaluators trained in this process (tests check that a cache hit trains none)


def _plain(value: Any) -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def to_model_input(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """(N, C, H, W) uint8 or float in [-1, 1] -> float32 in [-1, 1] with ``channels`` channels at ``size``."""
    x = x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x.float()
    if x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
        else:
            raise ConfigError(f"cannot feed {x.shape[1]}-channel images to a {channels}-channel evaluator")
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < x.shape[-1])
    return x


# ------------------------------------------------------------------------------------------ trained evaluators
class TrainedEvaluator:
    """A trained network behind the evaluator interface (see the module docstring)."""

    def __init__(self, name: str, network: torch.nn.Module, channels: int, size: int, accuracy: float,
                 num_classes: int, class_names: Sequence[str], device: torch.device, multilabel: bool = False,
                 info: dict | None = None):
        self.name, self.network, self.channels, self.size = name, network.eval().to(device), channels, size
        self.accuracy, self.num_classes, self.class_names = float(accuracy), int(num_classes), list(class_names)
        self.device, self.multilabel, self.info = device, multilabel, dict(info or {})
        self.feature_dim = int(network.feature_dim)
        for p in self.network.parameters():
            p.requires_grad_(False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, accuracy={self.accuracy:.4f}, {self.num_classes} classes)"

    @torch.no_grad()
    def _run(self, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
        logits, feats = [], []
        for start in range(0, x.shape[0], batch_size):
            chunk = to_model_input(x[start:start + batch_size].to(self.device), self.channels, self.size)
            out, f = self.network(chunk)
            logits.append(out.float())
            feats.append(f.float())
        if not logits:
            return (torch.zeros(0, self.num_classes, device=x.device), torch.zeros(0, self.feature_dim, device=x.device))
        return torch.cat(logits).to(x.device), torch.cat(feats).to(x.device)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[1]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x)[0]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = self.logits(x)
        return (out > 0).long() if self.multilabel else out.argmax(1)


class StackedEvaluator:
    """Stacked MNIST: the digit evaluator applied to each colour channel. ``predict`` = 100·d_R + 10·d_G + d_B;
    a one-channel input is one digit (the image metrics' ``per_channel`` mode classifies channels one at a time and
    combines them the same way);
    ``logits`` = log p(d_R) + log p(d_G) + log p(d_B) over the 1,000 modes; ``features`` = the three per-channel
    feature vectors concatenated (3·d). ``accuracy`` is the digit evaluator's (per channel); ``mode_accuracy`` =
    accuracy³ estimates the share of correctly identified modes."""

    multilabel = False
    num_classes = 1000

    def __init__(self, digit: TrainedEvaluator):
        self.digit = digit
        self.name = f"stacked_mnist({digit.name})"
        self.accuracy = digit.accuracy
        self.mode_accuracy = digit.accuracy ** 3
        self.feature_dim = 3 * digit.feature_dim
        self.class_names = [f"{m:03d}" for m in range(1000)]
        self.info = {"digit": digit.info}

    def _channels(self, x):
        return [x[:, c:c + 1] for c in range(3)]

    @property
    def fingerprint(self) -> str | None:
        digit = getattr(self.digit, "fingerprint", None)
        return f"stacked:{digit}" if digit else None


    def features(self, x):
        if x.shape[1] == 1:  # one channel (the image metrics' per_channel mode): the digit's features
            return self.digit.features(x)
        return torch.cat([self.digit.features(xc) for xc in self._channels(x)], dim=1)

    def logits(self, x):
        if x.shape[1] == 1:  # one channel: the digit's 10 logits (the metrics combine the channels themselves)
            return self.digit.logits(x)
        lp = [torch.log_softmax(self.digit.logits(xc), 1) for xc in self._channels(x)]
        return (lp[0][:, :, None, None] + lp[1][:, None, :, None] + lp[2][:, None, None, :]).reshape(x.shape[0], 1000)

    def predict(self, x):
        if x.shape[1] == 1:
            return self.digit.predict(x)
        d = [self.digit.predict(xc) for xc in self._channels(x)]
        return 100 * d[0] + 10 * d[1] + d[2]


class ColourEvaluator:
    """Colored MNIST: a fixed rule, not a network. ``logits`` = mean intensity (in [0, 1]) of the two colour
    channels ``channels`` (red, green); ``predict`` = the brighter one; ``features`` = the mean of every channel.
    ``accuracy`` is measured on the dataset's own images (the rule is not fitted to them)."""

    multilabel = False
    num_classes = 2

    def __init__(self, channels: Sequence[int], accuracy: float, name: str = "colour"):
        self.channels, self.accuracy, self.name = list(channels), float(accuracy), name
        self.feature_dim = 3
        self.class_names = ["red", "green"]
        self.info = {}
        self.fingerprint = f"{name}:{self.channels}"  # a fixed rule: no weights

    def _means(self, x):
        x = x.float().div(255.0) if x.dtype == torch.uint8 else (x.float() + 1) / 2
        return x.mean((2, 3))

    def features(self, x):
        return self._means(x)

    def logits(self, x):
        return self._means(x)[:, self.channels]

    def predict(self, x):
        return self.logits(x).argmax(1)


class AttributeView:
    """One attribute of a multi-label evaluator as a two-class evaluator (class 1 = has it), for the image metrics:
    ``logits`` = (0, l_a), so that argmax = [sigmoid(l_a) > 0.5]; ``features`` are the network's."""

    multilabel = False
    num_classes = 2

    def __init__(self, evaluator: TrainedEvaluator, attribute: str):
        require(attribute in evaluator.class_names,
                f"evaluator {evaluator.name} does not predict the dataset attribute {attribute!r} "
                f"(it predicts {evaluator.class_names}); add it to dataset.evaluator.attributes")
        self.evaluator, self.column = evaluator, evaluator.class_names.index(attribute)
        self.name = f"{evaluator.name}[{attribute}]"
        self.accuracy = float((evaluator.info.get("per_attribute") or [evaluator.accuracy] * (self.column + 1))[self.column])
        self.feature_dim, self.class_names = evaluator.feature_dim, [f"not {attribute}", attribute]
        self.device, self.info = evaluator.device, evaluator.info
        self.fingerprint = f"{getattr(evaluator, 'fingerprint', evaluator.name)}[{attribute}]"

    def features(self, x):
        return self.evaluator.features(x)

    def logits(self, x):
        a = self.evaluator.logits(x)[:, self.column]
        return torch.stack([torch.zeros_like(a), a], dim=1)

    def predict(self, x):
        return self.logits(x).argmax(1)


# ----------------------------------------------------------------------------------------------------- specs
class EvaluatorSpec:
    """Base of the ``evaluator`` config group: ``load(data)`` -> a ready evaluator (floor checked)."""

    name = "evaluator"

    def load(self, data, device: torch.device | str | None = None):  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, data):
        """The evaluator the image metrics use for ``data`` (``metrics.feature_spaces.resolve_evaluator`` calls
        the spec found in ``data.extra["evaluator"]``): the loaded network, or for a multi-label one the
        dataset's attribute as two classes (:class:`AttributeView`)."""
        evaluator = self.load(data)
        if getattr(evaluator, "multilabel", False):
            return AttributeView(evaluator, data.extra.get("attribute"))
        return evaluator

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
        import copy

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
        from datasets.images import CLASS_NAMES
        return tr, te, CLASS_NAMES.get(self.base, [str(i) for i in range(10)])

    def build_network(self, num_classes: int) -> torch.nn.Module:
        return ARCHITECTURES[self.architecture](num_classes=num_classes, in_channels=self.channels, **self.arch)

    # -- load or train
    def load(self, data=None, device=None, *, source: str | None = None, root: str | None = None,
             download: bool | None = None) -> TrainedEvaluator:
        extra = data.extra if data is not None else {}
        source = source or extra.get("source") or "mnist5k"
        root = str(sources.resolve_root(root or extra.get("root")))
        download = bool(extra.get("download", False) if download is None else download)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.source_settings:
            return self.for_source(source).load(data, device, source=source, root=root, download=download)
        key = self.cache_key(source)
        memo = (self.name, key, str(device))
        if memo not in _MEMO:
            _MEMO[memo] = self._load_or_train(source, root, download, device, key)
            _MEMO[memo].fingerprint = f"{self.name}-{key}"  # keys the image metrics' cached real statistics
        evaluator = _MEMO[memo]
        self.check_floor(evaluator, self._floor(self.floor, source), source)
        if self.multilabel and evaluator.info.get("balanced_accuracy", 1.0) < self.balanced_floor:
            raise DataError(f"evaluator {evaluator.name} reaches a mean balanced accuracy of "
                            f"{evaluator.info['balanced_accuracy']:.4f} over {self.attributes}, below its floor "
                            f"{self.balanced_floor}; per attribute: {evaluator.info.get('per_attribute')}")
        return evaluator

    def _load_or_train(self, source, root, download, device, key) -> TrainedEvaluator:
        path = sources.modebench_dir(root, "evaluators", f"{self.name}-{key}.pt")
        if path.exists():
            try:
                blob = torch.load(path, map_location="cpu", weights_only=False)
                if blob.get("key") == key:
                    net = self.build_network(blob["num_classes"])
                    net.load_state_dict(blob["state_dict"])
                    info = {**blob["info"], "cache": str(path), "loaded_from_cache": True}
                    return TrainedEvaluator(self.name, net, self.channels, self.input_size, blob["accuracy"],
                                            blob["num_classes"], blob["class_names"], device, self.multilabel, info)
            except Exception as exc:  # unreadable cache: retrain
                print(f"[modebench] evaluator cache {path} unreadable ({type(exc).__name__}); retraining")
        train, test, class_names = self._splits(source, root, download)
        num_classes = len(class_names)
        print(f"[modebench] training evaluator {self.name} on {self.base} ({source}, {train['x'].shape[0]} images) "
              f"on {device}; cached afterwards in {path}")
        start = time.perf_counter()
        net, info = self._train(train, test, num_classes, device)
        info.update(train_seconds=round(time.perf_counter() - start, 1), source=source, cache=str(path),
                    loaded_from_cache=False)
        TRAIN_LOG.append(self.name)
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
                                class_names, device, self.multilabel, info)

    # -- training
    def _train(self, train, test, num_classes, device):
        gen = torch.Generator().manual_seed(self.seed)
        x, y = train["x"], train["y"]
        if self.max_train is not None and x.shape[0] > self.max_train:
            keep = torch.randperm(x.shape[0], generator=gen)[:self.max_train]
            x, y = x[keep], y[keep]
        val_idx, tr_idx = _stratified_split(y, self.val_fraction, gen, self.multilabel)
        prep = lambda t: resize_images(convert_channels(t, self.channels), self.input_size)
        x = prep(x)
        xt, yt = prep(test["x"]), test["y"]
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed)
            net = self.build_network(num_classes).to(device)
            params = list(net.parameters())
            if self.optimizer == "adam":
                opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
            else:
                opt = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay,
                                      nesterov=True)
            steps_per_epoch = max(1, math.ceil(tr_idx.numel() / self.batch_size))
            sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.epochs * steps_per_epoch)
                     if self.schedule == "cosine" else None)
            x_dev, y_dev = x.to(device), y.to(device)
            best, best_state, stale, epoch = -1.0, None, 0, 0
            for epoch in range(1, self.epochs + 1):
                net.train()
                perm = tr_idx[torch.randperm(tr_idx.numel(), generator=gen)].to(device)
                for start in range(0, perm.numel(), self.batch_size):
                    batch = perm[start:start + self.batch_size]
                    xb = self._augment(x_dev[batch].float().div_(127.5).sub_(1.0), gen)
                    out, _ = net(xb)
                    loss = (F.binary_cross_entropy_with_logits(out, y_dev[batch]) if self.multilabel
                            else F.cross_entropy(out, y_dev[batch]))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
                if val_idx.numel() and self.patience > 0:
                    acc = _accuracy(net, x_dev[val_idx.to(device)], y_dev[val_idx.to(device)], self.multilabel)[0]
                    if acc > best:
                        best, stale = acc, 0
                        best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                    else:
                        stale += 1
                        if stale >= self.patience:
                            break
            if best_state is not None:
                net.load_state_dict(best_state)
            acc, balanced, per_attr = _accuracy(net, xt.to(device), yt.to(device), self.multilabel)
        info = {"accuracy": acc, "val_accuracy": best if best >= 0 else None, "epochs_trained": epoch,
                "train_images": int(tr_idx.numel()), "test_images": int(yt.shape[0])}
        if self.multilabel:
            info.update(balanced_accuracy=balanced, per_attribute=per_attr)
        return net.eval(), info

    def _augment(self, xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.augment == "none":
            return xb
        n = xb.shape[0]
        if self.augment in ("flip", "crop_flip"):
            flip = (torch.rand(n, generator=gen) < 0.5).to(xb.device)
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        if self.augment in ("shift", "crop_flip"):  # random translation (4 px; 2 px for digits), -1 padding
            m = 2 if self.augment == "shift" else 4
            pad = F.pad(xb, (m, m, m, m), value=-1.0)
            dx, dy = torch.randint(0, 2 * m + 1, (2, n), generator=gen).tolist()
            h, w = xb.shape[-2:]
            xb = torch.stack([pad[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
        return xb


def _stratified_split(y: torch.Tensor, fraction: float, gen: torch.Generator, multilabel: bool):
    """(validation indices, training indices): ``fraction`` of each class (random for multi-label targets)."""
    n = y.shape[0]
    if fraction <= 0:
        return torch.zeros(0, dtype=torch.long), torch.arange(n)
    if multilabel:
        perm = torch.randperm(n, generator=gen)
        k = int(round(n * fraction))
        return perm[:k].sort().values, perm[k:].sort().values
    val = []
    for c in torch.unique(y):
        members = (y == c).nonzero().squeeze(1)
        members = members[torch.randperm(members.numel(), generator=gen)]
        val.append(members[:int(round(members.numel() * fraction))])
    val_idx = torch.cat(val).sort().values
    mask = torch.ones(n, dtype=torch.bool)
    mask[val_idx] = False
    return val_idx, mask.nonzero().squeeze(1)


@torch.no_grad()
def _accuracy(net, x: torch.Tensor, y: torch.Tensor, multilabel: bool, batch: int = 1024):
    """(accuracy, mean balanced accuracy or None, per-attribute accuracies or None) of ``net`` on uint8 ``x``."""
    was = net.training
    net.eval()
    preds = []
    for s in range(0, x.shape[0], batch):
        out, _ = net(x[s:s + batch].float().div_(127.5).sub_(1.0))
        preds.append((out > 0).float() if multilabel else out.argmax(1))
    net.train(was)
    if not preds:
        return float("nan"), None, None
    pred = torch.cat(preds)
    if not multilabel:
        return float((pred == y).float().mean()), None, None
    correct = (pred == y).float()
    per_attr = correct.mean(0)
    tpr = ((pred == 1) & (y == 1)).sum(0) / (y == 1).sum(0).clamp_min(1)
    tnr = ((pred == 0) & (y == 0)).sum(0) / (y == 0).sum(0).clamp_min(1)
    balanced = ((tpr + tnr) / 2).mean()
    return float(per_attr.mean()), float(balanced), [round(float(a), 4) for a in per_attr]


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
        self.check_floor(rule, self._floor(self.floor, data.extra.get("source", "")), data.extra.get("source", ""),
                         "accuracy on the dataset")
        return rule


# ------------------------------------------------------------------------------------------- dataset helpers
def evaluator_for(data, device: torch.device | str | None = None):
    """The trained evaluator of a dataset bundle (trained on first use, then cached); DataError below its floor."""
    spec = data.extra.get("evaluator") if data.extra else None
    if spec is None:
        raise ConfigError(f"dataset '{data.name}' has no evaluator configured (dataset.evaluator); image metrics "
                          "and sampler=rls_class need one")
    return spec.load(data, device)


def dataset_labels(data, x: torch.Tensor) -> torch.Tensor:
    """The dataset class of each image in ``x`` according to the dataset's evaluator, as the image metrics count
    them (:func:`metrics.class_counts.predicted_classes`): (N,) in 0..K-1, -1 where the evaluator sees a class
    outside the dataset (e.g. a 7 generated for 012-MNIST)."""
    from metrics.class_counts import predicted_classes

    spec = data.extra.get("evaluator") if data.extra else None
    require(spec is not None, f"dataset '{data.name}' has no evaluator configured (dataset.evaluator)")
    return torch.as_tensor(predicted_classes(spec(data).logits(x).cpu(), data))


def clear_memo() -> None:
    _MEMO.clear()

