"""Gaussian kernel density estimates of S replicas' point sets at once (results in float64).

- :func:`isotropic_kde`: kernel N(0, h² I) of a fixed bandwidth h, exact pairwise sums, optionally leave-one-out
  (MwuGAN's p_G/p estimate);
- :func:`binned_isotropic_kde`: the same estimate for d <= 2 by linear binning and a separable blur (~100x
  faster, within ~1%);
- :class:`GaussianKDE`: ``scipy.stats.gaussian_kde``'s estimate, kernel covariance factor² x the points'
  covariance (Scott/Silverman factor, :func:`kde_factor`), with log densities and draws (DIW-GAN).
"""
from __future__ import annotations

import math

import torch

from core.errors import ConfigError, require
from core.numerics import floored_exp


def kde_factor(bandwidth: str | float, n: int, d: int) -> float:
    """scipy.stats.gaussian_kde's bandwidth factor: Scott n^(-1/(d+4)), Silverman (n(d+2)/4)^(-1/(d+4)), or a number."""
    if isinstance(bandwidth, str):
        if bandwidth == "scott":
            return n ** (-1.0 / (d + 4))
        if bandwidth == "silverman":
            return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        raise ConfigError(f"a KDE bandwidth must be 'scott', 'silverman' or a number > 0, got {bandwidth!r}")
    require(float(bandwidth) > 0, f"a KDE bandwidth factor must be > 0, got {bandwidth}")
    return float(bandwidth)


