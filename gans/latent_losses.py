"""The latent-code losses of NEMGAN, ClusterGAN and InfoGAN; every function returns one value per replica (S,).

- :func:`reconstruction_loss`: the latent inversion term ‖z - ẑ‖ (NEMGAN eq. 15; ClusterGAN's β_n term):
  ``norm=l2`` the mean squared error (nemganp_fmnist_5.py, ClusterGAN's code), ``l1`` the mean absolute error
  (NEMGAN.py), averaged over dimensions and the batch.
- :func:`mode_cross_entropy`: the mode posterior against the drawn mode, CE = KL(one-hot(y) ‖ P_ŷ) per sample
  (NEMGAN's mode-matching term on generated samples; ClusterGAN's β_c term; the supervised loss on labels).
- :func:`am_softmax_logits`: additive-margin softmax logits s·(cos θ_j - m·[j = y]) (Wang et al. 2018), the
  unsupervised script's head (s = 30, m = 0.4); their cross-entropy is the AM-softmax loss.
- :func:`aggregated_kl`: KL(mean_b target ‖ mean_b codes), NEMGAN-P's prior-learning loss (REFERENCE 3.2: the
  inverter's mean posterior on real data against the batch's mean mode code), both clamped to [ε, 1] as Keras'
  ``kullback_leibler_divergence``.
- :func:`categorical_mi_bound` / :func:`gaussian_mi_bound`: InfoGAN's variational lower bound
  L_I = E[log Q(c | x)] + H(c) of I(c; G(z, c)) for a categorical code and for continuous codes with a fixed-σ
  Gaussian Q (InfoGAN's code: fixed std 1), with H(c) of the code's prior.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from core.errors import require

__all__ = ["NORMS", "aggregated_kl", "am_softmax_logits", "categorical_mi_bound", "gaussian_mi_bound",
           "mode_cross_entropy", "reconstruction_loss"]

NORMS = ("l2", "l1")


def reconstruction_loss(z_hat: torch.Tensor, z: torch.Tensor, norm: str = "l2") -> torch.Tensor:
    """Mean over the batch and the dimensions of (ẑ - z)² (``l2``) or |ẑ - z| (``l1``): (S, B, d) -> (S,)."""
    require(norm in NORMS, f"reconstruction norm must be one of {list(NORMS)}, got {norm!r}")
    diff = z_hat - z
    return (diff.square() if norm == "l2" else diff.abs()).mean(dim=(-2, -1))


def mode_cross_entropy(logits: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    """Batch mean of -log softmax(logits)[y]: logits (S, B, M), modes (S, B) -> (S,)."""
    s, b, m = logits.shape
    return F.cross_entropy(logits.reshape(s * b, m), modes.reshape(s * b), reduction="none").view(s, b).mean(-1)


def am_softmax_logits(cosine: torch.Tensor, modes: torch.Tensor | None, scale: float, margin: float) -> torch.Tensor:
    """s·(cos θ - m·one_hot(y)) (training logits); ``modes=None``: s·cos θ (the posterior's logits at inference)."""
    if modes is None:
        return scale * cosine
    return scale * (cosine - margin * F.one_hot(modes, cosine.shape[-1]).to(cosine.dtype))


def aggregated_kl(target: torch.Tensor, codes: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """KL(p ‖ q), p = mean_b target (S, B, M), q = mean_b codes (S, B', M), each clamped to [eps, 1]: (S,)."""
    p = target.mean(-2).clamp(eps, 1.0)
    q = codes.mean(-2).clamp(eps, 1.0)
    return (p * (p.log() - q.log())).sum(-1)


def categorical_mi_bound(logits: torch.Tensor, modes: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """E[log Q(c | x)] + H(c) for a categorical code with prior probabilities ``prior`` (S, M): (S,)."""
    entropy = -(prior * prior.clamp_min(1e-30).log()).sum(-1)
    return entropy - mode_cross_entropy(logits, modes)


def gaussian_mi_bound(mean: torch.Tensor, codes: torch.Tensor, code_entropy: float, std: float = 1.0) -> torch.Tensor:
    """E[log N(c; μ(x), σ² I)] + H(c) for continuous codes (S, B, C), H(c) = ``code_entropy`` nats in all: (S,)."""
    log_q = -0.5 * ((codes - mean) / std).square() - math.log(std) - 0.5 * math.log(2 * math.pi)
    return log_q.sum(-1).mean(-1) + code_entropy
