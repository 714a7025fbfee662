"""sampler=rls_class on Inception-v3's next-to-last features (RLS §3.3), with a randomly initialised Inception in
torch-fidelity's format (the real weights cannot be downloaded here): the scores are the leverage scores of
torch-fidelity's own pool3 features of the training images, ``auto`` takes Inception only where weights exist, and
the resolved choice is in the config (so in the record and its hash)."""
import pytest
import torch
from image_helpers import image_bundle, write_random_inception_weights

from conftest import compose_run
from core.errors import ConfigError
from evaluators.inception import INCEPTION_ENV, INCEPTION_NAME
from samplers import rls_class
from samplers.leverage import rls_from_features


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth", seed=0)


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))


def test_scores_are_leverage_scores_of_torch_fidelitys_pool3_features(weights, tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    data = image_bundle(n=6, classes=2, shape=(3, 8, 8), minority=(1,))
    data.images.root = str(tmp_path)
    sampler = rls_class.ClassifierRLSSampler(k=25, gamma=1e-4, reduction="none", features="inception",
                                             inception_weights=str(weights), batch_size=6)
    assert sampler.requires == frozenset() and sampler.features == "inception"
    sampler.setup(data, 1, 4, torch.Generator().manual_seed(0))
    net = FeatureExtractorInceptionV3(INCEPTION_NAME, ["2048"], feature_extractor_weights_path=str(weights)).eval()
    with torch.no_grad():
        (pool3,) = net(data.x)  # uint8 RGB in, as torch-fidelity takes it
    assert pool3.shape == (6, 2048)
    torch.testing.assert_close(sampler.embedding(data), pool3.double(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sampler.scores, rls_from_features(pool3.double(), 1e-4), rtol=1e-4, atol=1e-8)
    again = rls_class.ClassifierRLSSampler(k=25, reduction="none", features="inception", inception_weights=str(weights))
    again.setup(data, 1, 4, torch.Generator().manual_seed(0))
    assert again.timing == {"cached": 1.0}  # keyed by the weights' fingerprint


def test_auto_takes_inception_only_where_weights_exist(weights, no_weights, monkeypatch):
    assert rls_class.resolve_features("auto") == "evaluator"
    assert rls_class.resolve_features("evaluator", str(weights)) == "evaluator"
    assert rls_class.resolve_features("auto", str(weights)) == "inception"
    with pytest.raises(ConfigError, match="no Inception weights"):
        rls_class.ClassifierRLSSampler(features="inception")
    with pytest.raises(ConfigError, match="sampler.inception_weights"):
        rls_class.ClassifierRLSSampler(features="auto", inception_weights="/nonexistent/inception.pth")
    cfg, _ = compose_run(["experiment=rls_cifar10", "method=rls_class"])
    assert cfg.sampler.features == "auto" and cfg.sampler.features_resolved == "evaluator"
    assert (cfg.sampler.k, cfg.sampler.gamma) == (25, 1e-4)
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    cfg, _ = compose_run(["experiment=rls_cifar10", "method=rls_class"])
    assert cfg.sampler.features_resolved == "inception"
    cfg, _ = compose_run(["experiment=rls_mnist012", "method=rls_class"])
    assert cfg.sampler.features == "evaluator" == cfg.sampler.features_resolved  # the MNIST tables: the classifier
