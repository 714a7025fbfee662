"""VEEGAN (Srivastava et al., NeurIPS 2017) — ``method=veegan``, a baseline of the DIW paper (Table 1).

Three networks: the generator G: z -> x (from ``gan``), a reconstructor F: x -> z (an MLP, ``reconstructor_hidden``
units, the gan's activation/init), and a discriminator D(z, x) on the concatenation [x, z] (the gan's hidden sizes,
activation and init). Algorithm 1 of the paper, with the reconstructor the Gaussian p_θ(z|x) = N(F(x), σ²I),
σ = ``reconstructor_std`` (the authors' toy code: a unit-variance Normal around the network's output), and d its
negative log-likelihood:

- D (logistic ratio estimator) separates generator pairs (z, G(z)) [label 1] from data pairs (z', x) with
  z' ~ p_θ(z|x) = F(x) + σε [label 0]: L_D = softplus(−D(z, G(z))) + softplus(D(z', x))  (batch means);
- G minimises Ô = mean D(z, G(z)) + ``reconstruction_weight`` x mean ||z − F(G(z))||² / (2σ²) (the raw logit
  estimates the KL term; the second is −log p_θ(z|G(z)) up to a constant: the noise autoencoder);
- F minimises the same reconstruction term (only it depends on θ in Algorithm 1).

The reconstructor must be stochastic: a deterministic F(x) concentrates near E[z | x], a low-dimensional set far
inside the latent sphere (‖z‖ ≈ √dim), so D tells the pairs apart by z alone and G gets no useful gradient. With
σ → 0 (our first reading) VEEGAN found 0–1 of the 8 ring modes at 25k steps.

The joint discriminator learns at ``lr_d`` (null: the gan's ``lr_d``), F at the gan's ``lr_g``.

``update_scheme=simultaneous`` computes the three gradients from one minibatch and applies them together
(Algorithm 1); ``alternating`` takes ``n_dis`` D steps, then one G/F step on fresh noise. The configured ``loss``
must be ``ns``: VEEGAN's objective is its own.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.errors import require
from gans.optim import make_adam
from gans.layers import ReplicatedMLP, seeded_generators
from gans.losses import NonSaturating
from gans.method import GANMethod


class JointDiscriminator(torch.nn.Module):
    """D(z, x) -> logits (S, B): an MLP on [x, z]."""

    def __init__(self, x_dim: int, z_dim: int, hidden, activation: str, init: str, generators):
        super().__init__()
        self.net = ReplicatedMLP([x_dim + z_dim, *hidden, 1], generators, activation, init)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, z], dim=-1))[0].squeeze(-1)


class VEEGAN(GANMethod):
    def __init__(self, regularizers=None, pack: int = 1, reconstructor_hidden=(128, 128),
                 reconstructor_std: float = 1.0, reconstruction_weight: float = 1.0, lr_d: float | None = None):
        super().__init__(regularizers, pack)
        require(self.pack == 1, "method=veegan discriminates (z, x) pairs: method.pack must be 1")
        require(len(list(reconstructor_hidden)) >= 1, "method.reconstructor_hidden needs at least one layer")
        require(math.isfinite(float(reconstruction_weight)) and float(reconstruction_weight) >= 0,
                f"method.reconstruction_weight must be >= 0, got {reconstruction_weight}")
        require(math.isfinite(float(reconstructor_std)) and float(reconstructor_std) > 0,
                f"method.reconstructor_std (σ of p(z|x) = N(F(x), σ²I)) must be > 0, got {reconstructor_std}")
        require(lr_d is None or (math.isfinite(float(lr_d)) and float(lr_d) > 0),
                f"method.lr_d (the joint discriminator's learning rate) must be > 0 or null, got {lr_d}")
        self.reconstructor_hidden = [int(h) for h in reconstructor_hidden]
        self.lr_d = None if lr_d is None else float(lr_d)
        self.reconstructor_std = float(reconstructor_std)
        self.reconstruction_weight = float(reconstruction_weight)

    def setup(self, ctx) -> None:
        gan = ctx.gan
        require(ctx.data.kind == "toy" and len(ctx.data.sample_shape) == 1 and hasattr(gan, "d_hidden"),
                "method=veegan is implemented for flat (toy) samples with gan=mlp")
        require(isinstance(ctx.loss, NonSaturating),
                f"method=veegan has its own objective (a logistic ratio estimator); use loss=ns, got "
                f"{type(ctx.loss).__name__}")
        super().setup(ctx)
        dim = ctx.data.sample_shape[0]
        generators = seeded_generators([2_000_003 + s for s in ctx.seeds])
        self.D = JointDiscriminator(dim, gan.z_dim, gan.d_hidden, gan.activation, gan.init, generators).to(ctx.device)
        self.F = ReplicatedMLP([dim, *self.reconstructor_hidden, gan.z_dim], generators, gan.activation,
                               gan.init).to(ctx.device)
        self.opt_d = make_adam(self.D.parameters(), self.lr_d or gan.lr_d, gan.betas)
        self.opt_f = make_adam(self.F.parameters(), gan.lr_g, gan.betas)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstructor's mean F(x)."""
        return self.F(x)[0]

    def sample_reconstruction(self, x: torch.Tensor) -> torch.Tensor:
        """z' ~ p_θ(z|x) = N(F(x), σ²I), without gradient (the data pairs of D)."""
        with torch.no_grad():
            mean = self.reconstruct(x)
            return mean + self.reconstructor_std * torch.randn(mean.shape, generator=self.ctx.generator,
                                                               device=mean.device)

    def reconstruction_loss(self, z: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """−log p_θ(z|G(z)) without its constant, per replica: mean ||z − F(G(z))||² / (2σ²)."""
        return (z - self.reconstruct(fake)).square().sum(-1).mean(-1) / (2 * self.reconstructor_std ** 2)

    # ------------------------------------------------------------- losses
    def losses(self, real: torch.Tensor, z: torch.Tensor, fake: torch.Tensor, d_only: bool = False):
        """(L_D, L_G, L_F) per replica; ``d_only`` skips the generator/reconstructor terms."""
        d_fake = self.D(z, fake.detach())
        d_real = self.D(self.sample_reconstruction(real), real)
        loss_d = F.softplus(-d_fake).mean(-1) + F.softplus(d_real).mean(-1)
        if d_only:
            return loss_d, None, None
        rec = self.reconstruction_loss(z, fake)
        loss_g = self.D(z, fake).mean(-1) + self.reconstruction_weight * rec
        return loss_d, loss_g, rec

    def simultaneous_step(self) -> None:
        indices, real = self.real_batch()
        z = self.noise(real.shape[1])
        fake = self.G(z)
        loss_d, loss_g, loss_f = self.losses(real, z, fake)
        d_params, g_params, f_params = list(self.D.parameters()), list(self.G.parameters()), list(self.F.parameters())
        grads_d = torch.autograd.grad(loss_d.sum(), d_params, retain_graph=True)
        grads_g = torch.autograd.grad(loss_g.sum(), g_params, retain_graph=True)
        grads_f = torch.autograd.grad(loss_f.sum(), f_params)
        for params, grads in ((d_params, grads_d), (g_params, grads_g), (f_params, grads_f)):
            for p, g in zip(params, grads):
                p.grad = g
        self.opt_d.step()
        self.opt_g.step()
        self.opt_f.step()
        self.loss_d, self.loss_g = loss_d.detach(), loss_g.detach()

    def discriminator_step(self) -> None:
        indices, real = self.real_batch()
        z = self.noise(real.shape[1])
        with torch.no_grad():
            fake = self.G(z)
        loss_d, _, _ = self.losses(real, z, fake, d_only=True)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.sum().backward()
        self.opt_d.step()
        self.loss_d = loss_d.detach()
        self._last_real = real

    def generator_step(self) -> None:
        z = self.noise(self._last_real.shape[1])
        fake = self.G(z)
        rec = self.reconstruction_loss(z, fake)
        loss_g = self.D(z, fake).mean(-1) + self.reconstruction_weight * rec
        g_params, f_params = list(self.G.parameters()), list(self.F.parameters())
        grads_g = torch.autograd.grad(loss_g.sum(), g_params, retain_graph=True)
        grads_f = torch.autograd.grad(rec.sum(), f_params)
        for params, grads in ((g_params, grads_g), (f_params, grads_f)):
            for p, g in zip(params, grads):
                p.grad = g
        self.opt_g.step()
        self.opt_f.step()
        self.loss_g = loss_g.detach()

    # ---------------------------------------------------------- persistence
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["F"], state["opt_f"] = self.F.state_dict(), self.opt_f.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.F.load_state_dict(state["F"])
        self.opt_f.load_state_dict(state["opt_f"])
