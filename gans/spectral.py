"""Spectral normalisation (Miyato et al. 2018) of S replicas' weights at once, as SNGAN's discriminator uses it.

Each replica's weight, viewed as a matrix W_r (out, fan_in), is divided by an estimate of its largest singular
value σ_r = u_rᵀ W_r v_r, where u_r is a persistent unit vector refined by power iteration (v = Wᵀu/‖Wᵀu‖,
u = Wv/‖Wv‖) at every forward pass. As in torch-mimicry (REFERENCE §10.1, §9.1): one iteration per forward, u and
v carry no gradient (the gradient flows through W in σ = uᵀWv), and the refined u is stored only in training
mode, so repeated eval-mode forwards start from the same u and give identical outputs.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


@torch.no_grad()
def power_iteration(matrices: torch.Tensor, u: torch.Tensor, iterations: int = 1,
                    eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` power-iteration steps for S matrices (S, m, n) from left vectors ``u`` (S, m): (u, v), unit
    left (S, m) and right (S, n) singular-vector estimates, without gradient."""
    v = None
    for _ in range(iterations):
        v = F.normalize(torch.bmm(u.unsqueeze(1), matrices).squeeze(1), dim=1, eps=eps)
        u = F.normalize(torch.bmm(matrices, v.unsqueeze(2)).squeeze(2), dim=1, eps=eps)
    return u, v


def largest_singular_value(matrices: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """σ = uᵀ W v per replica (S,), differentiable in W."""
    return torch.einsum("sm,smn,sn->s", u, matrices, v)


def spectrally_normalised(weight: torch.Tensor, u: torch.Tensor, update: bool, iterations: int = 1,
                          eps: float = 1e-12) -> torch.Tensor:
    """``weight`` (S·out, ...) divided replica-wise by its estimated spectral norm; ``u`` (S, out) is the
    persistent left vector, overwritten with the refined one when ``update`` (training mode)."""
    replicas, out = u.shape
    matrices = weight.reshape(replicas, out, -1)
    new_u, v = power_iteration(matrices.detach(), u, iterations, eps)
    if update:
        u.copy_(new_u)
    sigma = largest_singular_value(matrices, new_u, v)
    return (matrices / sigma[:, None, None]).reshape(weight.shape)
