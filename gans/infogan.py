"""InfoGAN (Chen et al., NeurIPS 2016) — ``method=infogan``, a baseline of NEMGAN's Tables 1-3.

The latent is ``prior=infogan``: noise and ``continuous_codes`` continuous codes (the last noise dimensions), all
U(-1, 1), and a categorical code c (one-hot, uniform). A Q head (an MLP, ``q_hidden`` units, LeakyReLU 0.2) on the
discriminator's features φ_D — Q shares D's body, as in the paper — gives the categorical posterior's logits and
the means of a fixed-σ Gaussian over the continuous codes (σ = ``code_std``; InfoGAN's code fixes it to 1).
G, Q and D's body maximise the variational lower bound of the mutual information (paper eq. 4-5)

    L_I = categorical_weight · (E[log Q(c | G(z, c))] + H(c)) + continuous_weight · (E[log Q(c' | G)] + H(c'))

i.e. minimise -L_I besides their adversarial losses (λ = 1 for the categorical code, the paper's §7; the
continuous codes' weight 1 as their MNIST code). The same ``supervision`` block as NEMGAN-S/P trains Q's categorical
head (and D's body) with cross-entropy on the labelled subset (NEMGAN's Table 2 setting). Clusters of real data:
KMeans on Q's output [softmax(ℓ), μ] and the argmax of the categorical posterior.
"""
from __future__ import annotations

import math

import torch

from core.errors import require
from core.tensors import eval_mode
from gans.inversion import InversionGAN
from gans.inverters import InverterOutput
from gans.latent_losses import categorical_mi_bound, gaussian_mi_bound
from gans.layers import ReplicatedMLP, seeded_generators
from gans.optim import make_adam

__all__ = ["InfoGAN", "code_entropy"]


def code_entropy(noise: str, scale: float, dims: int) -> float:
    """Differential entropy (nats) of ``dims`` independent codes: U(-s, s) -> log 2s each; N(0, s²) -> ½ log 2πe s²."""
    if scale <= 0:
        return 0.0
    per_dim = math.log(2 * scale) if noise == "uniform" else 0.5 * math.log(2 * math.pi * math.e * scale ** 2)
    return dims * per_dim


class InfoGAN(InversionGAN):
    code_trains_discriminator = True  # Q shares D's body

    def __init__(self, regularizers=None, pack: int = 1, supervision=None, continuous_codes: int = 2,
                 q_hidden=(128,), categorical_weight: float = 1.0, continuous_weight: float = 1.0,
                 code_std: float = 1.0, lr: float | None = None):
        super().__init__(regularizers, pack, None, supervision, None)
        require(self.pack == 1, "method=infogan's Q head reads D's features of single samples: method.pack must be 1")
        require(int(continuous_codes) >= 0, f"method.continuous_codes must be >= 0, got {continuous_codes}")
        require(categorical_weight >= 0 and continuous_weight >= 0 and code_std > 0,
                "method.categorical_weight / continuous_weight must be >= 0 and code_std > 0")
        require(lr is None or lr > 0, "method.lr (the Q head's learning rate) must be > 0 or null (the gan's lr_d)")
        self.continuous_codes, self.q_hidden = int(continuous_codes), [int(h) for h in q_hidden]
        self.categorical_weight, self.continuous_weight = float(categorical_weight), float(continuous_weight)
        self.code_std, self.lr = float(code_std), lr

    def inverter_lr(self) -> float:
        return self.lr or self.ctx.gan.lr_d

    def build_inverter(self, ctx) -> None:
        noise_dims = self.latent.noise_dims
        require(noise_dims.numel() >= self.continuous_codes,
                f"method.continuous_codes={self.continuous_codes} but the prior has {noise_dims.numel()} noise "
                "dimensions; raise gan.z_dim")
        self.code_dims = noise_dims[noise_dims.numel() - self.continuous_codes:]
        probe = self.data.as_float(self.data.x[:2]).unsqueeze(0).expand(ctx.replicas, 2, *self.data.sample_shape)
        with torch.no_grad(), eval_mode(self.D):  # no batch-norm statistics from the probe
            feature_dim = self.discriminate(probe)[1].shape[-1]
        generators = seeded_generators([4_000_037 + s for s in ctx.seeds])
        self.inverter = ReplicatedMLP([feature_dim, *self.q_hidden, self.latent.modes + self.continuous_codes],
                                      generators, "leaky_relu", "glorot").to(ctx.device)
        self.opt_inv = make_adam(self.inverter.parameters(), self.inverter_lr(), ctx.gan.betas)

    def _q(self, features: torch.Tensor) -> InverterOutput:
        out = self.inverter(features)[0]
        return InverterOutput(out[..., self.latent.modes:], out[..., :self.latent.modes])

    def invert(self, x):
        return self._q(self.discriminate(x)[1])

    def inverter_modules(self) -> tuple:
        return (self.D, self.inverter)

    def supervised_parameters(self) -> list:
        return list(self.inverter.parameters()) + list(self.D.parameters())

    def embedding(self, out):
        return torch.cat([out.probabilities(), out.latent], dim=-1)

    def mutual_information_bound(self, out: InverterOutput, codes) -> torch.Tensor:
        """L_I (S,) of Q's output on G(z) for the drawn codes (weights applied)."""
        bound = self.categorical_weight * categorical_mi_bound(out.logits, codes.modes,
                                                               self.latent.mode_weights().detach())
        if self.continuous_codes:
            latent = self.latent
            entropy = code_entropy(latent.noise, latent.noise_scale, self.continuous_codes)
            bound = bound + self.continuous_weight * gaussian_mi_bound(
                out.latent, codes.z.detach()[..., self.code_dims], entropy, self.code_std)
        return bound

    def code_loss(self, batch, codes):
        return -self.mutual_information_bound(self._q(batch.fake_features), codes)
