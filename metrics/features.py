"""The image metrics' feature extractor, configured once, and the features of one evaluation (the torch-fidelity
way: the extractor is configured once, each evaluation computes the features of its images once and hands them to
every metric that needs them).

- :class:`FeatureExtractor` is the metrics config's ``features`` block (``metrics.features``), which the
  evaluation (``engine.evaluation.Evaluator``) instantiates once per run: ``space`` (auto | inception |
  classifier), ``evaluator`` (an ``evaluator`` config node, or null for the dataset's own), ``per_channel``,
  ``inception_weights``, ``batch_size`` and ``cache_dir``. It keeps what outlives one evaluation: the feature
  spaces it built (the Inception network loaded once; the evaluator loaded once, by the dataset bundle when it is
  the dataset's own) and the real reference statistics (:class:`ReferenceStore`).
- :class:`FeatureCache` lives for one evaluation: the evaluation makes one for each generated batch and passes
  it to every metric, ``metric(fake, data, cache)``; a metric called without one makes its own (with a default
  extractor). Outputs are keyed by the image tensor's memory, shape and version counter (and the indices of a
  subset), so class counts, FCD, IS, P/R/D/C and clustering classify the same generated images once, and FID,
  KID, P/R and partial recall share the real images' features (subsets are sliced from the whole set's).

Reference statistics on disk (``cache_dir``; default ``$MODEBENCH_DATA/feature_stats`` or
``~/.cache/modebench/feature_stats``; false: memory only) are keyed by a hash of the images and of the feature
extractor's weights (``space.fingerprint()``).
"""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from core.errors import ConfigError, require
from core.files import load_npz, read_cached, save_npz
from evaluators.lookup import dataset_view, evaluator_for
from metrics.feature_spaces import (FEATURE_SPACES, INCEPTION_ENV, ClassifierSpace, InceptionSpace,
                                    find_inception_weights, is_evaluator, resolve_per_channel)
from metrics.reference import ReferenceSet

__all__ = ["FeatureCache", "FeatureExtractor", "ReferenceStore", "default_cache_dir"]

ENTRIES = 8  # outputs/statistics kept per cache (least recently used dropped first)
MAX_ENTRY_BYTES = 1 << 29  # larger outputs (e.g. Inception features of 100k+ images) are not kept


def tensor_key(x: torch.Tensor) -> tuple:
    """Identity of a tensor's current contents: memory, shape, strides, dtype, device and version counter."""
    return (x.data_ptr(), tuple(x.shape), tuple(x.stride()), x.dtype, str(x.device), x._version)


