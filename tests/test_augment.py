"""DiffAugment (gans/augment.py): translation moves pixels by integers with zero padding, cutout zeroes the expected
pixels, the colour ops stay in their ranges, the same seed gives the same augmentation, replica r is augmented as
a lone run of its seed, gradients flow through every op, the state round-trips, and the config group composes."""
import pytest
import torch

from core.errors import ConfigError
from gans.augment import DiffAugment, brightness, contrast, cutout, integer_draw, saturation, translate


def _images(n=6, c=3, h=8, w=8, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_translation_moves_pixels_by_integers_and_pads_with_zeros():
    x = _images(3) + 2  # no zero pixel of its own
    shift_h, shift_w = torch.tensor([2, -1, 0]), torch.tensor([-3, 0, 1])
    out = translate(x, shift_h, shift_w)
    for n in range(3):
        expected = torch.zeros_like(x[n])
        for i in range(8):
            for j in range(8):
                si, sj = i + int(shift_h[n]), j + int(shift_w[n])
                if 0 <= si < 8 and 0 <= sj < 8:
                    expected[:, i, j] = x[n, :, si, sj]
        assert torch.equal(out[n], expected)
    assert (out[0] == 0).all(dim=0).sum() == 8 * 8 - 6 * 5  # rows 6, 7 and columns 0..2 fall outside


def test_translation_range_of_the_policy():
    aug = DiffAugment("translation")
    aug.setup([0], "cpu")
    x = _images(200, c=1, h=32, w=32) + 2
    out = aug(x.unsqueeze(0))[0]
    r = int(0.125 * 32 + 0.5)  # 4
    zero_rows = (out == 0).all(dim=3).flatten(1).sum(1)  # rows emptied by the vertical shift
    assert zero_rows.max() <= r and zero_rows.max() == r  # shifts up to ±4 occur, none larger
    u = torch.linspace(0, 0.999999, 1000)
    assert integer_draw(u, -r, r).unique().tolist() == list(range(-r, r + 1))


@pytest.mark.parametrize("centre, expected", [((4, 4), 16), ((0, 4), 8), ((8, 8), 4), ((1, 7), 3 * 3)])
def test_cutout_zeroes_the_expected_number_of_pixels(centre, expected):
    """A 4x4 square starting at centre − 2, cut at the border of an 8x8 image."""
    x = _images(1) + 2
    out = cutout(x, torch.tensor([centre[0]]), torch.tensor([centre[1]]), 4, 4)
    assert int((out[0, 0] == 0).sum()) == expected
    assert ((out[0] == 0).all(0) == (out[0, 0] == 0)).all()  # every channel of the same pixels


def test_cutout_of_the_policy_zeroes_at_most_a_half_size_square():
    aug = DiffAugment("cutout")
    aug.setup([0], "cpu")
    out = aug((_images(100, h=32, w=32) + 2).unsqueeze(0))[0]
    zeros = (out[:, 0] == 0).flatten(1).sum(1)
    assert zeros.max() == 16 * 16 and zeros.min() >= 8 * 8  # a 16x16 square, at worst a quarter of it inside


def test_colour_ops_stay_in_their_ranges():
    x = _images(50)
    u = torch.rand(50, generator=torch.Generator().manual_seed(1))
    shift = (brightness(x, u) - x).flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift)) and shift.abs().max() <= 0.5  # per-sample shift
    mean_c = x.mean(1, keepdim=True)
    factor = ((saturation(x, u) - mean_c) / (x - mean_c)).flatten(1)
    assert torch.allclose(factor.median(1).values, 2 * u, atol=1e-4) and (2 * u).max() <= 2  # factor in [0, 2]
    mean = x.mean((1, 2, 3), keepdim=True)
    factor = ((contrast(x, u) - mean) / (x - mean)).flatten(1)
    assert torch.allclose(factor.median(1).values, u + 0.5, atol=1e-4)  # factor in [0.5, 1.5]
    assert torch.allclose(contrast(x, u).mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)  # the mean is kept


def test_same_seed_same_augmentation_and_replicas_as_lone_runs():
    x = _images(2 * 5, h=16, w=16).view(2, 5, 3, 16, 16)
    pair, lone0, lone1, again = DiffAugment(), DiffAugment(), DiffAugment(), DiffAugment()
    pair.setup([3, 4], "cpu")
    lone0.setup([3], "cpu")
    lone1.setup([4], "cpu")
    again.setup([3, 4], "cpu")
    a, b = pair(x), again(x)
    assert torch.equal(a, b)
    assert torch.equal(a[0], lone0(x[:1])[0]) and torch.equal(a[1], lone1(x[1:])[0])
    assert not torch.equal(pair(x), a)  # the stream moves on


def test_state_round_trip():
    aug = DiffAugment()
    aug.setup([0, 1], "cpu")
    x = _images(8, h=16, w=16).view(2, 4, 3, 16, 16)
    aug(x)
    state = aug.state_dict()
    expected = aug(x)
    other = DiffAugment()
    other.setup([0, 1], "cpu")
    other.load_state_dict(state)
    assert torch.equal(other(x), expected)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout"])
def test_gradients_flow_through_every_op(policy):
    aug = DiffAugment(policy)
    aug.setup([0], "cpu")
    x = _images(4, h=16, w=16).unsqueeze(0).requires_grad_()
    weights = torch.randn(x.shape)
    (aug(x) * weights).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_bad_policies_and_data():
    with pytest.raises(ConfigError, match="policy"):
        DiffAugment("color,flip")
    with pytest.raises(ConfigError, match="twice"):
        DiffAugment("color,color")
    with pytest.raises(ConfigError, match="augment=none"):
        DiffAugment().check_data("toy", (2,))


def test_augment_group_composes():
    from conftest import compose_run

    cfg, _ = compose_run(["augment=diffaugment"])
    assert cfg.augment.policy == "color,translation,cutout" and cfg.augment.translation_ratio == 0.125
    cfg, _ = compose_run([])
    assert cfg.get("augment") is None  # the default: no augmentation node (hashes as before)
