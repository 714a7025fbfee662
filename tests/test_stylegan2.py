"""gan=stylegan2: the networks' structure and contracts, truncation, style mixing, the latent layout, the lazy
optimiser settings, and the R1 and path-length regularisers against independent computations."""
import math

import pytest
import torch

from conftest import compose_run
from core.errors import ConfigError
from hydra.utils import instantiate
from gans.method import Batch
from gans.path_length import PathLengthPenalty
from gans.r1 import R1Penalty, r1_penalty
from gans.stylegan2 import StyleGAN2, feature_maps

TINY = dict(z_dim=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16)


def networks(seed=0, shape=(3, 32, 32), **settings):
    spec = StyleGAN2(**{**TINY, **settings})
    gens = [torch.Generator().manual_seed(seed)]
    D = spec.build_discriminator(shape, [torch.Generator().manual_seed(seed)])
    return spec, spec.build_generator(shape, gens), D


def latent(spec, n, seed=1):
    return spec.prior(1, n, torch.Generator().manual_seed(seed), "cpu")


def test_widths_follow_the_tf_formula_of_the_diffaugment_cifar_setting():
    assert [feature_maps(r, 2048, 512) for r in (4, 8, 16, 32)] == [512, 512, 256, 128]
    assert [feature_maps(r, 16384, 512) for r in (4, 8, 16, 32)] == [512] * 4  # stylegan2-ada cifar
    assert StyleGAN2(resolution=64).widths == {4: 512, 8: 512, 16: 256, 32: 128, 64: 64}


def test_shapes_features_and_the_layer_count():
    spec, G, D = networks()
    assert G.num_ws == 8 and len(G.synthesis.layers) == 7  # 4x4: 1 conv; 8, 16, 32: 2 convs each; + last ToRGB
    x = G(latent(spec, 6))
    assert x.shape == (1, 6, 3, 32, 32)
    logits, features = D(x)
    assert logits.shape == (1, 6) and features.shape == (1, 6, spec.widths[4]) == (1, 6, D.feature_dim)
    # φ_D is the output of the layer before the last: the logit is an affine function of it
    torch.testing.assert_close(logits[0], D.out(features[0]).squeeze(1))
    assert all(layer.noise_strength.item() == 0 for layer in G.synthesis.layers)  # noise strength starts at 0
    assert {n for n, _ in G.named_buffers()} >= {"mapping.w_avg", "synthesis.layers.0.noise_const"}
    packed = StyleGAN2(**TINY).build_discriminator((3, 32, 32), [torch.Generator().manual_seed(0)], pack=2)
    assert packed.fromrgb.weight.shape[1] == 6


def test_the_latent_carries_all_randomness_and_initialisation_follows_the_seed():
    spec, G, _ = networks()
    z = latent(spec, 4)
    assert z.shape == (1, 4, spec.layout.size)
    assert spec.layout.size == 2 * 16 + 16 + 2 * (64 + 256 + 1024) + 2  # z, z2, seven noise maps, two uniforms
    torch.manual_seed(123)
    first = G(z)
    torch.manual_seed(456)
    torch.testing.assert_close(G(z), first)  # deterministic given the input, whatever the global RNG
    _, again, _ = networks()
    torch.testing.assert_close(again.state_dict()["synthesis.const"], G.state_dict()["synthesis.const"])
    _, other, _ = networks(seed=1)
    assert not torch.equal(other.synthesis.const, G.synthesis.const)


def test_truncation_psi_zero_gives_w_avg():
    spec, G, _ = networks(truncation_psi=0.0, eval_noise="const")
    G.train()
    G(latent(spec, 32))  # training mode updates w_avg
    w_avg = G.mapping.w_avg.clone()
    assert w_avg.abs().sum() > 0
    G.eval()
    z, z2, _, u = spec.layout.split(latent(spec, 5, seed=2)[0])
    ws = G.styles(z, z2, u)
    torch.testing.assert_close(ws, w_avg.expand_as(ws))
    out = G(latent(spec, 5, seed=3))[0]
    torch.testing.assert_close(out, out[:1].expand_as(out))  # every sample the same image
    assert out.abs().max() <= 1.0  # evaluation outputs are clamped to the image range
    _, half, _ = networks(truncation_psi=0.5, truncation_cutoff=3)
    half.mapping.w_avg.copy_(w_avg)
    half.eval()
    plain = half.mapping(z)
    ws = half.styles(z, z2, u)
    torch.testing.assert_close(ws[:, :3], (w_avg + 0.5 * (plain - w_avg))[:, None].expand(-1, 3, -1))
    torch.testing.assert_close(ws[:, 3:], plain[:, None].expand(-1, half.num_ws - 3, -1))


