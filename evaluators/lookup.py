"""The evaluator of a loaded dataset bundle: :func:`evaluator_for` (loaded once, kept by the bundle),
:func:`dataset_view` (what the image metrics classify with) and :func:`dataset_labels`."""
from __future__ import annotations

from typing import Any

import torch

from core.errors import ConfigError
from evaluators.classes import predicted_classes
from evaluators.wrappers import AttributeView

__all__ = ["dataset_labels", "dataset_view", "evaluator_for"]


def evaluator_for(data, device: torch.device | str | None = None):
    """The trained evaluator of a dataset bundle: its spec (``dataset.evaluator``) loads it, training it on first
    use; the bundle keeps it (``data.images.loaded_evaluators``), so metrics and samplers share one. DataError
    below its accuracy floor."""
    info = data.images
    if info is None or info.evaluator_spec is None:
        raise ConfigError(f"dataset '{data.name}' has no evaluator configured (dataset.evaluator); image metrics "
                          "and sampler=rls_class need one")
    key = str(device)
    if key not in info.loaded_evaluators:
        info.loaded_evaluators[key] = info.evaluator_spec.load(data, device)
    return info.loaded_evaluators[key]


def dataset_view(evaluator: Any, data) -> Any:
    """``evaluator`` as the image metrics classify ``data`` with it: a multi-label evaluator (CelebA attributes)
    as the dataset attribute's two classes (:class:`AttributeView`), any other as it is."""
    if getattr(evaluator, "multilabel", False):
        return AttributeView(evaluator, data.images.attribute if data.images is not None else None)
    return evaluator


def dataset_labels(data, x: torch.Tensor) -> torch.Tensor:
    """The dataset class of each image in ``x`` according to the dataset's evaluator, as the image metrics count
    them (:func:`evaluators.classes.predicted_classes`): (N,) in 0..K-1, -1 where the evaluator sees a class
    outside the dataset (e.g. a 7 generated for 012-MNIST)."""
    evaluator = dataset_view(evaluator_for(data), data)
    return torch.as_tensor(predicted_classes(evaluator.logits(x).cpu(), data))
