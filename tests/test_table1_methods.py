"""The RLS Table 1 competitors: PacGAN packing, importance weights (IwGAN, IwMmdGAN), the MWU mixture, and every
new method through run.py."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from conftest import QUICK, build_method, compose_run, interrupt_after
from core.errors import ConfigError
from engine.build import build_components, check_compatibility
from engine.run import execute
from gans.importance import IwMmdGAN, mixture_rbf_kernel, weighted_mmd2
from gans.kde import binned_isotropic_kde, isotropic_kde
from gans.method import Batch
from gans.mwu import MwuGAN, mixture_select
from samplers.base import UniformSampler
from samplers.mwu import multiplicative_update

NEW_METHODS = ["bures", "pacgan", "iwgan", "iwmmdgan", "mwugan", "rls_mwugan", "rls_bures_gauss", "rls_bures_discr"]
SMALL_MWU = ["method.num_generators=3", "method.kde_samples=1000", "dataset.n=2000"]


def build(overrides, steps=10):
    """A two-replica method set up on CPU with ``trainer.steps=steps``: (method, data)."""
    return build_method([*overrides, f"trainer.steps={steps}"], replicas=2)


# ------------------------------------------------------------------------------------------------------ PacGAN


def test_pacgan_discriminator_sees_consecutive_pairs_concatenated():
    method, data = build(["method=pacgan"])
    assert method.pack == 2
    assert method.D.net.layers[0].weight.shape[1] == 2 * 2  # input width: 2 samples of 2-D data
    x = torch.randn(2, 64, 2)
    logits, features = method.discriminate(x)
    assert logits.shape == (2, 32) and features.shape == (2, 32, 128)
    packed = torch.cat([x[:, 0::2], x[:, 1::2]], dim=-1)  # pack i = (sample 2i, sample 2i+1)
    torch.testing.assert_close(method.D(packed)[0], logits)
    changed = x.clone()
    changed[:, 7] += 1.0  # sample 7 lives in pack 3 only
    diff = (method.discriminate(changed)[0] - logits).abs().sum(0)
    assert diff[3] > 0 and torch.count_nonzero(diff) == 1


def test_pacgan_packs_never_mix_real_and_fake_samples():
    method, data = build(["method=pacgan"])
    seen = []
    forward = method.D.forward
    method.D.forward = lambda x: (seen.append(x.detach().clone()), forward(x))[1]
    indices = torch.randint(data.n, (2, 64))
    method.real_batch = lambda: (indices, data.x[indices])
    made = []
    generate = method.G.forward
    method.G.forward = lambda z: (made.append(generate(z)), made[-1])[1]
    method.train_step(0)
    real_packs, fake_packs = seen  # one D call per half
    fake = made[0].detach()
    torch.testing.assert_close(real_packs, torch.cat([data.x[indices][:, 0::2], data.x[indices][:, 1::2]], -1))
    torch.testing.assert_close(fake_packs, torch.cat([fake[:, 0::2], fake[:, 1::2]], -1))


def test_pacgan_needs_a_batch_divisible_by_the_pack():
    cfg, _ = compose_run(QUICK + ["method=pacgan", "trainer.batch_size=63"])
    with pytest.raises(ConfigError, match="divisible"):
        build_components(cfg)


# ----------------------------------------------------------------------------------------- importance weights


def _mixture_density(x, data, weights):
    cov = data.covariances.double().numpy()
    return sum(w * multivariate_normal(c, cv).pdf(x) for w, c, cv in zip(weights, data.centers.double().numpy(), cov))


def test_importance_weights_equal_one_over_m_from_the_metadata():
    method, data = build(["method=iwgan"])
    x = data.x.double().numpy()
    k = data.num_modes
    ratio = _mixture_density(x, data, [1 / k] * k) / _mixture_density(x, data, data.observed_weights.double().numpy())
    np.testing.assert_allclose(data.importance_weights.double().numpy(), ratio, rtol=1e-4)
    # near the centres, 1/M = (1/K) / P(mode): 0.525 on the 4 majority modes, 10.5 on the minority ones (x0.05)
    labels = data.labels.numpy()
    w = data.importance_weights.numpy()
    assert np.median(w[labels >= 4]) == pytest.approx((1 / 8) / (1 / 4.2), rel=1e-3)
    assert np.median(w[labels < 4]) == pytest.approx((1 / 8) / (0.05 / 4.2), rel=1e-3)
    batch = Batch(torch.randint(data.n, (2, 64)), None, None)
    torch.testing.assert_close(method.real_weights(batch), data.importance_weights[batch.indices])


def test_the_weighted_batch_estimate_is_unbiased_for_the_target_expectation():
    method, data = build(["method=iwgan"])
    minority = (data.labels < 4).double()  # E_target[minority] = 4/8; E_observed = 4*0.05/(4*1.05) ~ 0.048
    w = data.importance_weights.double()
    assert (w * minority).mean().item() == pytest.approx(0.5, abs=2e-3)  # the expectation over uniform batches
    sampler = UniformSampler(shuffle=False)  # i.i.d. uniform batches
    sampler.setup(data, 2000, 64, torch.Generator().manual_seed(3))
    idx = sampler.sample()
    estimates = (w[idx] * minority[idx]).mean(-1)  # 2000 independent batch estimates
    se = estimates.std() / math.sqrt(len(estimates))
    assert abs(estimates.mean().item() - 0.5) < 4 * se.item() + 2e-3
    assert minority[idx].mean().item() < 0.06  # unweighted: biased towards the observed distribution
    loss = method.loss.d_loss(torch.zeros(1, 64), torch.zeros(1, 64), w[idx[:1]].float())
    assert loss.item() == pytest.approx((w[idx[0]] * math.log(2)).mean().item() + math.log(2), rel=1e-5)


def test_importance_weighting_needs_a_known_density_ratio():
    cfg, _ = compose_run(QUICK + ["method=iwgan"])
    parts = build_components(cfg)
    parts.dataset.provides = frozenset({"mixture", "labels"})  # a dataset without importance_weights
    with pytest.raises(ConfigError, match="importance_weights"):
        check_compatibility(parts)
    cfg, _ = compose_run(QUICK + ["method=iwgan", "method.pack=2"])
    with pytest.raises(ConfigError, match="pack=1"):
        build_components(cfg)


def test_weighted_mmd_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 7, 3, generator=gen, dtype=torch.float64), torch.randn(1, 5, 3, generator=gen, dtype=torch.float64)
    w = torch.rand(1, 7, generator=gen, dtype=torch.float64) * 3
    sigmas = [0.5, 2.0]
    xs, ys, ws = x[0].numpy(), y[0].numpy(), w[0].numpy()

    def k(a, b):
        return sum(math.exp(-float(((a - b) ** 2).sum()) / (2 * s * s)) for s in sigmas)

    kxx = np.array([[k(a, b) for b in xs] for a in xs])
    kyy = np.array([[k(a, b) for b in ys] for a in ys])
    kxy = np.array([[k(a, b) for b in ys] for a in xs])
    off_x, off_y = ~np.eye(7, dtype=bool), ~np.eye(5, dtype=bool)
    # unbiased: unnormalised weights, U-statistics
    unbiased = ((np.outer(ws, ws) * kxx)[off_x].sum() / (7 * 6) + kyy[off_y].sum() / (5 * 4)
                - 2 * (ws[:, None] * kxy).sum() / (7 * 5))
    assert weighted_mmd2(x, y, w, sigmas, unbiased=True).item() == pytest.approx(unbiased, rel=1e-10)
    # self-normalised (default): p = w / sum w, V-statistics (diagonals included)
    p = ws / ws.sum()
    v = p @ kxx @ p + kyy.mean() - 2 * (p @ kxy).mean()
    assert weighted_mmd2(x, y, w, sigmas).item() == pytest.approx(v, rel=1e-10)
    assert weighted_mmd2(x, y, 5 * w, sigmas).item() == pytest.approx(v, rel=1e-10)  # scale-free
    assert mixture_rbf_kernel(x, x, sigmas)[0, 2, 2].item() == pytest.approx(len(sigmas))
    assert abs(weighted_mmd2(x, x.clone(), None, sigmas).item()) < 1e-12  # V-statistic: exactly 0 for one set
    assert abs(weighted_mmd2(x, x.clone(), None, sigmas, unbiased=True).item()) < 0.5  # U-statistic: ~0, not exactly


def test_weighted_mmd_with_mmd_gan_bandwidths_matches_brute_force_and_finite_differences():
    """σ = 1, 2, 4, 8, 16 takes the squaring shortcut of the kernel and the hand-written backward."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 9, 4, generator=gen, dtype=torch.float64), torch.rand(1, 6, 4, generator=gen, dtype=torch.float64)
    w = torch.rand(1, 9, generator=gen, dtype=torch.float64) + 0.5
    sigmas = [1.0, 2.0, 4.0, 8.0, 16.0]
    d = torch.cdist(torch.cat([x, y], 1), torch.cat([x, y], 1))[0].numpy() ** 2
    kernel = sum(np.exp(-d / (2 * s * s)) for s in sigmas)
    a = np.concatenate([w[0].numpy() / w[0].sum().item(), np.full(6, -1 / 6)])
    assert weighted_mmd2(x, y, w, sigmas).item() == pytest.approx(a @ kernel @ a, rel=1e-10)
    assert weighted_mmd2(x.float(), y.float(), w.float(), sigmas).item() == pytest.approx(a @ kernel @ a, rel=1e-4)
    xg, yg = x.clone().requires_grad_(), y.clone().requires_grad_()
    for bandwidths in (sigmas, [0.5, 1.0, 3.0]):  # squaring chain; exps only
        assert torch.autograd.gradcheck(lambda u, v: weighted_mmd2(u, v, w, bandwidths), (xg, yg))
    with pytest.raises(RuntimeError, match="no second derivative"):
        (g,) = torch.autograd.grad(weighted_mmd2(xg, yg, w, sigmas).sum(), xg, create_graph=True)
        g.sum().backward()


