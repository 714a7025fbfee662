"""Class conditioning for any GAN builder: a label input to G and class heads on D, by wrapping a ``GANSpec``.

:class:`ConditionalGANSpec` (``ConditionalGANSpec(spec, num_classes, heads)``) builds

- the generator of ``spec`` with ``num_classes`` more latent inputs: it is fed ``concat(z, one_hot(y))``
  (Mirza & Osindero's cGAN input; :func:`with_labels`). The Rumi paper's ACGAN embeds the label onto a 7x7x1 map
  concatenated after G's first dense layer; feeding the one-hot through that dense layer gives the same
  information one layer earlier, and works for every builder (MLP or DCGAN) without touching its code;
- the discriminator of ``spec`` wrapped in :class:`ConditionalDiscriminator`: its forward is unchanged
  (``(logits (S, B), φ_D (S, B, m))``); the heads act on φ_D: ``projection(φ, y)`` = <E_y, φ> (Miyato & Koyama
  2018: added to the logit), ``classify(φ)`` and ``classify_twin(φ)`` -> class logits (S, B, K) (the auxiliary
  classifier of ACGAN and TAC-GAN's twin). Head parameters are per replica, initialised from the replica's seed.

Any labelled dataset works: toy mixtures (labels = modes) and image sets (labels = classes).
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import torch
from torch import nn
import torch.nn.functional as F

from core.errors import require
from core.tensors import eval_mode
from gans.layers import ReplicatedLinear

__all__ = ["ConditionalDiscriminator", "ConditionalGANSpec", "HEADS", "with_labels"]

HEADS = ("projection", "auxiliary", "twin")


def with_labels(z: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The conditional generator's input: z (S, n, z_dim) and labels (S, n) -> (S, n, z_dim + K)."""
    return torch.cat([z, F.one_hot(labels, num_classes).to(z.dtype)], dim=-1)


def _feature_dim(D: nn.Module, sample_shape: Sequence[int], replicas: int) -> int:
    """Width of D's φ_D, from one forward pass on zeros in eval mode (no batch-norm statistics are touched)."""
    with torch.no_grad(), eval_mode(D):
        _, features = D(torch.zeros(replicas, 2, *sample_shape))
    return int(features.shape[-1])


class ConditionalDiscriminator(nn.Module):
    """``base`` D (forward unchanged) with the requested class heads on its features φ_D (see the module)."""

    def __init__(self, base: nn.Module, num_classes: int, feature_dim: int, heads: Sequence[str],
                 generators: Sequence[torch.Generator]):
        super().__init__()
        self.base, self.num_classes = base, int(num_classes)
        self.embedding = None
        if "projection" in heads:  # E (S, K, m), glorot-uniform like the linear layers
            bound = math.sqrt(6.0 / (num_classes + feature_dim))
            weight = torch.empty(len(generators), num_classes, feature_dim)
            for r, gen in enumerate(generators):
                weight[r].uniform_(-bound, bound, generator=gen)
            self.embedding = nn.Parameter(weight)
        self.classifier = ReplicatedLinear(feature_dim, num_classes, generators) if "auxiliary" in heads else None
        self.twin = ReplicatedLinear(feature_dim, num_classes, generators) if "twin" in heads else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.base(x)

    def projection(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """<E_y, φ> per sample: features (S, B, m), labels (S, B) -> (S, B)."""
        rows = torch.gather(self.embedding, 1, labels[..., None].expand(-1, -1, self.embedding.shape[-1]))
        return (rows * features).sum(-1)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(features)

    def classify_twin(self, features: torch.Tensor) -> torch.Tensor:
        return self.twin(features)


class ConditionalGANSpec:
    """A ``GANSpec`` whose networks take class labels (see the module docstring); optimisers, prior (of z alone)
    and data checks are the wrapped spec's."""

    def __init__(self, spec, num_classes: int, heads: Sequence[str]):
        require(int(num_classes) >= 2, f"class conditioning needs at least 2 classes, got {num_classes}")
        unknown = set(heads) - set(HEADS)
        require(not unknown, f"unknown discriminator heads {sorted(unknown)}; choose from {list(HEADS)}")
        self.spec, self.num_classes, self.heads = spec, int(num_classes), tuple(heads)
        self.z_dim = spec.z_dim
        self.supports_replicas = spec.supports_replicas

    def build_generator(self, sample_shape, generators) -> nn.Module:
        widened = copy.copy(self.spec)  # the same architecture with K more latent inputs
        widened.z_dim = self.spec.z_dim + self.num_classes
        return widened.build_generator(sample_shape, generators)

    def build_discriminator(self, sample_shape, generators, pack: int = 1) -> nn.Module:
        require(pack == 1, f"a class-conditional discriminator judges one labelled sample at a time; got pack={pack}")
        base = self.spec.build_discriminator(sample_shape, generators, pack)
        dim = _feature_dim(base, sample_shape, len(generators))
        return ConditionalDiscriminator(base, self.num_classes, dim, self.heads, generators)

    def optimizer_g(self, params):
        return self.spec.optimizer_g(params)

    def optimizer_d(self, params):
        return self.spec.optimizer_d(params)

    def regularizers(self) -> list:
        return self.spec.regularizers()

    def prior(self, replicas: int, n: int, generator: torch.Generator, device) -> torch.Tensor:
        return self.spec.prior(replicas, n, generator, device)

    def check_data(self, kind, sample_shape) -> None:
        self.spec.check_data(kind, sample_shape)
