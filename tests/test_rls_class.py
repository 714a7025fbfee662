"""sampler=rls_class: classifier features -> reduction -> leverage scores, computed once and cached."""
import pytest
import torch
from hydra.utils import instantiate

from engine import run
from conftest import QUICK, compose_run
from data_helpers import TINY_EVALUATOR, shared_root
from samplers import rls_class
from samplers.leverage import rls_from_features


def bundle(*overrides):
    cfg, _ = compose_run(["dataset=mnist012_unbalanced", f"data.root={shared_root()}", *TINY_EVALUATOR, *overrides])
    return instantiate(cfg.dataset).load("cpu")


def sampler(**kw):
    settings = dict(k=10, gamma=1e-4, reduction="sketch")
    settings.update(kw)
    return rls_class.ClassifierRLSSampler(**settings)


def test_scores_are_leverage_scores_of_the_reduced_features_and_favour_the_minority():
    data = bundle()
    s = sampler()
    s.setup(data, 1, 64, torch.Generator().manual_seed(0))
    emb = s.embedding(data)
    assert emb.shape == (data.n, 10)
    assert torch.allclose(s.scores, rls_from_features(emb, 1e-4), rtol=1e-10)
    p = s.probabilities()[0]
    assert p.sum().item() == pytest.approx(1.0) and p.shape == (data.n,)
    minority_mass = p[data.labels == 2].sum().item()
    assert minority_mass > 2 * (25 / 1025)  # the 25 twos get far more than their 2.4% share
    idx = s.sample()
    assert idx.shape == (1, 64) and idx.max() < data.n


def test_features_are_computed_once_and_cached(monkeypatch):
    data = bundle()
    s = sampler(k=12)
    s.setup(data, 1, 16, torch.Generator().manual_seed(0))
    first = s.probabilities().clone()
    monkeypatch.setattr(rls_class, "reduce_features", lambda *a, **k: pytest.fail("recomputed"))
    again = sampler(k=12, gamma=1e-2)  # another gamma reuses the cached embedding
    again.setup(data, 1, 16, torch.Generator().manual_seed(0))
    assert again.timing == {"cached": 1.0} and not torch.allclose(again.probabilities(), first)
    same = sampler(k=12)
    same.setup(data, 1, 16, torch.Generator().manual_seed(0))
    assert torch.allclose(same.probabilities(), first)


def test_needs_an_evaluator_and_validates_fields():
    cfg, _ = compose_run(QUICK + ["method=rls_class", "dataset=ring"])
    with pytest.raises(Exception, match="evaluator"):
        run.build_components(cfg)
    with pytest.raises(Exception, match="sampler.reduction"):
        rls_class.ClassifierRLSSampler(reduction="pca")


def test_method_configs_and_the_experiments_rls_block():
    cfg, choices = compose_run(["method=rls_class"])
    assert choices["sampler"] == "rls_class" and cfg.method._target_ == "gans.method.GANMethod"
    assert cfg.sampler.k == 25 and cfg.sampler.gamma == 1e-4
    for experiment, k in (("rls_mnist012", 25), ("rls_mnist", 10)):
        for method, key in (("rls_class", "k"), ("rls_discr", "sketch_dim")):
            cfg, choices = compose_run([f"experiment={experiment}", f"method={method}", "metrics=mnist_classes"])
            assert cfg.sampler[key] == k and cfg.sampler.gamma == 1e-4, (experiment, method)
            assert choices["gan"] == "dcgan" and cfg.trainer.steps == 30000 and cfg.trainer.batch_size == 64
    cfg, _ = compose_run(["method=rls_discr"])  # toy defaults unchanged
    assert cfg.sampler.sketch_dim is None and cfg.sampler.gamma == 1e-3


def test_rls_bures_class_is_bures_with_the_class_sampler():
    cfg, choices = compose_run(["method=rls_bures_class"])
    assert choices["sampler"] == "rls_class" and len(cfg.method.regularizers) > 0


def test_dcgan_trains_with_rls_class_through_run(tmp_path):
    cfg, choices = compose_run(QUICK + ["gan=dcgan", "dataset=mnist012_unbalanced", f"data.root={shared_root()}",
                                        "method=rls_class", "sampler.reduction=sketch", "trainer.steps=3",
                                        "trainer.batch_size=16", "metrics=mnist_classes", "metrics.n_samples=32",
                                        *TINY_EVALUATOR])
    (record,) = run.execute(cfg, choices, tmp_path / "run")
    assert record["status"] == "completed" and record["group"]["sampler"] == "rls_class"


@pytest.mark.slow
def test_umap_reduction_end_to_end():
    data = bundle()
    s = sampler(k=5, reduction="umap")
    s.setup(data, 1, 64, torch.Generator().manual_seed(0))
    p = s.probabilities()[0]
    assert s.embedding(data).shape == (data.n, 5) and p[data.labels == 2].sum() > 25 / 1025
