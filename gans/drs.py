"""Discriminator rejection sampling (DRS, Azadi et al. 2019) as coded in the Dia-GAN repository.

The acceptance rule (REFERENCE §2.7, ``diagan/models/drs.py``), per replica:

1. burn-in: M = the largest LDR ℓ = ``loss.ldr(D(G(z)))`` over ``burn_in`` batches of ``batch_size`` samples;
2. for each new batch of ``batch_size`` candidates: M ← max(M, max ℓ of the batch);
   F = (ℓ − M) − log(1 − exp(ℓ − M − ε));  γ = the ``percentile``-th percentile of F in the batch (numpy's
   linear interpolation) unless a fixed ``gamma`` is given;  accept x when σ(F − γ) > U, U ~ U(0, 1);
3. repeat until n samples are accepted (the first n accepted, in order).

With a = ℓ − M ≤ 0, σ(F) = e^a / (1 + e^a (1 − e^−ε)) ≈ exp(ℓ − M): with ``gamma = 0`` this is plain rejection
sampling with acceptance p_data/(M·p_g) (a constant discriminator accepts everything, up to ε). The percentile shift γ raises the acceptance of the bulk: with the default 80th percentile, the
samples at the 80th percentile of F are accepted with probability 1/2 (so a *constant* discriminator accepts
half of the candidates, as the code does).

Everything is vectorised over replicas: ``ldr`` maps candidates (S, m, ...) to (S, m), and every replica keeps
its own running maximum and its own accepted set.

``DRSMethod`` (``method=drs``) is vanilla training whose ``generate`` draws through DRS with the main
discriminator; it is the base class of the Dia-GAN repository's other methods (``gans.gold``, ``gans.topk``,
``gans.diagan``), so any of them takes ``method.drs.enabled``.
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import torch

from core.errors import require
from core.tensors import eval_mode
from gans.method import GANMethod


class RejectionSampler:
    """Config node ``method.drs``: the DRS post-processing of generated samples.

    ``enabled``: apply DRS in ``method.generate`` (evaluation); ``batch_size`` (256) and ``burn_in`` (50
    batches) as the Dia-GAN code; ``percentile`` (80) of F per batch for γ, or a fixed ``gamma``; ``eps``
    (1e-6) keeps the log finite at ℓ = M; ``max_candidates`` (a multiple of the requested n) stops a replica
    whose discriminator rejects (almost) everything: it is then filled with unfiltered candidates and a
    warning is printed.
    """

    def __init__(self, enabled: bool = True, batch_size: int = 256, burn_in: int = 50, percentile: float = 80.0,
                 gamma: float | None = None, eps: float = 1e-6, max_candidates: float = 1000.0):
        require(int(batch_size) >= 1, f"method.drs.batch_size must be >= 1, got {batch_size}")
        require(int(burn_in) >= 1, f"method.drs.burn_in (batches) must be >= 1, got {burn_in}")
        require(0.0 <= float(percentile) <= 100.0, f"method.drs.percentile must be in [0, 100], got {percentile}")
        require(gamma is None or math.isfinite(float(gamma)), f"method.drs.gamma must be a number or null, got {gamma}")
        require(float(eps) > 0, f"method.drs.eps must be > 0, got {eps}")
        require(float(max_candidates) >= 1, f"method.drs.max_candidates must be >= 1, got {max_candidates}")
        self.enabled = bool(enabled)
        self.batch_size, self.burn_in = int(batch_size), int(burn_in)
        self.percentile = float(percentile)
        self.gamma = None if gamma is None else float(gamma)
        self.eps = float(eps)
        self.max_candidates = float(max_candidates)
        self.last_acceptance: list[float] | None = None  # per replica, from the last call of ``sample``

    def __repr__(self) -> str:
        return (f"RejectionSampler(enabled={self.enabled}, batch_size={self.batch_size}, burn_in={self.burn_in}, "
                f"percentile={self.percentile}, gamma={self.gamma})")

    # ------------------------------------------------------------------ the rule
    def accept_probability(self, ldr: torch.Tensor, maximum: torch.Tensor) -> torch.Tensor:
        """σ(F − γ) for one batch: ``ldr`` (S, b), ``maximum`` (S,) the running M *including* this batch.

        Computed in float64. Non-finite LDRs (a diverged replica) are accepted with probability 1: DRS has
        nothing to judge them by, and the metrics count non-finite samples themselves."""
        ldr = ldr.double()
        finite = torch.isfinite(ldr)
        shifted = torch.where(finite, ldr - maximum.double()[:, None], torch.zeros_like(ldr)).clamp_max(0.0)
        f = shifted - torch.log1p(-torch.exp(shifted - self.eps))
        if self.gamma is None:
            # per replica percentile over the finite entries (np.percentile's linear interpolation)
            gamma = torch.stack([torch.quantile(row[ok], self.percentile / 100.0) if ok.any() else row.new_zeros(())
                                 for row, ok in zip(f, finite)])
        else:
            gamma = torch.full((f.shape[0],), self.gamma, dtype=f.dtype, device=f.device)
        prob = torch.sigmoid(f - gamma[:, None])
        return torch.where(finite, prob, torch.ones_like(prob))

    @torch.no_grad()
    def sample(self, draw: Callable[[int], torch.Tensor], ldr: Callable[[torch.Tensor], torch.Tensor], n: int,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n accepted samples per replica: ``draw(m)`` -> candidates (S, m, ...), ``ldr(x)`` -> (S, m)."""
        b = self.batch_size
        maximum = None
        for _ in range(self.burn_in):
            values = ldr(draw(b)).double()
            values = torch.where(torch.isfinite(values), values, torch.full_like(values, -math.inf))
            batch_max = values.max(dim=1).values
            maximum = batch_max if maximum is None else torch.maximum(maximum, batch_max)
        replicas = maximum.shape[0]
        accepted: list[list[torch.Tensor]] = [[] for _ in range(replicas)]
        counts = [0] * replicas
        drawn = [0] * replicas
        limit = int(self.max_candidates * n)
        while min(counts) < n:
            x = draw(b)
            values = ldr(x).double()
            finite_values = torch.where(torch.isfinite(values), values, torch.full_like(values, -math.inf))
            maximum = torch.maximum(maximum, finite_values.max(dim=1).values)
            prob = self.accept_probability(values, maximum)
            u = torch.rand(prob.shape, generator=generator, device=prob.device, dtype=prob.dtype)
            keep = prob > u
            for r in range(replicas):
                if counts[r] >= n:
                    continue
                drawn[r] += b
                chosen = x[r][keep[r]]
                accepted[r].append(chosen)
                counts[r] += chosen.shape[0]
                if counts[r] < n and drawn[r] >= limit:
                    warnings.warn(f"DRS: replica {r} accepted {counts[r]} of {drawn[r]} candidates; filling the "
                                  f"remaining {n - counts[r]} samples without rejection", stacklevel=2)
                    fill = []
                    while counts[r] + sum(f.shape[0] for f in fill) < n:
                        fill.append(draw(b)[r])
                    accepted[r].extend(fill)
                    counts[r] = n
        self.last_acceptance = [min(1.0, c / max(d, 1)) for c, d in zip(counts, drawn)]
        return torch.stack([torch.cat(parts, dim=0)[:n] for parts in accepted])


