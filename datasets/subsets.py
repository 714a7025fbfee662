"""A view of a loaded bundle restricted to some of its samples (e.g. the positives of a Rumi split), so that any
sampler can be set up on part of the training set as if it were the whole one."""
from __future__ import annotations

import dataclasses
import hashlib

import torch

from core.errors import require
from datasets.base import DataBundle

__all__ = ["subset_bundle"]


def subset_bundle(data: DataBundle, indices: torch.Tensor, tag: str) -> DataBundle:
    """The samples ``data.x[indices]`` as a bundle of their own: labels, observed class shares and per-sample
    metadata restricted to them; mode/class metadata (number of classes, target weights, minority, mixture
    centres) unchanged. Images keep their provenance with a fingerprint of their own (``tag`` and the indices: caches
    of derived features never mix the subset with the whole set) and share the bundle's loaded evaluators. The
    subset has no positive/negative split of its own."""
    indices = torch.as_tensor(indices, device=data.x.device).long().reshape(-1)
    require(indices.numel() > 0, f"dataset '{data.name}': the {tag} subset is empty")
    labels = data.labels[indices]
    counts = torch.bincount(labels, minlength=data.num_modes)
    images = data.images
    if images is not None:
        cpu = indices.cpu()
        digest = hashlib.sha256(f"{images.fingerprint}|{tag}|".encode() + cpu.numpy().tobytes()).hexdigest()[:16]
        images = dataclasses.replace(
            images, fingerprint=digest, class_counts=counts.cpu(), source_labels=images.source_labels[cpu],
            indices=images.indices[cpu], subgroups={k: torch.as_tensor(m)[cpu] for k, m in images.subgroups.items()},
            loaded_evaluators=images.loaded_evaluators)
    weights = data.importance_weights
    return dataclasses.replace(
        data, name=f"{data.name}[{tag}]", x=data.x[indices], labels=labels,
        observed_weights=(counts.double() / indices.numel()).to(data.observed_weights.dtype),
        importance_weights=None if weights is None else weights[indices], images=images,
        positive_indices=None, negative_indices=None, extra=dict(data.extra))
