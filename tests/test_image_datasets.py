"""Derived image datasets: class proportions, sizes, metadata and splits (offline subset and test-made files)."""
import pytest
import torch
from hydra.utils import instantiate

from conftest import compose_run
from datasets import sources
from datasets.images import ClassImageDataset
from datasets.transforms import convert_channels, resize_images
from core.errors import ConfigError
from data_helpers import shared_root, write_celeba, write_cifar10, write_mnist_like


def load(name, *overrides, root=None):
    cfg, _ = compose_run([f"dataset={name}", f"data.root={root or shared_root()}", *overrides])
    return instantiate(cfg.dataset).load("cpu")


def check_metadata(b):
    k = b.num_modes
    counts = torch.bincount(b.labels, minlength=k)
    assert b.images.class_counts.tolist() == counts.tolist()
    assert torch.allclose(b.observed_weights.double(), counts.double() / b.n, atol=1e-7)
    assert abs(float(b.target_weights.sum()) - 1) < 1e-6
    expected = (b.target_weights.double() / b.observed_weights.double().clamp_min(1e-30))[b.labels]
    assert torch.allclose(b.importance_weights.double(), expected, rtol=1e-5)
    assert b.kind == "image" and b.x.dtype == torch.uint8 and b.x.shape[0] == b.n


# ----------------------------------------------------------------------------------- on the offline subset
def test_mnist012_unbalanced_proportions():
    b = load("mnist012_unbalanced")
    check_metadata(b)
    assert b.images.class_counts.tolist() == [500, 500, 25] and b.n == 1025
    assert b.minority == (2,) and b.x.shape[1:] == (1, 28, 28)
    assert torch.equal(b.images.source_labels, b.labels)  # classes 0, 1, 2 are digits 0, 1, 2
    assert b.target_weights.tolist() == pytest.approx([1 / 3] * 3)
    assert b.importance_weights[b.labels == 2][0] == pytest.approx((1 / 3) / (25 / 1025), rel=1e-5)
    assert b.images.evaluator_class_map.tolist() == [0, 1, 2] + [-1] * 7
    assert b.images.source == "mnist5k"


def test_mnist_unbalanced_proportions():
    b = load("mnist_unbalanced")
    check_metadata(b)
    assert b.images.class_counts.tolist() == [25] * 5 + [500] * 5 and b.minority == (0, 1, 2, 3, 4)


def test_mnist_and_mnist2_and_mnist5():
    full = load("mnist")
    check_metadata(full)
    assert full.n == 5000 and full.images.class_counts.tolist() == [500] * 10
    two = load("mnist2")
    assert two.images.class_counts.tolist() == [500, 55] and two.minority == (1,)
    assert set(two.images.source_labels[two.labels == 0].tolist()) == {3}
    ratio = load("mnist2", "dataset.weights=[0.5,0.5]", "dataset.classes=[0,4]")
    assert ratio.images.class_counts.tolist() == [500, 500]
    five = load("mnist5")
    check_metadata(five)
    assert five.images.class_counts.tolist() == [1500, 500, 2000, 500, 500]
    assert torch.allclose(five.target_weights, five.observed_weights)  # NEMGAN: match the natural priors
    assert five.images.evaluator_class_map.tolist() == [4, 2, 1, 0, 2, 0, 3, 2, 0, 2]
    for c, digits in enumerate([[3, 5, 8], [2], [1, 4, 7, 9], [6], [0]]):
        assert set(five.images.source_labels[five.labels == c].tolist()) == set(digits)


def test_exact_proportions_rule_on_the_real_mnist_class_sizes():
    spec = ClassImageDataset(classes=[0, 1, 2], minority=[2], minority_factor=0.05, source="mnist5k",
                             root=str(shared_root()))
    assert spec.counts([5923, 6742, 5958]) == [5923, 5923, 296]
    full = ClassImageDataset(minority=[0, 1, 2, 3, 4], minority_factor=0.05, source="mnist5k", root=str(shared_root()))
    mnist_train = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert full.counts(mnist_train) == [271] * 5 + [5421] * 5
    fixed = ClassImageDataset(classes=[0, 1, 2], minority=[2], minority_factor=0.05, n=2050, source="mnist5k",
                              root=str(shared_root()))
    assert fixed.counts([5923, 6742, 5958]) == [1000, 1000, 50]
    with pytest.raises(ConfigError, match="needs more images"):
        fixed.counts([900, 6742, 5958])