class GaussianKDE:
    """Gaussian kernel density estimates of S point sets at once, exactly as ``scipy.stats.gaussian_kde``.

    ``points`` (S, m, d): kernel covariance Σ = factor² · Cov(points) (ddof=1, per replica), density
    p(x) = (1/m) Σ_j N(x; p_j, Σ). Computed in float64; a tiny ridge (1e-9 x mean variance + 1e-12) keeps the
    covariance invertible when the points are (nearly) degenerate, e.g. a collapsed generator.
    """

    def __init__(self, points: torch.Tensor, bandwidth: str | float = "scott"):
        require(points.dim() == 3 and points.shape[1] >= 2, f"KDE points must be (S, m >= 2, d), got {tuple(points.shape)}")
        self.points = points.detach().double()
        replicas, m, d = self.points.shape
        self.factor = kde_factor(bandwidth, m, d)
        centred = self.points - self.points.mean(1, keepdim=True)
        data_cov = centred.transpose(1, 2) @ centred / (m - 1)
        cov = data_cov * self.factor ** 2
        ridge = 1e-9 * torch.diagonal(cov, dim1=1, dim2=2).mean(-1).clamp_min(0) + 1e-12
        self.covariance = cov + ridge[:, None, None] * torch.eye(d, dtype=cov.dtype, device=cov.device)
        self.chol = torch.linalg.cholesky(self.covariance)
        self.log_norm = -0.5 * d * math.log(2 * math.pi) - torch.log(torch.diagonal(self.chol, dim1=1, dim2=2)).sum(-1)

    def _whiten(self, x: torch.Tensor) -> torch.Tensor:
        """L⁻¹x for x (S, q, d): Mahalanobis distances become Euclidean."""
        return torch.linalg.solve_triangular(self.chol, x.transpose(1, 2), upper=False).transpose(1, 2)

    def log_density(self, x: torch.Tensor, max_elements: int = 1 << 20) -> torch.Tensor:
        """log p(x) for x (S, q, d) -> (S, q), in chunks of at most ``max_elements`` pairwise distances."""
        x = x.detach().double()
        replicas, m = self.points.shape[:2]
        if not hasattr(self, "_white_points"):
            self._white_points = self._whiten(self.points)
        white = self._whiten(x)
        chunk = max(1, max_elements // max(replicas * m, 1))
        out = []
        for start in range(0, x.shape[1], chunk):
            maha = torch.cdist(white[:, start:start + chunk], self._white_points).square()  # (S, c, m)
            out.append(torch.logsumexp(-0.5 * maha, dim=-1) - math.log(m) + self.log_norm[:, None])
        return torch.cat(out, dim=1)

    def density(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_density(x).exp()

    def sample(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` draws per replica from the KDE: a uniformly chosen point plus N(0, Σ) noise -> (S, count, d)."""
        replicas, m, d = self.points.shape
        index = torch.randint(m, (replicas, count), generator=generator, device=self.points.device)
        base = torch.gather(self.points, 1, index[..., None].expand(-1, -1, d))
        noise = torch.randn(replicas, count, d, generator=generator, device=self.points.device, dtype=torch.float64)
        return base + noise @ self.chol.transpose(1, 2)


def isotropic_kde(points: torch.Tensor, samples: torch.Tensor, bandwidth: float, leave_one_out: bool = False,
                 chunk_elements: int = 1 << 22, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Gaussian KDE of ``samples`` (S, N, d) evaluated at ``points`` (n, d) -> (S, n), float64; exact sums.

    ``leave_one_out``: ``samples`` are the points themselves (S = 1); each point's own kernel (exactly 1,
    computed in float64 so that the self-distance is 0) is removed. Kernel sums run in ``dtype`` (default
    float64 for leave-one-out, float32 otherwise: squared-distance rounding ~1e-6 against h² = 2.5e-3)."""
    replicas, count, dim = samples.shape
    dtype = dtype or (torch.float64 if leave_one_out else torch.float32)
    points, samples, finite = points.to(dtype), *_finite(samples.to(dtype))
    scale = -0.5 / bandwidth ** 2
    step = max(1, chunk_elements // max(1, replicas * count))
    parts = []
    for start in range(0, points.shape[0], step):
        p = points[start:start + step]
        sq = torch.cdist(p.unsqueeze(0).expand(replicas, -1, -1), samples).pow_(2)
        parts.append((floored_exp(sq.mul_(scale)) * finite.unsqueeze(1)).sum(-1))
    density = torch.cat(parts, dim=1).double()
    norm = (2 * math.pi * bandwidth ** 2) ** (dim / 2)
    if leave_one_out:
        return (density - 1.0) / ((count - 1) * norm)
    return density / (count * norm)


def _finite(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples with non-finite rows zeroed, and the mask of finite rows (a diverged generator's NaN samples
    contribute nothing to a density)."""
    finite = torch.isfinite(samples).all(-1)
    return torch.where(finite.unsqueeze(-1), samples, torch.zeros_like(samples)), finite


def binned_isotropic_kde(points: torch.Tensor, samples: torch.Tensor, bandwidth: float, cells_per_bandwidth: int = 4,
               radius: float = 5.0, max_cells: int = 1 << 22) -> torch.Tensor | None:
    """Gaussian KDE of ``samples`` (S, N, d) at ``points`` (n, d) -> (S, n) float64, for d <= 2, by linear
    binning on a grid of spacing h/``cells_per_bandwidth`` over the points' bounding box (+ ``radius``·h), a
    separable Gaussian blur truncated at ``radius``·h, and multilinear interpolation at the points.

    O(N + grid + n) instead of O(N n): ~100x faster than :func:`isotropic_kde` for 10k x 10k in 2-D, within
    ~1% of it (binning error O((spacing/h)²)). Samples farther than ``radius``·h from the box contribute
    < exp(-radius²/2) and are dropped. Returns None when d > 2 or the grid would exceed ``max_cells``."""
    replicas, count, dim = samples.shape
    if dim > 2:
        return None
    spacing = bandwidth / cells_per_bandwidth
    lo = points.double().min(0).values - radius * bandwidth
    hi = points.double().max(0).values + radius * bandwidth
    shape = [int(math.ceil(float(e))) + 2 for e in (hi - lo) / spacing]
    if math.prod(shape) > max_cells:
        return None
    samples, finite = _finite(samples.double())
    u = (samples - lo) / spacing  # (S, N, d) in grid units
    base = u.floor()
    frac = u - base
    base = base.long()
    inside = finite & ((base >= 0) & (base < torch.tensor(shape, device=base.device) - 1)).all(-1)
    grid = torch.zeros(replicas, math.prod(shape), dtype=torch.float64, device=samples.device)
    strides = [math.prod(shape[k + 1:]) for k in range(dim)]
    for corner in range(2 ** dim):
        offset = [(corner >> k) & 1 for k in range(dim)]
        weight = inside.double()
        index = torch.zeros_like(base[..., 0])
        for k in range(dim):
            weight = weight * (frac[..., k] if offset[k] else 1 - frac[..., k])
            index = index + (base[..., k].clamp(0, shape[k] - 2) + offset[k]) * strides[k]
        grid.scatter_add_(1, index, weight)
    grid = grid.view(replicas, *shape)
    taps = int(math.ceil(radius * cells_per_bandwidth))
    offsets = torch.arange(-taps, taps + 1, dtype=torch.float64, device=grid.device)
    kernel = torch.exp(-0.5 * (offsets / cells_per_bandwidth) ** 2)
    for k in range(dim):  # separable blur along axis k
        moved = grid.movedim(k + 1, -1)
        flat = moved.reshape(-1, 1, moved.shape[-1])
        blurred = torch.nn.functional.conv1d(flat, kernel.view(1, 1, -1), padding=taps)
        grid = blurred.view(moved.shape).movedim(-1, k + 1)
    up = (points.double() - lo) / spacing
    pbase = up.floor().long()
    pfrac = up - pbase
    values = torch.zeros(replicas, points.shape[0], dtype=torch.float64, device=grid.device)
    flat_grid = grid.reshape(replicas, -1)
    for corner in range(2 ** dim):
        offset = [(corner >> k) & 1 for k in range(dim)]
        weight = torch.ones(points.shape[0], dtype=torch.float64, device=grid.device)
        index = torch.zeros(points.shape[0], dtype=torch.long, device=grid.device)
        for k in range(dim):
            weight = weight * (pfrac[:, k] if offset[k] else 1 - pfrac[:, k])
            index = index + (pbase[:, k] + offset[k]) * strides[k]
        values = values + weight * flat_grid[:, index]
    return values / (count * (2 * math.pi * bandwidth ** 2) ** (dim / 2))
