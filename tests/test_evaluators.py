"""Evaluator networks: interface, training on first use, caching (a second use does not retrain), floors."""
import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_run
from core.errors import DataError
from data_helpers import TINY_EVALUATOR, shared_root, write_celeba, write_cifar10
import evaluators
from evaluators.networks import MNISTCNN, CIFARResNet


def tiny_spec(**kw):
    settings = dict(name="tiny_cnn", epochs=2, max_train=1500, patience=0, batch_size=64, lr=1e-3,
                    arch={"hidden": 64}, floor=0.5)
    settings.update(kw)
    return evaluators.ClassifierSpec(**settings)


def test_table8_network_shapes():
    net = MNISTCNN()
    logits, features = net(torch.zeros(3, 1, 28, 28))
    assert logits.shape == (3, 10) and features.shape == (3, 1024) and net.fc.in_features == 1024
    resnet = CIFARResNet(depth=56)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in resnet.modules()) == 1 + 54 + 2  # + 2 projection shortcuts
    logits, features = CIFARResNet(depth=8, width=4)(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 10) and features.shape == (2, 16)


def test_trained_on_first_use_then_loaded_from_the_cache(tmp_path, monkeypatch):
    from evaluators import specs

    first = tiny_spec().load(None, "cpu", source="mnist5k", root=tmp_path)
    assert not first.info["loaded_from_cache"]
    assert first.accuracy > 0.8 and first.info["test_images"] == 1000
    cached = list((tmp_path / "modebench" / "evaluators").glob("tiny_cnn-*.pt"))
    assert len(cached) == 1
    monkeypatch.setattr(specs, "train_network", lambda *a, **k: pytest.fail("retrained"))
    second = tiny_spec().load(None, "cpu", source="mnist5k", root=tmp_path)  # as a new process would
    assert second.info["loaded_from_cache"] and second.info["cache"] == str(cached[0])  # not retrained
    assert second.accuracy == first.accuracy and second.fingerprint == first.fingerprint
    x = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    assert torch.allclose(first.logits(x), second.logits(x), atol=1e-5)
    monkeypatch.undo()
    other = tiny_spec(seed=1).load(None, "cpu", source="mnist5k", root=tmp_path)  # another seed: another key
    assert not other.info["loaded_from_cache"] and other.fingerprint != first.fingerprint


def test_interface_accepts_other_sizes_and_channels(tmp_path):
    ev = tiny_spec().load(None, "cpu", source="mnist5k", root=shared_root())
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    assert ev.features(x).shape == (5, 64) and ev.logits(x).shape == (5, 10) and ev.predict(x).shape == (5,)
    assert ev.name == "tiny_cnn" and ev.num_classes == 10 and ev.feature_dim == 64
    u8 = ((x + 1) * 127.5).round().to(torch.uint8)
    assert torch.allclose(ev.logits(u8), ev.logits(u8.float() / 127.5 - 1), atol=1e-4)


def test_accuracy_below_the_floor_is_an_error(tmp_path):
    with pytest.raises(DataError, match=r"evaluator tiny_cnn reaches held-out accuracy 0\.\d+ .* below its floor 0\.9990"):
        tiny_spec(floor={"mnist5k": 0.999}).load(None, "cpu", source="mnist5k", root=shared_root())


def test_source_settings_change_the_training_and_the_cache_key():
    spec = tiny_spec(source_settings={"mnist5k": {"lr": 2e-3, "epochs": 1}})
    tuned = spec.for_source("mnist5k")
    assert tuned.lr == 2e-3 and tuned.epochs == 1 and spec.for_source("torchvision") is spec
    assert tuned.cache_key("mnist5k") != spec.cache_key("mnist5k")
    with pytest.raises(Exception, match="unknown or fixed"):
        tiny_spec(source_settings={"mnist5k": {"architecture": "cifar_resnet"}})


def test_dataset_evaluator_and_class_mapping():
    cfg, _ = compose_run(["dataset=mnist012_unbalanced", f"data.root={shared_root()}", *TINY_EVALUATOR])
    data = instantiate(cfg.dataset).load()
    ev = evaluators.evaluator_for(data)
    assert evaluators.evaluator_for(data) is ev  # loaded once, kept by the bundle
    labels = evaluators.dataset_labels(data, data.x[:200])
    pred = ev.predict(data.x[:200])
    expected = torch.where(pred <= 2, pred, torch.full_like(pred, -1))
    assert torch.equal(labels, expected)
    # the image metrics classify with the same evaluator (the bundle's) and use the dataset's class map
    from metrics.class_counts import ClassCounts
    from metrics.features import FeatureExtractor

    assert FeatureExtractor().classifier_for(data).evaluator is ev
    out = ClassCounts()(data.as_float(data.x), data)
    assert out["evaluator"] == "mnist_cnn" and out["evaluator_accuracy"] == pytest.approx(ev.accuracy)
    assert sum(out["class_counts"]) + out["other_count"] == data.n and out["class_counts"][0] > 400