def test_w_avg_is_the_running_mean_of_w():
    spec, G, _ = networks()
    z, z2, _, u = spec.layout.split(latent(spec, 8)[0])
    w = G.mapping(z)
    G.styles(z, z2, u)
    torch.testing.assert_close(G.mapping.w_avg, (1 - 0.995) * w.mean(0))


def test_style_mixing_switches_to_the_second_latent_at_the_cutoff():
    spec, G, _ = networks(style_mixing=0.5)
    z, z2, _, _ = spec.layout.split(latent(spec, 3)[0])
    u = torch.tensor([[0.1, 0.0], [0.1, 0.99], [0.9, 0.5]])  # mix at cutoff 1, mix at cutoff 7, no mixing
    ws = G.styles(z, z2, u)
    w1, w2 = G.mapping(z), G.mapping(z2)
    for layer in range(8):
        torch.testing.assert_close(ws[0, layer], w1[0] if layer < 1 else w2[0])
        torch.testing.assert_close(ws[1, layer], w1[1] if layer < 7 else w2[1])
        torch.testing.assert_close(ws[2, layer], w1[2])
    G.eval()
    torch.testing.assert_close(G.styles(z, z2, u), w1[:, None].expand(-1, 8, -1))  # no mixing when sampling
    assert StyleGAN2(**TINY, style_mixing=0.0).layout.size == 16 + 2 * (64 + 256 + 1024) + 16


def test_eval_noise_modes():
    spec, G, _ = networks(eval_noise="none")
    for layer in G.synthesis.layers:
        layer.noise_strength.data.fill_(1.0)
    z = latent(spec, 2)
    G.eval()
    clean = G(z)
    z_other_noise = z.clone()
    z_other_noise[..., 2 * 16:-2] = 0
    torch.testing.assert_close(G(z_other_noise), clean)  # the noise maps are ignored
    G.eval_noise = "random"
    assert not torch.allclose(G(z), clean)
    G.eval_noise = "const"
    torch.testing.assert_close(G(z), G(z_other_noise))