def test_size_channels_and_data_seed():
    b = load("mnist012_unbalanced", "dataset.size=32", "dataset.channels=3")
    assert b.x.shape[1:] == (3, 32, 32) and torch.equal(b.x[:, 0], b.x[:, 2])
    again = load("mnist012_unbalanced", "dataset.size=32", "dataset.channels=3")
    assert torch.equal(b.x, again.x)
    other = load("mnist012_unbalanced", "dataset.data_seed=1")
    same_seed = load("mnist012_unbalanced")
    assert not torch.equal(other.images.indices, same_seed.images.indices)
    assert other.images.fingerprint != same_seed.images.fingerprint


def test_stacked_mnist():
    b = load("stacked_mnist", "dataset.n=3000")
    check_metadata(b)
    assert b.x.shape == (3000, 3, 28, 28) and b.num_modes == 1000
    d = b.images.source_labels
    assert torch.equal(b.labels, 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2])
    base = sources.load_mnist5k(shared_root())
    idx = b.images.indices
    for c in range(3):
        assert torch.equal(b.x[:, c], base["x"][idx[:, c], 0]) and torch.equal(d[:, c], base["y"][idx[:, c]])
    assert b.target_weights.tolist() == pytest.approx([1e-3] * 1000)


def test_colored_mnist():
    b = load("colored_mnist")
    check_metadata(b)
    assert b.x.shape == (5000, 3, 32, 32) and b.images.class_counts.tolist() == [4950, 50] and b.minority == (1,)
    red, green = b.x[b.labels == 0], b.x[b.labels == 1]
    assert red[:, 1:].max() == 0 and red[:, 0].max() == 255
    assert green[:, 0].max() == 0 and green[:, 2].max() == 0 and green[:, 1].max() == 255
    assert load("colored_mnist", "dataset.major_ratio=0.9", "dataset.n=1000").images.class_counts.tolist() == [900, 100]


def test_rumi_splits():
    few = load("rumi_mnist")
    check_metadata(few)
    counts = few.images.class_counts.tolist()
    assert counts[5] == 200 and all(c == 500 for i, c in enumerate(counts) if i != 5) and few.minority == (5,)
    pos, neg = few.positive_indices, few.negative_indices
    assert set(few.labels[pos].tolist()) == {5} and 5 not in set(few.labels[neg].tolist())
    assert pos.numel() + neg.numel() == few.n
    assert few.target_weights[5] == pytest.approx(1.0)  # target: the positives
    base = sources.load_mnist5k(shared_root())
    fives = (base["y"] == 5).nonzero().squeeze(1)[:200]  # the first 200 fives in file order
    assert set(few.images.indices[pos].tolist()) == set(fives.tolist())
    overlap = load("rumi_mnist", "dataset.partition=overlap")
    p = set(overlap.labels[overlap.positive_indices].tolist())
    q = set(overlap.labels[overlap.negative_indices].tolist())
    assert p == {1, 2, 4, 5, 7, 9} and q == {0, 2, 3, 6, 8, 9} and overlap.n == 5000
    masks = overlap.images.subgroups  # the split as the metrics' subgroups: the images of 2 and 9 are in both
    assert torch.equal(masks["positive"].nonzero().squeeze(1), overlap.positive_indices)
    assert torch.equal(masks["positive"] & masks["negative"], torch.isin(overlap.labels, torch.tensor([2, 9])))
    even = load("rumi_mnist", "dataset.partition=even", "dataset.target=balanced")
    assert set(even.labels[even.positive_indices].tolist()) == {0, 2, 4, 6, 8}
    assert even.target_weights.tolist() == pytest.approx([0.1] * 10)


def test_bad_dataset_values():
    for overrides, message in [(["dataset.minority_factor=0.5"], "no effect"),
                               (["dataset.classes=[0,0]"], "twice"),
                               (["dataset.n=99999", "dataset.classes=[0,1]"], "exceeds"),
                               (["dataset.source=web"], "dataset.source")]:
        cfg, _ = compose_run(["dataset=mnist", f"data.root={shared_root()}", *overrides])
        with pytest.raises(Exception) as info:
            instantiate(cfg.dataset).load()
        assert message in str(info.value) + str(info.value.__cause__)


def test_transforms():
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    assert resize_images(x, 32).shape == (4, 1, 32, 32) and resize_images(x, 28) is x
    rgb = convert_channels(x, 3)
    assert rgb.shape == (4, 3, 28, 28) and torch.equal(convert_channels(rgb, 1), x)


