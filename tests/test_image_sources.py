"""Raw image sources: checksums, truncation, missing files offline, the decoded cache, auto source resolution.
Every file is made by the tests (never the network)."""
import gzip
import pickle

import numpy as np
import pytest
import torch

from engine import run
from conftest import QUICK, compose_run
from datasets import sources
from core.errors import ConfigError, DataError
from data_helpers import md5, write_celeba, write_cifar10, write_mnist_like


def test_missing_mnist_offline_names_the_download_command(tmp_path):
    with pytest.raises(DataError) as info:
        sources.load_mnist_like("mnist", tmp_path, "train")
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz is missing" in message
    assert f"python -m datasets.download mnist --root {tmp_path}" in message
    assert "dataset.download=true" in message and "dataset.source=mnist5k" in message
    assert not (tmp_path / "modebench" / "cache").exists() or not any((tmp_path / "modebench" / "cache").iterdir())


@pytest.mark.parametrize("base", ["fmnist", "cifar10", "celeba"])
def test_missing_other_datasets_offline(tmp_path, base):
    loader = {"fmnist": lambda: sources.load_mnist_like("fmnist", tmp_path),
              "cifar10": lambda: sources.load_cifar10(tmp_path),
              "celeba": lambda: sources.load_celeba(tmp_path)}[base]
    with pytest.raises(DataError, match=f"python -m datasets.download {base} --root"):
        loader()


def test_files_with_wrong_checksums_are_refused_and_never_decoded(tmp_path):
    write_mnist_like(tmp_path, "mnist", register=False)  # real MNIST MD5s expected: the fakes fail
    with pytest.raises(DataError, match="corrupt or truncated .*MD5"):
        sources.load_mnist_like("mnist", tmp_path, "train")
    assert not list((tmp_path / "modebench").rglob("*.pt")) if (tmp_path / "modebench").exists() else True


def test_fake_mnist_with_registered_checksums_loads_and_is_cached(tmp_path, monkeypatch):
    written = write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    data = sources.load_mnist_like("mnist", tmp_path, "train")
    images, labels = written["train"]
    assert data["x"].shape == (300, 1, 28, 28) and data["x"].dtype == torch.uint8
    assert torch.equal(data["x"][:, 0], torch.from_numpy(images)) and torch.equal(data["y"], torch.from_numpy(labels).long())
    # second load: from the decoded cache, without reading the raw files
    monkeypatch.setattr(sources, "_read_mnist_file", lambda *a, **k: pytest.fail("raw files re-read"))
    again = sources.load_mnist_like("mnist", tmp_path, "train")
    assert torch.equal(again["x"], data["x"])


