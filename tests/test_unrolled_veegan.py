"""Unrolled GAN and VEEGAN: the unrolled steps leave the real discriminator untouched; the objectives as written."""
import copy

import pytest
import torch
import torch.nn.functional as F

from conftest import build_method


def _method(overrides, replicas=2):
    return build_method(overrides, replicas)[0]


UNROLLED = ["method=unrolled", "trainer.update_scheme=alternating"]  # the tests call discriminator_step/generator_step


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_unrolled_generator_steps_leave_the_real_discriminator_untouched(optimizer):
    method = _method(UNROLLED + [f"method.unroll_optimizer={optimizer}"])
    method.discriminator_step()
    d_params = {k: v.clone() for k, v in method.D.state_dict().items()}
    d_opt = copy.deepcopy(method.opt_d.state_dict())
    d_grads = [p.grad.clone() for p in method.D.parameters()]  # left by the discriminator step
    g_before = [p.clone() for p in method.G.parameters()]
    method.generator_step()
    for k, v in method.D.state_dict().items():
        assert torch.equal(v, d_params[k])
    assert all(torch.equal(p.grad, g) for p, g in zip(method.D.parameters(), d_grads))
    after = method.opt_d.state_dict()
    for key, state in d_opt["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(after["state"][key][name]), torch.as_tensor(value))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, method.G.parameters()))


def test_unrolling_changes_the_generator_gradient_and_zero_steps_is_vanilla():
    grads = {}
    for k in (0, 3):
        method = _method(UNROLLED + [f"method.unroll_steps={k}"])
        torch.manual_seed(0)
        method.discriminator_step()
        fake = method.G(torch.randn(2, 64, 25, generator=torch.Generator().manual_seed(1)))
        if k == 0:
            out = method.discriminate(fake)[0]
        else:
            params = method.unrolled_parameters(method.last_batch.real, fake)
            out = method._d_out(params, fake)
            # the unrolled parameters moved away from the real ones
            assert any(not torch.allclose(params[n], p) for n, p in method.D.named_parameters())
        loss = method.loss.g_loss(out).sum()
        grads[k] = torch.autograd.grad(loss, list(method.G.parameters()))
    assert any(not torch.allclose(a, b) for a, b in zip(grads[0], grads[3]))


def test_unrolled_sgd_step_matches_a_manual_computation():
    method = _method(UNROLLED + ["method.unroll_steps=1", "method.unroll_optimizer=sgd"])
    method.discriminator_step()
    real = method.last_batch.real
    fake = method.G(torch.randn(2, 64, 25, generator=torch.Generator().manual_seed(2)))
    params = method.unrolled_parameters(real, fake)
    names = [n for n, _ in method.D.named_parameters()]
    d = copy.deepcopy(method.D)
    out, _ = d(torch.cat([real, fake.detach()], 1))
    loss = method.loss.d_loss(out[:, :64], out[:, 64:]).sum()
    grads = torch.autograd.grad(loss, list(d.parameters()))
    lr = method.opt_d.param_groups[0]["lr"]
    for name, p, g in zip(names, d.parameters(), grads):
        torch.testing.assert_close(params[name].detach(), p.detach() - lr * g, rtol=1e-5, atol=1e-7)


def test_unrolled_simultaneous_step_uses_the_pre_update_discriminator():
    """The reference code's iteration: G's gradient through k steps unrolled from D *before* this iteration's D
    update, D's gradient the plain one, both applied together. Checked against a recomputation on copies."""
    method = _method(["method=unrolled", "trainer.update_scheme=simultaneous", "method.unroll_steps=2"])
    method.train_step(0)  # non-empty Adam moments
    D0, G0 = copy.deepcopy(method.D), copy.deepcopy(method.G)
    gen_state, sampler_state = method.ctx.generator.get_state(), copy.deepcopy(method.sampler.state_dict())
    indices = method.sampler.sample(method)  # the batch and noise train_step(1) will draw
    real = method.data.as_float(method.data.x[indices])
    z = method.noise(real.shape[1])
    method.ctx.generator.set_state(gen_state)
    method.sampler.load_state_dict(sampler_state)
    params = method.unrolled_parameters(real, G0(z))  # from the pre-update D (method.D is still D0)
    g_expected = torch.autograd.grad(method.loss.g_loss(method._d_out(params, G0(z))).sum(), list(G0.parameters()))
    out, _ = D0(torch.cat([real, G0(z).detach()], 1))
    d_expected = torch.autograd.grad(method.loss.d_loss(out[:, :64], out[:, 64:]).sum(), list(D0.parameters()))
    method.train_step(1)
    for p, g in zip(method.G.parameters(), g_expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
    for p, g in zip(method.D.parameters(), d_expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-7)
    assert any(not torch.equal(a, b) for a, b in zip(D0.parameters(), method.D.parameters()))


@pytest.mark.parametrize("std", [1.0, 0.5])
def test_veegan_losses_are_algorithm_1(std):
    method = _method(["method=veegan", f"method.reconstructor_std={std}"])
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(2, 16, 2, generator=gen)
    z = torch.randn(2, 16, 25, generator=gen)
    fake = method.G(z)
    state = method.ctx.generator.get_state()
    loss_d, loss_g, loss_f = method.losses(real, z, fake)
    # data pairs: z' ~ N(F(x), std² I), drawn from the run's generator
    method.ctx.generator.set_state(state)
    z_data = method.reconstruct(real) + std * torch.randn(2, 16, 25, generator=method.ctx.generator)
    d_gen, d_data = method.D(z, fake), method.D(z_data, real)
    torch.testing.assert_close(loss_d, F.softplus(-d_gen).mean(-1) + F.softplus(d_data).mean(-1))
    # the reconstruction term is -log N(z; F(G(z)), std² I) up to its constant
    nll = -torch.distributions.Normal(method.reconstruct(fake), std).log_prob(z).sum(-1)
    rec = (nll + z.shape[-1] * torch.distributions.Normal(0.0, std).log_prob(torch.tensor(0.0))).mean(-1)
    torch.testing.assert_close(loss_f, rec)
    torch.testing.assert_close(loss_g, d_gen.mean(-1) + rec)
    # the discriminator sees pairs [x, z]
    assert method.D.net.layers[0].weight.shape[1] == 2 + 25


def test_veegan_data_pairs_have_the_reconstructor_spread():
    """z' for one x scatters around F(x) with std σ in every latent dimension."""
    method = _method(["method=veegan", "method.reconstructor_std=0.5"], replicas=1)
    x = torch.full((1, 4000, 2), 0.3)
    draws = method.sample_reconstruction(x)
    torch.testing.assert_close(draws.mean(1), method.reconstruct(x)[:, 0], atol=0.05, rtol=0)
    torch.testing.assert_close(draws.std(1), torch.full((1, 25), 0.5), atol=0.03, rtol=0)
    assert not draws.requires_grad


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating"])
def test_veegan_steps_update_generator_reconstructor_and_discriminator(scheme):
    method = _method(["method=veegan", f"trainer.update_scheme={scheme}"])
    before = [copy.deepcopy(m.state_dict()) for m in (method.G, method.F, method.D)]
    method.train_step(0)
    for module, state in zip((method.G, method.F, method.D), before):
        assert any(not torch.equal(v, state[k]) for k, v in module.state_dict().items())


@pytest.mark.parametrize("lr_d, expected", [("2e-3", 2e-3), ("null", 5e-4)])
def test_veegan_discriminator_learning_rate(lr_d, expected):
    method = _method(["method=veegan", f"method.lr_d={lr_d}", "gan.lr_d=5e-4", "gan.lr_g=3e-4"])
    assert [g["lr"] for g in method.opt_d.param_groups] == [expected]
    assert [g["lr"] for g in method.opt_f.param_groups] == [3e-4]


def test_veegan_rejects_a_deterministic_reconstructor():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="reconstructor_std"):
        _method(["method=veegan", "method.reconstructor_std=0"])


def test_veegan_needs_the_ns_loss():
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="loss=ns"):
        _method(["method=veegan", "loss=hinge"])
