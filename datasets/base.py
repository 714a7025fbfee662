"""The data contract shared by every dataset: a spec (cheap, validated config) and the loaded bundle."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch

from core.tensors import to_signed_unit


@dataclass
class ImageInfo:
    """What every image bundle carries besides its tensors (filled by ``datasets.image_base``).

    Provenance: ``base`` (the base dataset read: mnist, fmnist, cifar10, celeba), ``source`` (the resolved
    source: mnist5k | torchvision), ``split``, ``root`` (the data root; derived caches live under
    ``<root>/modebench``), ``download``, ``data_seed`` and ``fingerprint`` (a hash of the exact data: caches of
    derived features key on it). Per sample: ``source_labels`` (the base dataset's label) and ``indices`` (its
    index in the base split; (n, 3) for stacked MNIST). Classes: ``class_names`` and ``class_counts``.

    Evaluation: ``evaluator_spec`` (the dataset's ``evaluator`` config node, an ``evaluators.specs`` object, or
    None), ``evaluator_class_map`` (evaluator class -> dataset class, -1 for none; None = the identity),
    ``attribute`` (the attribute of a multi-label evaluator that gives the labels: CelebA), ``subgroups``
    (boolean masks over the samples for the image metrics' ``subgroup`` field: ``positive`` / ``negative`` of
    a positive/negative split, every CelebA attribute by its name) and ``balanced_x`` (undepleted images of
    the balanced target, when the dataset has them: the metrics' ``balanced`` reference).

    ``loaded_evaluators``: the evaluator networks ``evaluators.evaluator_for`` loaded for this bundle, by
    device; the bundle keeps them for its lifetime, so that metrics and samplers share one.
    """

    base: str
    source: str
    split: str
    root: str
    download: bool
    data_seed: int
    fingerprint: str
    class_names: list[str]
    class_counts: torch.Tensor
    source_labels: torch.Tensor
    indices: torch.Tensor
    evaluator_spec: Any = None
    evaluator_class_map: torch.Tensor | None = None
    attribute: str | None = None
    subgroups: dict[str, torch.Tensor] = field(default_factory=dict)
    balanced_x: torch.Tensor | None = None
    loaded_evaluators: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class DataBundle:
    """A whole training set held in memory, with the metadata that methods and metrics need.

    ``x`` holds every training sample (toy: float32 ``(n, d)``; images: ``(n, C, H, W)`` in [-1, 1],
    float32 or uint8 storage). ``labels[i]`` is the mode/class of sample ``i``. ``observed_weights`` is
    the share of each mode in the training set and ``target_weights`` the balanced distribution the
    metrics compare against. ``importance_weights[i]`` = p_target(x_i) / p_observed(x_i) where that
    ratio is known (IwGAN's 1/M), else ``None``.

    ``images``: an image set's provenance, classes and evaluator (:class:`ImageInfo`; None for toy data).
    ``positive_indices`` / ``negative_indices``: a positive/negative split (Rumi-GAN) as indices into ``x``
    (the two may overlap), else None. ``extra``: dataset-specific odds and ends that no shared code reads,
    documented by each spec: mixtures' ``mode_counts``, ``std``, ``isotropic``, ``data_seed``, ``layout``;
    Dia-GAN's Gaussian's ``groups``, ``radius``, ``std``, ``majority_rate``, ``data_seed``; class subsets'
    ``groups``; stacked MNIST's ``digits``; Rumi splits' ``positive_classes``, ``negative_classes``,
    ``partition``; CelebA's ``attributes``, ``attribute_names`` and ``crop``.
    """

    name: str
    kind: str  # "toy" or "image"
    x: torch.Tensor
    labels: torch.Tensor
    num_modes: int
    observed_weights: torch.Tensor
    target_weights: torch.Tensor
    minority: tuple[int, ...] = ()
    importance_weights: torch.Tensor | None = None
    centers: torch.Tensor | None = None  # (K, d) mode centres of a mixture
    covariances: torch.Tensor | None = None  # (K, d, d) mode covariances of a mixture
    images: ImageInfo | None = None
    positive_indices: torch.Tensor | None = None
    negative_indices: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def to(self, device: torch.device | str) -> "DataBundle":
        """Move every tensor field of the bundle to ``device`` (``images`` and ``extra`` stay as they are)."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return DataBundle(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in moved.items()})

    def as_float(self, x: torch.Tensor) -> torch.Tensor:
        """Return training samples as float32 in their model range (uint8 images are mapped to [-1, 1])."""
        return to_signed_unit(x)


class DatasetSpec:
    """What ``instantiate(cfg.dataset)`` returns: validated parameters, no data yet.

    ``provides`` names the metadata the loaded bundle will carry (e.g. ``"mixture"``,
    ``"importance_weights"``, ``"labels"``) so that an impossible combination is refused before loading.
    """

    name: str = "dataset"
    kind: str = "toy"
    provides: frozenset[str] = frozenset()
    sample_shape: tuple[int, ...] | None = None  # shape of one sample when known before loading

    def load(self, device: torch.device | str = "cpu") -> DataBundle:  # pragma: no cover - interface
        raise NotImplementedError
