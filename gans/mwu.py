"""MwuGAN: a mixture of generators built with multiplicative weights (Zhong et al., "Rethinking Generative
Mode Coverage: A Pointwise Guaranteed Approach", NeurIPS 2019), as the RLS paper runs it (§1 and §3.1).

T generators are trained one after another, each from a fresh initialisation for ``trainer.steps`` steps
(so the run has T x steps steps: :meth:`MwuGAN.planned_steps`). Generator t draws its real batches i.i.d.
from the weights w (S, n), which start from the configured sampler's distribution (``sampler=uniform``:
uniform, Zhong et al.; ``sampler=rls_gauss``: the normalised ridge leverage scores, RLS MwuGAN). After
generator t, every point it under-generates, p_{G_t}(x_i) < δ·p(x_i), has its weight doubled, then w is
renormalised (δ = 0.25). The model is the **uniform mixture** of the T generators: a sample comes from G_t
with probability 1/T, as in Zhong et al.'s Algorithm 1 (which returns the uniform mixture its coverage
guarantee is proved for) and in the public MwuGAN code (equal numbers of samples from each generator).

Estimating p_G(x_i)/p(x_i) (``density``):

- ``kde`` (default, low-dimensional data): a Gaussian kernel density estimate of ``kde_samples`` samples
  of G_t divided by the same estimate on the training set (leave-one-out), both with bandwidth
  ``bandwidth`` (null: the mixture's mean mode std, 0.05 on RING/GRID; Scott's rule for other data).
  Using one kernel for both densities cancels the smoothing bias, and p is the data distribution itself
  (not the current weights), as in Zhong et al. The data density is an exact sum (computed once); the
  generator's density is binned on a grid of spacing h/4 in 1-D/2-D (within ~1% of the exact sum,
  ~100x faster), exact in higher dimensions.
- ``discriminator``: the density ratio of G_t's own discriminator. At the end of stage t, D estimates
  p_w/p_g with p_w the weighted training distribution it was trained against, so
  p_g(x_i)/p(x_i) = exp(-logit_i)·w_i·n for the NS loss (the public MwuGAN code's rule).

Replicas are independent: each has its own weights, generators and mixture. Periodic evaluation and a
checkpoint in the middle of the sequence see the mixture of the generators trained so far (the current
one included); a checkpoint holds every finished generator, so a run resumes mid-sequence.
"""
from __future__ import annotations

import torch

from core.errors import ConfigError, require
from gans.kde import binned_isotropic_kde, isotropic_kde
from gans.layers import seeded_generators
from gans.method import GANMethod
from samplers.base import UniformSampler, WeightedSampler
from samplers.mwu import MultiplicativeWeightsSampler

DENSITIES = ("kde", "discriminator")
STAGE_SEED_STRIDE = 1_000_003  # generator t of replica seed s is initialised from seed s + t * stride


