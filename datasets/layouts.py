"""Layout builders of the papers' toy mixtures (the ``_target_`` of conf/dataset/*.yaml): each computes centres and
covariances from a few readable fields and returns a :class:`datasets.mixtures.GaussianMixture`."""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ConfigError, require
from datasets.fields import is_real, plain, require_int, require_positive
from datasets.mixtures import GaussianMixture

__all__ = ["ring", "grid", "grid_random", "mog1d"]


def ring(
    num_modes: int = 8,
    radius: float = 2.5,
    std: float = 0.05,
    minority: Sequence[int] = (0, 1, 2, 3),
    minority_factor: float = 0.05,
    weights: Sequence[float] | None = None,
    n: int = 10_000,
    data_seed: int = 0,
    name: str = "ring",
) -> GaussianMixture:
    """``num_modes`` isotropic Gaussians on a circle, mode 0 on top at (0, radius), then **clockwise**.

    Centre i = radius * (sin(2 pi i / K), cos(2 pi i / K)) -- the RLS figure ("first 4 modes, starting on top and
    going clockwise") and the Bures library; the paper's cos/sin formula would start elsewhere (REFERENCE 1.5, 8.2).
    """
    k = require_int("num_modes", num_modes, 1)
    r = require_positive("radius", radius)
    theta = 2.0 * np.pi * np.arange(k) / k
    centers = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    centers[np.abs(centers) < 1e-12] = 0.0  # exact zeros (e.g. x of mode 0) instead of 1e-16 noise
    return GaussianMixture(centers.tolist(), std=std, minority=minority, minority_factor=minority_factor,
                           weights=weights, n=n, data_seed=data_seed, name=name,
                           layout={"type": "ring", "num_modes": k, "radius": r})


def grid(
    shape: Sequence[int] = (5, 5),
    spacing: float = 2.0,
    std: float = 0.05,
    minority: Sequence[int] = (),
    minority_factor: float = 1.0,
    weights: Sequence[float] | None = None,
    divide_by: float = 1.0,
    n: int = 10_000,
    data_seed: int = 0,
    name: str = "grid",
) -> GaussianMixture:
    """Isotropic Gaussians on a centred lattice with ``shape`` modes per axis (any dimension) and ``spacing``.

    Axis a has coordinates (j - (shape[a] - 1) / 2) * spacing, j = 0..shape[a]-1 (shape (5, 5), spacing 2 ->
    -4, -2, 0, 2, 4). Modes are numbered in ``itertools.product`` order with the **first coordinate (x) varying
    slowest**, so for the 5x5 grid modes 0-4 have x = -4, modes 5-9 x = -2 (the Bures library's order; the RLS
    "first 10 modes" = the two leftmost columns).

    ``divide_by`` rescales the whole set by 1/divide_by: centres / c and std / c. Drawing at the original scale and
    dividing every sample by c (Dia-GAN's 25-Gaussian set, REFERENCE 2.9) gives exactly this distribution, so
    the stored ``std`` and ``centers`` are those of the divided data (0.05 / 2.828 for ``gaussians25``).
    """
    shp = plain(shape)
    require(isinstance(shp, list) and len(shp) >= 1,
            f"dataset.shape must be a list of modes per axis, e.g. [5, 5], got {shape!r}")
    shp = [require_int(f"shape[{a}]", s, 1) for a, s in enumerate(shp)]
    h = require_positive("spacing", spacing)
    c = require_positive("divide_by", divide_by)
    s = plain(std)
    axes = [(np.arange(m) - (m - 1) / 2.0) * h for m in shp]
    centers = np.asarray(list(itertools.product(*axes)), dtype=np.float64) / c
    if is_real(s):
        std_scaled: Any = require_positive("std", s) / c
    elif isinstance(s, list):
        std_scaled = [require_positive(f"std[{i}]", v) / c for i, v in enumerate(s)]
    else:
        raise ConfigError(f"dataset.std must be a number > 0 or a list of them, got {std!r}")
    return GaussianMixture(centers.tolist(), std=std_scaled, minority=minority, minority_factor=minority_factor,
                           weights=weights, n=n, data_seed=data_seed, name=name,
                           layout={"type": "grid", "shape": shp, "spacing": h, "divide_by": c})