def test_data_checks_and_lazy_optimiser_settings():
    spec = StyleGAN2(**TINY)
    with pytest.raises(ConfigError, match="gan.resolution"):
        spec.check_data("image", (3, 28, 28))
    with pytest.raises(ConfigError):
        spec.check_data("toy", (2,))
    with pytest.raises(ConfigError, match="power of two"):
        StyleGAN2(resolution=48)
    ada = instantiate(compose_run(["gan=stylegan2_ada_cifar"])[0].gan)
    assert ada.widths == {4: 512, 8: 512, 16: 512, 32: 512} and ada.mapping_layers == 2 and ada.style_mixing == 0
    opt = ada.optimizer_d([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert opt["lr"] == pytest.approx(0.0025 * 16 / 17) and opt["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    opt = ada.optimizer_g([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert opt["lr"] == pytest.approx(0.0025 * 4 / 5) and opt["betas"] == pytest.approx((0.0, 0.99 ** 0.8))
    (r1,) = ada.regularizers()
    assert (r1.gamma, r1.every, r1.inputs) == (0.01, 16, "raw")
    default = instantiate(compose_run(["gan=stylegan2"])[0].gan)
    opt = default.optimizer_d([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert opt["lr"] == 0.002 and opt["betas"] == (0.0, 0.99) and opt["eps"] == 1e-8
    assert [(r.gamma, r.every) for r in default.regularizers()] == [(0.1, 1)]
    assert default.widths == {4: 512, 8: 512, 16: 256, 32: 128} and default.mapping_layers == 8
    assert instantiate(compose_run(["gan=stylegan2_celeba64"])[0].gan).resolution == 64


class QuadraticD(torch.nn.Module):
    """D(x) = xᵀAx + bᵀx per sample, so ∇_x D = (A + Aᵀ)x + b in closed form."""

    def __init__(self, d):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.A = torch.randn(d, d, generator=g, dtype=torch.float64)
        self.b = torch.randn(d, generator=g, dtype=torch.float64)

    def forward(self, x):
        flat = x.flatten(2)
        return torch.einsum("sbi,ij,sbj->sb", flat, self.A, flat) + flat @ self.b, flat


class StubMethod:
    def __init__(self, D):
        self.discriminate = D


def test_r1_against_the_closed_form_gradient_and_its_lazy_schedule():
    D = QuadraticD(12)
    real = torch.randn(1, 5, 3, 2, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grads = real.flatten(2) @ (D.A + D.A.T).T + D.b  # (1, 5, 12)
    expected = (grads ** 2).sum(-1).mean(-1)
    torch.testing.assert_close(r1_penalty(D, real), expected)
    method, batch = StubMethod(D), Batch(torch.zeros(1, 5, dtype=torch.long), real, real)
    every = R1Penalty(gamma=0.1)
    torch.testing.assert_close(every.discriminator_term(batch, method), 0.05 * expected)
    lazy = R1Penalty(gamma=0.1, every=3)
    terms = [lazy.discriminator_term(batch, method) for _ in range(7)]
    assert [t is not None for t in terms] == [True, False, False, True, False, False, True]
    torch.testing.assert_close(terms[0], 3 * 0.05 * expected)  # weight x interval
    resumed = R1Penalty(gamma=0.1, every=3)
    resumed.load_state_dict(lazy.state_dict())
    assert resumed.discriminator_term(batch, method) is None and resumed.d_updates == 8
    # the penalty is differentiable with respect to D's parameters (a D-loss term)
    spec, G, SD = networks()
    fake = G(latent(spec, 4)).detach()
    term = r1_penalty(SD, fake)
    (g,) = torch.autograd.grad(term.sum(), SD.out.weight)
    assert term.item() > 0 and g.abs().sum() > 0


class AugmentedStub:
    """A method whose D inputs go through a fixed affine map x -> 2x + 1 (as GANMethod.discriminate applies the
    run's augmentation in training)."""

    pack = 1

    def __init__(self, D):
        self.D = D
        self.D.training = True
        self.augment = lambda x: 2 * x + 1

    def discriminate(self, x):
        return self.D(self.augment(x))


def test_r1_inputs_with_an_augmentation_augmented_or_raw():
    D = QuadraticD(12)
    real = torch.randn(1, 5, 3, 2, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    seen = 2 * real + 1  # what D sees
    grad_seen = seen.flatten(2) @ (D.A + D.A.T).T + D.b  # ∇ of D at the augmented reals
    method, batch = AugmentedStub(D), Batch(torch.zeros(1, 5, dtype=torch.long), real, real)
    augmented = R1Penalty(gamma=2.0, inputs="augmented").discriminator_term(batch, method)
    torch.testing.assert_close(augmented, (grad_seen ** 2).sum(-1).mean(-1))  # gradient w.r.t. D's input
    raw = R1Penalty(gamma=2.0, inputs="raw").discriminator_term(batch, method)
    torch.testing.assert_close(raw, ((2 * grad_seen) ** 2).sum(-1).mean(-1))  # through the augmentation: x 2


class StubGANMethod:
    def __init__(self, spec, G):
        self.G, self.spec = G, spec
        self.ctx = type("Ctx", (), {"generator": torch.Generator().manual_seed(7)})()
        self.stream = torch.Generator().manual_seed(8)

    def noise(self, n):
        return self.spec.prior(1, n, self.stream, "cpu")


def test_path_length_against_an_explicit_jacobian():
    spec, G, _ = networks(style_mixing=0.0, resolution=8, shape=(3, 8, 8))
    method = StubGANMethod(spec, G)
    reg = PathLengthPenalty(weight=2.0, every=1, batch_shrink=2, decay=0.01)
    batch = Batch(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 4), torch.zeros(1, 4, 3, 8, 8))
    stream, gen = method.stream.get_state(), method.ctx.generator.get_state()
    term = reg.generator_term(batch, method)
    # the same latents and image-space directions, and the Jacobian of each image with respect to its ws
    method.stream.set_state(stream)
    method.ctx.generator.set_state(gen)
    lat = method.noise(2)[0]
    z, _, noise, _ = spec.layout.split(lat)
    ws = G.mapping(z)[:, None].expand(-1, G.num_ws, -1).detach()
    y = torch.randn(2, 3, 8, 8, generator=method.ctx.generator) / 8.0
    lengths = []
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda w: G.synthesis(w[None], [m[i:i + 1] for m in noise])[0], ws[i],
                                                 vectorize=True)
        jty = torch.einsum("chw,chwld->ld", y[i], jac)  # (num_ws, w_dim)
        lengths.append(math.sqrt(float(jty.square().sum(1).mean())))
    lengths = torch.tensor(lengths)
    mean = 0.01 * lengths.mean()  # the running mean starts at 0
    torch.testing.assert_close(term, 2.0 * ((lengths - mean) ** 2).mean()[None].float(), rtol=1e-3, atol=1e-6)
    assert reg.state_dict()["g_updates"] == 1