def indices_key(indices: np.ndarray | None) -> str | None:
    if indices is None:
        return None
    return hashlib.sha1(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()


def default_cache_dir() -> Path:
    root = os.environ.get("MODEBENCH_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "modebench")
    return Path(root) / "feature_stats"


class FeatureExtractor:
    """``metrics.features``: the feature space and evaluator every image metric uses (see the module docstring).

    ``space``: ``auto`` (Inception when its weights are on this machine, else the evaluator's features),
    ``inception`` (an error without weights) or ``classifier``; class counts and clustering always use the
    classifier. ``evaluator``: an evaluator spec (a node of the ``evaluator`` config group, e.g.
    ``+evaluator@metrics.features.evaluator=mnist_cnn``), null = the dataset's own. ``per_channel``: classify
    colour channels separately (auto: when the dataset has K**C classes, stacked MNIST). ``inception_weights``: a
    local torch-fidelity weights file (null: ``$MODEBENCH_INCEPTION_WEIGHTS`` or torch's hub cache).
    ``batch_size``: images per forward pass (null: 50 Inception, 500 classifier). ``cache_dir``: reference
    statistics on disk (null: the default folder, false: memory only). ``inception_resize``: resize images
    bilinearly to this size before Inception (the Rumi paper's 80; null: torch-fidelity's protocol alone).
    """

    def __init__(self, space: str = "auto", evaluator: Any = None, per_channel: bool | str = "auto",
                 inception_weights: str | None = None, batch_size: int | None = None,
                 cache_dir: str | Path | bool | None = None, inception_resize: int | None = None) -> None:
        require(space in FEATURE_SPACES, f"metrics.features.space must be one of {FEATURE_SPACES}, got {space!r}")
        require(evaluator is None or callable(getattr(evaluator, "load", None)),
                f"metrics.features.evaluator must be an evaluator config node (e.g. "
                f"+evaluator@metrics.features.evaluator=mnist_cnn) or null (the dataset's own), got {evaluator!r}")
        require(per_channel == "auto" or isinstance(per_channel, bool),
                f"metrics.features.per_channel must be auto, true or false, got {per_channel!r}")
        require(inception_weights is None or isinstance(inception_weights, str),
                f"metrics.features.inception_weights must be a file path or null, got {inception_weights!r}")
        require(batch_size is None or (isinstance(batch_size, int) and not isinstance(batch_size, bool)
                                       and batch_size >= 1),
                f"metrics.features.batch_size must be an integer >= 1 or null, got {batch_size!r}")
        require(cache_dir is None or cache_dir is False or isinstance(cache_dir, (str, Path)),
                f"metrics.features.cache_dir must be a folder, null (the default folder) or false (memory only), "
                f"got {cache_dir!r}")
        require(inception_resize is None or (isinstance(inception_resize, int) and not isinstance(inception_resize, bool)
                                             and inception_resize >= 32),
                f"metrics.features.inception_resize must be an image size >= 32 (the Rumi paper: 80) or null, "
                f"got {inception_resize!r}")
        self.inception_resize = inception_resize
        self.space, self.evaluator, self.per_channel = space, evaluator, per_channel
        self.inception_weights, self.batch_size, self.cache_dir = inception_weights, batch_size, cache_dir
        self.references = ReferenceStore(cache_dir)
        self._inception: InceptionSpace | None = None
        self._weights_looked_up = False  # find_inception_weights ran (once: the machine does not change mid-run)
        self._classifier: tuple[Any, ClassifierSpace] | None = None  # (the bundle it was built for, the space)

    def __repr__(self) -> str:
        return (f"FeatureExtractor(space={self.space}, evaluator={getattr(self.evaluator, 'name', None)}, "
                f"per_channel={self.per_channel})")

    def space_for(self, data) -> ClassifierSpace | InceptionSpace:
        """The configured feature space for ``data``'s metrics (Inception or the classifier)."""
        if self.space in ("auto", "inception"):
            if not self._weights_looked_up:
                weights = find_inception_weights(self.inception_weights)
                self._inception = (InceptionSpace(weights, self.batch_size or 50, self.inception_resize)
                                   if weights is not None else None)
                self._weights_looked_up = True
            if self._inception is not None:
                return self._inception
            if self.space == "inception":
                raise ConfigError(
                    "metrics: features.space=inception, but no Inception weights are on this machine: download them "
                    "once with internet (any torch-fidelity run caches them), or set metrics.features."
                    f"inception_weights / ${INCEPTION_ENV} to a local copy; or use metrics.features.space=classifier "
                    "(FCD)")
        return self.classifier_for(data)

    def classifier_for(self, data) -> ClassifierSpace:
        """The classifier space of ``data``: the evaluator loaded once (see the class docstring)."""
        if self._classifier is None or self._classifier[0] is not data:
            space = ClassifierSpace(self._load_evaluator(data), resolve_per_channel(self.per_channel, data),
                                    self.batch_size or 500)
            self._classifier = (data, space)
        return self._classifier[1]

    def _load_evaluator(self, data) -> Any:
        if self.evaluator is not None:
            evaluator = self.evaluator.load(data)
        else:
            require(data.images is not None and data.images.evaluator_spec is not None,
                    f"metrics: no evaluator (classifier) for dataset '{data.name}': it configures none "
                    f"(dataset.evaluator) and metrics.features.evaluator is null; name one (e.g. "
                    f"+evaluator@metrics.features.evaluator=mnist_cnn)")
            evaluator = evaluator_for(data)
        evaluator = dataset_view(evaluator, data)
        require(is_evaluator(evaluator), f"metrics: the evaluator of dataset '{data.name}' ({evaluator!r}) has no "
                                         "features(x) and logits(x)")
        return evaluator


class FeatureCache:
    """The features of one evaluation (see the module docstring): ``extractor`` decides the spaces and keeps the
    reference statistics; this object keeps the outputs computed for this evaluation's image tensors."""

    def __init__(self, extractor: FeatureExtractor | None = None) -> None:
        self.extractor = extractor if extractor is not None else FeatureExtractor()
        self._entries: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()  # key -> (x, value)

    def space_for(self, data) -> ClassifierSpace | InceptionSpace:
        return self.extractor.space_for(data)

    def classifier_for(self, data) -> ClassifierSpace:
        return self.extractor.classifier_for(data)

    def _keep(self, key: tuple, x: torch.Tensor, value: torch.Tensor) -> None:
        # the entry keeps a reference to x, so its memory cannot be reused while the entry lives
        self._entries[key] = (x, value)
        while len(self._entries) > ENTRIES:
            self._entries.popitem(last=False)

    def _get(self, key: tuple) -> torch.Tensor | None:
        if key not in self._entries:
            return None
        self._entries.move_to_end(key)
        return self._entries[key][1]

    def outputs(self, space, x: torch.Tensor, which: Iterable[str],
                indices: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """``space``'s outputs (``features``, ``logits``) for the images ``x`` (or ``x[indices]``), each computed
        once; outputs of a subset are sliced from those of the whole tensor when those are kept."""
        base = (space.cache_id, tensor_key(x))
        out: dict[str, torch.Tensor] = {}
        missing = []
        for name in which:
            hit = self._get((*base, name, indices_key(indices)))
            full = self._get((*base, name, None)) if hit is None and indices is not None else None
            if hit is not None:
                out[name] = hit
            elif full is not None:
                out[name] = full[torch.as_tensor(indices)]
            else:
                missing.append(name)
        if missing:
            images = x if indices is None else x[torch.as_tensor(indices, device=x.device)]
            for name, value in space.compute(images, missing).items():
                if value.element_size() * value.nelement() <= MAX_ENTRY_BYTES:
                    self._keep((*base, name, indices_key(indices)), x, value)
                if name in missing:
                    out[name] = value
        return out

    def finite_outputs(self, space, fake: torch.Tensor, finite: np.ndarray, which: str = "features") -> torch.Tensor:
        """``space``'s outputs (``features`` or ``logits``) for the finite generated images (float64, CPU)."""
        out = self.outputs(space, fake, [which])[which]
        return out if finite.all() else out[torch.as_tensor(finite)]

    def derived(self, space, x: torch.Tensor, name: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """A value derived from ``space``'s outputs for ``x`` (e.g. k-NN radii of the generated features), kept
        like the outputs so that the metrics sharing it (P/R/D/C and partial recall) compute it once."""
        key = (space.cache_id, tensor_key(x), name, None)
        value = self._get(key)
        if value is None:
            value = compute()
            self._keep(key, x, value)
        return value

    def real_statistic(self, space, ref: ReferenceSet, kind: str, compute) -> dict[str, np.ndarray]:
        """``compute(features (m, d) float64 tensor, weights) -> dict of arrays`` for the reference images in
        ``space``, from the extractor's :class:`ReferenceStore` (the features themselves from this cache)."""
        features = lambda: self.outputs(space, ref.source, ["features"], ref.indices)["features"]
        return self.extractor.references.statistic(space, ref, kind, compute, features)

    def real_features(self, space, ref: ReferenceSet) -> torch.Tensor:
        """The reference images' features (m, d), stored like every statistic (on disk as float32)."""
        value = self.real_statistic(space, ref, "features", lambda f, w: {"features": f.float().numpy()})
        return torch.from_numpy(value["features"])


class ReferenceStore:
    """Statistics of real reference sets (their features, FID moments, k-NN radii), computed once: kept in memory
    (the last :data:`ENTRIES`) for the owner's lifetime (the run, through its evaluation's extractor) and, when
    ``cache_dir`` is not False and the space has a fingerprint, on disk (``<kind>-<hash>.npz``)."""

    def __init__(self, cache_dir: str | Path | bool | None = None) -> None:
        self.cache_dir = cache_dir
        self._memory: OrderedDict[tuple, tuple[Any, Any, dict[str, np.ndarray]]] = OrderedDict()

    def statistic(self, space, ref: ReferenceSet, kind: str, compute,
                  features: Callable[[], torch.Tensor]) -> dict[str, np.ndarray]:
        """``compute(features(), ref.weights)``, from memory, disk or computed (then stored)."""
        key = (space.cache_id, kind, ref.key, tensor_key(ref.source), indices_key(ref.indices))
        if key in self._memory:
            self._memory.move_to_end(key)
            return self._memory[key][2]
        path = self._path(space, ref, kind)
        value = None
        if path is not None:  # a damaged file is put aside and recomputed, never half-used (core.files)
            value = read_cached(path, load_npz, f"recomputing the {kind} statistics")
        if value is None:
            value = compute(features(), ref.weights)
            if path is not None:
                try:
                    save_npz(path, value)
                except OSError:  # a read-only or full cache is not an error: the statistic is kept in memory
                    pass
        self._memory[key] = (ref.source, space, value)  # the source and space stay alive: their ids key the entry
        while len(self._memory) > ENTRIES:
            self._memory.popitem(last=False)
        return value

    def _path(self, space, ref: ReferenceSet, kind: str) -> Path | None:
        if self.cache_dir is False:
            return None
        fingerprint = space.fingerprint()
        if not fingerprint:
            return None
        folder = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        digest = hashlib.sha256(f"{fingerprint}:{kind}:{_content_hash(ref)}".encode()).hexdigest()[:40]
        return folder / f"{kind}-{digest}.npz"


def _content_hash(ref: ReferenceSet) -> str:
    h = hashlib.sha256(f"{ref.key}:{tuple(ref.x.shape)}:{ref.x.dtype}".encode())
    h.update(ref.x.detach().cpu().contiguous().numpy().tobytes())
    if ref.weights is not None:
        h.update(np.ascontiguousarray(ref.weights, dtype=np.float64).tobytes())
    return h.hexdigest()[:32]
