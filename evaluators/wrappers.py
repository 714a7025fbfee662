"""The evaluator objects behind the interface the metrics and the ``rls_class`` sampler use: a trained network
(:class:`TrainedEvaluator`), stacked MNIST's per-channel digits, Colored MNIST's colour rule, and one attribute of a
multi-label network as two classes.

Every evaluator has ``name`` (str), ``num_classes`` (int), ``accuracy`` (held-out accuracy, float),
``feature_dim`` (int), ``multilabel`` (bool: CelebA attributes), ``class_names``, ``info`` and ``fingerprint`` (a
string that changes with its weights: keys the image metrics' cached reference statistics);
``features(x) -> (N, d)``: the penultimate layer; ``logits(x) -> (N, num_classes)``; ``predict(x) -> (N,)`` class
indices (multi-label: ``(N, A)`` 0/1). ``x`` is ``(N, C, H, W)`` uint8 or float in [-1, 1] at any size and 1 or
3 channels: it is converted to the network's input (bilinear resize, grey <-> RGB) in chunks, and the outputs
come back on ``x``'s device.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from core.errors import ConfigError, require
from core.tensors import to_signed_unit

__all__ = ["AttributeView", "ColourEvaluator", "StackedEvaluator", "TrainedEvaluator", "to_model_input"]


def to_model_input(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """(N, C, H, W) uint8 or float in [-1, 1] -> float32 in [-1, 1] with ``channels`` channels at ``size``."""
    x = to_signed_unit(x).float()
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


class TrainedEvaluator:
    """A trained network behind the evaluator interface (see the module docstring)."""

    def __init__(self, name: str, network: torch.nn.Module, channels: int, size: int, accuracy: float,
                 num_classes: int, class_names: Sequence[str], device: torch.device, multilabel: bool = False,
                 info: dict | None = None, fingerprint: str | None = None):
        self.name, self.network, self.channels, self.size = name, network.eval().to(device), channels, size
        self.accuracy, self.num_classes, self.class_names = float(accuracy), int(num_classes), list(class_names)
        self.device, self.multilabel, self.info = device, multilabel, dict(info or {})
        self.feature_dim = int(network.feature_dim)
        self.fingerprint = fingerprint
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
        self.fingerprint = f"{getattr(evaluator, 'fingerprint', None) or evaluator.name}[{attribute}]"

    def features(self, x):
        return self.evaluator.features(x)

    def logits(self, x):
        a = self.evaluator.logits(x)[:, self.column]
        return torch.stack([torch.zeros_like(a), a], dim=1)

    def predict(self, x):
        return self.logits(x).argmax(1)
