"""Rumi-GAN (Asokan & Seelamantula, NeurIPS 2020): training with positive and negative real samples, and the
baseline trained on the positives alone.

- :class:`RumiGAN` (``method=rumi_lsgan`` / ``rumi_sgan``): every step draws one positive and one negative batch
  of the trainer's batch size (:class:`samplers.positive_negative.PositiveNegativeSampler`: the positives through
  the configured sampler, so ``sampler=rls_discr`` weights them, the negatives cycled uniformly) and a noise batch
  of the same size; D's loss is the configured :class:`gans.rumi_losses.PositiveNegativeLoss` of its outputs on
  the three batches (one D call each, like the real and the fake half of every other method), G's loss the
  loss's ``g_loss``. ``d_updates``: ``joint`` (default; the authors' code: one D update on the whole loss per
  step, simultaneous with G's) or ``split`` (the paper's §4 text: two D updates per G step, one on the positive
  and one on the negative batch; each also carries half of the fake term, so that the two updates together
  minimise eq. 3 and keep Lemma 3.2's optimum; needs ``trainer.update_scheme=alternating``).
- :class:`PositivesOnly` (``method=lsgan``): the plain method (its loss: ``loss=lsgan``) with real batches drawn
  from the positives only through the configured sampler (Rumi Table 1 / Fig. 2 "LSGAN").
"""
from __future__ import annotations

import dataclasses

import torch

from core.errors import ConfigError, require
from gans.method import Batch, GANMethod, RunContext
from gans.rumi_losses import PositiveNegativeLoss
from samplers.positive_negative import PositiveNegativeSampler

__all__ = ["PositivesOnly", "RumiGAN"]

SPLIT_HINT = ("needs a positive/negative split: dataset=rumi_mnist, rumi_fmnist, rumi_cifar10, rumi_celeba "
              "or rumi_ring")
D_UPDATES = ("joint", "split")


class PositivesOnly(GANMethod):
    """The configured method's step on real batches drawn from the dataset's positives only."""

    requires = frozenset({"positive_negative"})
    requires_hint = SPLIT_HINT
    draws_negatives = False

    def setup(self, ctx: RunContext) -> None:
        sampler = PositiveNegativeSampler(ctx.sampler, negatives=self.draws_negatives)
        super().setup(dataclasses.replace(ctx, sampler=sampler))


class RumiGAN(PositivesOnly):
    """Positive, negative and fake batches every step (see the module docstring)."""

    draws_negatives = True

    def __init__(self, regularizers=None, pack: int = 1, d_updates: str = "joint"):
        super().__init__(regularizers, pack)
        require(d_updates in D_UPDATES, f"method.d_updates must be one of {list(D_UPDATES)}, got {d_updates!r}")
        require(d_updates == "joint" or not self.regularizers,
                "method.d_updates=split makes two D updates of their own; it takes no regularizers")
        self.d_updates = d_updates

    def check(self, trainer) -> None:
        super().check(trainer)
        if self.d_updates == "split" and trainer.update_scheme != "alternating":
            raise ConfigError("method.d_updates=split (two D updates per G step) needs "
                              "trainer.update_scheme=alternating; the simultaneous step makes one D update")

    def check_loss(self, loss) -> None:
        if not isinstance(loss, PositiveNegativeLoss):
            raise ConfigError(f"method {type(self).__name__} trains on positives and negatives and needs a Rumi "
                              f"loss (loss=rumi_lsgan or loss=rumi_sgan), got {type(loss).__name__}")

    def judged_batch(self, indices: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> Batch:
        """The positive and fake halves as every method judges them, plus a negative batch and D's outputs on it
        (``extra``: ``negative_indices``, ``negative``, ``negative_out``, ``negative_features``)."""
        batch = super().judged_batch(indices, real, fake)
        negative_indices = self.sampler.sample_negatives()
        negative = self.data.as_float(self.data.x[negative_indices])
        out, features = self.discriminate(negative)
        batch.extra.update(negative_indices=negative_indices, negative=negative, negative_out=out,
                           negative_features=features)
        return batch

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        return self.loss.discriminator_loss(batch.real_out, batch.extra["negative_out"], batch.fake_out,
                                            self.real_weights(batch))

    def discriminator_step(self) -> None:
        if self.d_updates == "joint":
            super().discriminator_step()
            return
        indices, real = self.real_batch()
        with torch.no_grad():
            fake = self.G(self.noise(real.shape[1]))
        positive_out, _ = self.discriminate(real)
        loss_positive = (self.loss.positive_term(positive_out, self.real_weights(Batch(indices, real, fake)))
                         + 0.5 * self.loss.fake_term(self.discriminate(fake)[0]))
        self._update_discriminator(loss_positive)
        negative_indices = self.sampler.sample_negatives()
        negative_out, _ = self.discriminate(self.data.as_float(self.data.x[negative_indices]))
        fake_out, _ = self.discriminate(fake)  # D has changed: judge the same fakes again
        loss_negative = self.loss.negative_term(negative_out) + 0.5 * self.loss.fake_term(fake_out)
        self._update_discriminator(loss_negative)
        self.loss_d = (loss_positive + loss_negative).detach()
        self.last_batch = Batch(indices, real, fake, positive_out.detach(), fake_out.detach(),
                                extra={"negative_indices": negative_indices})

    def _update_discriminator(self, loss: torch.Tensor) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt_d.step()
