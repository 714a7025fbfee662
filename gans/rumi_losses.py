"""The Rumi-GAN objectives (Asokan & Seelamantula, NeurIPS 2020, §3): a discriminator loss with a positive, a
negative and a fake term, and the generator's loss on the fakes. Every term takes discriminator outputs (S, B) and
returns one value per replica (S,); the positive term takes optional per-sample weights (importance weighting).

- :class:`RumiLeastSquares` (``loss=rumi_lsgan``, eq. 3): D: β⁺·E⁺(D − b⁺)² + β⁻·E⁻(D − b⁻)² + E_g(D − a)²;
  G: E_g(D − c)². Batch means as the authors' code (``MSE``), no ½ factor.
- :class:`RumiStandard` (``loss=rumi_sgan``, eq. 1) in two forms. ``paper``: negatives carry the fake label 0
  with weight α⁻, D: −(α⁺·E⁺ log D + α⁻·E⁻ log(1 − D) + E_g log(1 − D)), the optimum p_g* = (1 + α⁻)p⁺ − α⁻p⁻
  (Lemma 3.1). ``code``: negatives carry the real label 1 with a positive weight (the authors' ``sgan.py``, their
  reply in GitHub issue #1): D: −(α⁺·E⁺ log D + α⁻·E⁻ log D + E_g log(1 − D)), optimum p_g* = (α⁺p⁺ + α⁻p⁻)/(α⁺ +
  α⁻). The two forms give the same family of mixtures: a paper α⁻ ∈ [α⁺ − 1, 0] mixes −α⁻ of the negatives, as a
  code pair with α⁻/(α⁺ + α⁻) = −α⁻. G: the non-saturating −E_g log D (the code's ``BCE(D(G(z)), 1)``).

Where the lemmas' optima lie and why the defaults are what they are: docs/rumi.md.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import require
from gans.losses import weighted_mean

__all__ = ["PositiveNegativeLoss", "RumiLeastSquares", "RumiStandard"]


class PositiveNegativeLoss:
    """Interface of a loss over positive, negative and generated samples (what ``method=rumi_*`` trains with).

    ``needs_negatives`` marks it for the compatibility check: a method that draws no negative batch refuses it."""

    name = "positive_negative"
    needs_negatives = True
    gradient_penalty = 0.0

    def positive_term(self, out: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def negative_term(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def fake_term(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, positive: torch.Tensor, negative: torch.Tensor, fake: torch.Tensor,
                  positive_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The discriminator's loss: the sum of the three terms, (S,)."""
        return self.positive_term(positive, positive_weight) + self.negative_term(negative) + self.fake_term(fake)

    def ldr(self, out: torch.Tensor) -> torch.Tensor:
        return out


class RumiLeastSquares(PositiveNegativeLoss):
    """Rumi-LSGAN (eq. 3-4). Defaults: the authors' code (``gan_main.py`` flags, REFERENCE §4.1):
    (a, b⁺, b⁻, c) = (−0.5, 2, −2, 2), β⁺ = 2.5, β⁻ = 0.5. Lemma 3.2's conditions are enforced: b⁺ > b⁻,
    a ≤ (b⁺ + b⁻)/2, β⁺ > 0, β⁻ > 0."""

    name = "rumi_lsgan"

    def __init__(self, a: float = -0.5, b_pos: float = 2.0, b_neg: float = -2.0, c: float = 2.0,
                 beta_pos: float = 2.5, beta_neg: float = 0.5):
        self.a, self.b_pos, self.b_neg, self.c = float(a), float(b_pos), float(b_neg), float(c)
        self.beta_pos, self.beta_neg = float(beta_pos), float(beta_neg)
        require(self.b_pos > self.b_neg, f"loss.b_pos={b_pos} must be > loss.b_neg={b_neg} (Lemma 3.2: b⁺ > b⁻)")
        require(self.a <= (self.b_pos + self.b_neg) / 2,
                f"loss.a={a} must be <= (loss.b_pos + loss.b_neg)/2 = {(self.b_pos + self.b_neg) / 2:g} "
                "(Lemma 3.2: a <= (b⁺ + b⁻)/2)")
        require(self.beta_pos > 0 and self.beta_neg > 0,
                f"loss.beta_pos={beta_pos} and loss.beta_neg={beta_neg} must be > 0 (Lemma 3.2's weights)")

    def positive_term(self, out, weight=None):
        return self.beta_pos * weighted_mean((out - self.b_pos) ** 2, weight)

    def negative_term(self, out):
        return self.beta_neg * ((out - self.b_neg) ** 2).mean(-1)

    def fake_term(self, out):
        return ((out - self.a) ** 2).mean(-1)

    def g_loss(self, fake, weight=None):
        return weighted_mean((fake - self.c) ** 2, weight)


FORMS = ("paper", "code")


class RumiStandard(PositiveNegativeLoss):
    """Rumi-SGAN (eq. 1) on logits (see the module docstring for the two ``form``s).

    ``paper`` (default; Lemma 3.1's conditions enforced): α⁺ ∈ [0, 1], α⁻ ≥ α⁺ − 1. Defaults α⁺ = 0.5 (the
    authors' default weight, GitHub issue #1) and α⁻ = −0.2 (their MNIST-overlap value, issue #2): p_g* = 0.8 p⁺ +
    0.2 p⁻. A negative α⁻ makes the negative term a reward: D's loss is unbounded below where negatives outweigh the
    fakes (D(x⁻) → 1), so training can diverge before the fakes cover the negatives. ``code``: α⁺ > 0, α⁻ >= 0
    (the code's flags are α⁺ = 2.5, α⁻ = 0.5: p_g* = (5p⁺ + p⁻)/6)."""

    name = "rumi_sgan"

    def __init__(self, alpha_pos: float = 0.5, alpha_neg: float = -0.2, form: str = "paper"):
        require(form in FORMS, f"loss.form must be one of {list(FORMS)}, got {form!r}")
        self.alpha_pos, self.alpha_neg, self.form = float(alpha_pos), float(alpha_neg), form
        if form == "paper":
            require(0.0 <= self.alpha_pos <= 1.0, f"loss.alpha_pos={alpha_pos} must lie in [0, 1] (Lemma 3.1)")
            require(self.alpha_neg >= self.alpha_pos - 1.0,
                    f"loss.alpha_neg={alpha_neg} must be >= loss.alpha_pos - 1 = {self.alpha_pos - 1:g} (Lemma 3.1)")
        else:
            require(self.alpha_pos > 0 and self.alpha_neg >= 0,
                    f"loss.form=code labels the negatives 1 and needs loss.alpha_pos > 0 and loss.alpha_neg >= 0, "
                    f"got {alpha_pos} and {alpha_neg} (a negative weight belongs to loss.form=paper)")

    def positive_term(self, out, weight=None):
        return self.alpha_pos * weighted_mean(F.softplus(-out), weight)  # -log D(x+), D = sigmoid(out)

    def negative_term(self, out):
        # paper: -log(1 - D(x-)) = softplus(out); code: -log D(x-) = softplus(-out)
        return self.alpha_neg * F.softplus(out if self.form == "paper" else -out).mean(-1)

    def fake_term(self, out):
        return F.softplus(out).mean(-1)

    def g_loss(self, fake, weight=None):
        return weighted_mean(F.softplus(-fake), weight)