def test_iwmmdgan_refuses_an_unknown_estimator_and_an_unused_loss():
    with pytest.raises(ConfigError, match="loss group is unused"):
        build(["method=iwmmdgan", "loss=wgan_gp"])
    cfg, _ = compose_run(QUICK + ["method=iwmmdgan", "method.estimator=biased"])
    with pytest.raises(Exception) as info:  # Hydra wraps the constructor's ConfigError
        build_components(cfg)
    assert "method.estimator must be one of ['self_normalised', 'unbiased']" in str(info.value)


def test_iwmmdgan_critic_maximises_and_generator_minimises_the_weighted_mmd():
    method, data = build(["method=iwmmdgan"])
    assert isinstance(method, IwMmdGAN) and method.requires == {"importance_weights"}
    indices, real = method.real_batch()
    fake = method.G(method.noise(64))
    out, feats = method.discriminate(torch.cat([real, fake], 1))
    batch = Batch(indices, real, fake, out[:, :64], out[:, 64:], feats[:, :64], feats[:, 64:])
    mmd = weighted_mmd2(feats[:, :64], feats[:, 64:], data.importance_weights[indices], method.sigmas)
    torch.testing.assert_close(method.discriminator_loss(batch), -mmd)
    torch.testing.assert_close(method.generator_loss(batch), mmd)
    method.train_step(0)  # D's logit layer is unused: its gradient stays None and the step still runs
    assert method.D.net.layers[-1].weight.grad is None


