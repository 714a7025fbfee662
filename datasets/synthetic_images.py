"""Synthetic image sets of a real set's shape (``dataset=synthetic_cifar10``, ``synthetic_celeba``): for benchmarks,
GPU checks and smoke runs on machines where CIFAR-10 / CelebA cannot be downloaded. Not for paper numbers.

Image i of class k = a smooth random field (a few low-frequency cosines with random phases) plus a class colour,
clipped to [-1, 1] and stored as uint8: the classes differ visibly, each image differs from the others, and the
set is a pure function of (n, size, channels, classes, data_seed). No evaluator: image metrics that classify need
a real dataset (FID/IS with Inception weights still work).
"""
from __future__ import annotations

import math

import torch

from core.errors import require
from datasets.base import DataBundle, DatasetSpec, ImageInfo


class SyntheticImages(DatasetSpec):
    """``n`` images of ``channels`` x ``size`` x ``size`` in ``classes`` balanced classes, drawn from ``data_seed``."""

    kind = "image"
    provides = frozenset({"labels"})

    def __init__(self, name: str = "synthetic_cifar10", n: int = 5000, size: int = 32, channels: int = 3,
                 classes: int = 10, data_seed: int = 0, frequencies: int = 4):
        require(int(n) >= int(classes) >= 1, f"dataset.n ({n}) must be >= dataset.classes ({classes}) >= 1")
        require(int(size) >= 4 and int(channels) in (1, 3), f"dataset.size must be >= 4 and dataset.channels 1 or 3, "
                                                            f"got {size}, {channels}")
        require(int(frequencies) >= 1, f"dataset.frequencies must be >= 1, got {frequencies}")
        self.name, self.n, self.size, self.channels = name, int(n), int(size), int(channels)
        self.classes, self.data_seed, self.frequencies = int(classes), int(data_seed), int(frequencies)
        self.sample_shape = (self.channels, self.size, self.size)

    def images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images (n, C, H, W), labels (n,))."""
        gen = torch.Generator().manual_seed(self.data_seed)
        labels = torch.arange(self.n) % self.classes
        labels = labels[torch.randperm(self.n, generator=gen)]
        grid = torch.linspace(0, 2 * math.pi, self.size)
        f = self.frequencies
        freq = torch.randint(1, 4, (self.n, self.channels, f, 2), generator=gen).float()
        phase = torch.rand(self.n, self.channels, f, 2, generator=gen) * 2 * math.pi
        waves_h = torch.cos(freq[..., 0, None] * grid + phase[..., 0, None])  # (n, C, f, H)
        waves_w = torch.cos(freq[..., 1, None] * grid + phase[..., 1, None])  # (n, C, f, W)
        field = torch.einsum("ncfh,ncfw->nchw", waves_h, waves_w) / f
        colours = torch.rand(self.classes, self.channels, generator=gen) * 1.2 - 0.6
        x = (0.5 * field + colours[labels][:, :, None, None]).clamp(-1, 1)
        return ((x + 1) * 127.5).round().to(torch.uint8), labels

    def load(self, device="cpu") -> DataBundle:
        x, labels = self.images()
        counts = torch.bincount(labels, minlength=self.classes)
        weights = counts.float() / counts.sum()
        info = ImageInfo(base="synthetic", source="synthetic", split="train", root="", download=False,
                         data_seed=self.data_seed,
                         fingerprint=f"{self.name}-{self.n}-{self.size}-{self.channels}-{self.classes}-{self.data_seed}",
                         class_names=[f"class {k}" for k in range(self.classes)], class_counts=counts,
                         source_labels=labels.clone(), indices=torch.arange(self.n))
        return DataBundle(name=self.name, kind="image", x=x, labels=labels, num_modes=self.classes,
                          observed_weights=weights, target_weights=weights.clone(), images=info).to(device)
