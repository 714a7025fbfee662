"""A GAN training method: what one training step does, composed from a sampler, a loss and regularizers.

``GANMethod`` is vanilla GAN training. Paper methods are small configs that pick its parts (a sampler,
a loss, regularizers such as the Bures term) or small subclasses that override one hook
(``real_weights``, ``fake_weights``, ``discriminator_adversarial_loss``, ``generator_adversarial_loss``,
``generate``...).

Two update schemes (``trainer.update_scheme``):
- ``simultaneous``: one forward pass of G, and of D on the real and on the fake half of one batch; D's
  gradient of the D loss and G's gradient of the G loss are taken from it and both nets step together
  (the BuresGAN/RLS TensorFlow code, one D and one G update per iteration).
- ``alternating``: ``n_dis`` discriminator steps, each on a fresh real batch, then one generator step
  on fresh noise (torch-mimicry, Dia-GAN).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from core.errors import ConfigError, require
from core.tensors import eval_mode
from datasets.base import DataBundle
from gans.base import GANSpec, pack_samples
from gans.layers import seeded_generators
from gans.losses import AdversarialLoss, gradient_penalty
from samplers.base import Sampler

UPDATE_SCHEMES = ("simultaneous", "alternating")


@dataclass
class RunContext:
    """Everything a method needs to build itself and train."""

    data: DataBundle
    gan: GANSpec
    loss: AdversarialLoss
    sampler: Sampler
    seeds: Sequence[int]
    batch_size: int
    steps: int
    device: torch.device
    generator: torch.Generator  # all training randomness: batches, noise
    update_scheme: str = "simultaneous"
    # gans.augment.Augmentation applied to every discriminator input in training (None: none); its own RNG
    augment: object | None = None
    n_dis: int = 1
    # high-quality samples per mode of one replica's samples (N, d) within ``std_threshold`` standard deviations
    # of their nearest mode: ``count_modes(fake, std_threshold) -> list[int]``. The engine fills it from the
    # mode-coverage metric for mixture data (None otherwise), so that methods count modes without importing metrics.
    count_modes: Callable[[torch.Tensor, float], list[int]] | None = None

    @property
    def replicas(self) -> int:
        return len(self.seeds)


@dataclass
class Batch:
    """The tensors of one step, handed to regularizers and hooks."""

    indices: torch.Tensor  # (S, B) training-set indices of the real batch
    real: torch.Tensor  # (S, B, *shape)
    fake: torch.Tensor  # (S, B, *shape), with gradient to G where the step needs it
    real_out: torch.Tensor | None = None  # D outputs (S, B/pack)
    fake_out: torch.Tensor | None = None
    real_features: torch.Tensor | None = None  # φ_D (S, B/pack, m)
    fake_features: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)


class Regularizer:
    """An extra loss term: ``generator_term`` is added to G's loss, ``discriminator_term`` to D's."""

    needs_real_features = False

    def generator_term(self, batch: Batch, method: "GANMethod") -> torch.Tensor | None:
        return None

    def discriminator_term(self, batch: Batch, method: "GANMethod") -> torch.Tensor | None:
        return None

    def state_dict(self) -> dict:
        """What a resumed run needs (e.g. a lazy regulariser's update count); checkpointed with the method."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class GANMethod:
    """Vanilla GAN training; the base every method config builds on."""

    supports_replicas = True
    requires: frozenset[str] = frozenset()  # dataset metadata the method needs (see DatasetSpec.provides)
    augment = None  # the run's augmentation of D's inputs (set up from RunContext.augment)
    update_schemes: tuple[str, ...] = UPDATE_SCHEMES  # the step schemes the method implements

    def __init__(self, regularizers: dict | Sequence[Regularizer] | None = None, pack: int = 1):
        if isinstance(regularizers, dict) or hasattr(regularizers, "values"):
            regularizers = [r for r in regularizers.values() if r is not None]
        self.regularizers: list[Regularizer] = list(regularizers or [])
        require(int(pack) >= 1, f"method.pack (PacGAN packing degree) must be >= 1, got {pack}")
        self.pack = int(pack)

    def planned_steps(self, steps: int) -> int:
        """Total training steps for a budget of ``trainer.steps`` (a mixture of T generators trained one
        after another overrides this to T x steps)."""
        return steps

    # ----------------------------------------------------------------- set-up
    def check(self, trainer) -> None:
        """Refuse impossible combinations with the trainer settings before anything is allocated (cheap checks).

        ``trainer`` is the ``trainer`` config group as the engine instantiates it (``engine.trainer.TrainerSettings``:
        update_scheme, n_dis, batch_size, replicas, steps), not the :class:`RunContext` that ``setup`` receives."""
        require(trainer.update_scheme in self.update_schemes,
                f"method '{type(self).__name__}' supports trainer.update_scheme in {list(self.update_schemes)}, "
                f"got '{trainer.update_scheme}'")
        require(trainer.batch_size % self.pack == 0,
                f"trainer.batch_size={trainer.batch_size} must be divisible by the packing degree {self.pack}")
        if trainer.update_scheme == "simultaneous" and trainer.n_dis != 1:
            raise ConfigError(f"trainer.n_dis={trainer.n_dis} needs trainer.update_scheme=alternating "
                              "(the simultaneous update does one D and one G step per iteration)")

    def check_loss(self, loss) -> None:
        """Refuse a loss this method cannot train with (cheap; before anything is built). The plain step has no
        negative batch, so it refuses the positive/negative (Rumi) losses."""
        if getattr(loss, "needs_negatives", False):
            raise ConfigError(f"loss {type(loss).__name__} needs positive and negative batches, which method "
                              f"{type(self).__name__} does not draw; use method=rumi_lsgan or method=rumi_sgan")

    def setup(self, ctx: RunContext) -> None:
        """Build networks and optimisers (replica r initialised from seed ctx.seeds[r]) and the sampler."""
        self.ctx, self.data, self.loss, self.sampler = ctx, ctx.data, ctx.loss, ctx.sampler
        generators = seeded_generators(ctx.seeds)
        shape = ctx.data.sample_shape
        self.G = ctx.gan.build_generator(shape, generators).to(ctx.device)
        self.D = ctx.gan.build_discriminator(shape, generators, self.pack).to(ctx.device)
        self.opt_g = ctx.gan.optimizer_g(self.G.parameters())
        self.opt_d = ctx.gan.optimizer_d(self.D.parameters())
        self.latent = ctx.gan.build_prior(ctx.replicas, ctx.device, ctx.data.num_modes)  # gan.prior, per replica
        self.sampler.setup(ctx.data, ctx.replicas, ctx.batch_size, ctx.generator)
        # loss terms the architecture brings (SSGAN's rotation loss): the same objects on every setup
        self.regularizers += [r for r in ctx.gan.regularizers() if r not in self.regularizers]
        self.augment = ctx.augment
        if self.augment is not None:
            self.augment.setup(ctx.seeds, ctx.device)
        self.loss_d = torch.zeros(ctx.replicas, device=ctx.device)
        self.loss_g = torch.zeros(ctx.replicas, device=ctx.device)
        self._needs_real_features = any(r.needs_real_features for r in self.regularizers)

    # ------------------------------------------------------------- utilities
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latent codes (S, n, z_dim) from the run's prior (``gan.prior``; N(0, I) by default)."""
        return self.latent.sample(n, generator or self.ctx.generator)

    def real_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        indices = self.sampler.sample(self)
        return indices, self.data.as_float(self.data.x[indices])

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D on a stacked batch (S, B, ...), packing it first: (logits, features). In training mode the run's
        augmentation (``augment=diffaugment``) is applied first: every D input of every method, real and fake, in
        the D and the G step; eval-mode passes (Dia-GAN's LDR recording, DRS) see the images as they are."""
        if self.augment is not None and self.D.training:
            x = self.augment(x)
        return self.D(pack_samples(x, self.pack))

    def judged_batch(self, indices: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> Batch:
        """The step's batch with D's logits and features of the real and of the fake half.

        Two D calls, one per half, as the authors' code (BuresGAN/RLS TensorFlow ``train_step``, torch-mimicry):
        a D with batch norm normalises each half by its own statistics. One call on the concatenated halves would
        normalise them together, a different GAN: the MNIST DCGAN collapsed onto a single digit that way."""
        real_out, real_features = self.discriminate(real)
        fake_out, fake_features = self.discriminate(fake)
        return Batch(indices, real, fake, real_out, fake_out, real_features, fake_features)

    def discriminator_features(self, x: torch.Tensor) -> torch.Tensor:
        """φ_D of unpacked samples (S, B, ...) -> (S, B, m), used by feature-based samplers."""
        return self.D(pack_samples(x.repeat_interleave(self.pack, 1), self.pack) if self.pack > 1 else x)[1]

    # ------------------------------------------------------------------ hooks
    def real_weights(self, batch: Batch) -> torch.Tensor | None:
        """Per-sample weights of the real terms of the D loss (S, B/pack); None = uniform."""
        return None

    def fake_weights(self, batch: Batch) -> torch.Tensor | None:
        """Per-sample weights of the fake terms of the D loss (S, B/pack); None = uniform."""
        return None

    def generator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        """The adversarial part of G's loss per replica (S,)."""
        return self.loss.g_loss(batch.fake_out)

    def discriminator_adversarial_loss(self, batch: Batch) -> torch.Tensor:
        """The adversarial part of D's loss per replica (S,)."""
        return self.loss.d_loss(batch.real_out, batch.fake_out, self.real_weights(batch), self.fake_weights(batch))

    def is_zero_sum(self) -> bool:
        """True when D's loss is exactly minus G's loss (IwMmdGAN without extra terms): the simultaneous step then
        takes both gradients from one backward pass."""
        return False

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        loss = self.discriminator_adversarial_loss(batch)
        if self.loss.gradient_penalty > 0:
            loss = loss + self.loss.gradient_penalty * gradient_penalty(
                lambda x: self.discriminate(x), batch.real, batch.fake, self.ctx.generator)
        for reg in self.regularizers:
            term = reg.discriminator_term(batch, self)
            if term is not None:
                loss = loss + term
        return loss

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        loss = self.generator_adversarial_loss(batch)
        for reg in self.regularizers:
            term = reg.generator_term(batch, self)
            if term is not None:
                loss = loss + term
        return loss

    def on_step_end(self, step: int) -> None:
        """Called after every training step (Dia-GAN records logits here)."""

    provides_latent_model = False  # True: latent_model() gives an inverter and mode prior (metrics.latent_*)

    def latent_model(self, replica: int):
        """What the latent metrics score (an inverter, the mode priors, conditional sampling) for one replica: a
        ``gans.latent_model.LatentModel`` for methods with a mode prior and an inverter (NEMGAN, InfoGAN,
        ClusterGAN); None here."""
        return None

    def diagnostics(self) -> list[dict] | None:
        """Per-replica JSON-serialisable diagnostics stored in each record under ``diagnostics`` (None: none)."""
        return None

    def plots(self, folder, data: DataBundle, results: list[dict], seeds: list[int], title: str) -> dict:
        """Method-specific figures for the replicas of ``seeds`` (the first ones): name -> saved path."""
        return {}

    # ------------------------------------------------------------- the step
    def train_step(self, step: int) -> None:
        if self.ctx.update_scheme == "simultaneous":
            self.simultaneous_step()
        else:
            for _ in range(self.ctx.n_dis):
                self.discriminator_step()
            self.generator_step()
        self.on_step_end(step)

    def simultaneous_step(self) -> None:
        indices, real = self.real_batch()
        fake = self.G(self.noise(real.shape[1]))
        batch = self.judged_batch(indices, real, fake)
        # the optimisers' parameter lists: the same tensors as D/G.parameters(), without walking the modules
        d_params, g_params = self.opt_d.param_groups[0]["params"], self.opt_g.param_groups[0]["params"]
        # allow_unused: a loss may ignore some parameters (IwMmdGAN's critic never uses D's logit layer);
        # their gradient stays None and the optimiser skips them, as with loss.backward()
        if self.is_zero_sum():
            loss_g = self.generator_loss(batch)
            loss_d = -loss_g
            grads = torch.autograd.grad(loss_g.sum(), [*d_params, *g_params], allow_unused=True)
            grads_d = [None if g is None else -g for g in grads[:len(d_params)]]
            grads_g = grads[len(d_params):]
        else:
            loss_d, loss_g = self.discriminator_loss(batch), self.generator_loss(batch)
            grads_d = torch.autograd.grad(loss_d.sum(), d_params, retain_graph=True, allow_unused=True)
            grads_g = torch.autograd.grad(loss_g.sum(), g_params, allow_unused=True)
        for p, g in zip(d_params, grads_d):
            p.grad = g
        for p, g in zip(g_params, grads_g):
            p.grad = g
        self.opt_d.step()
        self.opt_g.step()
        self.loss_d, self.loss_g = loss_d.detach(), loss_g.detach()
        self.last_batch = batch

    def discriminator_step(self) -> None:
        indices, real = self.real_batch()
        with torch.no_grad():
            fake = self.G(self.noise(real.shape[1]))
        batch = self.judged_batch(indices, real, fake)
        loss_d = self.discriminator_loss(batch)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        self.opt_d.step()
        self.loss_d = loss_d.detach()
        self.last_batch = batch

    def generator_step(self) -> None:
        last = self.last_batch
        fake = self.G(self.noise(last.real.shape[1]))
        fake_out, fake_features = self.discriminate(fake)
        batch = Batch(last.indices, last.real, fake, fake_out=fake_out, fake_features=fake_features)
        if self._needs_real_features:
            with torch.no_grad():
                batch.real_out, batch.real_features = self.discriminate(last.real)
        loss_g = self.generator_loss(batch)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.sum().backward()
        self.opt_g.step()
        self.loss_g = loss_g.detach()

    # ------------------------------------------------------------- sampling
    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, chunk: int = 10000) -> torch.Tensor:
        """n samples per replica from the trained model: (S, n, *shape), generator in eval mode.

        Evaluation passes its own random generator so that it never shifts the training stream."""
        return self.sample_from(self.G, n, generator, chunk)

    @torch.no_grad()
    def sample_from(self, G: torch.nn.Module, n: int, generator: torch.Generator | None = None,
                    chunk: int = 10000) -> torch.Tensor:
        """n samples per replica of the generator network ``G`` in eval mode, its noise drawn from ``generator``
        (None: the training stream) in chunks of ``chunk``: (S, n, *shape)."""
        with eval_mode(G):
            return torch.cat([G(self.noise(min(chunk, n - start), generator)) for start in range(0, n, chunk)], dim=1)

    def optimizers(self) -> list[tuple[torch.optim.Optimizer, float]]:
        """(optimiser, its configured learning rate) of every network the learning-rate schedule decays."""
        return [(self.opt_g, self.ctx.gan.lr_g), (self.opt_d, self.ctx.gan.lr_d)]

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = {"G": self.G.state_dict(), "D": self.D.state_dict(), "opt_g": self.opt_g.state_dict(),
                 "opt_d": self.opt_d.state_dict(), "sampler": self.sampler.state_dict(),
                 "regularizers": [r.state_dict() for r in self.regularizers]}
        if self.latent.state_dict():  # a prior with parameters (mode priors α, one row per replica)
            state["latent"] = self.latent.state_dict()
        if self.augment is not None:
            state["augment"] = self.augment.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sampler.load_state_dict(state["sampler"])
        if "latent" in state:
            self.latent.load_state_dict(state["latent"])
        for reg, reg_state in zip(self.regularizers, state.get("regularizers", ())):
            reg.load_state_dict(reg_state)
        if self.augment is not None:
            self.augment.load_state_dict(state["augment"])
