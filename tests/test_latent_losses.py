"""The latent-code losses against direct computations: reconstruction, mode cross-entropy, AM-softmax, the
aggregated-posterior KL of prior learning, InfoGAN's mutual-information bound and ClusterGAN's losses."""
import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from conftest import build_method
from gans.latent_losses import (aggregated_kl, am_softmax_logits, categorical_mi_bound, gaussian_mi_bound,
                                mode_cross_entropy, reconstruction_loss)


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_reconstruction_and_mode_cross_entropy_against_numpy():
    z, z_hat = _rand(2, 16, 5, seed=1), _rand(2, 16, 5, seed=2)
    d = (z_hat - z).numpy()
    np.testing.assert_allclose(reconstruction_loss(z_hat, z, "l2").numpy(), (d ** 2).mean(axis=(1, 2)))
    np.testing.assert_allclose(reconstruction_loss(z_hat, z, "l1").numpy(), np.abs(d).mean(axis=(1, 2)))
    logits = _rand(2, 16, 4, seed=3)
    modes = torch.randint(4, (2, 16), generator=torch.Generator().manual_seed(4))
    log_p = special.log_softmax(logits.numpy(), axis=-1)
    expected = -np.take_along_axis(log_p, modes.numpy()[..., None], -1)[..., 0].mean(1)
    np.testing.assert_allclose(mode_cross_entropy(logits, modes).numpy(), expected)


def test_am_softmax_loss_against_its_formula():
    """Wang et al. 2018: -log e^{s(cos θ_y - m)} / (e^{s(cos θ_y - m)} + Σ_{j≠y} e^{s cos θ_j}), with cos θ from the
    inverter's normalised features and class weights."""
    from gans.inverters import InverterSpec
    from gans.layers import seeded_generators

    spec = InverterSpec(arch="mlp", hidden=[8], head="am_softmax", am_scale=30.0, am_margin=0.4)
    inverter = spec.build((3,), latent_dim=3, modes=4, generators=seeded_generators([0]))
    x = torch.randn(1, 10, 3, generator=torch.Generator().manual_seed(5))
    modes = torch.randint(4, (1, 10), generator=torch.Generator().manual_seed(6))
    out = inverter(x)
    f = inverter.body(x)[0].detach().numpy()
    w = inverter.mode_weight[0].detach().numpy()
    cos = (f / np.linalg.norm(f, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=0, keepdims=True))
    np.testing.assert_allclose(out.cosine[0].detach().numpy(), cos, rtol=1e-5, atol=1e-6)
    y = modes[0].numpy()
    target = np.exp(30 * (cos[np.arange(10), y] - 0.4))
    others = np.exp(30 * cos).sum(1) - np.exp(30 * cos[np.arange(10), y])
    expected = -np.log(target / (target + others)).mean()
    loss = mode_cross_entropy(inverter.training_logits(out, modes), modes)
    np.testing.assert_allclose(float(loss.detach()), expected, rtol=1e-4)
    torch.testing.assert_close(out.logits, am_softmax_logits(out.cosine, None, 30.0, 0.4))  # inference: no margin


def test_aggregated_kl_against_scipy():
    target = torch.softmax(_rand(2, 32, 5, seed=7), -1)
    codes = torch.softmax(3 * _rand(2, 64, 5, seed=8), -1)
    expected = [stats.entropy(target[r].mean(0).numpy(), codes[r].mean(0).numpy()) for r in range(2)]
    np.testing.assert_allclose(aggregated_kl(target, codes).numpy(), expected, rtol=1e-6)
    one_hot = torch.nn.functional.one_hot(torch.tensor([[0, 0, 1]]), 3).double()  # an empty mode: clamped at eps
    p = np.array([0.5, 0.3, 0.2])
    value = float(aggregated_kl(torch.tensor(p)[None, None], one_hot, eps=1e-7))
    assert value == pytest.approx(0.5 * math.log(0.5 / (2 / 3)) + 0.3 * math.log(0.3 / (1 / 3)) + 0.2 * math.log(0.2 / 1e-7))


def test_infogan_bounds_against_direct_computations():
    logits, prior = _rand(2, 20, 3, seed=9), torch.tensor([[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]], dtype=torch.float64)
    modes = torch.randint(3, (2, 20), generator=torch.Generator().manual_seed(10))
    log_q = special.log_softmax(logits.numpy(), -1)
    ll = np.take_along_axis(log_q, modes.numpy()[..., None], -1)[..., 0].mean(1)
    np.testing.assert_allclose(categorical_mi_bound(logits, modes, prior).numpy(),
                               ll + stats.entropy(prior.numpy(), axis=1))
    perfect = 50.0 * torch.nn.functional.one_hot(modes, 3).double()  # Q certain and right: the bound is H(c)
    np.testing.assert_allclose(categorical_mi_bound(perfect, modes, prior).numpy(), stats.entropy(prior.numpy(), axis=1),
                               atol=1e-12)
    mean, codes = _rand(2, 20, 2, seed=11), torch.rand(2, 20, 2, dtype=torch.float64) * 2 - 1
    expected = stats.norm.logpdf(codes.numpy(), mean.numpy(), 0.5).sum(-1).mean(-1) + 2 * math.log(2)
    np.testing.assert_allclose(gaussian_mi_bound(mean, codes, 2 * math.log(2), std=0.5).numpy(), expected)


def test_infogan_code_loss_is_minus_the_weighted_bound_of_q_on_d_features():
    method, _ = build_method(["method=infogan", "gan.z_dim=30", "method.continuous_weight=0.5"], replicas=2)
    codes = method.latent.sample_codes(16, torch.Generator().manual_seed(0))
    fake = method.G(codes.z)
    _, features = method.D(fake)
    q = method.inverter(features)[0]
    k = method.latent.modes
    prior = method.latent.mode_weights().detach()
    categorical = categorical_mi_bound(q[..., :k], codes.modes, prior)
    continuous = gaussian_mi_bound(q[..., k:], codes.z[..., 20:22], 2 * math.log(2.0))  # noise dims 0..21, last 2
    from gans.method import Batch

    batch = Batch(None, None, fake, fake_out=None, fake_features=features)
    torch.testing.assert_close(method.code_loss(batch, codes), -(categorical + 0.5 * continuous))


def test_clustergan_losses_against_manual_ones():
    method, _ = build_method(["method=clustergan", "gan.z_dim=30", "method.beta_n=3.0", "method.beta_c=7.0"],
                             replicas=2)
    codes = method.latent.sample_codes(16, torch.Generator().manual_seed(1))
    fake = method.G(codes.z)
    out = method.inverter(fake)
    z_n = codes.z[..., :22]  # z_n: every dimension but the 8 one-hot ones (ring: 8 clusters)
    assert out.latent.shape[-1] == 22 and torch.all(codes.z[..., 22:].argmax(-1) == codes.modes)
    rec = ((z_n - out.latent) ** 2).mean(dim=(1, 2))
    ce = torch.stack([torch.nn.functional.cross_entropy(out.logits[r], codes.modes[r]) for r in range(2)])
    from gans.method import Batch

    batch = Batch(None, None, fake)
    torch.testing.assert_close(method.code_loss(batch, codes), 3.0 * rec + 7.0 * ce)
