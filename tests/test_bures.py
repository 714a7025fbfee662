"""BuresGAN's regulariser: the squared Bures distance against scipy's sqrtm, its gradients, its place in the loss."""
import numpy as np
import pytest
import scipy.linalg
import torch

from conftest import QUICK, compose_run
from engine.build import build_components
from gans.bures import (BuresRegularizer, bures_squared, bures_squared_from_rows, covariance, normalise_features,
                        sqrtm_newton_schulz)
from gans.method import Batch, RunContext


def scipy_bures(c1: np.ndarray, c2: np.ndarray) -> float:
    return float(np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2)).real)


def rows_of(cov: np.ndarray) -> torch.Tensor:
    """Rows X with XᵀX / b = cov (b = m rows: X = √m Lᵀ for cov = L Lᵀ)."""
    chol = np.linalg.cholesky(cov)
    return torch.tensor(np.sqrt(cov.shape[0]) * chol.T)


@pytest.mark.parametrize("m", [3, 8, 20])
def test_bures_matches_scipy_sqrtm_on_random_covariance_pairs(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        a, b = rng.normal(size=(m, m)), rng.normal(size=(m, 2 * m))
        c1, c2 = a @ a.T / m + 0.1 * np.eye(m), b @ b.T / (2 * m)  # c2 positive definite as well (2m columns)
        ours = bures_squared_from_rows(rows_of(c1), rows_of(c2)).item()
        assert ours == pytest.approx(scipy_bures(c1, c2), rel=1e-8, abs=1e-10)
        newton = bures_squared_from_rows(rows_of(c1), rows_of(c2), algorithm="newton_schulz", newton_schulz_iters=40)
        assert newton.item() == pytest.approx(scipy_bures(c1, c2), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("b1, b2, m", [(64, 64, 128), (64, 32, 128), (200, 150, 16)])
def test_bures_of_normalised_discriminator_features_matches_scipy(b1, b2, m):
    """The case of the method: b < m (rank-deficient covariances, the dual form) and b > m; batched replicas."""
    gen = torch.Generator().manual_seed(b1 + m)
    real = torch.randn(3, b1, m, generator=gen, dtype=torch.float64)
    fake = 0.5 * torch.randn(3, b2, m, generator=gen, dtype=torch.float64) + 0.3
    ours = bures_squared(real, fake, precision="float64")
    x, y = normalise_features(real), normalise_features(fake)
    for s in range(3):
        expected = scipy_bures(covariance(x[s]).numpy(), covariance(y[s]).numpy())
        assert ours[s].item() == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert torch.allclose(bures_squared(real.float(), fake.float()).double(), ours, atol=2e-6)  # float32 SVD


def test_normalised_features_are_centred_unit_rows_and_traces_are_one():
    phi = torch.randn(2, 64, 128) * 3 + 1
    x = normalise_features(phi)
    assert torch.allclose(x.norm(dim=-1), torch.ones(2, 64), atol=1e-6)
    assert torch.allclose(phi - phi.mean(1, keepdim=True), x * (phi - phi.mean(1, keepdim=True)).norm(dim=-1, keepdim=True),
                          atol=1e-5)
    assert torch.allclose(torch.diagonal(covariance(x), dim1=-2, dim2=-1).sum(-1), torch.ones(2), atol=1e-6)  # the 1/b


@pytest.mark.parametrize("precision, tol", [("float32", 1e-5), ("float64", 1e-12)])
def test_bures_is_zero_for_identical_feature_sets(precision, tol):
    phi = torch.randn(4, 64, 128)
    assert bures_squared(phi, phi, precision=precision).abs().max() < tol
    assert bures_squared(phi, 3 * phi + 2, precision=precision).abs().max() < tol  # centring + normalisation
    assert bures_squared(phi, torch.randn(4, 64, 128), precision=precision).min() > 0.1


def test_newton_schulz_square_root_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    spd = a @ a.T + np.eye(6)
    ours = sqrtm_newton_schulz(torch.tensor(spd), 30).numpy()
    np.testing.assert_allclose(ours, scipy.linalg.sqrtm(spd).real, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("case", ["identical", "repeated_rows", "constant_batch", "low_rank"])
def test_gradients_are_finite_at_repeated_and_zero_singular_values(case):
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(2, 64, 128, generator=gen)
    if case == "identical":  # every singular value repeated in pairs of equal sets, and one exactly zero
        fake = real.clone()
    elif case == "repeated_rows":
        fake = real[:, :8].repeat(1, 8, 1)
    elif case == "constant_batch":  # a collapsed generator: all centred rows are zero
        fake = torch.ones(2, 64, 128)
    else:
        fake = torch.randn(2, 64, 2, generator=gen) @ torch.randn(2, 2, 128, generator=gen)
    fake.requires_grad_(True)
    for algorithm in ("svd", "newton_schulz"):
        value = bures_squared(real, fake, algorithm=algorithm)
        (grad,) = torch.autograd.grad(value.sum(), fake)
        assert torch.isfinite(value).all() and torch.isfinite(grad).all(), (case, algorithm)


def test_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(1)
    real = torch.randn(1, 6, 9, generator=gen, dtype=torch.float64)
    fake = torch.randn(1, 5, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: bures_squared(real, f, precision="float64"), (fake,))


def _bures_method(extra=()):
    cfg, _ = compose_run(QUICK + ["method=bures", *extra])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=[0, 1], batch_size=64,
                     steps=10, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    parts.method.setup(ctx)
    return parts.method, data


def test_the_bures_term_is_added_to_the_generator_loss_only():
    method, data = _bures_method(["method.regularizers.bures.weight=2.5"])
    reg = method.regularizers[0]
    assert isinstance(reg, BuresRegularizer) and reg.weight == 2.5
    indices, real = method.real_batch()
    fake = method.G(method.noise(64))
    out, feats = method.discriminate(torch.cat([real, fake], 1))
    batch = Batch(indices, real, fake, out[:, :64], out[:, 64:], feats[:, :64], feats[:, 64:])
    expected = method.loss.g_loss(batch.fake_out) + 2.5 * bures_squared(feats[:, :64], feats[:, 64:])
    torch.testing.assert_close(method.generator_loss(batch), expected)
    torch.testing.assert_close(method.discriminator_loss(batch), method.loss.d_loss(batch.real_out, batch.fake_out))


def test_bures_config_weight_is_the_reference_codes_batch_size():
    cfg, choices = compose_run(["method=bures"])
    assert cfg.method.regularizers.bures.weight == cfg.trainer.batch_size and choices["sampler"] == "uniform"
    cfg, _ = compose_run(["method=bures", "trainer.batch_size=32"])
    assert cfg.method.regularizers.bures.weight == 32
    for name, sampler in (("rls_bures_gauss", "rls_gauss"), ("rls_bures_discr", "rls_discr")):
        cfg, choices = compose_run([f"method={name}"])
        assert choices["sampler"] == sampler and cfg.method.regularizers.bures._target_ == "gans.bures.BuresRegularizer"
