"""Real reference sets for image metrics and subgroups of the training set (which real images a metric compares
against; their features and statistics are computed and kept by :mod:`metrics.features`).

Reference sets (the ``reference`` field of FID/KID/P&R):

- ``train``: the training set as loaded (its observed, possibly unbalanced, class proportions);
- ``balanced``: the balanced target distribution (``data.target_weights``), as RLS compares FID/IS on CIFAR10
  "with the balanced dataset". When the dataset provides the undepleted images in
  ``data.images.balanced_x`` those are used. Otherwise the training set is reweighted class by class: for
  moment statistics (FID) every image gets the weight target(y)/count(y), which gives the mean and covariance of
  the balanced mixture of the training classes from all images; for sample-based metrics (KID, P&R) an exactly
  balanced stratified subset is drawn (its size is limited by the rarest class relative to its target share).
  A Rumi split (target: its positives) carries the whole base classes of its positives in ``balanced_x``, so
  there ``balanced`` is "the entire parent class of the held-out positives" (Rumi §5);
- ``positives`` / ``negatives``: the training samples of a positive/negative split (Rumi §4 compares with the
  positives; its code also tracks the negatives).

Subgroups (partial recall, RE): ``minority`` (``data.minority`` classes), ``majority`` (the rest), a list of
class ids, or the name of a boolean mask in ``data.images.subgroups`` (e.g. a CelebA attribute).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, DataError

REFERENCES = ("train", "balanced", "positives", "negatives")


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
    if reference in ("positives", "negatives"):
        members = data.positive_indices if reference == "positives" else data.negative_indices
        if members is None:
            raise ConfigError(f"metrics: reference={reference} needs a positive/negative split, which dataset "
                              f"'{data.name}' does not have; use reference=train or balanced")
        members = members.detach().cpu().numpy().astype(np.int64)
        chosen = _subset(members.size, max_size, seed)
        return ReferenceSet(data.x, np.sort(members if chosen is None else members[chosen]), reference,
                            f"{reference}:{max_size}:{seed}")
    bx = data.images.balanced_x if data.images is not None else None
    if bx is not None:
        return ReferenceSet(bx, _subset(bx.shape[0], max_size, seed), "balanced (data.images.balanced_x)",
                            f"balanced_x:{max_size}:{seed}")
    labels = _labels(data)
    target = target_weights(data)
    counts = np.bincount(labels, minlength=data.num_modes)
    empty = np.flatnonzero((target > 0) & (counts == 0))
    if empty.size:
        raise DataError(f"dataset '{data.name}': classes {empty.tolist()[:10]} have a target weight but no "
                        "training image, so no balanced reference can be built; provide data.images.balanced_x "
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
                        "class is too small); provide data.images.balanced_x or use reference=train")
    return ReferenceSet(data.x, idx, "balanced (stratified subset of the training set)", f"balanced_s:{max_size}:{seed}")


# ---------------------------------------------------------------------------------------------- subgroups

def subgroup_mask(data, subgroup: Any) -> tuple[np.ndarray, str, str]:
    """(boolean mask over the training set, label of the subgroup, label of its complement)."""
    if subgroup in ("minority", "majority"):
        if not data.minority:
            raise ConfigError(f"metrics: subgroup={subgroup} but dataset '{data.name}' has no minority classes; "
                              "use a list of classes or a mask name from data.images.subgroups")
        mask = np.isin(_labels(data), np.asarray(data.minority, dtype=np.int64))
        return (mask, "minority", "majority") if subgroup == "minority" else (~mask, "majority", "minority")
    if isinstance(subgroup, str):
        masks = data.images.subgroups if data.images is not None else {}
        if subgroup not in masks:
            raise ConfigError(f"metrics: subgroup '{subgroup}' is neither minority/majority nor one of the "
                              f"dataset's data.images.subgroups ({sorted(masks) or 'none'})")
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
                          f"data.images.subgroups or a non-empty list of class ids, got {subgroup!r}")
    return classes
