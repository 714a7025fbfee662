"""The Inception path end to end, with a randomly initialised Inception-v3 written in torch-fidelity's format
(the real weights cannot be downloaded here): our FID/KID/IS equal torch-fidelity's own pipeline on the same
images and the same weights file, and the feature-space choice (auto / inception / classifier) is explicit."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from image_helpers import TinyEvaluator, image_bundle, write_random_inception_weights

from core.errors import ConfigError
from metrics import feature_spaces
from metrics.feature_spaces import ClassifierSpace, InceptionSpace
from metrics.features import FeatureCache, FeatureExtractor
from metrics.fid import FID
from metrics.inception_score import InceptionScore
from metrics.kid import KID
from metrics.precision_recall import PrecisionRecall


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth", seed=0)


class _Uint8RGB(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = feature_spaces.to_uint8_rgb(x)

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i]


def test_inception_metrics_equal_torch_fidelity_with_the_same_weights_file(weights, tmp_path):
    import torch_fidelity

    data = image_bundle(n=12, shape=(1, 12, 12), evaluator=TinyEvaluator(), seed=1)
    fake = torch.rand(12, 1, 12, 12, generator=torch.Generator().manual_seed(2)) * 2 - 1
    extractor = FeatureExtractor(space="inception", inception_weights=str(weights), batch_size=12,
                                 cache_dir=str(tmp_path))
    cache = FeatureCache(extractor)
    fid = FID(reference="train")(fake, data, cache)
    kid = KID(reference="train", subsets=3, subset_size=8, seed=2020)(fake, data, cache)
    isc = InceptionScore(splits=3)(fake, data, cache)
    prdc = PrecisionRecall(k=3, reference="train")(fake, data, cache)
    assert fid["fid_feature_space"] == kid["kid_feature_space"] == isc["is_feature_space"] == "inception-v3-compat"
    assert prdc["prdc_feature_space"] == "inception-v3-compat"
    assert {"fid", "kid", "kid_std", "is", "is_std", "precision"} <= set(fid) | set(kid) | set(isc) | set(prdc)
    assert len(list(tmp_path.glob("fid_stats-*.npz"))) == 1  # the reference statistics were cached

    # KID is a deterministic function of the 2048-d pool features and IS of the logits: equal numbers mean
    # equal features. (FID's statistics and distance are checked against torch-fidelity on small features in
    # test_image_metrics; its 2048-d general eigendecomposition would cost this test ~15 s more.)
    ref = torch_fidelity.calculate_metrics(
        input1=_Uint8RGB(fake), input2=_Uint8RGB(data.x), cuda=False, isc=True, kid=True,
        feature_extractor_weights_path=str(weights), batch_size=12, isc_splits=3, kid_subsets=3,
        kid_subset_size=8, cache=False, verbose=False, save_cpu_ram=True)
    assert isc["is"] == pytest.approx(ref["inception_score_mean"], rel=1e-5)
    assert kid["kid"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-4, abs=1e-8)
    assert fid["fid"] > 0
    # a set against itself (the reference statistics now come from the run's store)
    self_fid = FID(reference="train")(data.x, data, FeatureCache(extractor))["fid"]
    assert abs(self_fid) < 1e-6 * fid["fid"]


def test_auto_uses_inception_only_when_weights_are_on_this_machine(weights, tmp_path, monkeypatch):
    data = image_bundle(n=10, evaluator=TinyEvaluator())
    monkeypatch.delenv(feature_spaces.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    select_space = lambda space, **kw: FeatureExtractor(space=space, **kw).space_for(data)  # a new run each time
    assert isinstance(select_space("auto"), ClassifierSpace)
    with pytest.raises(ConfigError, match="no Inception weights"):
        select_space("inception")
    with pytest.raises(ConfigError, match="not a file"):
        select_space("auto", inception_weights=str(tmp_path / "missing.pth"))
    monkeypatch.setenv(feature_spaces.INCEPTION_ENV, str(weights))
    assert isinstance(select_space("auto"), InceptionSpace)
    assert isinstance(select_space("classifier"), ClassifierSpace)
    # torch-fidelity's own download cache is found too
    monkeypatch.delenv(feature_spaces.INCEPTION_ENV)
    cached = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    cached.parent.mkdir(parents=True)
    cached.symlink_to(weights)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    space = select_space("auto")
    assert isinstance(space, InceptionSpace) and space.weights_path == str(cached)


def test_inception_takes_grey_and_rgb_images_and_refuses_other_channel_counts():
    grey = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    rgb = feature_spaces.to_uint8_rgb(grey)
    assert rgb.shape == (1, 3, 4, 4) and rgb.dtype == torch.uint8
    assert rgb[0, 0, 0, 0] == 0 and rgb[0, 2, -1, -1] == 255
    assert torch.equal(rgb[:, 0], rgb[:, 1])
    np.testing.assert_array_equal(feature_spaces.to_uint8_rgb(rgb).numpy(), rgb.numpy())
    with pytest.raises(ConfigError, match="classifier"):
        feature_spaces.to_uint8_rgb(torch.zeros(1, 2, 4, 4))
