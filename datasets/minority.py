"""Dia-GAN's single-mode Gaussian with a minor group defined by the distance from the origin (Lee et al. 2021, §3.2,
Fig. 1(1) and Table 1 "Gaussian (σ=3.0)"). The paper's Appendix F (its construction) is not available; ours:

* one isotropic Gaussian N(0, σ² I_d), σ = ``std`` = 3.0, d = ``dim`` = 2;
* the **minor group** is the tail ‖x‖ > r0, the **major group** the core ‖x‖ <= r0; ``labels`` = group
  (0 = major, 1 = minor), ``minority = (1,)``;
* ``majority_rate`` ρ (Table 1: 90%) is the share of the major group: exactly round(ρ n) training samples are drawn
  from the Gaussian conditioned on ‖x‖ <= r0 and the rest conditioned on ‖x‖ > r0 (inverse-CDF sampling of the
  truncated χ²_d radius, uniform direction), from ``data_seed``;
* ``radius`` r0: null (default) puts it where the Gaussian's own tail mass is 1 − ρ, r0 = σ sqrt(χ²_d⁻¹(ρ))
  (6.44 for σ = 3, d = 2, ρ = 0.9), so that with the default rate the training set *is* an i.i.d. Gaussian sample
  and the minor group is its natural 10% tail; with a fixed radius, raising ρ ("minority level") thins the tail.

The bundle is not a mode mixture (no centres: the toy mode metrics do not apply; the Dia-GAN experiment on it
measures LDRM/LDRV per group, see ``conf/experiment/diagan_minority.yaml``). ``observed_weights`` =
``target_weights`` = (ρ, 1 − ρ): the target is the data distribution itself, minor group included.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import chi2

from datasets.base import DataBundle, DatasetSpec
from core.errors import require


class GaussianMinority(DatasetSpec):
    kind = "toy"
    provides = frozenset({"labels", "minority", "groups"})

    def __init__(self, std: float = 3.0, dim: int = 2, majority_rate: float = 0.9, radius: float | None = None,
                 n: int = 10_000, data_seed: int = 0, name: str = "gaussian_minority"):
        require(isinstance(std, (int, float)) and math.isfinite(std) and std > 0, f"dataset.std must be > 0, got {std!r}")
        require(isinstance(dim, int) and dim >= 1, f"dataset.dim must be an integer >= 1, got {dim!r}")
        require(isinstance(majority_rate, (int, float)) and 0 < majority_rate < 1,
                f"dataset.majority_rate must be in (0, 1) (the share of the major group), got {majority_rate!r}")
        require(radius is None or (isinstance(radius, (int, float)) and radius > 0),
                f"dataset.radius must be > 0 or null, got {radius!r}")
        require(isinstance(n, int) and n >= 2, f"dataset.n must be an integer >= 2, got {n!r}")
        require(isinstance(data_seed, int) and data_seed >= 0, f"dataset.data_seed must be an integer >= 0, got {data_seed!r}")
        self.std, self.dim, self.majority_rate = float(std), int(dim), float(majority_rate)
        self.radius = float(radius) if radius is not None else self.std * math.sqrt(chi2.ppf(self.majority_rate, self.dim))
        self.n, self.data_seed, self.name = int(n), int(data_seed), name
        self.n_major = int(round(self.majority_rate * self.n))
        require(0 < self.n_major < self.n, f"dataset.n={n} with majority_rate={majority_rate} leaves a group empty")
        self.sample_shape = (self.dim,)

    def __repr__(self) -> str:
        return (f"GaussianMinority(std={self.std}, dim={self.dim}, majority_rate={self.majority_rate}, "
                f"radius={self.radius:.4g}, n={self.n})")

    def _draw(self, rng: np.random.Generator, count: int, low: float, high: float) -> np.ndarray:
        """``count`` points of N(0, σ² I) conditioned on low <= ‖x‖²/σ² < high (χ²_d CDF bounds low/high)."""
        u = rng.uniform(low, high, size=count)
        radius = self.std * np.sqrt(chi2.ppf(u, self.dim))
        direction = rng.standard_normal((count, self.dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return direction * radius[:, None]

    def load(self, device: torch.device | str = "cpu") -> DataBundle:
        rng = np.random.default_rng([self.data_seed, 4049])
        split = chi2.cdf((self.radius / self.std) ** 2, self.dim)
        major = self._draw(rng, self.n_major, 0.0, split)
        minor = self._draw(rng, self.n - self.n_major, split, 1.0)
        labels = np.concatenate([np.zeros(len(major), np.int64), np.ones(len(minor), np.int64)])
        x = np.concatenate([major, minor])
        order = rng.permutation(self.n)
        weights = torch.tensor([self.n_major / self.n, 1 - self.n_major / self.n], dtype=torch.float32)
        bundle = DataBundle(
            name=self.name, kind="toy", x=torch.as_tensor(x[order], dtype=torch.float32),
            labels=torch.as_tensor(labels[order]), num_modes=2, observed_weights=weights, target_weights=weights.clone(),
            minority=(1,),
            extra={"groups": ("major", "minor"), "radius": self.radius, "std": self.std,
                   "majority_rate": self.majority_rate, "data_seed": self.data_seed})
        return bundle.to(device)
