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
import os
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from core.errors import ConfigError
from core.tensors import eval_mode, to_signed_unit

__all__ = ["ClassifierSpace", "InceptionSpace", "INCEPTION_NAME", "INCEPTION_ENV", "FEATURE_SPACES", "evaluator_name",
           "find_inception_weights", "is_evaluator", "resolve_per_channel", "to_uint8_rgb"]

INCEPTION_NAME = "inception-v3-compat"  # torch-fidelity's name for its TF-compatible Inception-v3
INCEPTION_ENV = "MODEBENCH_INCEPTION_WEIGHTS"  # a local weights file, when no path is configured
FEATURE_SPACES = ("auto", "inception", "classifier")


def is_evaluator(obj: Any) -> bool:
    """An instance (not a class) with ``features`` and ``logits`` methods."""
    return (not isinstance(obj, type) and callable(getattr(obj, "features", None))
            and callable(getattr(obj, "logits", None)))


def evaluator_name(evaluator: Any) -> str:
    name = getattr(evaluator, "name", None)
    return str(name) if name else type(evaluator).__name__


# ---------------------------------------------------------------------------------------------- images

def to_uint8_rgb(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (or uint8) -> uint8 RGB (grey images repeated), as torch-fidelity expects.

    Generated floats are quantised like a saved PNG: round((x + 1) * 127.5), clipped; NaN becomes 0.
    """
    if x.dtype != torch.uint8:
        x = torch.nan_to_num(x.float(), nan=-1.0).clamp_(-1.0, 1.0).add_(1.0).mul_(127.5).round_().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise ConfigError(f"metrics: Inception-v3 takes 1- or 3-channel images, got {x.shape[1]} channels; "
                          "use feature_space=classifier")
    return x


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


class InceptionSpace:
    """torch-fidelity's Inception-v3 (``inception-v3-compat``): pool3 ``2048`` features and the unbiased
    logits used for IS, from one forward pass. Images go in as uint8 RGB (grey repeated); torch-fidelity
    resizes them to 299x299 with its TensorFlow-compatible bilinear interpolation. ``resize`` (e.g. 80, the Rumi
    paper's protocol: "rescaled to 80 x 80 using bilinear interpolation", grey replicated to three channels) first
    resizes the images bilinearly to that size, so the features see only that much detail; the paper's Keras
    network then runs on the 80 x 80 input itself, which torch-fidelity's network cannot (it always resizes to
    299), so the numbers follow the protocol's input but not its exact network resolution. The network is loaded on
    first use (per device) and the weights file hashed once; both are kept by this object."""

    outputs = ("features", "logits")
    name = INCEPTION_NAME
    accuracy = None

    def __init__(self, weights_path: str | Path, batch_size: int = 50, resize: int | None = None):
        self.weights_path = str(weights_path)
        self.batch_size = int(batch_size)
        self.resize = None if resize is None else int(resize)
        self._networks: dict[str, torch.nn.Module] = {}  # by device
        self._file_hash: tuple[tuple[int, int], str] | None = None  # ((size, mtime), sha256) of the weights file

    @property
    def cache_id(self) -> tuple:
        return ("inception", self.weights_path, self.resize)

    def fingerprint(self) -> str:
        st = os.stat(self.weights_path)
        stamp = (st.st_size, st.st_mtime_ns)
        if self._file_hash is None or self._file_hash[0] != stamp:
            h = hashlib.sha256()
            with open(self.weights_path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            self._file_hash = (stamp, h.hexdigest())
        return f"{INCEPTION_NAME}:{self._file_hash[1]}" + (f":resize{self.resize}" if self.resize else "")

    def module(self, device: torch.device) -> torch.nn.Module:
        key = str(device)
        if key not in self._networks:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
            net = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048", "logits_unbiased"],
                                              feature_extractor_weights_path=self.weights_path)
            self._networks[key] = net.to(device).eval()
        return self._networks[key]

    def compute(self, x: torch.Tensor, which: Iterable[str]) -> dict[str, torch.Tensor]:
        net = self.module(x.device)
        feats, logits = [], []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                batch = x[start:start + self.batch_size]
                if self.resize:
                    batch = torch.nn.functional.interpolate(to_signed_unit(batch).float(), size=self.resize,
                                                            mode="bilinear", align_corners=False)
                f, lg = net(to_uint8_rgb(batch))
                feats.append(f.to(torch.float64).cpu())
                logits.append(lg.to(torch.float64).cpu())
        return {"features": torch.cat(feats), "logits": torch.cat(logits)}


def find_inception_weights(path: str | None) -> Path | None:
    """The Inception weights file to use, or None when there is none on this machine.

    ``path`` (the config's ``inception_weights``) or ``$MODEBENCH_INCEPTION_WEIGHTS`` must exist when given;
    otherwise torch-fidelity's download cache (``<torch hub dir>/checkpoints/weights-inception-2015-12-05-
    6726825d.pth``, filled by any torch-fidelity run with internet) is used when present.
    """
    for candidate, where in ((path, "inception_weights"), (os.environ.get(INCEPTION_ENV), f"${INCEPTION_ENV}")):
        if candidate:
            p = Path(candidate).expanduser()
            if not p.is_file():
                raise ConfigError(f"metrics: {where} = '{candidate}' is not a file; give the path of torch-fidelity's "
                                  "weights-inception-2015-12-05-6726825d.pth (see README, Image metrics)")
            return p
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(URL_INCEPTION_V3)
    return cached if cached.is_file() else None


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