def test_stacked_evaluator_combines_the_channels():
    class Digit:  # a stand-in digit classifier: predicts the mean intensity bucket
        name, accuracy, feature_dim, info, multilabel = "stub", 0.99, 2, {}, False

        def logits(self, x):
            value = ((x.float().mean((1, 2, 3)) + 1) * 4.99).long().clamp(0, 9)
            return torch.nn.functional.one_hot(value, 10).float() * 10

        def predict(self, x):
            return self.logits(x).argmax(1)

        def features(self, x):
            return torch.stack([x.float().mean((1, 2, 3)), x.float().std((1, 2, 3))], 1)

    stacked = evaluators.StackedEvaluator(Digit())
    x = torch.stack([torch.full((4, 28, 28), v) for v in (-0.9, 0.1, 0.9)], 1)  # digits 0, 5, 9
    assert stacked.predict(x).tolist() == [59] * 4
    assert stacked.logits(x).argmax(1).tolist() == [59] * 4 and stacked.logits(x).shape == (4, 1000)
    assert stacked.features(x).shape == (4, 6) and stacked.mode_accuracy == pytest.approx(0.99 ** 3)
    # the image metrics' per-channel mode feeds one channel at a time and combines the digits the same way
    from metrics.feature_spaces import ClassifierSpace

    joint = ClassifierSpace(stacked, per_channel=True).compute(x, ["logits"])["logits"]
    assert joint.argmax(1).tolist() == [59] * 4 and stacked.logits(x[:, :1]).shape == (4, 10)


def test_colour_rule_on_colored_mnist():
    cfg, _ = compose_run(["dataset=colored_mnist", f"data.root={shared_root()}", "dataset.n=500",
                          "dataset.major_ratio=0.9"])
    data = instantiate(cfg.dataset).load()
    ev = evaluators.evaluator_for(data)
    assert ev.accuracy == 1.0 and torch.equal(evaluators.dataset_labels(data, data.x), data.labels)
    assert torch.equal(ev.predict(data.as_float(data.x)), data.labels)


def test_cifar_resnet_trains_small_on_test_files(tmp_path, monkeypatch):
    write_cifar10(tmp_path, per_class_train=8, per_class_test=2, monkeypatch=monkeypatch)
    spec = evaluators.ClassifierSpec(name="cifar_tiny", base="cifar10", architecture="cifar_resnet",
                                     arch={"depth": 8, "width": 4}, input_size=32, channels=3, optimizer="sgd",
                                     lr=0.05, schedule="cosine", epochs=1, patience=0, batch_size=16,
                                     val_fraction=0.0, augment="crop_flip", floor=0.0)
    ev = spec.load(None, "cpu", source="torchvision", root=tmp_path)
    assert ev.num_classes == 10 and ev.info["test_images"] == 20 and ev.features(torch.zeros(2, 3, 32, 32)).shape == (2, 16)
    assert not ev.info["loaded_from_cache"]
    assert spec.load(None, "cpu", source="torchvision", root=tmp_path).info["loaded_from_cache"]


def test_celeba_attribute_classifier_small_on_test_files(tmp_path, monkeypatch):
    write_celeba(tmp_path, n=30, monkeypatch=monkeypatch)
    cfg, _ = compose_run(["dataset=rumi_celeba", f"data.root={tmp_path}", "dataset.size=32",
                          "dataset.evaluator.input_size=32", "dataset.evaluator.epochs=1",
                          "dataset.evaluator.arch.width=4", "dataset.evaluator.arch.blocks=2",
                          "dataset.evaluator.floor.torchvision=0.0", "dataset.evaluator.balanced_floor=0.0",
                          "dataset.minority_keep=0.5"])
    data = instantiate(cfg.dataset).load()
    ev = evaluators.evaluator_for(data)
    assert ev.multilabel and ev.class_names[-1] == "Male" and ev.logits(data.x).shape == (data.n, 8)
    assert ev.info["per_attribute"] is not None and 0 <= ev.info["balanced_accuracy"] <= 1
    labels = evaluators.dataset_labels(data, data.x)
    assert labels.shape == (data.n,) and set(labels.tolist()) <= {0, 1}
    view = evaluators.dataset_view(ev, data)  # what the image metrics use: the dataset attribute as two classes
    assert isinstance(view, evaluators.AttributeView) and view.logits(data.x[:3]).shape == (3, 2)
    names = data.extra["attribute_names"]
    assert torch.equal(data.images.subgroups["Male"], data.extra["attributes"][:, names.index("Male")].bool())


def test_image_metrics_prepare_their_evaluator_before_training():
    """Evaluator.prepare (run.py calls it before training) resolves the dataset's evaluator for every metric
    that classifies: one below its floor stops the run there."""
    from engine.evaluation import Evaluator

    low = [o for o in TINY_EVALUATOR if not o.startswith("dataset.evaluator.floor")]
    cfg, _ = compose_run(["dataset=mnist012_unbalanced", "metrics=images_fast", "metrics.features.space=classifier",
                          f"data.root={shared_root()}", *low, "dataset.evaluator.floor=0.999"])
    data = instantiate(cfg.dataset).load()
    with pytest.raises(DataError, match="below its floor 0.9990"):
        Evaluator(cfg.metrics).prepare(data)
