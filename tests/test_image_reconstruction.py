"""Reconstruction error (Dia-GAN RE) on a tiny autoencoder budget."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from image_helpers import image_bundle

from metrics.reconstruction import ConvAutoencoder, ReconstructionError, reconstruction_errors


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8), (3, 64, 64)])
def test_autoencoder_reconstructs_images_of_the_input_shape(shape):
    cae = ConvAutoencoder(shape).eval()
    x = torch.rand(2, *shape) * 2 - 1
    y = cae(x)
    assert y.shape == x.shape and y.abs().max() <= 1


def test_reconstruction_error_is_the_l2_norm_over_the_image_side():
    cae = ConvAutoencoder((1, 8, 8)).eval()
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        expected = [(cae(x[i:i + 1]) - x[i:i + 1]).norm().item() / math.sqrt(64) for i in range(5)]
    np.testing.assert_allclose(reconstruction_errors(cae, x, batch_size=2), expected, rtol=1e-5)
    as_uint8 = ((x + 1) * 127.5).round().to(torch.uint8)  # uint8 training sets are mapped to [-1, 1] first
    np.testing.assert_allclose(reconstruction_errors(cae, as_uint8), reconstruction_errors(cae, as_uint8.float() / 127.5 - 1))


def _stripes(n, vertical, seed):
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(n, 1, 8, 8)
    pos = torch.randint(0, 8, (n,), generator=g)
    for i in range(n):
        if vertical:
            x[i, 0, :, pos[i]] = 1
        else:
            x[i, 0, pos[i], :] = 1
    return x


def test_a_minority_the_generator_never_makes_reconstructs_worse():
    majority, minority = _stripes(90, True, 1), _stripes(30, False, 2)
    data = image_bundle(counts=[90, 30], classes=2, minority=(1,), uint8=False)
    data.x = torch.cat([majority, minority])
    fake = _stripes(200, True, 3)  # the generator covers only the vertical (majority) stripes
    metric = ReconstructionError(n_train=200, epochs=5, batch_size=32, seed=0)
    out = metric(fake, data)
    assert out["re_minority"] > 1.3 * out["re_majority"]
    assert out["re_all"] == pytest.approx((90 * out["re_majority"] + 30 * out["re_minority"]) / 120)
    assert "200 generated images, 5 epochs" in out["re_protocol"]
    assert metric(fake, data) == out  # seeded: the same numbers again


def test_reconstruction_asks_for_its_training_budget_and_runs_only_at_the_end():
    metric = ReconstructionError(n_train=1234, epochs=1)
    assert metric.n_samples == 1234 and metric.final_only
    data = image_bundle(n=20, minority=())
    out = ReconstructionError(n_train=16, epochs=1, batch_size=8)(torch.rand(16, 1, 8, 8) * 2 - 1, data)
    assert np.isfinite(out["re_all"]) and "re_note" in out
