"""CelebA (aligned) labelled by one binary attribute, with all 40 attributes as subgroup masks."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from core.errors import require
from datasets import sources
from datasets.base import DataBundle
from datasets.image_base import ImageDatasetBase, int_list, pick_indices, positive_int
from datasets.transforms import convert_channels

__all__ = ["CelebA"]


class CelebA(ImageDatasetBase):
    """CelebA (aligned): a centre crop of ``crop`` pixels resized to ``size`` (64), the ``split`` partition
    (train: 162,770 images). Labels = the binary ``attribute`` (class 1 = has it). ``minority`` classes can be
    depleted to a fraction ``minority_keep`` of their images (Rumi-GAN's 5% of the females: attribute Male,
    minority [0], minority_keep 0.05); ``positives: minority`` then defines the positive/negative split (the kept
    minority images vs the rest), and with ``target: positives`` up to ``parent_size`` images of the whole minority
    class are kept in ``images.balanced_x`` (the metrics' ``balanced`` reference: the parent class). All 40
    attributes are kept in ``extra["attributes"]`` (with ``extra["attribute_names"]``) and as subgroup masks by name in ``images.subgroups`` (Dia-GAN's partial recall
    and occurrence of Bald, Eyeglasses, ...)."""

    def __init__(self, name: str = "celeba", base: str = "celeba", source: str = "auto",
                 source_resolved: str | None = None, root: str | None = None, download: bool = False,
                 split: str = "train", size: int | None = 64, channels: int | None = 3, data_seed: int = 0,
                 evaluator: Any = None, target: Any = "observed", crop: int = 140, attribute: str = "Bald",
                 minority: Sequence[int] = (1,), minority_keep: float = 1.0, pick: str = "random",
                 positives: str | None = None, parent_size: int = 10000):
        require(base == "celeba", "dataset.base must be celeba")
        self.bases = "celeba"
        super().__init__(name, base, source, source_resolved, root, download, split, size, channels, data_seed,
                         evaluator, target)
        self.crop = positive_int("crop", crop)
        require(isinstance(attribute, str) and attribute, "dataset.attribute must be a CelebA attribute name")
        self.attribute = attribute
        self.minority = int_list("minority", minority if minority is not None else [])
        require(all(m in (0, 1) for m in self.minority), "dataset.minority must list classes 0 and/or 1")
        require(isinstance(minority_keep, (int, float)) and 0 < minority_keep <= 1,
                f"dataset.minority_keep must be in (0, 1], got {minority_keep!r}")
        self.minority_keep = float(minority_keep)
        require(pick in ("random", "first"), f"dataset.pick must be random or first, got {pick!r}")
        self.pick = pick
        require(positives in (None, "minority"), f"dataset.positives must be null or minority, got {positives!r}")
        require(positives is None or len(self.minority) == 1, "dataset.positives=minority needs one minority class")
        self.positives = positives
        self.parent_size = positive_int("parent_size", parent_size)
        self.provides = self._provides(bool(self.minority), split=positives is not None)

    def load(self, device="cpu") -> DataBundle:
        data = sources.load_base("celeba", self.source, self.root, self.split, self.download, size=self.size,
                                 crop=self.crop)
        names = list(data["attribute_names"])
        require(self.attribute in names, f"dataset.attribute={self.attribute!r} is not a CelebA attribute; "
                                         f"choose one of {names}")
        a = names.index(self.attribute)
        y = data["attributes"][:, a].long()
        gen = self._generator()
        keep = []
        for c in (0, 1):
            members = (y == c).nonzero().squeeze(1)
            if c in self.minority and self.minority_keep < 1.0:
                members = pick_indices(members, max(1, int(round(members.numel() * self.minority_keep))), self.pick, gen)
            keep.append(members)
        indices = torch.cat(keep)
        indices = indices[torch.randperm(indices.numel(), generator=gen)]
        labels = y[indices]
        attributes = data["attributes"][indices]
        fingerprint = self._fingerprint(sources.source_fingerprint("celeba", self.source, self.split), indices,
                                        self.crop)
        positives, split = None, None
        if self.positives == "minority":
            m = self.minority[0]
            positives = [m]
            split = ((labels == m).nonzero().squeeze(1), (labels != m).nonzero().squeeze(1))
        x = convert_channels(data["x"][indices], self.channels)
        bundle = self._bundle(x, labels, 2, [f"not {self.attribute}", self.attribute], self.minority,
                            source_labels=labels.clone(), indices=indices, fingerprint=fingerprint,
                            positives=positives, split=split, attribute=self.attribute,
                            subgroups={n: attributes[:, j].bool() for j, n in enumerate(names)},
                            extra={"attributes": attributes, "attribute_names": names})
        if positives is not None and self.target == "positives":
            # the parent class of the kept minority images: up to `parent_size` images of it from the whole split
            # (Rumi §5 evaluates CelebA against 10^4 images of the target class), the `balanced` reference
            members = (y == positives[0]).nonzero().squeeze(1)
            members = pick_indices(members, min(self.parent_size, members.numel()), "random", gen)
            bundle.images.balanced_x = convert_channels(data["x"][members], self.channels)
        return bundle.to(device)
