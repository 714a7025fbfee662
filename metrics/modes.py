"""Mode-coverage metrics for synthetic mixtures (the RLS paper's "Nb modes" and "% in 3σ", plus a KL).

Protocol (RLS paper §3.1, see ``REFERENCE.md`` §1.5): each generated sample is assigned to its nearest
mode centre (Euclidean); it is *high quality* when it lies within ``std_threshold`` standard deviations of
that centre; a mode is *covered* when at least ``min_count`` high-quality samples fall in it (the paper:
50 of 10k within 3σ; Dia-GAN uses 4σ).

"Within t standard deviations" is measured with the Mahalanobis distance under the assigned mode's
covariance, ``sqrt((x-μ)ᵀ Σ⁻¹ (x-μ)) ≤ t``, which for an isotropic mode ``Σ = σ² I`` is exactly
``‖x-μ‖ ≤ t·σ`` and extends the rule to anisotropic mixtures. The *assignment* stays Euclidean, as in
the paper, whatever the covariances.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from datasets.base import DataBundle
from core.errors import ConfigError, DataError, require

__all__ = ["ModeCoverage", "nearest_modes", "whitening_factors"]

# float64 elements per chunk of the (chunk, K) distance matrix (or of the gathered (chunk, d, d)
# whitening matrices): 2**22 doubles = 32 MiB, whatever N is.
_DEFAULT_CHUNK_ELEMENTS = 1 << 22


def whitening_factors(covariances: torch.Tensor) -> torch.Tensor:
    """Return ``W_k = L_k⁻¹`` for the Cholesky factors ``Σ_k = L_k L_kᵀ`` (float64, shape (K, d, d)).

    ``‖W_k (x - μ_k)‖`` is then the Mahalanobis distance of ``x`` to mode ``k``.
    """
    cov = covariances.to(torch.float64)
    chol, info = torch.linalg.cholesky_ex(cov)
    bad = torch.nonzero(info).flatten().tolist()
    if bad:
        raise DataError(
            f"mode covariances must be symmetric positive definite; modes {bad[:10]} are not "
            "(a degenerate mode has no Mahalanobis distance: give it a small positive variance)"
        )
    eye = torch.eye(cov.shape[-1], dtype=torch.float64, device=cov.device).expand_as(cov)
    return torch.linalg.solve_triangular(chol, eye, upper=False)


def nearest_modes(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centre (Euclidean) for each row of ``x``; one chunk, no memory management."""
    return torch.cdist(x, centers).argmin(dim=1)