def test_iwmmdgan_one_backward_pass_gives_the_two_pass_gradients():
    """The zero-sum simultaneous step (one backward of the MMD, D's gradient negated) updates D and G exactly as
    separate backward passes of D's and G's losses."""
    fast, _ = build(["method=iwmmdgan", "trainer.update_scheme=simultaneous"])
    slow, _ = build(["method=iwmmdgan", "trainer.update_scheme=simultaneous"])
    assert fast.is_zero_sum()
    slow.is_zero_sum = lambda: False
    for step in range(3):
        fast.train_step(step)
        slow.train_step(step)
    for a, b in zip([*fast.D.parameters(), *fast.G.parameters()], [*slow.D.parameters(), *slow.G.parameters()]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.loss_d, -fast.loss_g)
    # a regulariser on either loss breaks the symmetry: the two-pass step is used
    bures, _ = build(["method=iwmmdgan", "+method.regularizers.bures._target_=gans.bures.BuresRegularizer"])
    assert bures.regularizers and not bures.is_zero_sum()


# ------------------------------------------------------------------------------------------------------- MWU


def test_mwu_update_doubles_exactly_the_points_below_delta_and_stays_normalised():
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand(3, 1000, generator=gen, dtype=torch.float64)
    weights /= weights.sum(-1, keepdim=True)
    ratio = torch.rand(3, 1000, generator=gen, dtype=torch.float64) * 0.5
    ratio[0, :5] = 0.25  # exactly delta: not below
    ratio[1, :5] = float("nan")  # a diverged generator: treated as "not generated"
    new, below = multiplicative_update(weights, ratio, 0.25)
    expected_below = (ratio < 0.25) | torch.isnan(ratio)
    assert torch.equal(below, expected_below) and not below[0, :5].any() and below[1, :5].all()
    torch.testing.assert_close(new.sum(-1), torch.ones(3, dtype=torch.float64))
    factor = new / weights  # constant on the untouched points, exactly twice that on the doubled ones
    for r in range(3):
        base = factor[r][~below[r]]
        torch.testing.assert_close(base, torch.full_like(base, base[0].item()))
        torch.testing.assert_close(factor[r][below[r]], torch.full_like(factor[r][below[r]], 2 * base[0].item()))


