"""Feature spaces for image metrics: torch-fidelity's Inception-v3 or a classifier ("evaluator") of the suite.

An **evaluator** is any object with ``features(x) -> (N, d)`` (penultimate layer), ``logits(x) -> (N, K)``,
``name`` and, optionally, ``accuracy`` (held-out) and ``fingerprint`` (a string that changes with its weights;
enables the on-disk cache of reference statistics). ``x`` is a float batch ``(B, C, H, W)`` in [-1, 1].
Metrics find it, in this order (:func:`resolve_evaluator`):

1. the metric's ``evaluator`` field: an evaluator, a factory ``f(data) -> evaluator`` or ``f() -> evaluator``,
   or a dotted import path to either (``"evaluators.mnist.MnistCNN"``);
2. ``data.extra["evaluator"]`` of the loaded dataset (same forms);
3. the registry: :func:`register_evaluator(dataset_name, factory)`; ``evaluators`` (when that
   package exists) is imported first so that it can register the suite's evaluators.

A **feature space** wraps either the evaluator (:class:`ClassifierSpace`, the FCD space of NEMGAN) or
torch-fidelity's Inception-v3 (:class:`InceptionSpace`, the FID/IS/KID space). Both compute their outputs in
batches, without gradients, and return float64 CPU tensors. Outputs are cached per image tensor
(:func:`outputs`), so that class counts, FCD, IS, P/R/D/C and clustering classify the same 10k generated
images once and FID, KID and P/R share the real images' features.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from core.errors import ConfigError

__all__ = [
    "ClassifierSpace", "InceptionSpace", "INCEPTION_NAME", "register_evaluator", "resolve_evaluator",
    "find_inception_weights", "select_space", "fake_outputs", "outputs", "to_float_images", "to_uint8_rgb",
    "write_random_inception_weights", "FEATURE_SPACES",
]

INCEPTION_NAME = "inception-v3-compat"  # torch-fidelity's name for its TF-compatible Inception-v3
INCEPTION_ENV = "MODEBENCH_INCEPTION_WEIGHTS"  # a local weights file, when no path is configured
FEATURE_SPACES = ("auto", "inception", "classifier")

# ---------------------------------------------------------------------------------------------- evaluators

_REGISTRY: dict[str, Any] = {}
_RESOLVED: "OrderedDict[tuple, tuple[Any, Any]]" = OrderedDict()  # (spec key, data) -> (keep-alive, evaluator)


def register_evaluator(dataset: str, factory: Any) -> None:
    """Make ``factory`` the default evaluator for ``dataset`` (a DataBundle name).

    ``factory``: an evaluator, ``f(data) -> evaluator``, ``f() -> evaluator`` or a dotted path to one of those.
    """
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"register_evaluator: dataset must be a non-empty name, got {dataset!r}")
    _REGISTRY[dataset] = factory
    _RESOLVED.clear()


def _registered(name: str) -> Any:
    if name not in _REGISTRY:
        try:  # the suite's evaluators register themselves on import, if that package exists
            importlib.import_module("evaluators")
        except ModuleNotFoundError as exc:
            if exc.name not in ("evaluators",):
                raise
    return _REGISTRY.get(name)


def is_evaluator(obj: Any) -> bool:
    """An instance (not a class) with ``features`` and ``logits`` methods."""
    return (not isinstance(obj, type) and callable(getattr(obj, "features", None))
            and callable(getattr(obj, "logits", None)))


def resolve_evaluator(spec: Any, data) -> Any:
    """The evaluator for ``data`` (see the module docstring); built once per (spec, dataset) and reused."""
    source = "metrics config"
    if spec is None:
        spec, source = data.extra.get("evaluator"), "data.extra['evaluator']"
    if spec is None:
        spec, source = _registered(data.name), f"the evaluator registry ('{data.name}')"
    if spec is None:
        raise ConfigError(
            f"metrics: no evaluator (classifier) for dataset '{data.name}': set the metrics config's "
            f"'evaluator' to a dotted path (e.g. metrics.evaluator=my.module.MyClassifier), put one in "
            f"data.extra['evaluator'], or register one with metrics.feature_spaces.register_evaluator"
            f"('{data.name}', factory). Registered: {sorted(_REGISTRY) or 'none'}")
    key = (spec if isinstance(spec, str) else id(spec), id(data.x))
    if key in _RESOLVED:
        _RESOLVED.move_to_end(key)
        return _RESOLVED[key][1]
    obj = spec
    if isinstance(spec, str):
        from hydra.utils import get_object
        try:
            obj = get_object(spec)
        except Exception as exc:
            raise ConfigError(f"metrics: cannot import the evaluator '{spec}' ({exc})") from None
    if not is_evaluator(obj):
        if not callable(obj):
            raise ConfigError(f"metrics: the evaluator from {source} ({obj!r}) has no features()/logits() "
                              "and is not a factory")
        obj = obj(data) if _takes_an_argument(obj) else obj()
        if not is_evaluator(obj):
            raise ConfigError(f"metrics: the evaluator factory from {source} returned {type(obj).__name__}, "
                              "which lacks features(x) and logits(x)")
    _RESOLVED[key] = ((spec, data.x), obj)
    while len(_RESOLVED) > 8:
        _RESOLVED.popitem(last=False)
    return obj


def _takes_an_argument(factory: Callable) -> bool:
    """Whether ``factory`` has a required positional parameter (then it is called with the data bundle)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


