"""Unrolled GAN (Metz et al., ICLR 2017) — ``method=unrolled``, a baseline of the DIW paper (Table 1).

The generator's loss is evaluated with a *functional copy* of the discriminator unrolled ``unroll_steps`` (k)
optimisation steps ahead, f_K(θ_G, θ_D) = f(θ_G, θ_D^K(θ_G, θ_D)), and differentiated through the unrolled updates
(second-order terms included: ``create_graph=True``), so the generator sees how the discriminator would react.

- The unrolled steps start from the discriminator's current parameters and its optimiser state and apply the
  discriminator's own update rule (``unroll_optimizer=adam``: Adam with its lr/betas/eps and current moments, as
  the authors' reference implementation replays the Adam update in the graph; ``sgd``: plain gradient steps with
  the same learning rate).
- All k steps use the same minibatch: the last real batch of the discriminator step and the generator's fakes
  G(z) for the z of this generator step (graph replacement in the reference implementation replays one batch).
- The real discriminator's parameters and optimiser state are never touched by unrolling (only its ordinary steps
  update it).
- ``trainer.update_scheme=simultaneous`` (the reference code): one real batch and one fake batch per iteration;
  D's gradient and G's unrolled gradient are both taken from the pre-update discriminator, then both nets step.
  ``alternating`` (the PyTorch ports): ``n_dis`` ordinary D steps, then unrolling starts from the updated D.
"""
from __future__ import annotations

import torch
from torch.func import functional_call

from core.errors import require
from gans.base import pack_samples
from gans.method import Batch, GANMethod


class UnrolledGAN(GANMethod):
    def __init__(self, regularizers=None, pack: int = 1, unroll_steps: int = 5, unroll_optimizer: str = "adam"):
        super().__init__(regularizers, pack)
        require(int(unroll_steps) >= 0, f"method.unroll_steps must be >= 0, got {unroll_steps}")
        require(unroll_optimizer in ("adam", "sgd"), f"method.unroll_optimizer must be adam or sgd, got {unroll_optimizer!r}")
        self.unroll_steps, self.unroll_optimizer = int(unroll_steps), unroll_optimizer

    def setup(self, ctx) -> None:
        super().setup(ctx)
        require(self.loss.gradient_penalty == 0,
                "method=unrolled differentiates through discriminator updates; the gradient penalty of "
                "loss=wgan_gp is not supported there (choose loss=ns, hinge or lsgan)")

    # ------------------------------------------------------------- unrolling
    def _d_out(self, params: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.D, params, (pack_samples(x, self.pack),))[0]

    def unrolled_parameters(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """θ_D^K as a function of the fakes (and so of θ_G): k differentiable optimiser steps from θ_D."""
        group = self.opt_d.param_groups[0]
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group.get("betas", (0.9, 0.999)))
        eps = float(group.get("eps", 1e-8))
        params, moments = {}, {}
        for name, p in self.D.named_parameters():
            params[name] = p.detach().clone().requires_grad_(True)
            state = self.opt_d.state.get(p, {})
            if self.unroll_optimizer == "adam":
                moments[name] = (state["exp_avg"].detach().clone() if "exp_avg" in state else torch.zeros_like(p),
                                 state["exp_avg_sq"].detach().clone() if "exp_avg_sq" in state else torch.zeros_like(p),
                                 float(state["step"]) if "step" in state else 0.0)
        for _ in range(self.unroll_steps):
            loss = self.loss.d_loss(self._d_out(params, real), self._d_out(params, fake)).sum()
            grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
            updated = {}
            for (name, p), g in zip(params.items(), grads):
                if self.unroll_optimizer == "sgd":
                    updated[name] = p - lr * g
                    continue
                m, v, t = moments[name]
                m = beta1 * m + (1 - beta1) * g
                v = beta2 * v + (1 - beta2) * g * g
                t = t + 1
                m_hat = m / (1 - beta1 ** t)
                v_hat = v / (1 - beta2 ** t)
                # the tiny shift keeps the second derivative of sqrt finite where a gradient is exactly zero
                updated[name] = p - lr * m_hat / ((v_hat + 1e-16).sqrt() + eps)
                moments[name] = (m, v, t)
            params = updated
        return params

    def unrolled_generator_loss(self, indices: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """G's loss (S,) against the discriminator unrolled k steps on (real, fake) from its current state."""
        if not self.unroll_steps:
            fake_out, fake_features = self.discriminate(fake)
            return self.generator_loss(Batch(indices, real, fake, fake_out=fake_out, fake_features=fake_features))
        params = self.unrolled_parameters(real.detach(), fake)
        return self.generator_loss(Batch(indices, real, fake, fake_out=self._d_out(params, fake)))

    def _step_generator(self, loss_g: torch.Tensor) -> None:
        grads = torch.autograd.grad(loss_g.sum(), list(self.G.parameters()))
        self.opt_g.zero_grad(set_to_none=True)
        for p, g in zip(self.G.parameters(), grads):
            p.grad = g
        self.opt_g.step()
        self.loss_g = loss_g.detach()

    def generator_step(self) -> None:
        last = self.last_batch
        fake = self.G(self.noise(last.real.shape[1]))
        self._step_generator(self.unrolled_generator_loss(last.indices, last.real, fake))

    def simultaneous_step(self) -> None:
        """The reference code's iteration: both gradients from the pre-update D, then both updates."""
        indices, real = self.real_batch()
        fake = self.G(self.noise(real.shape[1]))
        batch = self.judged_batch(indices, real, fake.detach())
        loss_d = self.discriminator_loss(batch)
        loss_g = self.unrolled_generator_loss(indices, real, fake)  # reads D before its update
        d_params = list(self.D.parameters())
        grads_d = torch.autograd.grad(loss_d.sum(), d_params)
        for p, g in zip(d_params, grads_d):
            p.grad = g
        self._step_generator(loss_g)
        self.opt_d.step()
        self.loss_d = loss_d.detach()
        self.last_batch = batch