def test_mixture_samples_each_generator_in_its_proportion():
    outputs = torch.stack([torch.full((2, 40000, 2), float(t)) for t in range(3)])  # generator t emits t
    weights = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype=torch.float64)
    choice = torch.multinomial(weights, 40000, replacement=True, generator=torch.Generator().manual_seed(0))
    samples = mixture_select(outputs, choice)
    for r in range(2):
        shares = torch.bincount(samples[r, :, 0].long(), minlength=3).double() / 40000
        torch.testing.assert_close(shares, weights[r], atol=0.01, rtol=0)


def test_mwugan_generates_from_the_uniform_mixture_of_its_generators():
    method, data = build(["method=mwugan", *SMALL_MWU], steps=5)
    assert method.planned_steps(30000) == 3 * 30000
    last = method.G.net.layers[-1]
    for stage in range(3):  # make generator t emit the constant point (t, -t), then end its stage
        with torch.no_grad():
            method.G.net.layers[-1].weight.zero_()
            method.G.net.layers[-1].bias.copy_(torch.tensor([float(stage), -float(stage)]).expand_as(last.bias))
        if stage < 2:
            method.next_generator()
            last = method.G.net.layers[-1]
    assert method.stage == 2 and len(method.finished) == 2
    samples = method.generate(30000, torch.Generator().manual_seed(1))
    assert samples.shape == (2, 30000, 2)
    for r in range(2):
        shares = torch.bincount(samples[r, :, 0].round().long(), minlength=3).double() / 30000
        torch.testing.assert_close(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.012, rtol=0)


def test_kde_ratio_flags_the_modes_a_generator_misses():
    method, data = build(["method=mwugan", *SMALL_MWU])
    x = data.x
    gen = torch.Generator().manual_seed(0)
    majority = torch.nonzero(data.labels >= 4).flatten()
    fake = x[majority[torch.randint(len(majority), (2, 10000), generator=gen)]]
    fake = fake + 0.01 * torch.randn(fake.shape, generator=gen)  # a generator covering only the majority modes
    h = method.kde_bandwidth()
    assert h == pytest.approx(0.05)
    exact = isotropic_kde(x, fake, h)
    binned = binned_isotropic_kde(x, fake, h)
    np.testing.assert_allclose(binned[exact > 1].numpy(), exact[exact > 1].numpy(), rtol=0.05)
    ratio = binned / isotropic_kde(x, x.unsqueeze(0), h, leave_one_out=True)
    minority = data.labels < 4
    assert (ratio[:, minority] < 0.25).float().mean() > 0.99  # missing: doubled
    assert (ratio[:, ~minority] > 0.25).float().mean() > 0.95  # generated (over-generated by 1/0.95): kept


