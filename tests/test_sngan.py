"""SNGAN / SSGAN (gans/sngan.py, gans/ssgan.py) and spectral norm (gans/spectral.py): the power iteration against
torch's exact spectral norm, eval-mode determinism, block shapes, mimicry's init gains, parameter counts against
the counts the architecture implies, φ_D, the SSGAN rotation task, and the data checks."""
import math

import pytest
import torch

from core.errors import ConfigError
from gans.grouped import GroupedConv2d, GroupedLinear
from gans.layers import seeded_generators
from gans.method import Batch
from gans.sngan import SNGAN, DiscriminatorBlock, GeneratorBlock, OptimizedBlock
from gans.spectral import largest_singular_value, power_iteration
from gans.ssgan import SSGAN, RotationLoss, rotate_by_quarter, rotation_labels


pytestmark = pytest.mark.usefixtures("one_thread")


def test_power_iteration_converges_to_the_spectral_norm():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 20, 45, generator=gen)
    u = torch.nn.functional.normalize(torch.randn(3, 20, generator=gen), dim=1)
    exact = torch.linalg.matrix_norm(w, 2)
    errors = []
    for _ in range(60):
        u, v = power_iteration(w, u, iterations=1)
        errors.append((largest_singular_value(w, u, v) - exact).abs().max().item())
    assert errors[-1] < 1e-4 * exact.max().item()
    assert errors[-1] < errors[0]


def test_a_spectral_layer_normalises_each_replica_to_norm_one_after_training_forwards():
    layer = GroupedConv2d(4, 6, 3, padding=1, replicas=2, spectral=True)
    with torch.no_grad():
        layer.weight.mul_(torch.tensor([3.0] * 6 + [0.2] * 6)[:, None, None, None])  # replicas of different norms
    x = torch.randn(2, 8, 5, 5)
    for _ in range(100):
        layer(x)
    normalised = layer.effective_weight().view(2, 6, -1)
    assert torch.allclose(torch.linalg.matrix_norm(normalised, 2), torch.ones(2), atol=1e-3)


def test_eval_mode_leaves_u_unchanged_and_gives_identical_logits():
    spec = SNGAN(ngf=8, ndf=8)
    D = spec.build_discriminator((3, 32, 32), seeded_generators([0]))
    x = torch.randn(1, 4, 3, 32, 32)
    us = [m.u.clone() for m in D.modules() if getattr(m, "spectral", False)]
    D.eval()
    with torch.no_grad():
        first, second = D(x)[0], D(x)[0]
    assert torch.equal(first, second)
    assert all(torch.equal(a, m.u) for a, m in zip(us, (m for m in D.modules() if getattr(m, "spectral", False))))
    D.train()
    D(x)
    assert not all(torch.equal(a, m.u) for a, m in zip(us, (m for m in D.modules() if getattr(m, "spectral", False))))


def test_block_shapes():
    x = torch.randn(2, 8, 8, 8)
    assert GeneratorBlock(8, 4, 1, 1e-5, 0.1)(x).shape == (2, 4, 16, 16)
    assert DiscriminatorBlock(8, 4, 1, down=True)(x).shape == (2, 4, 4, 4)
    assert DiscriminatorBlock(8, 8, 1, down=False)(x).shape == (2, 8, 8, 8)
    assert DiscriminatorBlock(8, 8, 1, down=False).shortcut is None  # same shape: identity shortcut
    assert OptimizedBlock(8, 16, 1)(x).shape == (2, 16, 4, 4)
    assert GeneratorBlock(8, 4, 2, 1e-5, 0.1)(torch.randn(2, 16, 8, 8)).shape == (2, 8, 16, 16)  # two replicas


def _xavier_bound(weight: torch.Tensor, gain: float) -> float:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(weight)
    return gain * math.sqrt(6.0 / (fan_in + fan_out))


@pytest.mark.parametrize("layer, gain", [
    (lambda G, D: G.blocks[0].conv1, math.sqrt(2)), (lambda G, D: G.blocks[1].conv2, math.sqrt(2)),
    (lambda G, D: G.blocks[0].shortcut, 1.0), (lambda G, D: G.fc, 1.0), (lambda G, D: G.out, 1.0),
    (lambda G, D: D.blocks[0].conv1, math.sqrt(2)), (lambda G, D: D.blocks[1].conv2, math.sqrt(2)),
    (lambda G, D: D.blocks[0].shortcut, 1.0), (lambda G, D: D.blocks[1].shortcut, 1.0), (lambda G, D: D.head, 1.0)])
