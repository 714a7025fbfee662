"""Synthetic Gaussian mixtures: the one config-driven spec (the papers' toy layouts build it: :mod:`datasets.layouts`).

:class:`GaussianMixture` is the single, general spec: explicit mode centres, an isotropic std (one value or one
per mode) or full covariances, which modes are minority and by what factor, the number of samples ``n`` and a
``data_seed``. The layout builders (:mod:`datasets.layouts`: ring, grid, grid_random, mog1d) only compute
centres/covariances from a few readable fields and return a :class:`GaussianMixture`; each ``conf/dataset/*.yaml``
names one of them as ``_target_``. A new variant is therefore a yaml file or a command-line override, not code::

    python run.py dataset=ring dataset.minority_factor=0.1 dataset.n=20000

Mixture weights. Every mode has a base weight (1 unless ``weights`` is given); modes listed in ``minority`` are
multiplied by ``minority_factor`` (so P(minority mode) = factor x P(majority mode), as in the RLS paper, section 3.1);
the result is normalised. The target distribution is always the balanced one, uniform over the modes.

Sampling. Mode counts are **exactly proportional** to the weights: ``n * w`` apportioned by the largest-remainder
method (ties go to the lower mode index), so the mode proportions of the training set equal the configured weights
up to 1/n and do not fluctuate with the seed (the RLS/Bures code samples i.i.d. from the mixture; for a benchmark the
deterministic counts remove one source of between-run noise without changing the distribution's shape). The
samples are then drawn from their Gaussians and shuffled, all with a CPU ``torch.Generator`` seeded by
``data_seed`` -- independent of the training seed and of the device, so every method and every replica sees the
same training set. Sampling is done in float64 and stored as float32.

Importance weights. ``importance_weights[i] = p_target(x_i) / p_observed(x_i)`` where both are the mixture
densities (equal-weight mixture over the configured, unbalanced one) -- exactly the Radon-Nikodym derivative the
RLS paper gives IwGAN/IwMmdGAN on the synthetic sets (section 3.1, "Evaluation"; the paper scales each sample by
1/M with M = p_observed/p_target in this sense). They are computed in float64 in log space (log-sum-exp over the
modes) on the stored float32 samples; for a balanced mixture they are exactly 1.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from core.errors import ConfigError, require
from datasets.base import DataBundle, DatasetSpec
from datasets.fields import is_int, is_real, plain, require_int, require_positive

__all__ = ["GaussianMixture", "mixture_log_density", "apportion"]


# --------------------------------------------------------------------------------------------------------------
# helpers


def apportion(weights: Sequence[float], n: int) -> list[int]:
    """Split ``n`` into integer counts proportional to ``weights`` (largest-remainder / Hamilton method).

    Each count is ``floor(n * w_k)`` plus one for the modes with the largest fractional parts until the counts sum
    to ``n``; ties are broken by the lower index, so the result is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    exact = n * w
    counts = np.floor(exact).astype(np.int64)
    remainder = exact - counts
    short = int(n - counts.sum())
    order = sorted(range(len(w)), key=lambda k: (-remainder[k], k))
    for k in order[:short]:
        counts[k] += 1
    return [int(c) for c in counts]


def mixture_log_density(x: torch.Tensor, centers: torch.Tensor, chol: torch.Tensor,
                        weights: torch.Tensor) -> torch.Tensor:
    """``log sum_k w_k N(x; mu_k, L_k L_k^T)`` for every row of ``x`` (float64, stable log-sum-exp).

    ``centers`` (K, d), ``chol`` (K, d, d) lower Cholesky factors of the covariances, ``weights`` (K,) > 0.
    """
    x = x.to(torch.float64)
    centers = centers.to(torch.float64)
    chol = chol.to(torch.float64)
    d = x.shape[1]
    diff = x[None, :, :] - centers[:, None, :]  # (K, n, d)
    # Solve L_k y = diff^T for each mode -> Mahalanobis^2 = ||y||^2.
    y = torch.linalg.solve_triangular(chol, diff.transpose(1, 2), upper=False)  # (K, d, n)
    maha = (y * y).sum(dim=1)  # (K, n)
    log_det_half = torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(dim=1)  # (K,) = 0.5 log|Sigma_k|
    log_norm = -0.5 * d * math.log(2.0 * math.pi) - log_det_half
    log_comp = torch.log(weights.to(torch.float64))[:, None] + log_norm[:, None] - 0.5 * maha
    return torch.logsumexp(log_comp, dim=0)


# --------------------------------------------------------------------------------------------------------------
# the general spec