class DRSMethod(GANMethod):
    """Vanilla GAN training whose samples are drawn through DRS with the main discriminator (``method=drs``)."""

    def __init__(self, regularizers=None, pack: int = 1, drs: RejectionSampler | dict | None = None):
        super().__init__(regularizers, pack)
        if isinstance(drs, dict) or (drs is not None and hasattr(drs, "keys")):
            drs = RejectionSampler(**dict(drs))
        self.drs: RejectionSampler = drs if drs is not None else RejectionSampler(enabled=False)
        require(isinstance(self.drs, RejectionSampler), f"method.drs must be a RejectionSampler node, got {drs!r}")
        if self.drs.enabled:
            require(self.pack == 1, "DRS judges single samples: method.drs.enabled=true needs method.pack=1")
        self.current_step = 0

    def train_step(self, step: int) -> None:
        self.current_step = step
        super().train_step(step)

    # --------------------------------------------------------------------- DRS
    def drs_discriminator(self) -> tuple[torch.nn.Module, Any] | None:
        """(discriminator, loss whose ``ldr`` reads its output) used by DRS; None = no DRS."""
        return self.D, self.loss

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, chunk: int = 10000) -> torch.Tensor:
        chosen = self.drs_discriminator() if self.drs.enabled else None
        if chosen is None:
            return super().generate(n, generator, chunk)
        net, loss = chosen

        def draw(m: int) -> torch.Tensor:
            return self.sample_from(self.G, m, generator, chunk)

        def ldr(x: torch.Tensor) -> torch.Tensor:
            return loss.ldr(net(x)[0])

        with eval_mode(net):
            return self.drs.sample(draw, ldr, n, generator)

    def diagnostics(self) -> list[dict] | None:
        if self.drs.enabled and self.drs.last_acceptance is not None:
            return [{"drs_acceptance": a} for a in self.drs.last_acceptance]
        return None