def test_mimicry_init_gains(layer, gain):
    """xavier-uniform with the stated gain: every weight within the bound, the largest close to it, and the
    uniform's standard deviation bound/√3."""
    spec = SNGAN(ngf=64, ndf=64)
    G = spec.build_generator((3, 32, 32), seeded_generators([0]))
    D = spec.build_discriminator((3, 32, 32), seeded_generators([0]))
    w = layer(G, D).replica_weight(0)
    bound = _xavier_bound(w, gain)
    assert w.abs().max() <= bound + 1e-7 and w.abs().max() > 0.95 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def _conv(cin, cout, k):
    return cin * cout * k * k + cout


def _expected_counts(z, g_widths, d_widths, d_down, channels=3, bottom=4):
    """Parameter counts of G and D from the architecture: linear, G blocks (2 BN, 2 conv3, conv1 shortcut), BN +
    output conv; D optimised block (2 conv3 + conv1), blocks (2 conv3, conv1 shortcut when the shape changes), head."""
    g = z * bottom * bottom * g_widths[0] + bottom * bottom * g_widths[0]
    for a, b in zip(g_widths[:-1], g_widths[1:]):
        g += 2 * a + _conv(a, b, 3) + 2 * b + _conv(b, b, 3) + _conv(a, b, 1)
    g += 2 * g_widths[-1] + _conv(g_widths[-1], channels, 3)
    d = _conv(channels, d_widths[0], 3) + _conv(d_widths[0], d_widths[0], 3) + _conv(channels, d_widths[0], 1)
    for a, b, down in zip(d_widths[:-1], d_widths[1:], d_down):
        d += _conv(a, a, 3) + _conv(a, b, 3) + (_conv(a, b, 1) if (a != b or down) else 0)
    return g, d + d_widths[-1] + 1


@pytest.mark.parametrize("spec, shape, expected", [
    (SNGAN(), (3, 32, 32), _expected_counts(128, [256] * 4, [128] * 4, [True, False, False])),
    (SNGAN(resolution=64, ngf=1024, ndf=1024), (3, 64, 64),
     _expected_counts(128, [1024, 512, 256, 128, 64], [64, 128, 256, 512, 1024], [True] * 4)),
])
def test_parameter_counts(spec, shape, expected):
    G = spec.build_generator(shape, seeded_generators([0]))
    D = spec.build_discriminator(shape, seeded_generators([0]))
    counts = (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()))
    assert counts == expected
    if shape[1] == 32:
        assert counts == (4_276_739, 1_053_825)  # mimicry's SNGAN32: 4.28M and 1.05M parameters


def test_shapes_and_feature_layer_phi_d():
    spec = SNGAN(ngf=16, ndf=16)
    G = spec.build_generator((3, 32, 32), seeded_generators([0, 1]))
    D = spec.build_discriminator((3, 32, 32), seeded_generators([0, 1]))
    z = spec.prior(2, 5, torch.Generator().manual_seed(0), "cpu")
    assert z.shape == (2, 5, 128)
    x = G(z)
    assert x.shape == (2, 5, 3, 32, 32) and x.abs().max() <= 1
    logits, features = D(x)
    assert logits.shape == (2, 5) and features.shape == (2, 5, 16) and (features >= 0).all()  # ReLU + sum pooling
    D.eval()  # a fixed spectral-norm estimate, so the head can be applied again
    with torch.no_grad():
        logits, features = D(x)
        again = D.head(features.transpose(0, 1).reshape(5, 32)).t()
    torch.testing.assert_close(again, logits)  # φ_D feeds the logit layer


def test_sngan64_shapes():
    spec = SNGAN(resolution=64, ngf=32, ndf=32)
    G = spec.build_generator((3, 64, 64), seeded_generators([0]))
    D = spec.build_discriminator((3, 64, 64), seeded_generators([0]))
    x = G(torch.randn(1, 2, 128))
    assert x.shape == (1, 2, 3, 64, 64)
    assert [b.conv1.out_channels for b in G.blocks] == [16, 8, 4, 2]
    logits, features = D(x)
    assert logits.shape == (1, 2) and features.shape == (1, 2, 32)