class ModeCoverage:
    """Mode coverage of one replica's generated samples on a mixture with known centres/covariances.

    ``ModeCoverage(std_threshold=3.0, min_count=50)(fake, data)`` returns a JSON-serialisable dict:

    - ``nb_modes`` (int): modes with at least ``min_count`` high-quality samples;
    - ``hq_fraction`` (float): share of all N samples that are high quality;
    - ``mode_counts`` (list[int], length K): high-quality samples per mode;
    - ``assigned_counts`` (list[int], length K): all finite samples per nearest mode;
    - ``kl_modes`` (float): KL(p_gen ‖ target_weights) in nats, p_gen = histogram of the nearest-mode
      assignments of the finite samples (``nan`` when no sample is finite);
    - ``nonfinite_fraction`` (float): share of samples with a NaN/inf coordinate. Those are assigned to
      no mode and are never high quality, so a diverged generator is scored, not crashed on.

    ``min_count`` is an absolute count (the paper's 50 is meant for N = 10k samples).
    ``max_chunk_elements`` bounds the float64 working memory (N = 100k, K = 1000 is fine on a laptop).
    """

    requires = frozenset({"mixture"})  # dataset metadata this metric needs (centres and covariances)

    def __init__(
        self,
        std_threshold: float = 3.0,
        min_count: int = 50,
        *,
        max_chunk_elements: int = _DEFAULT_CHUNK_ELEMENTS,
    ) -> None:
        require(
            isinstance(std_threshold, numbers.Real)
            and not isinstance(std_threshold, bool)
            and math.isfinite(std_threshold)
            and std_threshold > 0,
            f"metrics: std_threshold must be a finite number > 0 (e.g. 3.0 as the RLS paper, 4.0 as "
            f"Dia-GAN), got {std_threshold!r}",
        )
        require(
            _is_int(min_count) and min_count >= 1,
            f"metrics: min_count must be an integer >= 1 (the RLS paper uses 50 of 10k samples), "
            f"got {min_count!r}",
        )
        require(
            _is_int(max_chunk_elements) and max_chunk_elements >= 1,
            f"metrics: max_chunk_elements must be an integer >= 1, got {max_chunk_elements!r}",
        )
        self.std_threshold = float(std_threshold)
        self.min_count = int(min_count)
        self.max_chunk_elements = int(max_chunk_elements)

    def __repr__(self) -> str:
        return f"ModeCoverage(std_threshold={self.std_threshold}, min_count={self.min_count})"

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def __call__(self, fake: torch.Tensor, data: DataBundle, cache: Any = None) -> dict[str, Any]:
        """``cache`` (the evaluation's feature cache) is not used: the mixture metrics need no features."""
        centers, whiten, target = self._mixture(data)
        k, d = centers.shape
        fake = self._check_samples(fake, d)
        n = fake.shape[0]
        device = fake.device
        centers = centers.to(device)
        whiten = whiten.to(device)

        assigned = torch.zeros(k, dtype=torch.long, device=device)
        high_quality = torch.zeros(k, dtype=torch.long, device=device)
        n_nonfinite = 0
        thr2 = self.std_threshold**2
        chunk = max(1, self.max_chunk_elements // max(k, d * d, d, 1))
        for start in range(0, n, chunk):
            x = fake[start : start + chunk].to(torch.float64)
            finite = torch.isfinite(x).all(dim=1)
            n_nonfinite += int((~finite).sum())
            x = x[finite]
            if x.shape[0] == 0:
                continue
            idx = nearest_modes(x, centers)
            z = torch.einsum("nij,nj->ni", whiten[idx], x - centers[idx])
            hq = z.square().sum(dim=1) <= thr2
            assigned += torch.bincount(idx, minlength=k)
            high_quality += torch.bincount(idx[hq], minlength=k)

        assigned_counts = assigned.cpu().tolist()
        mode_counts = high_quality.cpu().tolist()
        n_finite = n - n_nonfinite
        return {
            "nb_modes": int(sum(c >= self.min_count for c in mode_counts)),
            "hq_fraction": float(sum(mode_counts) / n),
            "mode_counts": mode_counts,
            "assigned_counts": assigned_counts,
            "kl_modes": _kl(assigned_counts, target) if n_finite > 0 else float("nan"),
            "nonfinite_fraction": float(n_nonfinite / n),
        }

    # ------------------------------------------------------------------ helpers
    def _mixture(self, data: DataBundle) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
        name = getattr(data, "name", "?")
        if data.centers is None:
            raise ConfigError(
                f"metrics: mode coverage (nb_modes, hq_fraction, kl_modes) needs a mixture dataset with "
                f"known mode centres, but dataset {name!r} has none (data.centers is None); use the "
                f"class-histogram metrics for image datasets"
            )
        centers = data.centers.to(torch.float64)
        if centers.dim() != 2 or centers.shape[0] < 1:
            raise DataError(f"dataset {name!r}: centers must have shape (K, d), got {tuple(data.centers.shape)}")
        k, d = centers.shape
        if data.covariances is None:
            raise ConfigError(
                f"metrics: mode coverage needs the mode covariances to measure 'within "
                f"{self.std_threshold:g} std', but dataset {name!r} has none (data.covariances is None)"
            )
        if tuple(data.covariances.shape) != (k, d, d):
            raise DataError(
                f"dataset {name!r}: covariances must have shape (K, d, d) = {(k, d, d)}, "
                f"got {tuple(data.covariances.shape)}"
            )
        if not torch.isfinite(centers).all():
            raise DataError(f"dataset {name!r}: mode centres contain NaN/inf")
        target = data.target_weights.detach().to(torch.float64).flatten().cpu()
        if target.numel() != k or not torch.isfinite(target).all() or (target < 0).any() or target.sum() <= 0:
            raise DataError(
                f"dataset {name!r}: target_weights must be {k} non-negative numbers (one per mode) with a "
                f"positive sum, got {target.tolist()[:10]}{'...' if target.numel() > 10 else ''}"
            )
        target = target / target.sum()
        return centers, whitening_factors(data.covariances), target.tolist()

    @staticmethod
    def _check_samples(fake: torch.Tensor, d: int) -> torch.Tensor:
        if not isinstance(fake, torch.Tensor):
            fake = torch.as_tensor(fake)
        if fake.dim() == 1 and d == 1:
            fake = fake.unsqueeze(1)
        if fake.dim() != 2 or fake.shape[1] != d:
            raise ValueError(f"mode coverage: expected generated samples of shape (N, {d}), got {tuple(fake.shape)}")
        if fake.shape[0] == 0:
            raise ValueError("mode coverage: no generated samples (N = 0)")
        if not (fake.is_floating_point() or fake.is_complex()):
            fake = fake.to(torch.float64)
        return fake


def _kl(counts: list[int], target: list[float]) -> float:
    """KL(p ‖ q) in nats with p = counts / sum(counts); terms with p = 0 contribute 0; inf where p > 0 = q (a mode
    outside the target, e.g. a negative mode of a positive/negative split)."""
    total = float(sum(counts))
    kl = 0.0
    for c, q in zip(counts, target):
        if c > 0:
            if q <= 0:
                return float("inf")
            p = c / total
            kl += p * math.log(p / q)
    return float(max(kl, 0.0))


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
