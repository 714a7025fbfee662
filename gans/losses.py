"""Adversarial objectives. Each takes discriminator outputs of shape (S, B) and returns one loss per replica (S,).

Optional per-sample weights multiply the per-sample terms before the batch mean, so a batch drawn from
the observed distribution with weights p_target/p_observed is an unbiased estimate of the target
expectation (importance weighting); ``None`` means all ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import require


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Mean over the batch (last) dimension of ``values * weights``."""
    if weights is None:
        return values.mean(-1)
    return (values * weights).mean(-1)


class AdversarialLoss:
    """Interface: discriminator and generator losses, and the log density-ratio (LDR) estimate."""

    name = "loss"
    gradient_penalty = 0.0  # weight of the WGAN-GP penalty the method adds to the discriminator loss

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor, real_weight: torch.Tensor | None = None,
               fake_weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def ldr(self, out: torch.Tensor) -> torch.Tensor:
        """Estimate of log(p_data/p_g) at the inputs: the logit for NS; the raw output otherwise."""
        return out


class NonSaturating(AdversarialLoss):
    """Goodfellow et al.: D maximises log D(x) + log(1 - D(G(z))); G minimises -log D(G(z)).

    The discriminator loss is the sum of the two batch means (as torch-mimicry); the BuresGAN code
    halves it, which Adam's scale invariance makes immaterial.
    """

    name = "ns"

    def d_loss(self, real, fake, real_weight=None, fake_weight=None):
        return weighted_mean(F.softplus(-real), real_weight) + weighted_mean(F.softplus(fake), fake_weight)

    def g_loss(self, fake, weight=None):
        return weighted_mean(F.softplus(-fake), weight)


class LeastSquares(AdversarialLoss):
    """LSGAN (Mao et al.): D fits real to b and fake to a; G pushes fakes to c. Defaults a=0, b=1, c=1."""

    name = "lsgan"

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0):
        self.a, self.b, self.c = float(a), float(b), float(c)

    def d_loss(self, real, fake, real_weight=None, fake_weight=None):
        return 0.5 * (weighted_mean((real - self.b) ** 2, real_weight) + weighted_mean((fake - self.a) ** 2, fake_weight))

    def g_loss(self, fake, weight=None):
        return 0.5 * weighted_mean((fake - self.c) ** 2, weight)


class Hinge(AdversarialLoss):
    """Hinge loss (Lim & Ye; Miyato et al.): D: relu(1 - D(x)) + relu(1 + D(G(z))); G: -D(G(z))."""

    name = "hinge"

    def d_loss(self, real, fake, real_weight=None, fake_weight=None):
        return weighted_mean(F.relu(1 - real), real_weight) + weighted_mean(F.relu(1 + fake), fake_weight)

    def g_loss(self, fake, weight=None):
        return weighted_mean(-fake, weight)


class WassersteinGP(AdversarialLoss):
    """WGAN-GP (Gulrajani et al.): critic D(G(z)) - D(x) plus λ·(‖∇D(x̂)‖ - 1)² on interpolates, λ = 10."""

    name = "wgan_gp"

    def __init__(self, gradient_penalty: float = 10.0):
        require(gradient_penalty >= 0, f"loss.gradient_penalty must be >= 0, got {gradient_penalty}")
        self.gradient_penalty = float(gradient_penalty)

    def d_loss(self, real, fake, real_weight=None, fake_weight=None):
        return weighted_mean(fake, fake_weight) - weighted_mean(real, real_weight)

    def g_loss(self, fake, weight=None):
        return weighted_mean(-fake, weight)


def gradient_penalty(discriminator, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per-replica WGAN-GP penalty E[(‖∇_x̂ D(x̂)‖₂ - 1)²] on random interpolates of real and fake batches."""
    shape = real.shape[:2] + (1,) * (real.dim() - 2)
    alpha = torch.rand(shape, generator=generator, device=real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out, _ = discriminator(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norms = grad.flatten(2).norm(dim=-1)
    return ((norms - 1) ** 2).mean(-1)
