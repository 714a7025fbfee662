"""Rumi-GAN's positive/negative splits of a 10-class base dataset (REFERENCE 4.4)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from core.errors import require
from datasets import sources
from datasets.base import DataBundle
from datasets.image_base import CLASS_NAMES, ImageDatasetBase, int_list, pick_indices, positive_int

__all__ = ["RUMI_SPLITS", "RumiSplit"]

RUMI_SPLITS = {
    "even": ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9]),
    "odd": ([1, 3, 5, 7, 9], [0, 2, 4, 6, 8]),
    "overlap": ([1, 2, 4, 5, 7, 9], [0, 2, 3, 6, 8, 9]),  # 2 and 9 are in both sets
    "animals": ([2, 3, 4, 5, 6, 7], [0, 1, 8, 9]),  # CIFAR-10: animals vs vehicles
}


class RumiSplit(ImageDatasetBase):
    """Rumi-GAN's positive/negative splits of a 10-class base (REFERENCE 4.4). ``split``:

    - ``even`` / ``odd`` / ``overlap`` / ``animals``: positives and negatives are whole classes (``overlap``:
      positives {1,2,4,5,7,9}, negatives {0,2,3,6,8,9}: the images of 2 and 9 are in both index sets);
    - ``few`` (the minority case): positives = ``num_few`` images of class ``number`` (the first ones in file order,
      ``pick: first``, as the authors' code; the paper says random), negatives = every image of the other classes;
    - ``single``: positives = all images of ``number``, negatives = the other classes;
    - ``custom``: ``positive_classes`` / ``negative_classes`` as given.

    The training set is the union (each image once); labels are the base classes; the bundle's
    ``positive_indices`` / ``negative_indices`` index ``x`` (``extra``: ``positive_classes``, ``negative_classes``,
    ``partition``). ``target: positives`` (default) is the uniform
    distribution over the positive classes (what Rumi-GAN should generate); ``balanced`` is uniform over all 10.
    ``images.balanced_x`` holds every base-split image of the target's classes (for ``few``: the whole parent
    class of the ``num_few`` positives), the image metrics' ``balanced`` reference.
    """

    def __init__(self, name: str = "rumi_mnist", base: str = "mnist", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = None, channels: int | None = None, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "positives", partition: str = "few", number: int = 5,
                 num_few: int = 200, pick: str = "first", positive_classes: Sequence[int] | None = None,
                 negative_classes: Sequence[int] | None = None):
        require(base in ("mnist", "fmnist", "cifar10"), f"Rumi splits are defined on mnist, fmnist and cifar10, "
                                                        f"got {base!r}")
        self.bases = base
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        valid = tuple(RUMI_SPLITS) + ("few", "single", "custom")
        require(partition in valid, f"dataset.partition must be one of {list(valid)}, got {partition!r}")
        require(isinstance(number, int) and 0 <= number <= 9, f"dataset.number must be a class 0..9, got {number!r}")
        self.partition, self.number = partition, int(number)
        self.num_few = positive_int("num_few", num_few)
        require(pick in ("random", "first"), f"dataset.pick must be random or first, got {pick!r}")
        self.pick = pick
        if partition in RUMI_SPLITS:
            pos, neg = RUMI_SPLITS[partition]
        elif partition in ("few", "single"):
            pos, neg = [self.number], [c for c in range(10) if c != self.number]
        else:
            require(positive_classes is not None and negative_classes is not None,
                    "dataset.partition=custom needs dataset.positive_classes and dataset.negative_classes")
            pos, neg = int_list("positive_classes", positive_classes), int_list("negative_classes", negative_classes)
        if partition != "custom":
            require(positive_classes is None and negative_classes is None,
                    f"dataset.positive_classes/negative_classes are only used with partition=custom "
                    f"(partition={partition} defines them)")
        require(pos and neg and all(0 <= c <= 9 for c in pos + neg), f"invalid positive/negative classes {pos}/{neg}")
        self.positive_classes, self.negative_classes = list(pos), list(neg)
        self.provides = self._provides(partition == "few", split=True)

    def load(self, device="cpu") -> DataBundle:
        data = self._load()
        y = data["y"]
        gen = self._generator()
        keep = []
        for c in sorted(set(self.positive_classes) | set(self.negative_classes)):
            members = (y == c).nonzero().squeeze(1)
            if self.partition == "few" and c == self.number:
                require(self.num_few <= members.numel(),
                        f"dataset.num_few={self.num_few} exceeds the {members.numel()} images of class {c}")
                members = pick_indices(members, self.num_few, self.pick, gen)
            keep.append(members)
        indices = torch.cat(keep)
        indices = indices[torch.randperm(indices.numel(), generator=gen)]
        labels = y[indices]
        positive = torch.isin(labels, torch.tensor(self.positive_classes))
        negative = torch.isin(labels, torch.tensor(self.negative_classes))
        names = CLASS_NAMES.get(self.base, [str(i) for i in range(10)])
        minority = (self.number,) if self.partition == "few" else ()
        fingerprint = self._fingerprint(sources.source_fingerprint(self.base, self.source, self.split), indices)
        extra = {"positive_classes": list(self.positive_classes), "negative_classes": list(self.negative_classes),
                 "partition": self.partition}
        bundle = self._bundle(self._images(data["x"][indices]), labels, 10, names, minority,
                              source_labels=labels.clone(), indices=indices, fingerprint=fingerprint,
                              class_map=torch.arange(10), positives=self.positive_classes,
                              split=(positive.nonzero().squeeze(1), negative.nonzero().squeeze(1)),
                              extra=extra)
        # the undepleted images of the target classes (all of the base split): the parent class of the few
        # positives, the metrics' `balanced` reference (Rumi §5: FID "with respect to the entire parent class")
        parent = torch.isin(y, (bundle.target_weights > 0).nonzero().squeeze(1))
        bundle.images.balanced_x = self._images(data["x"][parent])
        return bundle.to(device)
