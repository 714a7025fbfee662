"""SSGAN (Chen et al. 2019): SNGAN plus a self-supervised rotation task for D, as torch-mimicry trains it (REFERENCE
§2.6, §10.1). ``gan=ssgan32`` / ``gan=ssgan64``.

The discriminator is SNGAN's with a rotation head, an SN-linear φ_D (ndf) -> 4 on the same pooled features that
feed the logit. Rotation labels: image i of a batch of N gets label i·4 // N (its batch quarter) and is rotated
by 90°·label. The rotation loss (cross-entropy of the head's 4 logits on a rotated copy of a batch, one extra D
pass) is added to D's loss on real images only (weight 1.0) and to G's loss on fake images only (weight 0.2).
The loss rides on the method as a regularizer that the GAN spec brings (``GANSpec.regularizers``), so every
method trains SSGAN unchanged; D still returns (logits, φ_D) like any other GAN.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from core.errors import require
from gans.grouped import GroupedLinear, from_groups, to_groups
from gans.method import Batch, Regularizer
from gans.sngan import SNGAN, ResNetDiscriminator, xavier

ROTATIONS = 4


def rotation_labels(batch: int, device=None) -> torch.Tensor:
    """Label i·4 // batch of image i (0°, 90°, 180°, 270° by batch quarter), (batch,) int64."""
    return torch.arange(batch, device=device) * ROTATIONS // batch


def rotate_by_quarter(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (S, B, C, H, W) with image i rotated counter-clockwise by 90°·label_i, labels (B,))."""
    batch = x.shape[1]
    labels = rotation_labels(batch, x.device)
    # images with label k: i in [ceil(k·B/4), ceil((k+1)·B/4)); counted in Python (no device sync)
    starts = [-(-k * batch // ROTATIONS) for k in range(ROTATIONS + 1)]
    counts = [b - a for a, b in zip(starts[:-1], starts[1:])]
    parts = torch.split(x, counts, dim=1)
    return torch.cat([torch.rot90(part, k, dims=(-2, -1)) for k, part in enumerate(parts)], dim=1), labels


class RotationDiscriminator(ResNetDiscriminator):
    """SNGAN's discriminator with the rotation head ``rotation`` (SN-linear φ_D -> 4)."""

    def __init__(self, channels, widths, down, replicas):
        super().__init__(channels, widths, down, replicas)
        self.rotation = GroupedLinear(widths[-1], ROTATIONS, replicas=replicas, spectral=True)
        xavier(self.rotation, 1.0)

    def rotation_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Rotation logits (S, B, 4) of φ_D (S, B, m)."""
        return from_groups(self.rotation(to_groups(features)), self.replicas)


class RotationLoss(Regularizer):
    """The SSGAN loss terms: ``d_weight`` x the rotation cross-entropy on the real half (D's loss) and ``g_weight``
    x the one on the fake half (G's loss), per replica (S,)."""

    def __init__(self, d_weight: float = 1.0, g_weight: float = 0.2):
        require(d_weight >= 0 and g_weight >= 0, f"gan rotation loss weights must be >= 0, got {d_weight}, {g_weight}")
        self.d_weight, self.g_weight = float(d_weight), float(g_weight)

    def rotation_loss(self, x: torch.Tensor, method) -> torch.Tensor:
        """Mean rotation cross-entropy per replica (S,) of the batch ``x`` (S, B, ...), one D pass on its rotated copy."""
        rotated, labels = rotate_by_quarter(x)
        _, features = method.discriminate(rotated)
        logits = method.D.rotation_logits(features)
        replicas, batch = logits.shape[:2]
        loss = F.cross_entropy(logits.reshape(replicas * batch, ROTATIONS), labels.repeat(replicas), reduction="none")
        return loss.view(replicas, batch).mean(1)

    def discriminator_term(self, batch: Batch, method) -> torch.Tensor | None:
        return self.d_weight * self.rotation_loss(batch.real, method) if self.d_weight else None

    def generator_term(self, batch: Batch, method) -> torch.Tensor | None:
        return self.g_weight * self.rotation_loss(batch.fake, method) if self.g_weight else None


class SSGAN(SNGAN):
    """``gan=ssgan32`` / ``gan=ssgan64``: SNGAN's networks and settings plus the rotation task (module docstring)."""

    name = "ssgan"

    def __init__(self, *args, rotation_weight_d: float = 1.0, rotation_weight_g: float = 0.2, **kwargs):
        super().__init__(*args, **kwargs)
        self.rotation_loss = RotationLoss(rotation_weight_d, rotation_weight_g)

    def discriminator_class(self):
        return RotationDiscriminator

    def build_discriminator(self, sample_shape, generators, pack: int = 1):
        require(pack == 1, "SSGAN's rotation task judges single images: method.pack must be 1 with gan=ssgan32/64")
        return super().build_discriminator(sample_shape, generators, pack)

    def regularizers(self) -> list[Regularizer]:
        return [self.rotation_loss]