def test_truncated_archive_with_matching_md5_is_caught_by_the_structure_check(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    path = tmp_path / "MNIST/raw/train-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as handle:
        payload = handle.read()
    with gzip.open(path, "wb") as handle:
        handle.write(payload[:-100])  # a consistent gzip of a truncated idx file
    monkeypatch.setitem(sources.CHECKSUMS["mnist"], path.name, md5(path))
    with pytest.raises(DataError, match="truncated"):
        sources.load_mnist_like("mnist", tmp_path, "train")


def test_truncated_gzip_stream_fails_its_checksum(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    path = tmp_path / "MNIST/raw/train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DataError, match="corrupt or truncated"):
        sources.load_mnist_like("mnist", tmp_path, "train")


def test_damaged_decoded_cache_is_rebuilt(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    first = sources.load_mnist_like("mnist", tmp_path, "test")
    cache = next((tmp_path / "modebench" / "cache").glob("mnist-test-*.pt"))
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="rebuilding"):
        again = sources.load_mnist_like("mnist", tmp_path, "test")
    assert torch.equal(first["x"], again["x"])


def test_download_true_replaces_bad_files_through_the_downloader(tmp_path, monkeypatch):
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    good = (tmp_path / "MNIST/raw/train-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte.gz").write_bytes(b"garbage")
    calls = []

    def fake_download(base, root):  # what torchvision's downloader would do, minus the network
        calls.append(base)
        sources._remove_bad_files(base, root)
        assert not (root / "MNIST/raw/train-images-idx3-ubyte.gz").exists()
        (root / "MNIST/raw/train-images-idx3-ubyte.gz").write_bytes(good)

    monkeypatch.setattr(sources, "download_fn", fake_download)
    data = sources.load_mnist_like("mnist", tmp_path, "train", download=True)
    assert calls == ["mnist"] and data["x"].shape[0] == 300


def test_auto_source_resolution(tmp_path, monkeypatch):
    assert sources.resolve_source("auto", "mnist", tmp_path) == "mnist5k"
    assert sources.resolve_source("auto", "mnist", tmp_path, True) == "torchvision"
    assert sources.resolve_source("auto", "cifar10", tmp_path) == "torchvision"
    assert sources.resolve_source("auto", "mnist+fmnist", tmp_path) == "torchvision"
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    assert sources.resolve_source("auto", "mnist", tmp_path) == "torchvision"
    assert sources.resolve_source("mnist5k", "mnist", tmp_path) == "mnist5k"
    with pytest.raises(ConfigError, match="dataset.source must be one of"):
        sources.resolve_source("internet", "mnist", tmp_path)


def test_the_resolved_source_is_part_of_the_config_and_its_hash(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    from engine.records import config_hash

    cfg, _ = compose_run(["dataset=mnist012_unbalanced", f"data.root={tmp_path}"])
    offline = OmegaConf.to_container(cfg, resolve=True)
    assert offline["dataset"]["source_resolved"] == "mnist5k"
    write_mnist_like(tmp_path, "mnist", monkeypatch=monkeypatch)
    online = OmegaConf.to_container(cfg, resolve=True)
    assert online["dataset"]["source_resolved"] == "torchvision"
    assert config_hash(offline) != config_hash(online)
    moved, _ = compose_run(["dataset=mnist012_unbalanced", f"data.root={tmp_path}/elsewhere",
                            "dataset.source=mnist5k"])
    same, _ = compose_run(["dataset=mnist012_unbalanced", f"data.root={tmp_path}", "dataset.source=mnist5k"])
    assert config_hash(OmegaConf.to_container(moved, resolve=True)) == config_hash(
        OmegaConf.to_container(same, resolve=True))  # the data root is not part of the results identity


def test_a_missing_dataset_stops_the_run_before_training(tmp_path, monkeypatch):
    cfg, choices = compose_run(QUICK + ["dataset=fmnist", "gan=dcgan", "method=vanilla", "metrics=mnist_classes",
                                        f"data.root={tmp_path}"])
    import gans.method

    monkeypatch.setattr(gans.method.GANMethod, "setup", lambda *a: pytest.fail("training set-up reached"))
    with pytest.raises(DataError, match="python -m datasets.download fmnist"):
        run.execute(cfg, choices, tmp_path / "run")


def test_fake_cifar10_loads_and_wrong_checksum_is_refused(tmp_path, monkeypatch):
    write_cifar10(tmp_path, monkeypatch=monkeypatch)
    data = sources.load_cifar10(tmp_path, "train")
    assert data["x"].shape == (120, 3, 32, 32) and torch.bincount(data["y"]).tolist() == [12] * 10
    assert torch.all(data["x"][:, 0, 0, 0].long() == data["y"] * 25)  # class written in the red channel
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(DataError, match="test_batch is corrupt or truncated"):
        sources.load_cifar10(tmp_path, "test")


def test_cifar_pickle_with_inconsistent_content(tmp_path, monkeypatch):
    write_cifar10(tmp_path, monkeypatch=monkeypatch)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    with open(path, "wb") as handle:
        pickle.dump({"data": np.zeros((3, 100), np.uint8), "labels": [0, 1, 2]}, handle)
    monkeypatch.setitem(sources.CHECKSUMS["cifar10"], "test_batch", md5(path))
    with pytest.raises(DataError, match="shape"):
        sources.load_cifar10(tmp_path, "test")


def test_fake_celeba_loads_cropped_and_resized(tmp_path, monkeypatch):
    attrs = write_celeba(tmp_path, n=20, monkeypatch=monkeypatch)
    data = sources.load_celeba(tmp_path, "train", size=32, crop=140)
    assert data["x"].shape == (16, 3, 32, 32) and data["attributes"].shape == (16, 40)
    assert torch.equal(data["attributes"], torch.from_numpy(attrs[:16]))
    male = data["attributes"][:, data["attribute_names"].index("Male")].bool()
    assert data["x"][male, 0].float().mean() > 200 and data["x"][~male, 0].float().mean() < 50


def test_celeba_truncated_image_and_bad_annotations(tmp_path, monkeypatch):
    write_celeba(tmp_path, n=10, monkeypatch=monkeypatch)
    image = tmp_path / "celeba/img_align_celeba/000003.jpg"
    image.write_bytes(image.read_bytes()[:200])
    with pytest.raises(DataError, match="000003.jpg cannot be decoded"):
        sources.load_celeba(tmp_path, "train", size=16)
    attr = tmp_path / "celeba/list_attr_celeba.txt"
    attr.write_text(attr.read_text() + "extra line\n")
    with pytest.raises(DataError, match="list_attr_celeba.txt is corrupt or truncated"):
        sources.load_celeba(tmp_path, "test", size=16)


def test_mnist5k_subset_is_real_pinned_and_split(tmp_path):
    data = sources.load_mnist5k(tmp_path)
    assert data["x"].shape == (5000, 1, 28, 28) and torch.bincount(data["y"]).tolist() == [500] * 10
    assert data["y"][:10].tolist() == list(range(10))  # class-interleaved
    train, test = sources.load_mnist5k(tmp_path, "train_part"), sources.load_mnist5k(tmp_path, "test")
    assert torch.bincount(train["y"]).tolist() == [400] * 10 and torch.bincount(test["y"]).tolist() == [100] * 10
    merged = torch.cat([train["x"], test["x"]]).flatten(1)
    assert torch.unique(merged, dim=0).shape[0] == torch.unique(data["x"].flatten(1), dim=0).shape[0]


def test_mnist5k_refuses_a_different_file(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "MNIST5K_SHA256", "0" * 64)
    with pytest.raises(DataError, match="SHA-256"):
        sources.load_mnist5k(tmp_path)


def test_offline_subset_cannot_stand_in_for_other_datasets(tmp_path):
    from hydra.utils import instantiate

    cfg, _ = compose_run(["dataset=fmnist", f"data.root={tmp_path}", "dataset.source=mnist5k"])
    with pytest.raises(Exception) as info:  # hydra wraps errors raised by targets
        instantiate(cfg.dataset)
    assert isinstance(info.value.__cause__, ConfigError)
    assert "only dataset.source=torchvision provides" in str(info.value.__cause__)
