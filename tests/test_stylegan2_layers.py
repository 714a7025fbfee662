"""StyleGAN2's layers against independent computations: FIR resampling against scipy's 2-D convolution with the
outer-product kernel, equalised-lr scaling, modulated convolution against a per-sample loop of ordinary
convolutions (and the unit variance of demodulated outputs), minibatch standard deviation against numpy."""
import math

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from torch.nn import functional as F

from gans.stylegan2_layers import (EqualizedConv2d, EqualizedLinear, downsample2d, fir_kernel, minibatch_stddev,
                                   modulated_conv2d, upfirdn2d, upsample2d)


def images(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_fir_kernel_is_the_normalised_outer_product():
    k = fir_kernel([1, 3, 3, 1])
    np.testing.assert_allclose(k.numpy(), np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)


def test_upsampling_is_zero_insertion_then_convolution_with_the_outer_product_kernel():
    x = images(2, 3, 5, 5)
    kernel = fir_kernel([1, 3, 3, 1]).double()
    out = upsample2d(x, kernel)
    assert out.shape == (2, 3, 10, 10)
    for b in range(2):
        for c in range(3):
            z = np.zeros((10, 10))
            z[::2, ::2] = x[b, c].numpy()
            full = convolve2d(z, 4 * kernel.numpy())  # (13, 13); gain factor² = 4
            np.testing.assert_allclose(out[b, c].numpy(), full[1:11, 1:11], atol=1e-12)
    # a constant image stays constant away from the border (the gain keeps the mean)
    const = upsample2d(torch.ones(1, 1, 8, 8, dtype=torch.float64), kernel)
    np.testing.assert_allclose(const[0, 0, 2:-2, 2:-2].numpy(), 1.0)


def test_downsampling_is_convolution_then_decimation():
    x = images(1, 2, 8, 8, seed=1)
    kernel = fir_kernel([1, 3, 3, 1]).double()
    out = downsample2d(x, kernel)
    assert out.shape == (1, 2, 4, 4)
    for c in range(2):
        full = convolve2d(x[0, c].numpy(), kernel.numpy())  # (11, 11)
        np.testing.assert_allclose(out[0, c].numpy(), full[2::2, 2::2][:4, :4], atol=1e-12)


def test_upfirdn2d_convolves_and_does_not_correlate():
    """An asymmetric kernel tells a convolution from a correlation."""
    x = images(1, 1, 6, 6, seed=2)
    kernel = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=torch.float64)
    out = upfirdn2d(x, kernel, pad=(1, 1))
    expected = convolve2d(np.pad(x[0, 0].numpy(), 1), kernel.numpy(), mode="valid")
    np.testing.assert_allclose(out[0, 0].numpy(), expected, atol=1e-12)


def test_equalised_linear_scales_by_lr_mul_over_sqrt_fan_in():
    torch.manual_seed(0)
    layer = EqualizedLinear(400, 300, bias_init=0.5, lr_mul=0.01)
    assert layer.weight.std().item() == pytest.approx(100.0, rel=0.02)  # stored N(0, 1) / lr_mul
    x = torch.randn(7, 400)
    expected = x @ (layer.weight * 0.01 / math.sqrt(400)).t() + layer.bias * 0.01
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.bias * 0.01, torch.full((300,), 0.5))  # the effective initial bias
    lrelu = EqualizedLinear(400, 300, activation="lrelu")
    torch.testing.assert_close(lrelu(x), F.leaky_relu(x @ (lrelu.weight / 20.0).t(), 0.2) * math.sqrt(2))


def test_equalised_conv_scales_by_one_over_sqrt_fan_in_and_down_samples_after_the_blur():
    torch.manual_seed(0)
    conv = EqualizedConv2d(6, 5, 3)
    x = torch.randn(2, 6, 8, 8)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight / math.sqrt(6 * 9), conv.bias, padding=1))
    down = EqualizedConv2d(6, 5, 3, down=2)
    blurred = upfirdn2d(x, fir_kernel(), pad=(2, 2))  # (4 - 2) + (3 - 1) = 4 pixels of padding in all
    torch.testing.assert_close(down(x), F.conv2d(blurred, down.weight / math.sqrt(54), down.bias, stride=2))
    assert down(x).shape == (2, 5, 4, 4)
    skip = EqualizedConv2d(6, 5, 1, bias=False, down=2)
    torch.testing.assert_close(skip(x), F.conv2d(downsample2d(x, fir_kernel()), skip.weight / math.sqrt(6)))


def per_sample_reference(x, weight, styles, demodulate):
    """One ordinary convolution per sample with explicitly modulated (and demodulated) weights."""
    cout, cin, k, _ = weight.shape
    outs = []
    for b in range(x.shape[0]):
        w = weight / math.sqrt(cin * k * k) * styles[b][None, :, None, None]
        if demodulate:
            w = w / torch.sqrt((w ** 2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        outs.append(F.conv2d(x[b:b + 1], w, padding=k // 2))
    return torch.cat(outs)


@pytest.mark.parametrize("impl", ["grouped", "scaled"])
@pytest.mark.parametrize("demodulate, k", [(True, 3), (False, 1), (True, 1)])
def test_modulated_conv_equals_a_per_sample_loop_of_ordinary_convolutions(impl, demodulate, k):
    x, weight = images(4, 6, 7, 7), images(5, 6, k, k, seed=1)
    styles = images(4, 6, seed=2).exp()
    out = modulated_conv2d(x, weight, styles, demodulate=demodulate, impl=impl)
    torch.testing.assert_close(out, per_sample_reference(x, weight, styles, demodulate), rtol=1e-10, atol=1e-10)


def test_demodulated_outputs_have_unit_variance_for_unit_variance_inputs():
    x = torch.randn(8, 64, 24, 24, generator=torch.Generator().manual_seed(3))
    weight = torch.randn(32, 64, 3, 3, generator=torch.Generator().manual_seed(4))
    styles = torch.randn(8, 64, generator=torch.Generator().manual_seed(5)).mul(0.5).exp()  # very uneven styles
    out = modulated_conv2d(x, weight, styles, demodulate=True)[:, :, 1:-1, 1:-1]  # interior: no zero padding
    per_channel = out.var(dim=(0, 2, 3))
    assert per_channel.mean().item() == pytest.approx(1.0, abs=0.02)
    assert (per_channel - 1).abs().max().item() < 0.1
    raw = modulated_conv2d(x, weight, styles, demodulate=False)[:, :, 1:-1, 1:-1]
    assert abs(raw.var().item() - 1.0) > 0.1  # without demodulation the styles change the scale


def test_minibatch_stddev_against_a_manual_computation():
    x = images(10, 6, 3, 3, seed=6)
    out = minibatch_stddev(x, group_size=4, num_channels=2)
    assert out.shape == (10, 8, 3, 3)
    torch.testing.assert_close(out[:, :6], x)
    a = x.numpy()
    for members in ([0, 1, 2, 3], [4, 5, 6, 7], [8, 9]):  # consecutive groups; the remainder is one group
        for f, channels in enumerate(([0, 1, 2], [3, 4, 5])):
            group = a[members][:, channels]
            expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
            for i in members:
                np.testing.assert_allclose(out[i, 6 + f].numpy(), expected, rtol=1e-12)
    single = minibatch_stddev(x[:1], group_size=4)
    np.testing.assert_allclose(single[0, 6].numpy(), 1e-4, rtol=1e-6)  # sqrt(0 + 1e-8)
