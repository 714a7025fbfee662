"""NEMGAN (Mishra et al., "Mode matching in GANs through latent space learning and inversion") — ``method=nemgan_v``,
``nemgan_s``, ``nemgan_p``.

The generator's latent is the additive mode mixture z = y + ν of ``prior=nemgan`` (gans/priors.py). An inverter
h = (ẑ, P(ŷ | x)) (gans/inverters.py) inverts the generator: G and h minimise the code loss on generated samples

    reconstruction_weight · ‖z - ẑ(G(z))‖ (``reconstruction_norm``: l2 = mean squared, l1 = mean absolute)
  + mode_weight · CE(y, P(ŷ | G(z)))   (= KL(one-hot(y) ‖ P_ŷ) per sample; AM-softmax with head=am_softmax)

besides the adversarial loss (paper eq. 15; the targets z and y carry no gradient). The three variants differ in
the configs only (gans/inversion.py): V no supervision and fixed uniform priors; S the inverter's mode head also
trained on a labelled subset (< 1% of the data); P = S + learning the priors α (eq. 16).
"""
from __future__ import annotations

import math

from core.errors import require
from core.tensors import frozen_forward
from gans.inversion import InversionGAN
from gans.inverters import InverterSpec
from gans.latent_losses import NORMS, mode_cross_entropy, reconstruction_loss
from gans.layers import seeded_generators
from gans.optim import make_adam

__all__ = ["NEMGAN"]


class NEMGAN(InversionGAN):
    """``reconstruction_weight``/``reconstruction_norm`` (10 · MSE in nemganp_fmnist_5.py, 100 · MAE in NEMGAN.py),
    ``mode_weight`` (1); ``inverter``, ``supervision``, ``prior_learning``: see gans/inversion.py.

    ``mode_loss_trains_inverter`` (true: the paper and the code, whose G→E step trains E on both terms): false
    keeps the mode term's gradient for G alone, so the mode head learns from the labelled real data only (needs
    ``supervision``) and cannot learn to separate generated modes that lie off the data (docs/nemgan_toy_grid.md).
    It costs a second inverter forward on the generated batch."""

    def __init__(self, regularizers=None, pack: int = 1, inverter: InverterSpec | None = None, supervision=None,
                 prior_learning=None, reconstruction_weight: float = 10.0, reconstruction_norm: str = "l2",
                 mode_weight: float = 1.0, mode_loss_trains_inverter: bool = True):
        super().__init__(regularizers, pack, inverter or InverterSpec(), supervision, prior_learning)
        for name, value in (("reconstruction_weight", reconstruction_weight), ("mode_weight", mode_weight)):
            require(math.isfinite(float(value)) and float(value) >= 0, f"method.{name} must be >= 0, got {value}")
        require(reconstruction_norm in NORMS, f"method.reconstruction_norm must be one of {list(NORMS)}, got "
                                              f"{reconstruction_norm!r}")
        self.reconstruction_weight, self.mode_weight = float(reconstruction_weight), float(mode_weight)
        self.reconstruction_norm = reconstruction_norm
        self.mode_loss_trains_inverter = bool(mode_loss_trains_inverter)
        require(self.mode_loss_trains_inverter or self.supervision is not None,
                "method.mode_loss_trains_inverter=false leaves the inverter's mode head nothing to learn from without "
                "labelled data; set method.supervision (method=nemgan_s or nemgan_p) or mode_loss_trains_inverter=true")

    def reconstructed_dims(self):
        """The latent dimensions ẑ reconstructs: all of z (NEMGAN; the code's Dense(z_dim) head)."""
        return None

    def build_inverter(self, ctx) -> None:
        dims = self.reconstructed_dims()
        latent_dim = ctx.gan.z_dim if dims is None else int(dims.numel())
        generators = seeded_generators([3_000_017 + s for s in ctx.seeds])  # independent of G's and D's streams
        self.inverter = self.inverter_spec.build(ctx.data.sample_shape, latent_dim, self.latent.modes,
                                                 generators).to(ctx.device)
        self.opt_inv = make_adam(self.inverter.parameters(), self.inverter_lr(), self.inverter_betas())

    def invert(self, x):
        return self.inverter(x)

    def supervised_logits(self, out, labels):
        return self.inverter.training_logits(out, labels)

    def code_loss(self, batch, codes):
        out = self.inverter(batch.fake)
        dims = self.reconstructed_dims()
        target = codes.z.detach() if dims is None else codes.z.detach()[..., dims]
        rec = reconstruction_loss(out.latent, target, self.reconstruction_norm)
        mode_out = out if self.mode_loss_trains_inverter else frozen_forward(self.inverter, batch.fake)
        mode = mode_cross_entropy(self.inverter.training_logits(mode_out, codes.modes), codes.modes)
        return self.reconstruction_weight * rec + self.mode_weight * mode
