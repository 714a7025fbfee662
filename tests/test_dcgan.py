"""The image GANs: shapes, φ_D, packing, seeding, data checks, and a few training steps through run.py."""
import pytest
import torch

from conftest import QUICK, compose_run
from core.errors import ConfigError
from engine.build import build_components
from engine.run import execute
from gans.dcgan import DCGAN28, DCGAN32
from gans.layers import seeded_generators
from data_helpers import TINY_EVALUATOR, shared_root


@pytest.mark.parametrize("spec, shape, feature_dim", [(DCGAN28(), (1, 28, 28), 2048), (DCGAN28(), (3, 28, 28), 2048),
                                                      (DCGAN32(), (1, 32, 32), 8192), (DCGAN32(), (3, 32, 32), 8192)])
def test_shapes_and_feature_layer(spec, shape, feature_dim):
    G = spec.build_generator(shape, seeded_generators([0]))
    D = spec.build_discriminator(shape, seeded_generators([0]))
    z = spec.prior(1, 6, torch.Generator().manual_seed(0), "cpu")
    assert z.shape == (1, 6, 100)
    x = G(z)
    assert x.shape == (1, 6, *shape) and x.abs().max() <= 1  # tanh output
    logits, features = D(x)
    assert logits.shape == (1, 6) and features.shape == (1, 6, feature_dim)
    assert torch.allclose(D.out(features[0]).squeeze(1), logits[0], atol=1e-5)  # φ_D feeds the logit layer


