"""Evaluator networks: classifiers trained by the suite (cached in the data root), their specs and training.

- :mod:`evaluators.specs`: the ``evaluator`` config group (``ClassifierSpec``, ``StackedMNISTSpec``,
  ``ColourRuleSpec``): ``spec.load(data, device)`` -> a ready evaluator (trained on first use, floor checked);
- :mod:`evaluators.wrappers`: the evaluator objects (``name``, ``accuracy``, ``num_classes``, ``feature_dim``,
  ``features(x)``, ``logits(x)``, ``predict(x)``);
- :mod:`evaluators.training`: the training loop, stratified split and accuracy;
- :mod:`evaluators.lookup`: ``evaluator_for(data)`` (the bundle's evaluator, loaded once and kept by the bundle),
  ``dataset_view`` (what the image metrics classify with), ``dataset_labels(data, x)``;
- :mod:`evaluators.classes`: evaluator classes -> dataset classes, the class-histogram KL (a leaf module).
"""
from evaluators.classes import class_map, kl_divergence, predicted_classes
from evaluators.lookup import dataset_labels, dataset_view, evaluator_for
from evaluators.specs import ClassifierSpec, ColourRuleSpec, EvaluatorSpec, StackedMNISTSpec
from evaluators.wrappers import AttributeView, ColourEvaluator, StackedEvaluator, TrainedEvaluator, to_model_input

__all__ = ["AttributeView", "ClassifierSpec", "ColourEvaluator", "ColourRuleSpec", "EvaluatorSpec",
           "StackedEvaluator", "StackedMNISTSpec", "TrainedEvaluator", "class_map", "dataset_labels", "dataset_view",
           "evaluator_for", "kl_divergence", "predicted_classes", "to_model_input"]
