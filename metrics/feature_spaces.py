"""Feature spaces for image metrics: torch-fidelity's Inception-v3 or a classifier ("evaluator") of the suite.

An **evaluator** is any object with ``features(x) -> (N, d)`` (penultimate layer), ``logits(x) -> (N, K)``,
``name`` and, optionally, ``accuracy`` (held-out), ``fingerprint`` (a string that changes with its weights;
enables the on-disk cache of reference statistics) and ``features_and_logits(x)`` (both from one pass). ``x`` is
a float batch ``(B, C, H, W)`` in [-1, 1]. Which evaluator the metrics use is decided once per evaluation setup
(:class:`metrics.features.FeatureExtractor`: ``metrics.features.evaluator``, else the dataset's own).

A **feature space** wraps either the evaluator (:class:`ClassifierSpace`, the FCD space of NEMGAN) or
torch-fidelity's Inception-v3 (:class:`InceptionSpace`, the FID/IS/KID space). Both compute their outputs in
batches, without gradients, and return float64 CPU tensors; :class:`metrics.features.FeatureCache` keeps them for
the metrics of one evaluation.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable

import torch

from core.errors import ConfigError
from core.tensors import eval_mode, to_signed_unit
from evaluators.inception import (INCEPTION_ENV, INCEPTION_NAME, InceptionSpace, find_inception_weights,
                                  to_uint8_rgb)

__all__ = ["ClassifierSpace", "InceptionSpace", "INCEPTION_NAME", "INCEPTION_ENV", "FEATURE_SPACES", "evaluator_name",
           "find_inception_weights", "is_evaluator", "resolve_per_channel", "to_uint8_rgb"]

FEATURE_SPACES = ("auto", "inception", "classifier")


def is_evaluator(obj: Any) -> bool:
    """An instance (not a class) with ``features`` and ``logits`` methods."""
    return (not isinstance(obj, type) and callable(getattr(obj, "features", None))
            and callable(getattr(obj, "logits", None)))


def evaluator_name(evaluator: Any) -> str:
    name = getattr(evaluator, "name", None)
    return str(name) if name else type(evaluator).__name__


def _module_device(obj: Any) -> torch.device | None:
    if isinstance(obj, torch.nn.Module):
        for tensor in (*obj.parameters(), *obj.buffers()):
            return tensor.device
        return None
    device = getattr(obj, "device", None)
    return torch.device(device) if isinstance(device, (str, torch.device)) else None


# ---------------------------------------------------------------------------------------------- spaces

class ClassifierSpace:
    """The evaluator's penultimate features and class logits.

    ``per_channel``: each colour channel is classified on its own (stacked MNIST: an MNIST classifier per
    channel); features are the channels' features concatenated and the logits are the joint log-probabilities
    over K**C classes, class = Σ_c y_c · K**(C-1-c) (channel 0 the most significant digit).
    """

    outputs = ("features", "logits")

    def __init__(self, evaluator: Any, per_channel: bool = False, batch_size: int = 500):
        self.evaluator = evaluator
        self.per_channel = bool(per_channel)
        self.batch_size = int(batch_size)
        self.name = evaluator_name(evaluator) + ("_per_channel" if self.per_channel else "")
        self.accuracy = getattr(evaluator, "accuracy", None)

    @property
    def cache_id(self) -> tuple:
        return ("classifier", id(self.evaluator), self.per_channel)

    def fingerprint(self) -> str | None:
        ev = self.evaluator
        tag = getattr(ev, "fingerprint", None)
        if isinstance(tag, str) and tag:
            return f"classifier:{tag}:{self.per_channel}"
        state = ev.state_dict() if callable(getattr(ev, "state_dict", None)) else None
        if not state:
            return None
        h = hashlib.sha256(f"classifier:{self.name}:{type(ev).__qualname__}".encode())
        for k, v in state.items():
            h.update(k.encode())
            if isinstance(v, torch.Tensor):
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def _call(self, fn: Callable, x: torch.Tensor) -> torch.Tensor:
        try:
            out = fn(x)
        except RuntimeError as exc:
            raise ConfigError(
                f"metrics: evaluator '{self.name}' failed on images of shape {tuple(x.shape[1:])} ({exc}); "
                f"if it classifies one channel at a time, set per_channel=true") from exc
        return out.reshape(out.shape[0], -1).to(torch.float64).cpu()

    def compute(self, x: torch.Tensor, which: Iterable[str]) -> dict[str, torch.Tensor]:
        """Outputs in batches; an evaluator with ``features_and_logits(x)`` gives both from one pass."""
        which = set(which)
        ev = self.evaluator
        joint = getattr(ev, "features_and_logits", None) if callable(getattr(ev, "features_and_logits", None)) else None
        if joint is not None:
            which = {"features", "logits"}
        device = _module_device(ev)
        parts: dict[str, list[torch.Tensor]] = {k: [] for k in which}
        with eval_mode(ev if isinstance(ev, torch.nn.Module) else None), torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                batch = to_signed_unit(x[start:start + self.batch_size]).float()
                if device is not None:
                    batch = batch.to(device)
                channels = [batch[:, c:c + 1] for c in range(batch.shape[1])] if self.per_channel else [batch]
                if joint is not None:
                    pairs = [joint(b) for b in channels]
                    feats = [p[0].reshape(p[0].shape[0], -1).to(torch.float64).cpu() for p in pairs]
                    logits = [p[1].reshape(p[1].shape[0], -1).to(torch.float64).cpu() for p in pairs]
                    parts["features"].append(torch.cat(feats, dim=1))
                    parts["logits"].append(logits[0] if len(logits) == 1 else _joint_log_probs(logits))
                    continue
                if "features" in which:
                    parts["features"].append(torch.cat([self._call(ev.features, b) for b in channels], dim=1))
                if "logits" in which:
                    outs = [self._call(ev.logits, b) for b in channels]
                    parts["logits"].append(outs[0] if len(outs) == 1 else _joint_log_probs(outs))
        return {k: torch.cat(v) for k, v in parts.items()}


def _joint_log_probs(logits: list[torch.Tensor]) -> torch.Tensor:
    """log p(y_0, ..., y_{C-1}) = Σ_c log p(y_c), flattened with channel 0 the most significant digit."""
    joint = torch.log_softmax(logits[0], dim=1)
    for lg in logits[1:]:
        joint = (joint[:, :, None] + torch.log_softmax(lg, dim=1)[:, None, :]).flatten(1)
    return joint


def resolve_per_channel(per_channel: bool | str, data) -> bool:
    """``auto``: classify channels separately when the dataset has K**C classes for its C > 1 channels
    (stacked MNIST: 1000 = 10**3); else the evaluator sees whole images."""
    if per_channel != "auto":
        return bool(per_channel)
    c = data.x.shape[1] if data.x.dim() == 4 else 1
    if c <= 1 or data.num_modes <= c:
        return False
    k = round(data.num_modes ** (1.0 / c))
    return k >= 2 and k ** c == data.num_modes


