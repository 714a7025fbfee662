"""BuresGAN (De Meulemeester et al., 2021): the squared Bures distance between the covariance matrices of
real and generated discriminator features, added to the generator loss.

RLS paper §3 (and the BuresGAN paper): φ̄ = φ_D(x) centred over the batch, then each row divided by its
L2 norm; C = E[φ̄ φ̄ᵀ] estimated by the batch average (1/b) Σ φ̄_i φ̄_iᵀ; the generator minimises
``V_G + λ·B(C_d, C_g)²`` with ``B(C_d, C_g)² = Tr C_d + Tr C_g - 2 Tr (C_d C_g)^{1/2}``; D's loss is unchanged.

Against the authors' TensorFlow code (REFERENCE.md §1.13): the code forms C = Σ φ̄ φ̄ᵀ + εI without the 1/b
average (so its Bures term is b times the formula's) and halves the generator loss, 0.5·(V_G + Bures). Adam is
invariant to a common scale, so the code equals ``weight = b``; the config's default is that weight (the batch
size), which reproduces the paper's tables, and ``weight = 1`` is the paper's formula with λ = 1.

The trace term is computed exactly in the dual: with X (b₁ x m) and Y (b₂ x m) the normalised rows,
C_d = XᵀX/b₁ and C_g = YᵀY/b₂, the eigenvalues of C_d C_g are the squared singular values of
XYᵀ/√(b₁b₂), so ``Tr (C_d C_g)^{1/2} = ‖X Yᵀ‖_* / √(b₁ b₂)`` (nuclear norm of a b₁ x b₂ matrix; for a
batch of 64 and 128 features this is cheaper than any m x m square root). Its gradient, U Vᵀ from the
SVD, is finite even at repeated or zero singular values (a centred batch always has one zero singular
value), unlike an eigen-decomposition route through sqrt(λ). ``algorithm="newton_schulz"`` is the reference
code's method instead (15 coupled Newton–Schulz iterations on C_d C_g + εI in float64, after Frobenius
normalisation), kept for comparisons; it is slower and approximate for near-singular matrices.
"""
from __future__ import annotations

import torch

from core.errors import require
from gans.method import Batch, Regularizer

ALGORITHMS = ("svd", "newton_schulz")
PRECISIONS = ("float32", "float64")


def normalise_features(phi: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Centre over the batch (dim -2), then divide every row by its L2 norm (rows of norm < eps stay ~0)."""
    centred = phi - phi.mean(dim=-2, keepdim=True)
    return centred / centred.norm(dim=-1, keepdim=True).clamp_min(eps)


def covariance(x: torch.Tensor) -> torch.Tensor:
    """C = (1/b) Σ x_i x_iᵀ of the rows of x (..., b, m) -> (..., m, m)."""
    return x.transpose(-1, -2) @ x / x.shape[-2]


def bures_squared_from_rows(x: torch.Tensor, y: torch.Tensor, algorithm: str = "svd",
                            newton_schulz_iters: int = 15, eps: float = 1e-14) -> torch.Tensor:
    """B(C_x, C_y)² for C_x = XᵀX/b₁, C_y = YᵀY/b₂ from the rows X (..., b₁, m), Y (..., b₂, m) -> (...)."""
    bx, by = x.shape[-2], y.shape[-2]
    trace_x = x.pow(2).sum((-1, -2)) / bx
    trace_y = y.pow(2).sum((-1, -2)) / by
    if algorithm == "svd":
        cross = torch.linalg.svdvals(x @ y.transpose(-1, -2)).sum(-1) / (bx * by) ** 0.5
    elif algorithm == "newton_schulz":
        product = covariance(x) @ covariance(y)
        eye = torch.eye(product.shape[-1], dtype=product.dtype, device=product.device)
        cross = torch.diagonal(sqrtm_newton_schulz(product + eps * eye, newton_schulz_iters), dim1=-2, dim2=-1).sum(-1)
    else:
        raise ValueError(f"unknown Bures algorithm {algorithm!r}; choose one of {ALGORITHMS}")
    return trace_x + trace_y - 2 * cross


def sqrtm_newton_schulz(a: torch.Tensor, iterations: int = 15) -> torch.Tensor:
    """Matrix square root by the coupled Newton–Schulz iteration (the BuresGAN code's method): Y → A^{1/2}.

    A is scaled by its Frobenius norm first (so its eigenvalues lie in (0, 1]); converges for matrices
    with positive real eigenvalues such as C_d C_g + εI, slowly for eigenvalues near 0."""
    norm = a.flatten(-2).norm(dim=-1).clamp_min(1e-300)[..., None, None]
    y = a / norm
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(a)
    z = eye
    for _ in range(iterations):
        t = 0.5 * (3.0 * eye - z @ y)
        y, z = y @ t, t @ z
    return y * norm.sqrt()


def bures_squared(real_features: torch.Tensor, fake_features: torch.Tensor, *, algorithm: str = "svd",
                  precision: str = "float32", eps: float = 1e-12) -> torch.Tensor:
    """Squared Bures distance between the covariances of normalised features, per replica.

    real_features (S, b₁, m), fake_features (S, b₂, m) -> (S,), in the features' dtype."""
    dtype = getattr(torch, precision)
    x = normalise_features(real_features.to(dtype), eps)
    y = normalise_features(fake_features.to(dtype), eps)
    return bures_squared_from_rows(x, y, algorithm).to(fake_features.dtype)


class BuresRegularizer(Regularizer):
    """Adds ``weight · B(C_d, C_g)²`` to the generator loss (D's loss unchanged).

    ``weight``: λ (the paper's formula; 64 = batch size reproduces the reference code's relative weight);
    ``algorithm``: ``svd`` (exact dual nuclear norm) or ``newton_schulz`` (the reference code's iteration,
    always float64); ``precision`` of the SVD route (float32 is accurate to ~1e-6 here, float64 costs ~1.7x).
    """

    needs_real_features = True

    def __init__(self, weight: float = 1.0, algorithm: str = "svd", precision: str = "float32", eps: float = 1e-12):
        require(weight >= 0, f"bures weight must be >= 0, got {weight}")
        require(algorithm in ALGORITHMS, f"bures algorithm must be one of {list(ALGORITHMS)}, got '{algorithm}'")
        require(precision in PRECISIONS, f"bures precision must be one of {list(PRECISIONS)}, got '{precision}'")
        require(eps > 0, f"bures eps must be > 0, got {eps}")
        self.weight, self.algorithm, self.eps = float(weight), algorithm, float(eps)
        self.precision = "float64" if algorithm == "newton_schulz" else precision

    def generator_term(self, batch: Batch, method) -> torch.Tensor:
        # real features carry no gradient to G; detaching keeps D's real branch out of G's backward pass
        distance = bures_squared(batch.real_features.detach(), batch.fake_features, algorithm=self.algorithm,
                                 precision=self.precision, eps=self.eps)
        batch.extra["bures"] = distance.detach()
        return self.weight * distance
