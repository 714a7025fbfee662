import numpy as np
import torch

from gans.losses import Hinge, LeastSquares, NonSaturating, WassersteinGP, gradient_penalty


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_non_saturating_matches_cross_entropy():
    real, fake = torch.randn(2, 50, dtype=torch.float64), torch.randn(2, 50, dtype=torch.float64)
    loss = NonSaturating()
    r, f = real.numpy(), fake.numpy()
    expected_d = -np.log(_sigmoid(r)).mean(1) - np.log(1 - _sigmoid(f)).mean(1)
    expected_g = -np.log(_sigmoid(f)).mean(1)
    np.testing.assert_allclose(loss.d_loss(real, fake).numpy(), expected_d, rtol=1e-10)
    np.testing.assert_allclose(loss.g_loss(fake).numpy(), expected_g, rtol=1e-10)


def test_least_squares_and_hinge_and_wgan_formulas():
    real, fake = torch.randn(1, 40, dtype=torch.float64), torch.randn(1, 40, dtype=torch.float64)
    r, f = real.numpy(), fake.numpy()
    ls = LeastSquares(a=-0.5, b=2.0, c=2.0)
    np.testing.assert_allclose(ls.d_loss(real, fake).numpy(), 0.5 * (((r - 2) ** 2).mean(1) + ((f + 0.5) ** 2).mean(1)))
    np.testing.assert_allclose(ls.g_loss(fake).numpy(), 0.5 * ((f - 2) ** 2).mean(1))
    np.testing.assert_allclose(Hinge().d_loss(real, fake).numpy(),
                               np.maximum(0, 1 - r).mean(1) + np.maximum(0, 1 + f).mean(1))
    np.testing.assert_allclose(WassersteinGP().d_loss(real, fake).numpy(), f.mean(1) - r.mean(1))


def test_weighted_loss_is_unbiased_for_the_target_expectation():
    # observed: a two-point distribution {0: 0.9, 1: 0.1}; target: uniform. w = p_target / p_observed.
    rng = np.random.default_rng(0)
    values = torch.tensor([0.3, 2.0], dtype=torch.float64)  # D outputs at the two points
    labels = torch.from_numpy(rng.choice(2, size=(1, 200_000), p=[0.9, 0.1]))
    weights = torch.tensor([0.5 / 0.9, 0.5 / 0.1], dtype=torch.float64)[labels]
    estimate = NonSaturating().g_loss(values[labels], weights).item()
    target = float(np.mean(np.log1p(np.exp(-values.numpy()))))
    assert abs(estimate - target) < 0.01


def test_gradient_penalty_is_zero_for_unit_slope_critic_and_matches_manual():
    class Linear:
        def __init__(self, w):
            self.w = w

        def __call__(self, x):
            return (x * self.w).sum(-1), x

    real, fake = torch.randn(2, 30, 3), torch.randn(2, 30, 3)
    unit = torch.tensor([0.6, 0.8, 0.0])
    gp = gradient_penalty(Linear(unit), real, fake, torch.Generator().manual_seed(0))
    torch.testing.assert_close(gp, torch.zeros(2), atol=1e-6, rtol=0)
    double = gradient_penalty(Linear(2 * unit), real, fake, torch.Generator().manual_seed(0))
    torch.testing.assert_close(double, torch.ones(2))
