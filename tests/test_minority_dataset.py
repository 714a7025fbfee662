"""Dia-GAN's single Gaussian with a far-from-origin minor group."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from datasets.minority import GaussianMinority
from core.errors import ConfigError


def test_groups_radius_and_shares():
    spec = GaussianMinority(std=3.0, majority_rate=0.9, n=10_000)
    assert spec.radius == pytest.approx(3.0 * math.sqrt(-2 * math.log(0.1)))  # chi2_2 tail exp(-r²/2σ²) = 0.1
    data = spec.load()
    r = data.x.norm(dim=1)
    assert (data.labels == 1).sum() == 1000 and data.minority == (1,) and data.num_modes == 2
    assert (r[data.labels == 0] <= spec.radius).all() and (r[data.labels == 1] > spec.radius).all()
    # with the natural split the whole set is a N(0, 9 I) sample: |x|²/9 ~ chi2(2)
    assert stats.kstest((r.double() ** 2 / 9).numpy(), "chi2", args=(2,)).pvalue > 1e-3
    assert torch.equal(spec.load().x, data.x)  # data_seed fixes the set


def test_a_fixed_radius_thins_the_tail():
    data = GaussianMinority(std=1.0, majority_rate=0.99, radius=2.0, n=5000).load()
    r = data.x.norm(dim=1)
    assert (data.labels == 1).sum() == 50 and (r[data.labels == 1] > 2.0).all()
    assert np.allclose(data.observed_weights.numpy(), [0.99, 0.01])


@pytest.mark.parametrize("kwargs", [{"majority_rate": 1.0}, {"std": -1.0}, {"radius": 0}, {"n": 1}])
def test_bad_values(kwargs):
    with pytest.raises(ConfigError):
        GaussianMinority(**kwargs)


def test_the_yaml_instantiates():
    import os

    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    path = os.path.join(os.path.dirname(__file__), "..", "conf", "dataset", "gaussian_minority.yaml")
    spec = instantiate(OmegaConf.load(path))
    assert isinstance(spec, GaussianMinority) and spec.name == "gaussian_minority"
    assert spec.load().n == OmegaConf.load(path).n
