"""Tiny image bundles and evaluators for the image-metric tests (no downloads, CPU, a few ms each)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from datasets.base import DataBundle
from metrics import feature_spaces, reference


@pytest.fixture(autouse=True)
def fresh_caches():
    """Image-metric caches start empty in every test of a module that imports this fixture."""
    feature_spaces.clear_caches()
    reference.clear_real_cache()
    yield
    feature_spaces.clear_caches()
    reference.clear_real_cache()


class TinyEvaluator(nn.Module):
    """A random conv net with the evaluator interface: features (N, d), logits (N, classes), name, accuracy."""

    def __init__(self, channels: int = 1, classes: int = 3, dim: int = 16, seed: int = 0, name: str = "tiny_cnn"):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.body = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                      nn.Flatten(), nn.Linear(32, dim), nn.ReLU())
            self.head = nn.Linear(dim, classes)
        self.name = name
        self.accuracy = 0.99
        self.calls = {"features": 0, "logits": 0}

    def features(self, x):
        self.calls["features"] += x.shape[0]
        return self.body(x)

    def logits(self, x):
        self.calls["logits"] += x.shape[0]
        return self.head(self.body(x))


class IntensityEvaluator:
    """Classifies one-channel images by their mean intensity into ``classes`` equal bins of [-1, 1]; its
    features are (mean, std). Exact and cheap: lets tests build images of known classes."""

    def __init__(self, classes: int = 3):
        self.classes = classes
        self.name = "intensity"
        self.accuracy = 1.0
        self.centres = torch.linspace(-1, 1, 2 * classes + 1)[1::2]

    def features(self, x):
        flat = x.flatten(1)
        return torch.stack([flat.mean(1), flat.std(1)], dim=1)

    def logits(self, x):
        return -(x.flatten(1).mean(1, keepdim=True) - self.centres[None, :]).abs() * 100


def intensity_images(classes: torch.Tensor, n_classes: int, shape=(1, 8, 8), noise: float = 0.05,
                     seed: int = 0) -> torch.Tensor:
    """Images whose mean intensity sits in the bin of ``classes`` (channel c from classes[:, c] if 2-D)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.linspace(-1, 1, 2 * n_classes + 1)[1::2]
    cls = classes if classes.dim() == 2 else classes[:, None]
    base = centres[cls][:, :, None, None].expand(-1, -1, *shape[1:])
    return (base + noise * torch.randn(base.shape, generator=g)).clamp(-1, 1).contiguous()


def image_bundle(n: int = 300, classes: int = 3, shape=(1, 8, 8), minority=(2,), counts=None, seed: int = 0,
                 uint8: bool = True, evaluator=None, name: str = "tiny_images", **extra) -> DataBundle:
    """Random images with labels; ``counts`` (one per class) makes it unbalanced."""
    g = torch.Generator().manual_seed(seed)
    if counts is None:
        labels = torch.arange(n) % classes
    else:
        labels = torch.cat([torch.full((c,), k) for k, c in enumerate(counts)])
    n = labels.numel()
    x = torch.rand((n, *shape), generator=g) * 2 - 1 + 0.3 * (labels.float()[:, None, None, None] - 1)
    x = x.clamp(-1, 1)
    if uint8:
        x = ((x + 1) * 127.5).round().to(torch.uint8)
    obs = torch.bincount(labels, minlength=classes).float()
    if evaluator is not None:
        extra["evaluator"] = evaluator
    return DataBundle(name=name, kind="image", x=x, labels=labels, num_modes=classes,
                      observed_weights=obs / obs.sum(), target_weights=torch.full((classes,), 1.0 / classes),
                      minority=tuple(minority), extra=extra)
