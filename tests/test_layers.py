import math

import pytest
import torch

from core.errors import ConfigError

from gans.layers import SIGMOID_TANH_MIN_ELEMENTS, ReplicatedLinear, ReplicatedMLP, _SigmoidTanh, seeded_generators, tanh
from gans.mlp import MLPGAN


def test_replicated_linear_matches_separate_affine_maps():
    layer = ReplicatedLinear(5, 7, seeded_generators([1, 2, 3]), init="torch")
    x = torch.randn(3, 4, 5)
    out = layer(x)
    for r in range(3):
        expected = x[r] @ layer.weight[r] + layer.bias[r]
        torch.testing.assert_close(out[r], expected)


def test_width_one_head_equals_matrix_product():
    layer = ReplicatedLinear(6, 1, seeded_generators([0, 1]), init="torch")
    x = torch.randn(2, 9, 6)
    torch.testing.assert_close(layer(x), torch.baddbmm(layer.bias, x, layer.weight))


def test_replica_r_is_initialised_like_a_lone_run_with_its_seed():
    many = ReplicatedMLP([3, 8, 8, 2], seeded_generators([10, 11, 12]))
    lone = ReplicatedMLP([3, 8, 8, 2], seeded_generators([11]))
    for a, b in zip(many.parameters(), lone.parameters()):
        torch.testing.assert_close(a[1:2], b)
    assert not torch.equal(many.layers[0].weight[0], many.layers[0].weight[1])


def test_glorot_init_bounds_and_zero_bias():
    layer = ReplicatedLinear(100, 50, seeded_generators([0]), init="glorot")
    bound = math.sqrt(6 / 150)
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.9 * bound
    assert torch.all(layer.bias == 0)


def test_orthogonal_init_has_orthonormal_columns_times_the_gain_and_zero_bias():
    layer = ReplicatedLinear(128, 16, seeded_generators([0, 1]), init="orthogonal:1.4")
    for w in layer.weight:
        torch.testing.assert_close(w.T @ w, 1.4 ** 2 * torch.eye(16), atol=1e-4, rtol=0)
    assert torch.all(layer.bias == 0)
    square = ReplicatedLinear(8, 8, seeded_generators([3]), init="orthogonal").weight[0]
    torch.testing.assert_close(square @ square.T, torch.eye(8), atol=1e-5, rtol=0)


@pytest.mark.parametrize("scheme", ["orthogonal:-1", "orthogonal:abc", "orthonormal"])
def test_bad_init_names_the_choices(scheme):
    with pytest.raises(ConfigError, match="orthogonal"):
        ReplicatedLinear(4, 4, seeded_generators([0]), init=scheme)


def test_replicas_do_not_share_gradients():
    net = ReplicatedMLP([2, 16, 1], seeded_generators([0, 1, 2]))
    x = torch.randn(3, 10, 2)
    out, _ = net(x)
    out[1].sum().backward()
    for p in net.parameters():
        assert torch.all(p.grad[0] == 0) and torch.all(p.grad[2] == 0)
        assert p.grad[1].abs().sum() > 0


def test_mlp_gan_shapes_and_features():
    gan = MLPGAN()
    gens = seeded_generators([0, 1])
    G, D = gan.build_generator((2,), gens), gan.build_discriminator((2,), gens)
    z = gan.prior(2, 5, torch.Generator().manual_seed(0), "cpu")
    assert z.shape == (2, 5, 25)
    x = G(z)
    assert x.shape == (2, 5, 2)
    logits, features = D(x)
    assert logits.shape == (2, 5) and features.shape == (2, 5, 128)
    assert features.abs().max() <= 1  # tanh features
    packed = gan.build_discriminator((2,), gens, pack=2)
    assert packed.net.layers[0].weight.shape == (2, 4, 128)


@pytest.mark.parametrize("elements", [1000, SIGMOID_TANH_MIN_ELEMENTS])
def test_tanh_equals_torch_tanh_in_value_and_gradient(elements):
    x = torch.linspace(-30, 30, elements).requires_grad_()
    y = tanh(x)
    assert ("SigmoidTanh" in type(y.grad_fn).__name__) == (elements >= SIGMOID_TANH_MIN_ELEMENTS)
    torch.testing.assert_close(y, torch.tanh(x), atol=2e-7, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(tanh(x), torch.tanh(x), atol=2e-7, rtol=0)
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    torch.testing.assert_close(grad, 2 * y * (1 - y ** 2), atol=1e-6, rtol=0)


def test_sigmoid_tanh_is_twice_differentiable_like_tanh():
    """Gradient penalties differentiate D's gradient again."""
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_SigmoidTanh.apply, (x,))
    assert torch.autograd.gradgradcheck(_SigmoidTanh.apply, (x,))