class GaussianMixture(DatasetSpec):
    """A finite Gaussian mixture training set (see the module docstring for weights, sampling and ratios).

    Parameters
    ----------
    centers: (K, d) mode means.
    std: isotropic std, one number for all modes or one per mode. Exactly one of ``std`` / ``covariances``.
    covariances: (K, d, d) symmetric positive-definite covariance matrices.
    minority: indices of the depleted modes (may be empty).
    minority_factor: P(minority mode) / P(majority mode), in (0, 1]; 1 means balanced. With ``minority`` empty it
        must be 1. With factor 1 the bundle reports no minority modes (nothing is depleted).
    weights: optional base (relative, unnormalised, > 0) mode weights; minority modes are multiplied by the factor.
    n: number of training samples. data_seed: seed of the data generator (not the training seed).
    name: the dataset name recorded in the bundle (the command-line name).

    ``load(device)`` returns a :class:`DataBundle` with ``x`` float32 (n, d), ``labels`` int64 (the mode each
    sample was drawn from), ``observed_weights`` (the normalised weights used to draw), ``target_weights``
    (uniform), ``minority``, ``centers`` (K, d), ``covariances`` (K, d, d), ``importance_weights`` (n,), and in
    ``extra``: ``mode_counts`` (K,), ``std`` (K,) the per-mode std (isotropic std, or the largest principal std of
    an anisotropic mode), ``isotropic`` (bool), ``data_seed`` and ``layout`` (the builder's parameters).
    """

    kind = "toy"

    def __init__(
        self,
        centers: Sequence[Sequence[float]],
        std: float | Sequence[float] | None = None,
        covariances: Sequence[Sequence[Sequence[float]]] | None = None,
        minority: Sequence[int] = (),
        minority_factor: float = 1.0,
        weights: Sequence[float] | None = None,
        n: int = 10_000,
        data_seed: int = 0,
        name: str = "mixture",
        layout: dict[str, Any] | None = None,
    ) -> None:
        require(isinstance(name, str) and name != "", f"dataset.name must be a non-empty string, got {name!r}")
        self.name = name
        self.n = require_int("n", n, 1)
        self.data_seed = require_int("data_seed", data_seed, 0, 2**63 - 1)

        # -- centres
        try:
            c = np.asarray(plain(centers), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"dataset.centers must be a (K, d) list of numbers, got {centers!r}") from exc
        require(c.ndim == 2 and c.shape[0] >= 1 and c.shape[1] >= 1,
                f"dataset.centers must have shape (K, d) with K >= 1, d >= 1; got shape {c.shape}")
        require(bool(np.isfinite(c).all()), "dataset.centers must be finite numbers")
        k, d = c.shape
        self.num_modes, self.dim = k, d
        self.sample_shape = (d,)

        # -- covariances: exactly one of std / covariances
        require((std is None) != (covariances is None),
                "give exactly one of dataset.std (isotropic) and dataset.covariances (full), "
                f"got std={std!r} and covariances={'given' if covariances is not None else None}")
        if std is not None:
            s = plain(std)
            if is_real(s):
                stds = [require_positive("std", s)] * k
            else:
                require(isinstance(s, list) and len(s) == k,
                        f"dataset.std must be one number or a list of {k} numbers (one per mode), got {std!r}")
                stds = [require_positive(f"std[{i}]", v) for i, v in enumerate(s)]
            stds_arr = np.asarray(stds, dtype=np.float64)
            cov = stds_arr[:, None, None] ** 2 * np.eye(d)[None]
            self.isotropic = True
        else:
            try:
                cov = np.asarray(plain(covariances), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"dataset.covariances must be a (K, d, d) nested list, got {covariances!r}") from exc
            require(cov.shape == (k, d, d), f"dataset.covariances must have shape ({k}, {d}, {d}), got {cov.shape}")
            require(bool(np.isfinite(cov).all()), "dataset.covariances must be finite numbers")
            require(bool(np.allclose(cov, cov.transpose(0, 2, 1), rtol=1e-6, atol=1e-12)),
                    "dataset.covariances must be symmetric matrices")
            eig = np.linalg.eigvalsh(cov)
            bad = np.nonzero(eig.min(axis=1) <= 0)[0]
            require(bad.size == 0, f"dataset.covariances[{bad[0] if bad.size else 0}] is not positive definite "
                                   f"(smallest eigenvalue {eig.min():.3g}); every covariance must be > 0")
            stds_arr = np.sqrt(eig.max(axis=1))
            self.isotropic = False
        self._cov = cov
        self._chol = np.linalg.cholesky(cov)
        self._centers = c
        self.std = stds_arr  # per-mode std (largest principal std for anisotropic modes)

        # -- minority modes and weights
        mino = plain(minority) if minority is not None else []
        require(isinstance(mino, list), f"dataset.minority must be a list of mode indices, got {minority!r}")
        for i in mino:
            require(is_int(i) and 0 <= i < k,
                    f"dataset.minority contains {i!r}; mode indices must be integers in [0, {k - 1}]")
        require(len(set(mino)) == len(mino), f"dataset.minority has repeated indices: {mino}")
        f = minority_factor
        require(is_real(f) and 0.0 < float(f) <= 1.0,
                f"dataset.minority_factor must be in (0, 1] (P(minority mode)/P(majority mode)), got {f!r}")
        f = float(f)
        require(not (len(mino) == 0 and f != 1.0),
                f"dataset.minority_factor={f} has no effect because dataset.minority is empty; "
                "list the depleted modes in dataset.minority or set dataset.minority_factor=1")
        require(len(mino) < k or f == 1.0,
                "dataset.minority lists every mode; a factor on all modes changes nothing -- "
                "leave at least one majority mode")
        self.minority_factor = f
        self.minority = tuple(int(i) for i in sorted(mino)) if f < 1.0 else ()
        self._configured_minority = tuple(int(i) for i in sorted(mino))

        if weights is None:
            base = np.ones(k, dtype=np.float64)
        else:
            w = plain(weights)
            require(isinstance(w, list) and len(w) == k,
                    f"dataset.weights must be a list of {k} positive numbers (one per mode), got {weights!r}")
            base = np.asarray([require_positive(f"weights[{i}]", v) for i, v in enumerate(w)], dtype=np.float64)
        factors = np.ones(k, dtype=np.float64)
        factors[list(mino)] = f
        raw = base * factors
        self.weights = raw / raw.sum()
        self.balanced = bool(np.all(raw == raw[0]))
        self.counts = apportion(self.weights, self.n)
        self.layout = dict(layout) if layout is not None else {"type": "explicit"}

        self.provides = frozenset({"mixture", "labels", "importance_weights"} | ({"minority"} if self.minority else set()))

    # ----------------------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (f"GaussianMixture(name={self.name!r}, K={self.num_modes}, d={self.dim}, n={self.n}, "
                f"minority={self.minority}, minority_factor={self.minority_factor}, data_seed={self.data_seed})")

    @property
    def centers(self) -> torch.Tensor:
        return torch.as_tensor(self._centers, dtype=torch.float32)

    @property
    def covariances(self) -> torch.Tensor:
        return torch.as_tensor(self._cov, dtype=torch.float32)

    def log_density(self, x: torch.Tensor, weights: str | torch.Tensor = "observed") -> torch.Tensor:
        """Log density (float64) of the ``"observed"`` or ``"target"`` mixture (or explicit weights) at ``x``."""
        if isinstance(weights, str):
            require(weights in ("observed", "target"), f"weights must be 'observed' or 'target', got {weights!r}")
            w = self.weights if weights == "observed" else np.full(self.num_modes, 1.0 / self.num_modes)
            weights = torch.as_tensor(w, dtype=torch.float64)
        return mixture_log_density(x.detach().cpu(), torch.as_tensor(self._centers), torch.as_tensor(self._chol),
                                   weights)

    def load(self, device: torch.device | str = "cpu") -> DataBundle:
        k, d, n = self.num_modes, self.dim, self.n
        empty = [i for i, c in enumerate(self.counts) if c == 0]
        if empty:
            warnings.warn(f"dataset {self.name!r}: n={n} leaves modes {empty} without any training sample "
                          f"(expected counts {[round(float(n * w), 2) for w in self.weights[empty]]}); increase dataset.n",
                          stacklevel=2)
        g = torch.Generator(device="cpu")
        g.manual_seed(self.data_seed)
        counts = torch.as_tensor(self.counts, dtype=torch.int64)
        labels = torch.repeat_interleave(torch.arange(k, dtype=torch.int64), counts)
        labels = labels[torch.randperm(n, generator=g)]
        z = torch.randn(n, d, generator=g, dtype=torch.float64)
        centers64 = torch.as_tensor(self._centers, dtype=torch.float64)
        chol64 = torch.as_tensor(self._chol, dtype=torch.float64)
        if self.isotropic:
            x64 = centers64[labels] + z * torch.as_tensor(self.std, dtype=torch.float64)[labels, None]
        else:
            x64 = centers64[labels] + torch.einsum("nij,nj->ni", chol64[labels], z)
        x = x64.to(torch.float32)

        observed = torch.as_tensor(self.weights, dtype=torch.float64)
        target = torch.full((k,), 1.0 / k, dtype=torch.float64)
        if self.balanced:
            iw = torch.ones(n, dtype=torch.float64)
        else:
            iw = torch.exp(mixture_log_density(x, centers64, chol64, target)
                           - mixture_log_density(x, centers64, chol64, observed))

        bundle = DataBundle(
            name=self.name,
            kind="toy",
            x=x,
            labels=labels,
            num_modes=k,
            observed_weights=observed.to(torch.float32),
            target_weights=target.to(torch.float32),
            minority=self.minority,
            importance_weights=iw.to(torch.float32),
            centers=self.centers,
            covariances=self.covariances,
            extra={
                "mode_counts": counts.clone(),
                "std": torch.as_tensor(self.std, dtype=torch.float32),
                "isotropic": self.isotropic,
                "data_seed": self.data_seed,
                "layout": dict(self.layout),
            },
        )
        return bundle.to(device)