def test_discriminator_density_ratio_is_exp_minus_logit_times_n_w():
    method, data = build(["method=mwugan", "method.density=discriminator", *SMALL_MWU])
    with torch.no_grad():
        method.D.net.layers[-1].weight.zero_()
        method.D.net.layers[-1].bias.fill_(math.log(2.0))  # D says p_w/p_g = 2 everywhere
    probs = method.sampler.probs
    torch.testing.assert_close(method.density_ratio(), 0.5 * probs * data.n)


def test_mwugan_starts_from_the_configured_sampler_and_replicas_keep_their_own_weights():
    method, data = build(["method=rls_mwugan", *SMALL_MWU])
    rls = method.sampler.probs
    assert rls.shape == (2, data.n) and rls[0].std() > 0  # the normalised leverage scores, not uniform
    method, data = build(["method=mwugan", *SMALL_MWU])
    torch.testing.assert_close(method.sampler.probs, torch.full((2, data.n), 1 / data.n, dtype=torch.float64))
    ratio = torch.ones(2, data.n, dtype=torch.float64)
    ratio[1, :100] = 0.0  # only replica 1 misses points
    method.density_ratio = lambda: ratio
    method.next_generator()
    assert torch.allclose(method.sampler.probs[0], torch.full((data.n,), 1 / data.n, dtype=torch.float64))
    assert method.sampler.probs[1, 0] == pytest.approx(2 / (data.n + 100))
    cfg, _ = compose_run(QUICK + ["method=mwugan", "sampler=rls_discr"])
    parts = build_components(cfg)
    with pytest.raises(ConfigError, match="fixed sampling distribution"):
        MwuGAN.initial_weights(parts.sampler, None)


# ------------------------------------------------------------------------------------- through run.py


def _execute(tmp_path, overrides, name="run"):
    cfg, choices = compose_run(QUICK + overrides)
    return execute(cfg, choices, tmp_path / name)


@pytest.mark.parametrize("method", NEW_METHODS)
def test_each_new_method_runs_through_run_py_with_replicas(tmp_path, method):
    extra = SMALL_MWU if "mwu" in method else []
    records = _execute(tmp_path, [f"method={method}", "trainer.replicas=2", "trainer.steps=40", *extra])
    steps = 120 if "mwu" in method else 40
    assert [r["seed"] for r in records] == [0, 1]
    assert all(r["status"] == "completed" and r["timing"]["steps"] == steps for r in records)
    assert records[0]["group"]["method"] == method


@pytest.mark.parametrize("method", ["bures", "iwmmdgan", "mwugan"])
def test_alternating_scheme(tmp_path, method):
    extra = SMALL_MWU if "mwu" in method else []
    records = _execute(tmp_path, [f"method={method}", "trainer.update_scheme=alternating", "trainer.n_dis=2",
                                  "trainer.steps=20", *extra])
    assert records[0]["status"] == "completed"


def test_mwugan_resumes_in_the_middle_of_the_sequence(tmp_path, monkeypatch):
    overrides = ["method=mwugan", *SMALL_MWU, "trainer.steps=30", "trainer.replicas=2", "plots.enabled=true"]
    straight = _execute(tmp_path, overrides, "straight")

    monkeypatch.setattr(MwuGAN, "on_step_end", interrupt_after(44))  # a Ctrl-C during generator 2 (stage 1)
    with pytest.raises(KeyboardInterrupt):
        _execute(tmp_path, overrides, "resumed")
    monkeypatch.undo()
    checkpoint = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert checkpoint["state"]["step"] == 45 and checkpoint["method"]["mwu"]["stage"] == 1
    resumed = _execute(tmp_path, overrides, "resumed")
    assert resumed[0]["timing"]["steps"] == 90
    assert [r["metrics"] for r in resumed] == [r["metrics"] for r in straight]
    assert (tmp_path / "resumed" / "plots" / "weights_seed0.png").exists()  # the MWU weights are plotted
