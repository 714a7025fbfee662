"""Balanced real data held out from training, for scoring an inverter's clusters (NEMGAN §3: ACC / NMI / ARI "on
balanced test data"; REFERENCE 3.2: the test split regrouped like the training set and balanced by oversampling
to the largest class), and which training samples are also in it.

- Mixtures: fresh draws from the mixture's own modes (``per_class`` per mode, ``seed``): independent of the
  training samples by construction.
- Class subsets of MNIST / Fashion-MNIST / CIFAR-10 (``datasets.images.ClassImageDataset``): the base dataset's
  ``test`` split, mapped to the dataset's classes (base classes outside the dataset dropped), at the training
  set's image size and channels. With ``source=mnist5k`` that is the evaluators' held-out split, the last 100
  digits of every class, which are *also* training images of the GAN datasets (they draw from all 5,000):
  :func:`held_out_overlap` marks them so that supervision never labels them.
- CelebA (one binary attribute): its ``test`` partition.

Oversampling repeats every class's images to the largest class's count (whole copies plus a seeded draw without
replacement for the remainder).
"""
from __future__ import annotations

import torch

from core.errors import ConfigError
from datasets import sources
from datasets.base import DataBundle
from datasets.labelled import oversample_balanced
from datasets.transforms import convert_channels, resize_images

__all__ = ["balanced_held_out", "held_out_overlap"]


def _mixture_samples(data: DataBundle, per_class: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    centers = data.centers.detach().cpu().double()
    chol = torch.linalg.cholesky(data.covariances.detach().cpu().double())
    k, d = centers.shape
    labels = torch.arange(k).repeat_interleave(per_class)
    eps = torch.randn(labels.numel(), d, generator=gen, dtype=torch.float64)
    x = centers[labels] + torch.einsum("nij,nj->ni", chol[labels], eps)
    return x.to(data.x.dtype), labels


def _test_split(data: DataBundle) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images at the training shape, dataset labels) of the base dataset's test split."""
    info = data.images
    channels, size = data.sample_shape[0], data.sample_shape[-1]
    if info.base == "celeba":
        raw = sources.load_base("celeba", info.source, info.root, "test", info.download, size=size,
                                crop=data.extra["crop"])
        names = list(raw["attribute_names"])
        labels = raw["attributes"][:, names.index(info.attribute)].long()
        return convert_channels(raw["x"], channels), labels
    if "groups" not in data.extra:
        raise ConfigError(f"dataset '{data.name}' has no held-out split for scoring an inverter's clusters (supported:"
                          " mixtures, class subsets of MNIST/FMNIST/CIFAR-10, CelebA); remove the inverter metric")
    raw = sources.load_base(info.base, info.source, info.root, "test", info.download)
    class_of = torch.full((10,), -1, dtype=torch.long)
    for c, group in enumerate(data.extra["groups"]):
        class_of[group] = c
    labels = class_of[raw["y"]]
    keep = labels >= 0
    return resize_images(convert_channels(raw["x"][keep], channels), size), labels[keep]


def balanced_held_out(data: DataBundle, per_class: int = 500, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, labels) of balanced held-out real data (see the module docstring): mixtures draw ``per_class`` samples per
    mode; image sets oversample their test split to the largest class. ``x`` as the training set stores it."""
    gen = torch.Generator().manual_seed(int(seed))
    if data.centers is not None and data.covariances is not None:
        return _mixture_samples(data, int(per_class), gen)
    if data.images is None:
        raise ConfigError(f"dataset '{data.name}' has neither mixture modes nor a test split to hold out")
    x, labels = _test_split(data)
    if labels.numel() == 0:
        raise ConfigError(f"dataset '{data.name}': its test split holds no image of its classes")
    order = oversample_balanced(labels, data.num_modes, gen)
    return x[order], labels[order]


def held_out_overlap(data: DataBundle) -> torch.Tensor:
    """Boolean mask (n,) of training samples that are also held-out evaluation samples (only the offline MNIST
    subset's last 100 digits per class; never for mixtures or the official splits)."""
    overlap = torch.zeros(data.n, dtype=torch.bool)
    info = data.images
    if info is None or info.source != "mnist5k" or "groups" not in data.extra:
        return overlap
    y = sources.load_base("mnist", "mnist5k", info.root, "train")["y"]  # the 5,000 digits the datasets draw from
    rank = torch.empty_like(y)
    for c in range(10):  # position of each digit within its class
        members = (y == c).nonzero().squeeze(1)
        rank[members] = torch.arange(members.numel())
    per_class = torch.bincount(y, minlength=10)
    held = rank >= per_class[y] - sources.MNIST5K_HELDOUT_PER_CLASS
    return held[info.indices.cpu()]
