"""Label audit: which given labels look wrong, and how well that is found (layer 3).

The suspicions and their measurement are pure functions on arrays (scores, targets,
class-embedding rows).

- :func:`score_suspicion`: ``1 - p`` for a given positive, ``p`` for a given negative (the
  model's self-confidence in the given label, turned around).
- :func:`feature_suspicion`: the share of a (image, class) row's nearest rows of the same
  class in other images that were given the other label (:func:`mlrkit.metrics.cosine_topk`).
- :func:`combine_suspicion`: the mean of the suspicions' ranks scaled to [0, 1].
- :func:`detection_report`: ROC AUC, average precision, precision@k and recall@k of a
  suspicion against known (planted) errors, overall and per kind of error.

And on runs:

- :func:`cross_fit`: out-of-sample scores of a training split (one run per fold, each image
  scored by the run that never trained on it);
- :func:`audit_run`: a run's audit of a split, suspects ranked, measured against the truth
  when the data keep it (``python -m mlrkit audit``);
- :func:`audit_bench`: noise levels x losses x seeds, each run measured on clean validation
  data and as an auditor (``make audit-bench``).
"""

from mlrkit.audit.bench import (
    BENCH_LOSSES,
    BENCH_MEASURES,
    NOISE_LEVELS,
    audit_bench,
    noise_rates,
    summarize_audit_bench,
)
from mlrkit.audit.crossfit import CrossFit, cross_fit
from mlrkit.audit.detection import OVERALL, detection_report
from mlrkit.audit.report import AUDIT_METHODS, Audit, audit_run, suspect_panels
from mlrkit.audit.suspicion import combine_suspicion, feature_suspicion, score_suspicion

__all__ = [
    "AUDIT_METHODS",
    "Audit",
    "BENCH_LOSSES",
    "BENCH_MEASURES",
    "CrossFit",
    "NOISE_LEVELS",
    "OVERALL",
    "audit_bench",
    "audit_run",
    "cross_fit",
    "noise_rates",
    "summarize_audit_bench",
    "combine_suspicion",
    "detection_report",
    "feature_suspicion",
    "score_suspicion",
    "suspect_panels",
]