def test_table7_layer_sizes():
    G = DCGAN28().build_generator((1, 28, 28), seeded_generators([0]))
    D = DCGAN28().build_discriminator((1, 28, 28), seeded_generators([0]))
    assert G.fc.out_features == 12544 and G.fc.bias is None
    sizes = []
    h = torch.zeros(2, 1, 28, 28)
    for conv in (D.conv1, D.conv2, D.conv3, D.conv4):
        h = conv(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes == [(64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 2, 2)]
    assert D.bn2.momentum == 0.01 and D.bn2.eps == 1e-3  # Keras' BN defaults in PyTorch's convention


def test_packing_concatenates_channels():
    from gans.base import pack_samples

    D = DCGAN28().build_discriminator((1, 28, 28), seeded_generators([0]), pack=2)
    assert D.conv1.in_channels == 2
    x = torch.randn(1, 8, 1, 28, 28)
    packed = pack_samples(x, 2)
    assert packed.shape == (1, 4, 2, 28, 28) and torch.equal(packed[0, 1, 1], x[0, 3, 0])
    logits, features = D(packed)
    assert logits.shape == (1, 4) and features.shape == (1, 4, 2048)
    D32 = DCGAN32().build_discriminator((3, 32, 32), seeded_generators([0]), pack=2)
    assert D32.net[0].in_channels == 6


def test_initialisation_follows_the_seed_not_the_global_rng():
    a = DCGAN28().build_generator((1, 28, 28), seeded_generators([3]))
    torch.manual_seed(123)
    b = DCGAN28().build_generator((1, 28, 28), seeded_generators([3]))
    c = DCGAN28().build_generator((1, 28, 28), seeded_generators([4]))
    assert torch.equal(a.fc.weight, b.fc.weight) and not torch.equal(a.fc.weight, c.fc.weight)
    bound = (6 / (100 + 12544)) ** 0.5  # glorot-uniform
    assert a.fc.weight.abs().max() <= bound and a.fc.weight.abs().max() > 0.9 * bound
    assert a.deconv1.bias.abs().max() == 0


def test_data_checks():
    with pytest.raises(ConfigError, match="dataset.size=28"):
        DCGAN28().check_data("image", (1, 32, 32))
    with pytest.raises(ConfigError, match="dataset.size=32"):
        DCGAN32().check_data("image", (3, 28, 28))
    with pytest.raises(ConfigError, match="models"):
        DCGAN28().check_data("toy", (2,))
    with pytest.raises(ConfigError, match="1- or 3-channel"):
        DCGAN32().check_data("image", (2, 32, 32))
    cfg, _ = compose_run(["gan=dcgan", "dataset=mnist012_unbalanced", f"data.root={shared_root()}", "dataset.size=32"])
    with pytest.raises(ConfigError, match="dataset.size=28"):
        build_components(cfg)


def test_optimiser_settings_from_the_papers():
    cfg, _ = compose_run(["gan=dcgan"])
    assert cfg.gan.lr_g == cfg.gan.lr_d == 1e-3 and list(cfg.gan.betas) == [0.5, 0.999]
    cfg, _ = compose_run(["gan=dcgan32"])
    assert cfg.gan.lr_g == cfg.gan.lr_d == 1e-4 and list(cfg.gan.betas) == [0.5, 0.9]


IMAGE_QUICK = QUICK + ["trainer.steps=4", "trainer.batch_size=16", "metrics=mnist_classes", "metrics.n_samples=64"]


@pytest.mark.parametrize("overrides", [
    ["gan=dcgan", "dataset=mnist012_unbalanced", "method=vanilla", *TINY_EVALUATOR],
    ["gan=dcgan", "dataset=mnist012_unbalanced", "method=rls_discr", "sampler.sketch_dim=25", "sampler.gamma=1e-4",
     *TINY_EVALUATOR],
    ["gan=dcgan", "dataset=mnist012_unbalanced", "method=vanilla", "method.pack=2", *TINY_EVALUATOR],
    ["gan=dcgan32", "dataset=mnist012_unbalanced", "dataset.size=32", "method=vanilla",
     "trainer.update_scheme=alternating", *TINY_EVALUATOR],
    ["gan=dcgan32", "dataset=colored_mnist", "method=rls_discr", "sampler.sketch_dim=25", "sampler.gamma=1e-4"],
])
def test_image_gans_train_a_few_steps_through_run(tmp_path, overrides):
    cfg, choices = compose_run(IMAGE_QUICK + [f"data.root={shared_root()}", *overrides])
    records = execute(cfg, choices, tmp_path / "run")
    (record,) = records
    assert record["status"] == "completed" and record["timing"]["steps"] == 4
    metrics = record["metrics"]
    assert sum(metrics["class_counts"]) + metrics["other_count"] == 64
    assert not metrics["kl_classes"] < 0 and 0 <= metrics["classes_covered"] <= 3  # nan: nothing in the classes


def test_rls_discr_samples_from_sketched_discriminator_features():
    from gans.method import RunContext

    cfg, _ = compose_run(QUICK + ["gan=dcgan", "dataset=mnist012_unbalanced", f"data.root={shared_root()}",
                                  "metrics=mnist_classes", "method=rls_discr", "sampler.sketch_dim=25",
                                  "sampler.gamma=1e-4"])
    parts = build_components(cfg)
    data = parts.dataset.load("cpu")
    ctx = RunContext(data=data, gan=parts.gan, loss=parts.loss, sampler=parts.sampler, seeds=[0], batch_size=16,
                     steps=1, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    parts.method.setup(ctx)
    indices = parts.sampler.sample(parts.method)
    assert indices.shape == (1, 16) and indices.max() < data.n
    phi = parts.sampler._features(parts.method, indices)
    assert phi.shape == (1, 16, 25)


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating"])
def test_discriminator_normalises_the_real_and_the_fake_half_each_by_its_own_batch_statistics(scheme):
    """As the authors' code: one D call per half, so batch norm sees real-only and fake-only batches. Checked
    against a copy of D (taken before the step) applied to each half alone, in training mode."""
    import copy

    from conftest import build_method

    method, data = build_method(["gan=dcgan", "dataset=mnist012_unbalanced", f"data.root={shared_root()}",
                                 "metrics=mnist_classes", "trainer.batch_size=16",
                                 f"trainer.update_scheme={scheme}"], replicas=1)
    indices = torch.randint(data.n, (1, 16), generator=torch.Generator().manual_seed(0))
    method.real_batch = lambda: (indices, data.as_float(data.x[indices]))
    before = copy.deepcopy(method.D)
    method.discriminator_step() if scheme == "alternating" else method.simultaneous_step()
    batch = method.last_batch
    real_alone, fake_alone = before(batch.real)[0], before(batch.fake.detach())[0]
    torch.testing.assert_close(batch.real_out, real_alone)
    torch.testing.assert_close(batch.fake_out.detach(), fake_alone)
    both = before(torch.cat([batch.real, batch.fake.detach()], dim=1))[0]  # one call on both halves differs
    assert not torch.allclose(both[:, :16], real_alone, atol=1e-4)
