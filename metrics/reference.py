"""Real reference sets for image metrics, subgroups of the training set, and cached real features/statistics.

Reference sets (the ``reference`` field of FID/KID/P&R):

- ``train``: the training set as loaded (its observed, possibly unbalanced, class proportions);
- ``balanced``: the balanced target distribution (``data.target_weights``), as RLS compares FID/IS on CIFAR10
  "with the balanced dataset". When the dataset provides the undepleted images in
  ``data.extra["balanced_x"]`` those are used. Otherwise the training set is reweighted class by class: for
  moment statistics (FID) every image gets the weight target(y)/count(y), which gives the mean and covariance of
  the balanced mixture of the training classes from all images; for sample-based metrics (KID, P&R) an exactly
  balanced stratified subset is drawn (its size is limited by the rarest class relative to its target share).

Subgroups (partial recall, RE): ``minority`` (``data.minority`` classes), ``majority`` (the rest), a list of
class ids, or the name of a boolean mask in ``data.extra["subgroups"]`` (e.g. a CelebA attribute).

Real features are computed once per (feature space, dataset, reference) and kept in memory; with a cache
directory (default ``$MODEBENCH_DATA/feature_stats`` or ``~/.cache/modebench/feature_stats``) they are also
stored on disk, keyed by a hash of the images and of the feature extractor's weights.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, DataError
from metrics.feature_spaces import _indices_key, _tensor_key, outputs

REFERENCES = ("train", "balanced")


@dataclass
class ReferenceSet:
    """Real images to compare against: ``source[indices]`` (all of ``source`` when ``indices`` is None),
    optional per-image ``weights`` (sum 1) for moment statistics, a ``label`` for the record and a ``key``
    naming the selection rule."""

    source: torch.Tensor
    indices: np.ndarray | None
    label: str
    key: str
    weights: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.source.shape[0] if self.indices is None else self.indices.size)

    @property
    def x(self) -> torch.Tensor:
        if self.indices is None:
            return self.source
        return self.source[torch.as_tensor(self.indices, device=self.source.device)]


def _subset(n: int, max_size: int | None, seed: int) -> np.ndarray | None:
    """Sorted random indices of at most ``max_size`` of ``n`` items (None: all of them)."""
    if max_size is None or max_size >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_size, replace=False))


def _labels(data) -> np.ndarray:
    labels = data.labels.detach().cpu().numpy().astype(np.int64).reshape(-1)
    if labels.shape[0] != data.n:
        raise DataError(f"dataset '{data.name}': {labels.shape[0]} labels for {data.n} images")
    if labels.size and (labels.min() < 0 or labels.max() >= data.num_modes):
        raise DataError(f"dataset '{data.name}': labels must lie in [0, {data.num_modes}), got "
                        f"[{labels.min()}, {labels.max()}]")
    return labels


def target_weights(data) -> np.ndarray:
    t = data.target_weights.detach().double().cpu().numpy().reshape(-1)
    if t.size != data.num_modes or not np.isfinite(t).all() or (t < 0).any() or t.sum() <= 0:
        raise DataError(f"dataset '{data.name}': target_weights must be {data.num_modes} non-negative numbers "
                        f"with a positive sum, got {t.tolist()[:10]}")
    return t / t.sum()


def reference_set(data, reference: str, max_size: int | None, seed: int = 0, *, weighted: bool) -> ReferenceSet:
    """The real images a metric compares against (see the module docstring).

    ``weighted``: the caller uses weighted moments (FID), so ``balanced`` may reweight the training set instead
    of subsampling it.
    """
    if reference not in REFERENCES:
        raise ConfigError(f"metrics: reference must be one of {REFERENCES}, got {reference!r}")
    if reference == "train":
        return ReferenceSet(data.x, _subset(data.n, max_size, seed), "train", f"train:{max_size}:{seed}")
    if data.extra.get("balanced_x") is not None:
        bx = data.extra["balanced_x"]
        return ReferenceSet(bx, _subset(bx.shape[0], max_size, seed), "balanced (data.extra.balanced_x)",
                            f"balanced_x:{max_size}:{seed}")
    labels = _labels(data)
    target = target_weights(data)
    counts = np.bincount(labels, minlength=data.num_modes)
    empty = np.flatnonzero((target > 0) & (counts == 0))
    if empty.size:
        raise DataError(f"dataset '{data.name}': classes {empty.tolist()[:10]} have a target weight but no "
                        "training image, so no balanced reference can be built; provide data.extra['balanced_x'] "
                        "or use reference=train")
    if weighted:
        idx = _subset(data.n, max_size, seed)
        sub = labels if idx is None else labels[idx]
        sub_counts = np.bincount(sub, minlength=data.num_modes)
        w = target[sub] / np.maximum(sub_counts[sub], 1)
        w = w / w.sum()
        return ReferenceSet(data.x, idx, "balanced (class-reweighted training set)", f"balanced_w:{max_size}:{seed}", w)
    # Exactly balanced stratified subset: class k gets round(t_k * m) images, m as large as the classes allow.
    present = target > 0
    m = int(np.floor(np.min(counts[present] / target[present]) + 1e-9))
    if max_size is not None:
        m = min(m, int(max_size))
    quotas = np.floor(target * m + 1e-9).astype(np.int64)
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == k), size=q, replace=False) for k, q in enumerate(quotas) if q > 0]
    idx = np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)
    if idx.size < 2:
        raise DataError(f"dataset '{data.name}': the balanced reference subset has {idx.size} images (the rarest "
                        "class is too small); provide data.extra['balanced_x'] or use reference=train")
    return ReferenceSet(data.x, idx, "balanced (stratified subset of the training set)", f"balanced_s:{max_size}:{seed}")


# ---------------------------------------------------------------------------------------------- subgroups

def subgroup_mask(data, subgroup: Any) -> tuple[np.ndarray, str, str]:
    """(boolean mask over the training set, label of the subgroup, label of its complement)."""
    if subgroup in ("minority", "majority"):
        if not data.minority:
            raise ConfigError(f"metrics: subgroup={subgroup} but dataset '{data.name}' has no minority classes; "
                              "use a list of classes or a mask name from data.extra['subgroups']")
        mask = np.isin(_labels(data), np.asarray(data.minority, dtype=np.int64))
        return (mask, "minority", "majority") if subgroup == "minority" else (~mask, "majority", "minority")
    if isinstance(subgroup, str):
        masks = data.extra.get("subgroups") or {}
        if subgroup not in masks:
            raise ConfigError(f"metrics: subgroup '{subgroup}' is neither minority/majority nor one of the "
                              f"dataset's data.extra['subgroups'] ({sorted(masks) or 'none'})")
        mask = torch.as_tensor(masks[subgroup]).detach().cpu().numpy().astype(bool).reshape(-1)
        if mask.shape[0] != data.n:
            raise DataError(f"dataset '{data.name}': subgroup mask '{subgroup}' has {mask.shape[0]} entries "
                            f"for {data.n} images")
        return mask, subgroup, f"not_{subgroup}"
    try:
        classes = [int(c) for c in subgroup]
    except TypeError:
        raise ConfigError(f"metrics: subgroup must be minority, majority, a mask name or a list of classes, "
                          f"got {subgroup!r}") from None
    if not classes or min(classes) < 0 or max(classes) >= data.num_modes:
        raise ConfigError(f"metrics: subgroup classes must be a non-empty list in [0, {data.num_modes}), "
                          f"got {classes}")
    mask = np.isin(_labels(data), np.asarray(classes, dtype=np.int64))
    label = "classes_" + "_".join(str(c) for c in classes)
    return mask, label, "not_" + label


def check_subgroup(subgroup: Any) -> Any:
    """Validate a subgroup field at construction; lists are turned into plain lists of ints."""
    if isinstance(subgroup, str) and subgroup:
        return subgroup
    try:
        classes = [int(c) for c in subgroup]
    except (TypeError, ValueError):
        classes = None
    if not classes or any(isinstance(c, bool) for c in subgroup):
        raise ConfigError(f"metrics: subgroup must be 'minority', 'majority', a mask name from "
                          f"data.extra['subgroups'] or a non-empty list of class ids, got {subgroup!r}")
    return classes


# ---------------------------------------------------------------------------------------------- real outputs

_REAL_CACHE: "OrderedDict[tuple, tuple[Any, Any]]" = OrderedDict()
_REAL_CACHE_SIZE = 8


def default_cache_dir() -> Path:
    root = os.environ.get("MODEBENCH_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "modebench")
    return Path(root) / "feature_stats"


def _content_hash(ref: ReferenceSet) -> str:
    h = hashlib.sha256(f"{ref.key}:{tuple(ref.x.shape)}:{ref.x.dtype}".encode())
    h.update(ref.x.detach().cpu().contiguous().numpy().tobytes())
    if ref.weights is not None:
        h.update(np.ascontiguousarray(ref.weights, dtype=np.float64).tobytes())
    return h.hexdigest()[:32]


def real_statistic(space, ref: ReferenceSet, kind: str, compute, cache_dir: str | Path | None | bool) -> dict[str, np.ndarray]:
    """``compute(features (m, d) float64 tensor, weights) -> dict of arrays`` for the reference images in
    ``space``, cached in memory and (when ``cache_dir`` is not False and the space has a fingerprint) on disk.
    The features themselves come from :func:`metrics.feature_spaces.outputs`, shared by every statistic."""
    mem_key = (space.cache_id, kind, ref.key, _tensor_key(ref.source), _indices_key(ref.indices))
    if mem_key in _REAL_CACHE:
        _REAL_CACHE.move_to_end(mem_key)
        return _REAL_CACHE[mem_key][1]
    path = None
    if cache_dir is not False:
        fingerprint = space.fingerprint()
        if fingerprint:
            folder = Path(cache_dir) if cache_dir else default_cache_dir()
            digest = hashlib.sha256(f"{fingerprint}:{kind}:{_content_hash(ref)}".encode()).hexdigest()[:40]
            path = folder / f"{kind}-{digest}.npz"
    value = None
    if path is not None and path.is_file():
        try:
            with np.load(path) as f:
                value = {k: f[k] for k in f.files}
        except Exception:  # a corrupt cache file is recomputed, never half-used
            value = None
    if value is None:
        feats = outputs(space, ref.source, ["features"], ref.indices)["features"]
        value = compute(feats, ref.weights)
        if path is not None:
            _atomic_savez(path, value)
    _REAL_CACHE[mem_key] = (ref.source, value)
    while len(_REAL_CACHE) > _REAL_CACHE_SIZE:
        _REAL_CACHE.popitem(last=False)
    return value


def real_features(space, ref: ReferenceSet, cache_dir: str | Path | None | bool) -> torch.Tensor:
    """The reference images' features (m, d), cached like every statistic (on disk as float32)."""
    value = real_statistic(space, ref, "features", lambda f, w: {"features": f.float().numpy()}, cache_dir)
    return torch.from_numpy(value["features"])


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:  # a read-only or full cache is not an error: the statistic is kept in memory
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def clear_real_cache() -> None:
    _REAL_CACHE.clear()
