"""The R1 penalty (Mescheder et al. 2018, "Which training methods for GANs do actually converge?"):
γ/2 · E‖∇_x D(x)‖² on real samples, added to the discriminator's loss. Usable by any GAN and method: ``gan=stylegan2`` adds it from
its fields (``r1_gamma``, ``d_reg_every``), any other GAN through the ``regularizer`` group
(``+regularizer@method.regularizers.r1=r1``).

Lazy regularisation (StyleGAN2 §3.1): with ``every = k`` > 1 the penalty is applied on every k-th discriminator
update only (the first included) with its weight multiplied by k. Which update comes next is part of the state, so
a resumed run regularises the same steps.
"""
from __future__ import annotations

import torch

from core.errors import require
from gans.base import pack_samples
from gans.method import Batch, Regularizer

R1_INPUTS = ("augmented", "raw")


def r1_penalty(discriminate, real: torch.Tensor) -> torch.Tensor:
    """E‖∇_x D(x)‖² per replica (S,) for real samples (S, B, ...): the squared gradient norm of D's logits with
    respect to their inputs, summed over all of them and divided by the number of logits (B, or B / pack)."""
    x = real.detach().requires_grad_(True)
    logits, _ = discriminate(x)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return grad.square().flatten(1).sum(1) / logits.shape[1]


class R1Penalty(Regularizer):
    """``discriminator_term`` = every · γ/2 · E‖∇_x D(x)‖² on the batch's reals, every ``every``-th D update.

    With an augmentation of D's inputs (``augment=diffaugment``), ``inputs`` says which x: ``augmented`` takes the
    gradient with respect to augmented reals (the TF DiffAugment code the RLS paper used; here a fresh draw of the
    augmentation, as the penalty has its own D pass), ``raw`` with respect to the reals through the augmentation
    (the DiffAugment PyTorch port, StyleGAN2-ADA). Without augmentation both are the same penalty."""

    def __init__(self, gamma: float = 10.0, every: int = 1, inputs: str = "augmented"):
        require(gamma >= 0, f"R1 gamma must be >= 0, got {gamma}")
        require(int(every) >= 1, f"R1 interval (every) must be >= 1, got {every}")
        require(inputs in R1_INPUTS, f"R1 inputs must be one of {R1_INPUTS}, got {inputs!r}")
        self.gamma, self.every, self.inputs = float(gamma), int(every), inputs
        self.d_updates = 0  # discriminator updates seen so far

    def discriminator_term(self, batch: Batch, method) -> torch.Tensor | None:
        due = self.d_updates % self.every == 0
        self.d_updates += 1
        if not due or self.gamma == 0:
            return None
        augment = getattr(method, "augment", None)
        if self.inputs == "augmented" and augment is not None and method.D.training:
            with torch.no_grad():
                real = augment(batch.real)
            penalty = r1_penalty(lambda x: method.D(pack_samples(x, method.pack)), real)
        else:
            penalty = r1_penalty(method.discriminate, batch.real)
        return (self.every * self.gamma / 2) * penalty

    def state_dict(self) -> dict:
        return {"d_updates": self.d_updates}

    def load_state_dict(self, state: dict) -> None:
        self.d_updates = int(state.get("d_updates", 0))
