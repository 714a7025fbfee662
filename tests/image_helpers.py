"""Tiny image bundles and evaluators for the image-metric tests (no downloads, CPU, a few ms each), and a random
Inception-v3 weights file for the tests and benchmarks of the Inception path."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from datasets.base import DataBundle, ImageInfo
from evaluators.specs import EvaluatorSpec
from metrics.feature_spaces import INCEPTION_NAME
from metrics.features import FeatureCache, FeatureExtractor


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


class Given(EvaluatorSpec):
    """An evaluator spec that hands out a ready evaluator object (what a dataset's or the metrics' ``evaluator``
    config node loads, without training); counts its loads."""

    def __init__(self, evaluator):
        self.evaluator, self.name, self.loads = evaluator, getattr(evaluator, "name", "given"), 0

    def load(self, data=None, device=None):
        self.loads += 1
        return self.evaluator


class TinySpec(Given):
    """``{_target_: image_helpers.TinySpec}``: a config node for a :class:`TinyEvaluator` (metrics.features.evaluator)."""

    def __init__(self, classes: int = 3):
        super().__init__(TinyEvaluator(classes=classes))


def memory_cache(**settings) -> FeatureCache:
    """A fresh evaluation cache whose reference statistics stay in memory (``cache_dir=False``) unless told."""
    return FeatureCache(FeatureExtractor(**{"cache_dir": False, **settings}))


def intensity_images(classes: torch.Tensor, n_classes: int, shape=(1, 8, 8), noise: float = 0.05,
                     seed: int = 0) -> torch.Tensor:
    """Images whose mean intensity sits in the bin of ``classes`` (channel c from classes[:, c] if 2-D)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.linspace(-1, 1, 2 * n_classes + 1)[1::2]
    cls = classes if classes.dim() == 2 else classes[:, None]
    base = centres[cls][:, :, None, None].expand(-1, -1, *shape[1:])
    return (base + noise * torch.randn(base.shape, generator=g)).clamp(-1, 1).contiguous()


def image_bundle(n: int = 300, classes: int = 3, shape=(1, 8, 8), minority=(2,), counts=None, seed: int = 0,
                 uint8: bool = True, evaluator=None, name: str = "tiny_images", class_map=None, subgroups=None,
                 balanced_x=None) -> DataBundle:
    """Random images with labels; ``counts`` (one per class) makes it unbalanced; ``evaluator``: a ready evaluator
    object (the bundle's spec hands it out)."""
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
    counts_t = torch.bincount(labels, minlength=classes)
    obs = counts_t.float()
    info = ImageInfo(base="synthetic", source="memory", split="train", root="", download=False, data_seed=seed,
                     fingerprint=f"{name}-{seed}", class_names=[str(k) for k in range(classes)], class_counts=counts_t,
                     source_labels=labels.clone(), indices=torch.arange(n),
                     evaluator_spec=Given(evaluator) if evaluator is not None else None,
                     evaluator_class_map=class_map, subgroups=dict(subgroups or {}), balanced_x=balanced_x)
    return DataBundle(name=name, kind="image", x=x, labels=labels, num_modes=classes,
                      observed_weights=obs / obs.sum(), target_weights=torch.full((classes,), 1.0 / classes),
                      minority=tuple(minority), images=info)


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
