"""Latent priors (gans/priors.py): sampling frequencies, the reparameterisation's gradient to α, where the one-hot
goes, the 1,000-mode prior, conditional codes, refused settings and the Gaussian default."""
import numpy as np
import pytest
import torch
from scipy import stats

from core.errors import ConfigError
from gans.mlp import MLPGAN
from gans.priors import GaussianPrior, ModePrior, steep_step_codes


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mode_frequencies_follow_softmax_alpha_chi_square():
    weights = [[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]]
    latent = ModePrior(modes=4).build(z_dim=8, replicas=2)
    latent.logits.data = torch.log(torch.tensor(weights))
    modes = latent.sample_codes(200_000, _gen(0)).modes
    for r, w in enumerate(weights):
        counts = torch.bincount(modes[r], minlength=4).numpy()
        assert stats.chisquare(counts, np.asarray(w) * counts.sum()).pvalue > 1e-3
    assert torch.allclose(latent.mode_weights(), torch.tensor(weights), atol=1e-6)


def test_gradient_reaches_alpha_and_estimates_the_softmax_jacobian():
    """E_u[W(u; α)] = softmax(α), and the steep ramp makes the batch mean of W an unbiased estimate of its gradient:
    d/dα mean_b (W_b · v) ≈ Jᵀ v with J the softmax Jacobian (k = 1e4 for a wide ramp and a low-variance check)."""
    alpha = torch.tensor([[0.3, -0.2, 0.5, 0.0]], requires_grad=True)
    u = torch.rand(1, 400_000, generator=_gen(1))
    v = torch.tensor([1.0, -2.0, 0.5, 3.0])
    (steep_step_codes(u, alpha, 1e4).mean(1) @ v).sum().backward()
    p = torch.softmax(alpha.detach(), -1)[0]
    jacobian = torch.diag(p) - p[:, None] * p[None, :]
    torch.testing.assert_close(alpha.grad[0], jacobian.T @ v, atol=0.03, rtol=0.05)
    latent = ModePrior(modes=4).build(z_dim=4, replicas=1)  # the default steepness 1e7 still passes gradients
    latent.logits.requires_grad_(True)
    (latent.sample_codes(4096, _gen(2)).code.mean(1) @ v).sum().backward()
    assert torch.isfinite(latent.logits.grad).all() and latent.logits.grad.abs().sum() > 0


def test_one_hot_lands_in_the_configured_dimensions():
    latent = ModePrior(modes=3, mode_dims=[1, 4, 7], noise_scale=0.0).build(z_dim=9, replicas=1)
    codes = latent.sample_codes(500, _gen(3))
    z = codes.z[0]
    assert torch.equal(z[:, [1, 4, 7]].argmax(1), codes.modes[0])
    assert torch.all(z[:, [0, 2, 3, 5, 6, 8]] == 0)
    assert (z.sum(1) == 1).float().mean() > 0.97  # one-hot except on the steep step's ramps (±0.0063 in u)
    default = ModePrior(modes=3, noise_scale=0.0).build(z_dim=6, replicas=1).sample(1000, _gen(4))[0]
    assert torch.all(default[:, :3] == 0) and (default[:, 3:].sum(1) == 1).float().mean() > 0.97


def test_noise_kinds_and_which_dimensions_get_noise():
    nem = ModePrior(modes=2, noise_scale=0.3).build(z_dim=5, replicas=1)
    codes = nem.sample_codes(20_000, _gen(5))
    noise = codes.z[0] - torch.nn.functional.pad(codes.code[0], (3, 0))
    assert noise.abs().max() <= 0.3 and noise.abs().max() > 0.29  # U[-0.3, 0.3] on every dimension
    cluster = ModePrior(modes=2, noise="normal", noise_scale=0.1, noise_on_mode_dims=False).build(z_dim=5, replicas=1)
    z = cluster.sample_codes(20_000, _gen(6)).z[0]
    exact = ((z[:, 3:] == 0) | (z[:, 3:] == 1)).all(1)
    assert exact.float().mean() > 0.98  # the one-hot without noise (off the step's ramp)
    assert abs(float(z[:, :3].std()) - 0.1) < 0.003 and torch.equal(cluster.noise_dims, torch.tensor([0, 1, 2]))


def test_the_1000_mode_prior_samples_every_mode_and_conditional_codes_keep_their_mode():
    with pytest.raises(ConfigError, match="raise gan.prior.steepness to at least 1.6e"):
        ModePrior().build(z_dim=1050, replicas=1, num_modes=1000)  # the code's 1e7 blurs 1,000 modes
    latent = ModePrior(steepness=1e12).build(z_dim=1050, replicas=1, num_modes=1000)
    modes = latent.sample_codes(15_000, _gen(7)).modes[0]
    assert torch.bincount(modes, minlength=1000).min() >= 1
    wanted = torch.randint(1000, (1, 500), generator=_gen(8))
    z = latent.conditional(wanted, _gen(9))
    assert torch.equal(z[0, :, 50:].argmax(1), wanted[0])  # noise 0.3 < 0.5 keeps the mode's one-hot the largest


@pytest.mark.parametrize("make, words", [
    (lambda: MLPGAN(z_dim=5, prior=ModePrior(modes=8)), "raise gan.z_dim to at least 8"),
    (lambda: ModePrior().build(z_dim=10, replicas=1, num_modes=25), "raise gan.z_dim to at least 25"),
    (lambda: ModePrior(modes=3, noise_scale=0.5), "overlap"),
    (lambda: ModePrior(modes=3, noise="normal"), "overlap"),
    (lambda: ModePrior(modes=3, weights=[1, 2]), "2 entries for 3 modes"),
    (lambda: ModePrior(modes=3, mode_dims=[0, 0, 1]), "distinct"),
    (lambda: MLPGAN(z_dim=4, prior=ModePrior(modes=2, mode_dims=[1, 9])), "must index"),
    (lambda: ModePrior(modes=1), "integer >= 2"),
])
def test_impossible_priors_are_refused(make, words):
    with pytest.raises(ConfigError, match=words):
        make()


def test_gaussian_prior_is_the_default_and_draws_what_torch_randn_draws():
    gan = MLPGAN()
    assert isinstance(gan.latent_prior, GaussianPrior)
    z = gan.prior(3, 7, _gen(10), "cpu")
    assert torch.equal(z, torch.randn(3, 7, 25, generator=_gen(10)))
    assert not gan.build_prior(3, "cpu").state_dict()  # no parameters: nothing added to checkpoints


@pytest.mark.parametrize("noise, on_modes", [("uniform", True), ("normal", False)])
def test_mode_codes_alone_draw_what_sample_codes_draws(noise, on_modes):
    """The prior update's codes (sample_mode_codes) are sample_codes' codes and leave the stream where it leaves it."""
    latent = ModePrior(modes=3, noise=noise, noise_scale=0.2, noise_on_mode_dims=on_modes).build(z_dim=6, replicas=2)
    latent.logits.data = torch.log(torch.tensor([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    full_gen, alone_gen = _gen(11), _gen(11)
    full, alone = latent.sample_codes(300, full_gen), latent.sample_mode_codes(300, alone_gen)
    assert torch.equal(full.code, alone)
    assert torch.equal(torch.rand(5, generator=full_gen), torch.rand(5, generator=alone_gen))