def grid_random(
    num_modes: int = 25,
    dim: int = 2,
    low: float = -4.0,
    high: float = 4.0,
    min_separation: float = 1.0,
    std_min: float = 0.02,
    std_max: float = 0.1,
    layout_seed: int | None = None,
    minority: Sequence[int] = (),
    minority_factor: float = 1.0,
    weights: Sequence[float] | None = None,
    n: int = 10_000,
    data_seed: int = 0,
    name: str = "grid_random",
) -> GaussianMixture:
    """``num_modes`` anisotropic Gaussians at random positions (the DIW paper's "25 Gaussians randomly located").

    The paper gives no construction; this one is (all from ``numpy.random.default_rng([layout_seed, 7919])``,
    ``layout_seed`` defaulting to ``data_seed``):

    * centres uniform in the box [low, high]^dim, drawn one at a time and rejected if closer than
      ``min_separation`` to an accepted one (up to 10,000 tries per mode, else a ConfigError);
    * per mode, ``dim`` principal stds uniform in [std_min, std_max] and a uniformly random rotation
      (QR of a Gaussian matrix with the sign fix), Sigma = R diag(s^2) R^T.

    The defaults (box [-4, 4]^2 like the grid, separation 1.0 = 10 x the largest std, stds 0.02-0.1 around the
    grid's 0.05) keep the modes well separated so that nearest-centre mode assignment stays meaningful.
    """
    k = require_int("num_modes", num_modes, 1)
    dd = require_int("dim", dim, 1)
    require(is_real(low) and is_real(high) and float(low) < float(high),
            f"dataset.low must be < dataset.high, got low={low!r}, high={high!r}")
    sep = require_positive("min_separation", min_separation)
    smin = require_positive("std_min", std_min)
    smax = require_positive("std_max", std_max)
    require(smin <= smax, f"dataset.std_min must be <= dataset.std_max, got std_min={smin}, std_max={smax}")
    seed = data_seed if layout_seed is None else layout_seed
    seed = require_int("layout_seed" if layout_seed is not None else "data_seed", seed, 0, 2**63 - 1)

    rng = np.random.default_rng([seed, 7919])
    lo, hi = float(low), float(high)
    centers: list[np.ndarray] = []
    for i in range(k):
        for _ in range(10_000):
            cand = rng.uniform(lo, hi, size=dd)
            if all(np.linalg.norm(cand - p) >= sep for p in centers):
                centers.append(cand)
                break
        else:
            raise ConfigError(
                f"dataset.min_separation={sep} is too large to place {k} modes in [{lo}, {hi}]^{dd} "
                f"(placed {i}); lower dataset.min_separation or widen dataset.low/dataset.high")
    covs = []
    for _ in range(k):
        scales = rng.uniform(smin, smax, size=dd)
        q, r = np.linalg.qr(rng.standard_normal((dd, dd)))
        q = q * np.sign(np.diag(r))[None, :]
        cov = (q * scales**2) @ q.T
        covs.append(0.5 * (cov + cov.T))
    return GaussianMixture(np.stack(centers).tolist(), covariances=np.stack(covs).tolist(), minority=minority,
                           minority_factor=minority_factor, weights=weights, n=n, data_seed=data_seed, name=name,
                           layout={"type": "grid_random", "num_modes": k, "dim": dd, "low": lo, "high": hi,
                                   "min_separation": sep, "std_min": smin, "std_max": smax, "layout_seed": seed})


def mog1d(
    means: Sequence[float] = (0.0, 10.0, -10.0),
    std: float | Sequence[float] = 1.0,
    minority: Sequence[int] = (1, 2),
    minority_factor: float = 1.0 / 18.0,
    weights: Sequence[float] | None = None,
    n: int = 10_000,
    data_seed: int = 0,
    name: str = "mog1d",
) -> GaussianMixture:
    """A 1-D mixture; defaults = the RLS paper's Fig. 1: 0.9 N(0,1) + 0.05 N(10,1) + 0.05 N(-10,1).

    Mode 0 is the majority mode at 0, modes 1 (+10) and 2 (-10) the minority modes; P(minority)/P(majority) =
    0.05/0.9 = 1/18 reproduces the paper's weights exactly (1/(1+2/18) = 0.9).
    """
    m = plain(means)
    require(isinstance(m, list) and len(m) >= 1 and all(is_real(v) for v in m),
            f"dataset.means must be a non-empty list of numbers, got {means!r}")
    return GaussianMixture([[float(v)] for v in m], std=std, minority=minority, minority_factor=minority_factor,
                           weights=weights, n=n, data_seed=data_seed, name=name, layout={"type": "mog1d"})
