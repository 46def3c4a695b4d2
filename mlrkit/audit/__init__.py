"""Label audit: which given labels look wrong, and how well that is found (layer 3).

Pure functions on arrays (scores, targets, class-embedding rows); they import the metrics, the
input checks and the errors only, never a run.

- :func:`score_suspicion`: ``1 - p`` for a given positive, ``p`` for a given negative (the
  model's self-confidence in the given label, turned around).
- :func:`feature_suspicion`: the share of a (image, class) row's nearest rows of the same
  class in other images that were given the other label (:func:`mlrkit.metrics.cosine_topk`).
- :func:`combine_suspicion`: the mean of the suspicions' ranks scaled to [0, 1].
- :func:`detection_report`: ROC AUC, average precision, precision@k and recall@k of a
  suspicion against known (planted) errors, overall and per kind of error.
"""

from mlrkit.audit.detection import OVERALL, detection_report
from mlrkit.audit.suspicion import combine_suspicion, feature_suspicion, score_suspicion

__all__ = [
    "OVERALL",
    "combine_suspicion",
    "detection_report",
    "feature_suspicion",
    "score_suspicion",
]