# ----------------------------------------------------------------------------- torchvision-format test files
def test_fmnist5_and_mnist_fmnist_on_test_files(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", per_class_train=[30] * 10, monkeypatch=monkeypatch)
    write_mnist_like(tmp_path, "fmnist", per_class_train=[20, 10, 30, 25, 15, 12, 18, 22, 16, 32], seed=1,
                     monkeypatch=monkeypatch)
    f5 = load("fmnist5", root=tmp_path)
    check_metadata(f5)
    assert f5.images.source == "torchvision"
    assert f5.images.class_counts.tolist() == [12 + 22 + 32, 16, 30 + 15 + 18, 20 + 25, 10]
    mf = load("mnist_fmnist", "dataset.n=200", root=tmp_path)
    check_metadata(mf)
    assert mf.x.shape == (200, 1, 32, 32) and mf.images.class_counts.tolist() == [180, 20]
    mnist = sources.load_mnist_like("mnist", tmp_path)
    fmnist = sources.load_mnist_like("fmnist", tmp_path)
    i_m = (mf.labels == 0).nonzero()[0].item()
    i_f = (mf.labels == 1).nonzero()[0].item()
    assert torch.equal(mf.x[i_m], resize_images(mnist["x"][i_m:i_m + 1], 32)[0])  # same index, right source
    assert torch.equal(mf.x[i_f], resize_images(fmnist["x"][i_f:i_f + 1], 32)[0])


def test_mnist_from_torchvision_files_uses_all_training_images(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", per_class_train=[30, 40, 35, 30, 30, 30, 30, 30, 30, 30],
                     monkeypatch=monkeypatch)
    b = load("mnist012_unbalanced", root=tmp_path)
    assert b.images.source == "torchvision"
    # exact 1 : 1 : 0.05 -> n = floor(30 / (1 / 2.05)) = 61 -> 30, 30, 1 (largest remainders)
    assert b.images.class_counts.tolist() == [30, 30, 1]


def test_cifar10_derived_sets_on_test_files(tmp_path, monkeypatch):
    write_cifar10(tmp_path, per_class_train=40, monkeypatch=monkeypatch)
    c06 = load("cifar10_06", root=tmp_path)
    check_metadata(c06)
    assert c06.x.shape[1:] == (3, 32, 32) and c06.images.class_counts.tolist() == [2, 40] and c06.minority == (0,)
    assert c06.images.class_names == ["airplane", "frog"]
    c016 = load("cifar10_016", root=tmp_path)
    assert c016.images.class_counts.tolist() == [40, 40, 2] and c016.minority == (2,)
    full = load("cifar10", root=tmp_path)
    assert full.n == 400 and full.images.class_counts.tolist() == [40] * 10
    rumi = load("rumi_cifar10", "dataset.num_few=5", root=tmp_path)
    check_metadata(rumi)
    assert rumi.images.class_counts[7] == 5 and rumi.minority == (7,)
    assert set(rumi.labels[rumi.positive_indices].tolist()) == {7}


def test_celeba_and_rumi_female_minority_on_test_files(tmp_path, monkeypatch):
    write_celeba(tmp_path, n=50, monkeypatch=monkeypatch)
    b = load("celeba", root=tmp_path)
    check_metadata(b)
    assert b.x.shape == (40, 3, 64, 64) and b.images.attribute == "Bald"
    assert b.images.class_counts.tolist() == [32, 8] and b.minority == (1,)
    assert torch.allclose(b.target_weights, b.observed_weights)
    assert b.extra["attributes"].shape == (40, 40)
    rumi = load("rumi_celeba", "dataset.minority_keep=0.25", root=tmp_path)
    check_metadata(rumi)
    assert rumi.images.class_counts.tolist() == [5, 20]  # 20 women in the train split, a quarter kept
    assert set(rumi.labels[rumi.positive_indices].tolist()) == {0}
    assert rumi.target_weights.tolist() == pytest.approx([1.0, 0.0])


# ------------------------------------------------------------------------------------------- configs compose
def test_every_evaluator_config_composes_into_a_dataset():
    from conftest import ROOT
    from evaluators import EvaluatorSpec

    for path in sorted((ROOT / "conf" / "evaluator").glob("*.yaml")):
        cfg, _ = compose_run(["dataset=mnist", f"data.root={shared_root()}", f"evaluator@dataset.evaluator={path.stem}"])
        spec = instantiate(cfg.dataset).evaluator
        assert isinstance(spec, EvaluatorSpec) and spec.name.startswith(path.stem.split("_")[0][:4]), path.stem


def test_image_experiments_compose_and_build_with_the_minimal_metrics():
    from engine import build as run

    for name in ("rls_mnist012", "rls_mnist", "rls_mnist012_cpu"):
        cfg, choices = compose_run([f"experiment={name}", "metrics=mnist_classes", f"data.root={shared_root()}"])
        run.build_components(cfg)
        assert cfg.experiment_name == name and choices["gan"] == "dcgan"