def test_rotation_labels_by_batch_quarter():
    assert rotation_labels(8).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rotation_labels(6).tolist() == [0, 0, 1, 2, 2, 3]  # i*4 // N
    x = torch.arange(2 * 6 * 1 * 3 * 3, dtype=torch.float32).view(2, 6, 1, 3, 3)
    rotated, labels = rotate_by_quarter(x)
    for i, k in enumerate(labels.tolist()):
        assert torch.equal(rotated[:, i], torch.rot90(x[:, i], k, dims=(-2, -1)))
    assert torch.equal(rotated[:, 0], x[:, 0]) and torch.equal(rotated[:, 5], torch.rot90(x[:, 5], 3, (-2, -1)))


class _Method:
    """What the rotation loss uses of a method: ``discriminate`` and ``D``."""

    def __init__(self, D):
        self.D = D

    def discriminate(self, x):
        return self.D(x)


def test_ssgan_rotation_loss_terms_and_weights():
    spec = SSGAN(ngf=8, ndf=8)
    D = spec.build_discriminator((3, 32, 32), seeded_generators([0]))
    (loss,) = spec.regularizers()
    assert isinstance(loss, RotationLoss) and (loss.d_weight, loss.g_weight) == (1.0, 0.2)
    real, fake = torch.randn(1, 8, 3, 32, 32), torch.randn(1, 8, 3, 32, 32)
    batch = Batch(torch.zeros(1, 8, dtype=torch.long), real, fake)
    method = _Method(D.eval())  # eval: the same spectral-norm estimate in every pass
    with torch.no_grad():
        rotated, labels = rotate_by_quarter(real)
        logits = D.rotation_logits(D(rotated)[1])[0]
        expected = torch.nn.functional.cross_entropy(logits, labels)
        rotated_fake, _ = rotate_by_quarter(fake)
        expected_fake = torch.nn.functional.cross_entropy(D.rotation_logits(D(rotated_fake)[1])[0], labels)
        torch.testing.assert_close(loss.discriminator_term(batch, method), 1.0 * expected.view(1))  # reals, weight 1
        torch.testing.assert_close(loss.generator_term(batch, method), 0.2 * expected_fake.view(1))  # fakes, weight 0.2
    assert D.rotation.out_features == 4 and D.rotation.spectral


def test_data_checks():
    with pytest.raises(ConfigError, match="dataset.size=32"):
        SNGAN().check_data("image", (3, 64, 64))
    with pytest.raises(ConfigError, match="dataset.size=64"):
        SNGAN(resolution=64).check_data("image", (3, 32, 32))
    with pytest.raises(ConfigError, match="models"):
        SNGAN().check_data("toy", (2,))
    with pytest.raises(ConfigError, match="resolution"):
        SNGAN(resolution=48)
    with pytest.raises(ConfigError, match="pack"):
        SSGAN(ngf=8, ndf=8).build_discriminator((3, 32, 32), seeded_generators([0]), pack=2)
    assert isinstance(SNGAN(ngf=8, ndf=8).build_discriminator((3, 32, 32), seeded_generators([0])).head, GroupedLinear)


def test_configs_follow_mimicry():
    from conftest import compose_run

    for name, resolution, ngf, ndf in [("sngan32", 32, 256, 128), ("sngan64", 64, 1024, 1024),
                                       ("ssgan32", 32, 256, 128), ("ssgan64", 64, 1024, 1024)]:
        cfg, _ = compose_run([f"gan={name}"])
        assert (cfg.gan.resolution, cfg.gan.ngf, cfg.gan.ndf, cfg.gan.z_dim) == (resolution, ngf, ndf, 128)
        assert cfg.gan.lr_g == cfg.gan.lr_d == 2e-4 and list(cfg.gan.betas) == [0.0, 0.9]
    cfg, _ = compose_run(["gan=ssgan32"])
    assert (cfg.gan.rotation_weight_d, cfg.gan.rotation_weight_g) == (1.0, 0.2)
