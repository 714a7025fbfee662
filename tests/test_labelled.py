"""The labelled subset of minimal supervision and the held-out balanced evaluation data (datasets/labelled.py,
datasets/held_out.py)."""
import pytest
import torch

from core.errors import ConfigError
from data_helpers import shared_root
from datasets.held_out import balanced_held_out, held_out_overlap
from datasets.labelled import labelled_subset


def _labels():
    return torch.tensor([0] * 600 + [1] * 300 + [2] * 100)[torch.randperm(1000, generator=torch.Generator().manual_seed(0))]


@pytest.mark.parametrize("draw", ["random", "stratified"])
def test_labelled_subset_is_balanced_of_the_configured_size_and_fixed_by_its_seed(draw):
    labels = _labels()
    exclude = torch.zeros(1000, dtype=torch.bool)
    exclude[::7] = True
    subset = labelled_subset(labels, 60, seed=3, num_classes=3, draw=draw, exclude=exclude)
    assert subset.indices.numel() == 60 and subset.indices.unique().numel() == 60  # distinct samples
    assert not exclude[subset.indices].any()  # never a held-out sample
    assert torch.equal(labels[subset.indices], subset.labels)
    counts = torch.bincount(labels[subset.balanced], minlength=3)
    assert counts.min() == counts.max() == max(subset.class_counts())  # oversampled to the largest class
    assert set(subset.balanced.tolist()) == set(subset.indices.tolist())  # only labelled samples, each one used
    again = labelled_subset(labels, 60, seed=3, num_classes=3, draw=draw, exclude=exclude)
    other = labelled_subset(labels, 60, seed=4, num_classes=3, draw=draw, exclude=exclude)
    assert torch.equal(again.indices, subset.indices) and torch.equal(again.balanced, subset.balanced)
    assert not torch.equal(other.indices, subset.indices)
    if draw == "stratified":
        assert subset.class_counts() == [20, 20, 20]


def test_labelled_subset_refuses_what_it_cannot_balance():
    labels = torch.tensor([0] * 995 + [1] * 5)
    with pytest.raises(ConfigError, match="no sample of class"):
        labelled_subset(labels, 10, seed=0, num_classes=2)
    with pytest.raises(ConfigError, match="fewer than"):
        labelled_subset(labels, 20, seed=0, num_classes=2, draw="stratified")
    with pytest.raises(ConfigError, match="supervision.size"):
        labelled_subset(labels, 2000, seed=0, num_classes=2)


def test_mixture_held_out_is_fresh_and_balanced():
    from datasets.layouts import ring

    data = ring().load("cpu")
    x, labels = balanced_held_out(data, per_class=300, seed=1)
    assert torch.equal(torch.bincount(labels), torch.full((8,), 300))
    distance = (x - data.centers[labels]).norm(dim=1)
    assert distance.mean() == pytest.approx(0.05 * (torch.pi / 2) ** 0.5, rel=0.05)  # Rayleigh mean of σ = 0.05
    assert not held_out_overlap(data).any()


def test_mnist5k_held_out_split_is_balanced_and_its_overlap_is_never_labelled():
    """With the offline subset the test split (last 100 digits per class) is also in the GAN's training images:
    those are excluded from the labelled subset."""
    from datasets.images import ClassImageDataset

    spec = ClassImageDataset(name="mnist5", root=str(shared_root()), source="mnist5k",
                             classes=[[3, 5, 8], [2], [1, 4, 7, 9], [6], [0]], target="observed")
    data = spec.load("cpu")
    x, labels = balanced_held_out(data)
    assert x.shape[1:] == data.sample_shape and x.dtype == torch.uint8
    assert torch.equal(torch.bincount(labels), torch.full((5,), 400))  # {1,4,7,9}: 4 x 100, the others oversampled
    overlap = held_out_overlap(data)
    assert int(overlap.sum()) == 1000  # every class's last 100 of 500 digits
    subset = labelled_subset(data.labels, 50, seed=0, num_classes=5, exclude=overlap)
    assert not overlap[subset.indices].any()
