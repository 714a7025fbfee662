"""Evaluator networks (classifiers trained by the suite, cached in the data root) and their dataset helpers.

See :mod:`evaluators.base` for the interface: ``evaluator_for(data)`` returns an object with ``name``,
``accuracy``, ``num_classes``, ``feature_dim``, ``features(x)``, ``logits(x)``, ``predict(x)``;
``dataset_labels(data, x)`` maps predictions to the dataset's classes. A dataset's spec (``data.extra["evaluator"]``)
is callable, ``spec(data) -> evaluator``, which is how the image metrics (``metrics.feature_spaces``) find it.
"""
from evaluators.base import (AttributeView, ClassifierSpec, ColourEvaluator, ColourRuleSpec, EvaluatorSpec,
                                     StackedEvaluator, StackedMNISTSpec, TrainedEvaluator, clear_memo,
                                     dataset_labels, evaluator_for, to_model_input)

__all__ = ["AttributeView", "ClassifierSpec", "ColourEvaluator", "ColourRuleSpec", "EvaluatorSpec",
           "StackedEvaluator", "StackedMNISTSpec", "TrainedEvaluator", "clear_memo", "dataset_labels",
           "evaluator_for", "to_model_input"]