class MwuGAN(GANMethod):
    """``num_generators`` (T) GANs trained in sequence on multiplicatively re-weighted data; a uniform mixture."""

    def __init__(self, regularizers=None, pack: int = 1, num_generators: int = 15, delta: float = 0.25,
                 density: str = "kde", bandwidth: float | None = None, kde_samples: int = 10000):
        super().__init__(regularizers, pack)
        require(int(num_generators) >= 1, f"method.num_generators must be >= 1, got {num_generators}")
        require(0 < delta < 1, f"method.delta must be in (0, 1), got {delta}")
        require(density in DENSITIES, f"method.density must be one of {list(DENSITIES)}, got '{density}'")
        require(bandwidth is None or bandwidth > 0, f"method.bandwidth must be > 0 or null, got {bandwidth}")
        require(int(kde_samples) >= 1, f"method.kde_samples must be >= 1, got {kde_samples}")
        self.num_generators, self.delta, self.density = int(num_generators), float(delta), density
        self.bandwidth, self.kde_samples = (None if bandwidth is None else float(bandwidth)), int(kde_samples)

    def planned_steps(self, steps: int) -> int:
        return self.num_generators * steps

    def check(self, trainer) -> None:
        super().check(trainer)
        if self.density == "discriminator" and self.pack != 1:
            raise ConfigError("method.density=discriminator reads D's logit per training point, which needs "
                              "method.pack=1 (or use method.density=kde)")

    # ----------------------------------------------------------------- set-up
    def setup(self, ctx) -> None:
        super().setup(ctx)
        initial = self.initial_weights(self.sampler, ctx)
        self.sampler = MultiplicativeWeightsSampler(initial)
        self.sampler.setup(ctx.data, ctx.replicas, ctx.batch_size, ctx.generator)
        self.stage = 0
        self.finished: list[dict] = []  # state dicts of the trained generators G_0..G_{stage-1}
        self.updates: list[dict] = []  # per stage: share of points whose weight doubled, per replica
        self._data_density = None
        self._template = None

    @staticmethod
    def initial_weights(sampler, ctx) -> torch.Tensor:
        """The configured sampler's distribution (S, n): uniform, or fixed weights such as RLS."""
        if isinstance(sampler, WeightedSampler):
            return sampler.probabilities().clone()
        if isinstance(sampler, UniformSampler):
            return torch.full((ctx.replicas, ctx.data.n), 1.0 / ctx.data.n, dtype=torch.float64, device=ctx.device)
        raise ConfigError(f"MwuGAN starts from a fixed sampling distribution: use sampler=uniform (MwuGAN) or "
                          f"a fixed-weight sampler such as sampler=rls_gauss (RLS MwuGAN), not '{sampler.name}'")

    def stage_seeds(self, stage: int) -> list[int]:
        return [int(s) + stage * STAGE_SEED_STRIDE for s in self.ctx.seeds]

    def _fresh_networks(self, stage: int) -> None:
        """New G and D (and their optimisers) for ``stage``, initialised from per-replica stage seeds."""
        generators = seeded_generators(self.stage_seeds(stage))
        shape, gan, device = self.data.sample_shape, self.ctx.gan, self.ctx.device
        self.G = gan.build_generator(shape, generators).to(device)
        self.D = gan.build_discriminator(shape, generators, self.pack).to(device)
        self.opt_g = gan.optimizer_g(self.G.parameters())
        self.opt_d = gan.optimizer_d(self.D.parameters())

    # ------------------------------------------------------------- the step
    def train_step(self, step: int) -> None:
        stage = step // self.ctx.steps
        if stage > self.stage:
            require(stage == self.stage + 1, f"MwuGAN at stage {self.stage} cannot jump to stage {stage}")
            self.next_generator()
        super().train_step(step)

    def next_generator(self) -> None:
        """End of a stage: update the weights with G_stage, keep it in the mixture, start G_{stage+1}."""
        ratio = self.density_ratio()
        doubled = self.sampler.update(ratio, self.delta)
        shares = doubled.double().mean(-1).tolist()
        self.updates.append({"stage": self.stage, "doubled_fraction": shares})
        print(f"[mwu] generator {self.stage + 1}/{self.num_generators} done; weights doubled on "
              f"{', '.join(f'{100 * s:.1f}%' for s in shares)} of the points (per replica)", flush=True)
        self.finished.append({k: v.detach().clone() for k, v in self.G.state_dict().items()})
        self.stage += 1
        self._fresh_networks(self.stage)

    # ------------------------------------------------------ p_g / p estimate
    @torch.no_grad()
    def density_ratio(self) -> torch.Tensor:
        """p_{G_stage}(x_i) / p(x_i) for every training point, (S, n)."""
        if self.density == "discriminator":
            return self._discriminator_ratio()
        x = self.data.as_float(self.data.x).reshape(self.data.n, -1)
        fake = self.sample_from(self.G, self.kde_samples)  # from the training stream
        fake = fake.reshape(fake.shape[0], fake.shape[1], -1)
        h = self.kde_bandwidth()
        if self._data_density is None:
            self._data_density = isotropic_kde(x, x.unsqueeze(0), h, leave_one_out=True)
        generated = binned_isotropic_kde(x, fake, h)
        if generated is None:  # d > 2 or a huge grid: exact pairwise sums
            generated = isotropic_kde(x, fake, h)
        return generated / self._data_density.clamp_min(1e-300)

    def _discriminator_ratio(self) -> torch.Tensor:
        logits = []
        for start in range(0, self.data.n, 4096):
            index = torch.arange(start, min(start + 4096, self.data.n), device=self.data.x.device)
            x = self.data.as_float(self.data.x[index]).unsqueeze(0).expand(self.ctx.replicas, *([-1] * self.data.x.dim()))
            logits.append(self.discriminate(x)[0])
        logit = torch.cat(logits, dim=1).double()
        return torch.exp(-logit) * self.sampler.probs * self.data.n

    def kde_bandwidth(self) -> float:
        if self.bandwidth is not None:
            return self.bandwidth
        if self.data.covariances is not None:
            cov = self.data.covariances.double()
            return float(torch.diagonal(cov, dim1=-2, dim2=-1).mean(-1).sqrt().mean())
        x = self.data.as_float(self.data.x).reshape(self.data.n, -1).double()
        d = x.shape[1]
        return float(x.std(0).mean() * self.data.n ** (-1.0 / (d + 4)))

    # ------------------------------------------------------------- sampling
    def mixture_weights(self) -> torch.Tensor:
        """(S, T') mixture weights of the generators trained so far: uniform (Zhong et al.)."""
        count = len(self.finished) + 1
        return torch.full((self.ctx.replicas, count), 1.0 / count, dtype=torch.float64)

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, chunk: int = 10000) -> torch.Tensor:
        """n samples per replica from the mixture: each sample's generator drawn with the mixture weights."""
        if not self.finished:
            return super().generate(n, generator, chunk)
        if self._template is None:
            self._template = self.ctx.gan.build_generator(self.data.sample_shape,
                                                          seeded_generators(self.ctx.seeds)).to(self.ctx.device)
        outputs = []
        for state in self.finished:
            self._template.load_state_dict(state)
            outputs.append(self.sample_from(self._template, n, generator, chunk))
        outputs.append(self.sample_from(self.G, n, generator, chunk))
        weights = self.mixture_weights()
        gen = generator or self.ctx.generator
        choice = torch.multinomial(weights.to(gen.device), n, replacement=True, generator=gen).to(self.ctx.device)
        return mixture_select(torch.stack(outputs), choice)

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["mwu"] = {"stage": self.stage, "finished": self.finished, "updates": self.updates}
        return state

    def load_state_dict(self, state: dict) -> None:
        mwu = state["mwu"]
        self.stage, self.updates = int(mwu["stage"]), list(mwu["updates"])
        self.finished = [{k: v.to(self.ctx.device) for k, v in s.items()} for s in mwu["finished"]]
        if self.stage:
            self._fresh_networks(self.stage)  # the optimisers must be built on this stage's parameters
        super().load_state_dict(state)


def mixture_select(outputs: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """outputs (T, S, n, ...) of every generator, choice (S, n) in [0, T) -> (S, n, ...): sample j of replica s
    is outputs[choice[s, j], s, j]."""
    index = choice.view(1, *choice.shape, *([1] * (outputs.dim() - 3))).expand(1, *outputs.shape[1:])
    return outputs.gather(0, index).squeeze(0)
