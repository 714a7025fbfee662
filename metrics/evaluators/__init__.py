"""Evaluator networks (classifiers trained by the suite, cached in the data root) and their dataset helpers.

See :mod:`metrics.evaluators.base` for the interface: ``evaluator_for(data)`` returns an object with ``name``,
``accuracy``, ``num_classes``, ``feature_dim``, ``features(x)``, ``logits(x)``, ``predict(x)``;
``dataset_labels(data, x)`` maps predictions to the dataset's classes.
"""
from metrics.evaluators.base import (ClassifierSpec, ColourEvaluator, ColourRuleSpec, EvaluatorSpec,
                                     StackedEvaluator, StackedMNISTSpec, TrainedEvaluator, class_histogram,
                                     clear_memo, dataset_labels, evaluator_for, kl_to_target, prepare,
                                     to_model_input)

__all__ = ["ClassifierSpec", "ColourEvaluator", "ColourRuleSpec", "EvaluatorSpec", "StackedEvaluator",
           "StackedMNISTSpec", "TrainedEvaluator", "class_histogram", "clear_memo", "dataset_labels",
           "evaluator_for", "kl_to_target", "prepare", "to_model_input"]
