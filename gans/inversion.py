"""GANs with a mode prior and a latent inverter: the training step shared by NEMGAN, ClusterGAN and InfoGAN.

Every step draws z with its mode code from the run's mode prior (``gan.prior``: conf/prior/), generates G(z) and
adds the method's *code loss* (its inverter's latent-reconstruction and mode terms on the generated batch,
:meth:`InversionGAN.code_loss`) to the generator's loss; the inverter minimises the same term from the same
forward pass (so the inverter costs one network forward/backward per step, not a second generator pass: the
authors' code runs a separate "autoencoder" G→E step; the losses are the same). InfoGAN's Q head shares D's body,
so there the code loss also trains D (``code_trains_discriminator``).

Two optional parts, each a config block of the method:

- ``supervision`` (minimal supervision, NEMGAN §2.4; REFERENCE 3.2): a labelled subset of ``size`` training
  samples (``seed``, ``draw``; ``datasets.labelled``; never one of the held-out evaluation images), balanced by
  oversampling; from step ``start`` on, every ``every`` steps, ``batches`` mini-batches of ``batch_size``
  (null: the trainer's) train the inverter's mode head with cross-entropy (its own Adam at ``lr``; null: the
  inverter's). Needs dataset labels and as many latent modes as classes.
- ``prior_learning`` (NEMGAN-P, §2.4 eq. 16; REFERENCE 3.2): from step ``start`` on, every ``every`` steps, the
  mode priors α alone are updated (Adam at ``lr``, ``betas``) to minimise KL(mean h(x_real) ‖ mean W(u; α)), the
  inverter's aggregated posterior on the step's real batch against a fresh batch of ``batch_size`` (null: the
  trainer's) mode codes, whose steep-step reparameterisation carries the gradient to α. Needs ``supervision``:
  without labels nothing ties the inverter's modes to the data's (paper §2.4).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import torch

from core.errors import ConfigError, require
from core.tensors import eval_mode
from datasets.held_out import held_out_overlap
from datasets.labelled import DRAWS, labelled_subset
from gans.inverters import InverterOutput
from gans.latent_losses import aggregated_kl, mode_cross_entropy
from gans.latent_model import LatentModel
from gans.method import Batch, GANMethod
from gans.optim import make_adam

__all__ = ["InversionGAN", "PriorLearning", "Supervision"]


@dataclass
class Supervision:
    size: int = 500
    seed: int = 0
    draw: str = "random"
    start: int = 100
    every: int = 10
    batches: int = 2
    batch_size: int | None = None
    lr: float | None = None

    def __post_init__(self):
        require(self.size >= 1 and self.start >= 0 and self.every >= 1 and self.batches >= 1,
                "method.supervision: size, every and batches must be >= 1 and start >= 0")
        require(self.draw in DRAWS, f"method.supervision.draw must be one of {list(DRAWS)}, got {self.draw!r}")
        require(self.batch_size is None or self.batch_size >= 1, "method.supervision.batch_size must be >= 1 or null")
        require(self.lr is None or self.lr > 0, "method.supervision.lr must be > 0 or null")


@dataclass
class PriorLearning:
    start: int = 10000
    every: int = 1
    lr: float = 1e-3
    betas: Sequence[float] = (0.9, 0.999)
    batch_size: int | None = None
    eps: float = 1e-7
    record_every: int = 100

    def __post_init__(self):
        require(self.start >= 0 and self.every >= 1 and self.lr > 0 and self.record_every >= 1,
                "method.prior_learning: start >= 0, every >= 1, lr > 0 and record_every >= 1")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "method.prior_learning.betas: two "
                                                                               "numbers in [0, 1)")
        require(self.batch_size is None or self.batch_size >= 1, "method.prior_learning.batch_size must be >= 1")
        require(0 < self.eps < 1, "method.prior_learning.eps must be in (0, 1)")


def _settings(cls, node: Any, name: str):
    """A settings dataclass from a config mapping (None stays None); unknown keys are errors."""
    if node is None:
        return None
    values = dict(node)
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in method.{name}; valid keys: {sorted(f.name for f in fields(cls))}")
    return cls(**values)


class InversionGAN(GANMethod):
    """Base of the methods whose generator is inverted (see the module docstring). Subclasses build the inverter
    (:meth:`build_inverter`), run it (:meth:`invert`) and define :meth:`code_loss` and :meth:`embedding`."""

    provides_latent_model = True
    code_trains_discriminator = False

    def __init__(self, regularizers=None, pack: int = 1, inverter=None, supervision=None, prior_learning=None):
        super().__init__(regularizers, pack)
        self.inverter_spec = inverter
        self.supervision: Supervision | None = _settings(Supervision, supervision, "supervision")
        self.prior_learning: PriorLearning | None = _settings(PriorLearning, prior_learning, "prior_learning")
        require(self.prior_learning is None or self.supervision is not None,
                f"method {type(self).__name__}: prior_learning needs supervision (paper §2.4: without labelled "
                "samples nothing ties the inverter's modes to the data's); set method.supervision, or use "
                "method=nemgan_v / nemgan_s (fixed priors)")
        self.requires = frozenset({"labels"}) if self.supervision is not None else frozenset()

    # ----------------------------------------------------------------- set-up
    def setup(self, ctx) -> None:
        super().setup(ctx)
        name = type(self).__name__
        require(getattr(self.latent, "has_modes", False),
                f"method {name} needs a mode prior (gan.prior: prior=nemgan, clustergan or infogan), but the gan "
                "draws z from N(0, I)")
        data = ctx.data
        if self.supervision is not None:
            require(self.latent.modes == data.num_modes,
                    f"method {name}: supervision labels {data.num_modes} classes of '{data.name}', but the prior has "
                    f"{self.latent.modes} latent modes; set gan.prior.modes={data.num_modes} (or null)")
        self.build_inverter(ctx)
        self.labelled = None
        if self.supervision is not None:
            sup = self.supervision
            self.labelled = labelled_subset(data.labels, sup.size, sup.seed, data.num_modes, sup.draw,
                                            exclude=held_out_overlap(data))
            self.labelled_balanced = self.labelled.balanced.to(ctx.device)
            self.opt_sup = make_adam(self.supervised_parameters(), sup.lr or self.inverter_lr(), self.inverter_betas())
        self.prior_trajectory: list[tuple[int, list[list[float]]]] = []  # (step, softmax(α) per replica)
        if self.prior_learning is not None:
            self.latent.logits.requires_grad_(True)
            self.opt_prior = make_adam([self.latent.logits], self.prior_learning.lr, self.prior_learning.betas)

    def inverter_lr(self) -> float:
        return self.inverter_spec.lr if self.inverter_spec is not None and self.inverter_spec.lr else self.ctx.gan.lr_d

    def inverter_betas(self):
        spec = self.inverter_spec
        return spec.betas if spec is not None and spec.betas is not None else self.ctx.gan.betas

    # ----------------------------------------------------- subclass interface
    def build_inverter(self, ctx) -> None:
        """Set ``self.inverter`` (a module) and ``self.opt_inv`` (its optimiser)."""
        raise NotImplementedError

    def invert(self, x: torch.Tensor) -> InverterOutput:
        """The inverter on stacked samples (S, B, *shape)."""
        raise NotImplementedError

    def code_loss(self, batch: Batch, codes) -> torch.Tensor:
        """The latent-code loss (S,) of the generated batch ``batch.fake`` = G(codes.z)."""
        raise NotImplementedError

    def embedding(self, out: InverterOutput) -> torch.Tensor:
        """What the inverter-cluster metric runs KMeans on (S, B, e): ẑ by default."""
        return out.latent

    def inverter_modules(self) -> tuple:
        """The modules :meth:`invert` runs (put in eval mode for evaluation and the prior-learning target)."""
        return (self.inverter,)

    def inverter_parameters(self) -> list:
        """Parameters trained by the code loss besides G's."""
        return self.opt_inv.param_groups[0]["params"]

    def supervised_parameters(self) -> list:
        """Parameters the supervised cross-entropy trains."""
        return list(self.inverter.parameters())

    def supervised_logits(self, out: InverterOutput, labels: torch.Tensor) -> torch.Tensor:
        return out.logits

    # -------------------------------------------------------------- the step
    def on_step_end(self, step: int) -> None:
        """After the adversarial updates of a step: the supervised inverter update and the prior update, when due."""
        self.supervision_step(step)
        self.prior_step(step)
        super().on_step_end(step)

    @staticmethod
    def _apply(terms: list[tuple[torch.Tensor, list]], optimizers: list) -> None:
        """Set each parameter list's gradient to that of its loss (summed over replicas), then step every
        optimiser; parameters a loss does not reach keep no gradient."""
        for i, (loss, params) in enumerate(terms):
            grads = torch.autograd.grad(loss.sum(), params, retain_graph=i + 1 < len(terms), allow_unused=True)
            for p, g in zip(params, grads):
                p.grad = g
        for opt in optimizers:
            opt.step()

    def _generator_terms(self, batch: Batch, codes, loss_d: torch.Tensor | None):
        """(terms, optimisers, G's loss) of a step whose generated batch is ``batch`` (D's term when ``loss_d``)."""
        code = self.code_loss(batch, codes)
        loss_g = self.generator_loss(batch) + code
        d_params = self.opt_d.param_groups[0]["params"]
        g_side = self.opt_g.param_groups[0]["params"] + self.inverter_parameters()
        terms, optimizers = [(loss_g, g_side)], [self.opt_g, self.opt_inv]
        d_loss = loss_d
        if self.code_trains_discriminator:
            d_loss = code if d_loss is None else d_loss + code
        if d_loss is not None:
            terms.insert(0, (d_loss, d_params))
            optimizers.insert(0, self.opt_d)
        return terms, optimizers, loss_g

    def simultaneous_step(self) -> None:
        indices, real = self.real_batch()
        codes = self.latent.sample_codes(real.shape[1], self.ctx.generator)
        batch = self.judged_batch(indices, real, self.G(codes.z.detach()))  # α is trained by prior_step only
        loss_d = self.discriminator_loss(batch)
        terms, optimizers, loss_g = self._generator_terms(batch, codes, loss_d)
        self._apply(terms, optimizers)
        self.loss_d, self.loss_g = loss_d.detach(), loss_g.detach()
        self.last_batch = batch

    def generator_step(self) -> None:
        last = self.last_batch
        codes = self.latent.sample_codes(last.real.shape[1], self.ctx.generator)
        fake = self.G(codes.z.detach())
        fake_out, fake_features = self.discriminate(fake)
        batch = Batch(last.indices, last.real, fake, fake_out=fake_out, fake_features=fake_features)
        if self._needs_real_features:
            with torch.no_grad():
                batch.real_out, batch.real_features = self.discriminate(last.real)
        terms, optimizers, loss_g = self._generator_terms(batch, codes, None)
        self._apply(terms, optimizers)
        self.loss_g = loss_g.detach()

    def supervision_step(self, step: int) -> None:
        """Cross-entropy of the inverter's mode posterior on labelled mini-batches, when due."""
        sup = self.supervision
        if sup is None or step < sup.start or (step - sup.start) % sup.every:
            return
        size = sup.batch_size or self.ctx.batch_size
        params = self.supervised_parameters()
        for _ in range(sup.batches):
            pick = torch.randint(self.labelled_balanced.numel(), (self.ctx.replicas, size),
                                 generator=self.ctx.generator, device=self.ctx.device)
            idx = self.labelled_balanced[pick]
            labels = self.data.labels[idx]
            out = self.invert(self.data.as_float(self.data.x[idx]))
            loss = mode_cross_entropy(self.supervised_logits(out, labels), labels)
            self._apply([(loss, params)], [self.opt_sup])

    def prior_step(self, step: int) -> None:
        """NEMGAN-P's update of the mode priors α alone, when due; records their trajectory."""
        pl = self.prior_learning
        if pl is None:
            return
        if step % pl.record_every == 0:
            self.prior_trajectory.append((step, self.latent.mode_weights().detach().cpu().tolist()))
        if step < pl.start or (step - pl.start) % pl.every:
            return
        with torch.no_grad(), eval_mode(*self.inverter_modules()):
            target = self.invert(self.last_batch.real).probabilities()
        codes = self.latent.sample_mode_codes(pl.batch_size or self.ctx.batch_size, self.ctx.generator)
        loss = aggregated_kl(target, codes, pl.eps)
        self._apply([(loss, [self.latent.logits])], [self.opt_prior])

    # --------------------------------------------------------- evaluation
    def latent_model(self, replica: int) -> LatentModel:
        return LatentModel(self, replica)

    def diagnostics(self) -> list[dict]:
        weights = self.latent.mode_weights().detach().cpu().tolist()
        out = []
        for r in range(self.ctx.replicas):
            entry: dict[str, Any] = {"prior_weights": weights[r]}
            if self.labelled is not None:
                entry["labelled"] = {"size": int(self.labelled.indices.numel()), "seed": self.supervision.seed,
                                     "class_counts": self.labelled.class_counts(),
                                     "balanced_size": int(self.labelled.balanced.numel())}
            if self.prior_trajectory:
                entry["prior_trajectory"] = {"steps": [s for s, _ in self.prior_trajectory],
                                             "weights": [w[r] for _, w in self.prior_trajectory]}
            out.append(entry)
        return out

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["inverter"], state["opt_inv"] = self.inverter.state_dict(), self.opt_inv.state_dict()
        state["prior_trajectory"] = list(self.prior_trajectory)
        if self.supervision is not None:
            state["opt_sup"] = self.opt_sup.state_dict()
        if self.prior_learning is not None:
            state["opt_prior"] = self.opt_prior.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.inverter.load_state_dict(state["inverter"])
        self.opt_inv.load_state_dict(state["opt_inv"])
        self.prior_trajectory = list(state["prior_trajectory"])
        if self.supervision is not None:
            self.opt_sup.load_state_dict(state["opt_sup"])
        if self.prior_learning is not None:
            self.opt_prior.load_state_dict(state["opt_prior"])