def evaluator_name(evaluator: Any) -> str:
    name = getattr(evaluator, "name", None)
    return str(name) if name else type(evaluator).__name__


# ---------------------------------------------------------------------------------------------- images

def to_float_images(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (as DataBundle.as_float); float input passes through."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x.float() if x.dtype != torch.float32 else x


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


@contextmanager
def _eval_mode(obj: Any):
    """Run an nn.Module evaluator in eval mode (no dropout/batch statistics), restoring its mode after."""
    module = obj if isinstance(obj, torch.nn.Module) else None
    was_training = module.training if module is not None else False
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        if module is not None and was_training:
            module.train()


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
        with _eval_mode(ev):
            for start in range(0, x.shape[0], self.batch_size):
                batch = to_float_images(x[start:start + self.batch_size])
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


_INCEPTION_MODULES: dict[tuple[str, str], torch.nn.Module] = {}
_FILE_HASHES: dict[tuple[str, int, int], str] = {}


class InceptionSpace:
    """torch-fidelity's Inception-v3 (``inception-v3-compat``): pool3 ``2048`` features and the unbiased
    logits used for IS, from one forward pass. Images go in as uint8 RGB (grey repeated); torch-fidelity
    resizes them to 299x299 with its TensorFlow-compatible bilinear interpolation."""

    outputs = ("features", "logits")
    name = INCEPTION_NAME
    accuracy = None

    def __init__(self, weights_path: str | Path, batch_size: int = 50):
        self.weights_path = str(weights_path)
        self.batch_size = int(batch_size)

    @property
    def cache_id(self) -> tuple:
        return ("inception", self.weights_path)

    def fingerprint(self) -> str:
        st = os.stat(self.weights_path)
        key = (self.weights_path, st.st_size, st.st_mtime_ns)
        if key not in _FILE_HASHES:
            h = hashlib.sha256()
            with open(self.weights_path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            _FILE_HASHES[key] = h.hexdigest()
        return f"{INCEPTION_NAME}:{_FILE_HASHES[key]}"

    def module(self, device: torch.device) -> torch.nn.Module:
        key = (self.weights_path, str(device))
        if key not in _INCEPTION_MODULES:
            from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
            net = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048", "logits_unbiased"],
                                              feature_extractor_weights_path=self.weights_path)
            _INCEPTION_MODULES[key] = net.to(device).eval()
        return _INCEPTION_MODULES[key]

    def compute(self, x: torch.Tensor, which: Iterable[str]) -> dict[str, torch.Tensor]:
        net = self.module(x.device)
        feats, logits = [], []
        with torch.no_grad():
            for start in range(0, x.shape[0], self.batch_size):
                f, lg = net(to_uint8_rgb(x[start:start + self.batch_size]))
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


def select_space(feature_space: str, data, *, evaluator: Any = None, per_channel: bool | str = "auto",
                 inception_weights: str | None = None, batch_size: int | None = None):
    """The feature space a metric uses: ``inception`` (error if no weights), ``classifier``, or ``auto``
    (Inception when its weights are on this machine, else the classifier)."""
    if feature_space not in FEATURE_SPACES:
        raise ConfigError(f"metrics: feature_space must be one of {FEATURE_SPACES}, got {feature_space!r}")
    if feature_space in ("auto", "inception"):
        weights = find_inception_weights(inception_weights)
        if weights is not None:
            return InceptionSpace(weights, batch_size or 50)
        if feature_space == "inception":
            raise ConfigError(
                "metrics: feature_space=inception, but no Inception weights are on this machine: download them "
                "once with internet (any torch-fidelity run caches them), or set inception_weights / "
                f"${INCEPTION_ENV} to a local copy; or use feature_space=classifier (FCD)")
    return classifier_space(data, evaluator, per_channel, batch_size or 500)


def classifier_space(data, evaluator: Any, per_channel: bool | str = "auto", batch_size: int = 500) -> ClassifierSpace:
    ev = resolve_evaluator(evaluator, data)
    return ClassifierSpace(ev, _per_channel(per_channel, data), batch_size)


def _per_channel(per_channel: bool | str, data) -> bool:
    """``auto``: classify channels separately when the dataset has K**C classes for its C > 1 channels
    (stacked MNIST: 1000 = 10**3); else the evaluator sees whole images."""
    if per_channel != "auto":
        return bool(per_channel)
    c = data.x.shape[1] if data.x.dim() == 4 else 1
    if c <= 1 or data.num_modes <= c:
        return False
    k = round(data.num_modes ** (1.0 / c))
    return k >= 2 and k ** c == data.num_modes


# ---------------------------------------------------------------------------------------------- caching

_CACHE: "OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]]" = OrderedDict()
_CACHE_ENTRIES = 8
_CACHE_MAX_BYTES = 1 << 29  # larger outputs (e.g. Inception features of 100k+ images) are not kept


def _tensor_key(x: torch.Tensor) -> tuple:
    return (x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.dtype, str(x.device), x._version)


def _indices_key(indices: np.ndarray | None) -> str | None:
    if indices is None:
        return None
    return hashlib.sha1(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()


def outputs(space, x: torch.Tensor, which: Iterable[str], indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    """``space``'s outputs (``features``, ``logits``) for the images ``x`` (or ``x[indices]``), cached.

    The evaluation hands every metric the same generated tensor, and the real images are views of the
    dataset's tensor: an entry is keyed by the tensor's memory, shape and version counter (and the indices),
    and keeps a reference to it, so the memory cannot be reused while the entry lives and an in-place change
    invalidates it. Outputs of a subset are sliced from those of the whole tensor when they are cached.
    So class counts, FCD, IS, P/R/D/C and clustering classify the generated images once, and FID, KID and
    P/R share the real images' features.
    """
    which = list(which)
    base = (space.cache_id, _tensor_key(x))
    out: dict[str, torch.Tensor] = {}
    missing = []
    for name in which:
        key = (*base, name, _indices_key(indices))
        full = (*base, name, None)
        if key in _CACHE:
            _CACHE.move_to_end(key)
            out[name] = _CACHE[key][1]
        elif indices is not None and full in _CACHE:
            out[name] = _CACHE[full][1][torch.as_tensor(indices)]
        else:
            missing.append(name)
    if missing:
        images = x if indices is None else x[torch.as_tensor(indices, device=x.device)]
        computed = space.compute(images, missing)
        for name, value in computed.items():
            if value.element_size() * value.nelement() <= _CACHE_MAX_BYTES:
                _CACHE[(*base, name, _indices_key(indices))] = (x, value)
            if name in missing:
                out[name] = value
        while len(_CACHE) > _CACHE_ENTRIES:
            _CACHE.popitem(last=False)
    return out


def derived(space, x: torch.Tensor, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A value derived from ``space``'s outputs for ``x`` (e.g. k-NN radii of the generated features), cached
    like the outputs so that metrics sharing it (P/R/D/C and partial recall) compute it once."""
    key = (space.cache_id, _tensor_key(x), name, None)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key][1]
    value = compute()
    _CACHE[key] = (x, value)
    while len(_CACHE) > _CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return value


def fake_outputs(space, fake: torch.Tensor, which: Iterable[str]) -> dict[str, torch.Tensor]:
    """``space``'s outputs for a generated batch, computed once per batch (see :func:`outputs`)."""
    return outputs(space, fake, which)


def clear_caches() -> None:
    """Forget cached generated-image outputs, resolved evaluators and Inception modules (tests, benchmarks)."""
    _CACHE.clear()
    _RESOLVED.clear()
    _INCEPTION_MODULES.clear()


# ---------------------------------------------------------------------------------------------- test weights

def write_random_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised Inception-v3 in torch-fidelity's weights format (its state dict saved with
    ``torch.save``), for tests and benchmarks on machines without the real weights. Convolutions use He
    initialisation so that activations keep their scale through the network."""
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        with mock.patch.object(tfi, "load_state_dict_from_url", lambda *a, **k: {}), \
                mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None):
            net = tfi.FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048"])
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=0.01)
                torch.nn.init.zeros_(m.bias)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path
