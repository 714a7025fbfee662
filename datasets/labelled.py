"""The labelled subset of minimal supervision (NEMGAN §2.4: the mode labels of < 1% of the real data).

``labelled_subset(labels, size, seed)`` draws ``size`` distinct training samples whose labels a method may use
(``draw=random``: uniformly from the training set, as the authors' code draws its 500 images, so the classes keep
their proportions; ``draw=stratified``: as equal a number per class as ``size`` allows, as an annotator asked for
examples of every class would give). ``exclude`` removes samples that must stay unlabelled (those also in the
held-out evaluation set). ``balanced`` then repeats each class's samples up to the largest class's count
(oversampling, REFERENCE 3.2), so that a classifier trained on it sees every class equally often. The draw depends
only on ``seed``: the same labelled images for every training seed, replica and method.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.errors import ConfigError, require

__all__ = ["DRAWS", "LabelledSubset", "labelled_subset", "oversample_balanced"]

DRAWS = ("random", "stratified")


@dataclass
class LabelledSubset:
    """``indices``: the distinct labelled samples (size,); ``balanced``: indices with every class repeated to the
    largest class's count; ``labels``: their labels (size,); ``num_classes``."""

    indices: torch.Tensor
    balanced: torch.Tensor
    labels: torch.Tensor
    num_classes: int

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()


def _stratified(candidates: torch.Tensor, labels: torch.Tensor, size: int, k: int,
                gen: torch.Generator) -> torch.Tensor:
    quota = [size // k + (1 if c < size % k else 0) for c in range(k)]
    picked = []
    for c in range(k):
        members = candidates[labels[candidates] == c]
        require(members.numel() >= quota[c], f"supervision: class {c} has {members.numel()} unlabelled-eligible "
                                             f"samples, fewer than the {quota[c]} a stratified draw of {size} needs; "
                                             "lower method.supervision.size")
        picked.append(members[torch.randperm(members.numel(), generator=gen)[:quota[c]]])
    return torch.cat(picked)


def labelled_subset(labels: torch.Tensor, size: int, seed: int, num_classes: int, draw: str = "random",
                    exclude: torch.Tensor | None = None) -> LabelledSubset:
    """The labelled subset of a training set with ``labels`` (n,) in 0..num_classes-1 (see the module docstring);
    ``exclude``: a boolean mask (n,) of samples that may not be labelled. ConfigError when it cannot hold every
    class."""
    require(draw in DRAWS, f"method.supervision.draw must be one of {list(DRAWS)}, got {draw!r}")
    labels = labels.detach().cpu().long()
    candidates = torch.arange(labels.numel())
    if exclude is not None:
        candidates = candidates[~exclude.detach().cpu().bool()]
    require(1 <= size <= candidates.numel(), f"method.supervision.size={size} must be in 1..{candidates.numel()} "
                                             "(the training samples that may be labelled)")
    gen = torch.Generator().manual_seed(int(seed))
    if draw == "random":
        chosen = candidates[torch.randperm(candidates.numel(), generator=gen)[:size]]
    else:
        chosen = _stratified(candidates, labels, size, num_classes, gen)
    chosen = chosen.sort().values
    chosen_labels = labels[chosen]
    counts = torch.bincount(chosen_labels, minlength=num_classes)
    missing = (counts == 0).nonzero().squeeze(1).tolist()
    if missing:
        raise ConfigError(f"supervision: the {size} labelled samples drawn with seed {seed} contain no sample of "
                          f"class(es) {missing}, so oversampling cannot balance them; raise method.supervision.size, "
                          "change method.supervision.seed or use method.supervision.draw=stratified")
    return LabelledSubset(chosen, chosen[oversample_balanced(chosen_labels, num_classes, gen)], chosen_labels,
                          num_classes)


def oversample_balanced(labels: torch.Tensor, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Indices into ``labels`` with every present class repeated to the largest class's count: whole copies plus a
    draw without replacement (from ``gen``) for the remainder, class by class."""
    counts = torch.bincount(labels, minlength=num_classes)
    largest = int(counts.max())
    out = []
    for c in range(num_classes):
        members = (labels == c).nonzero().squeeze(1)
        if members.numel():
            extra = members[torch.randperm(members.numel(), generator=gen)[:largest % members.numel()]]
            out.append(torch.cat([members.repeat(largest // members.numel()), extra]))
    return torch.cat(out)
