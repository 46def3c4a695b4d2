"""Multi-label evaluation: exact tie-aware AP/mAP, VOC variants, threshold metrics, tables.

Every choice that moves a published number is explicit (docs/evaluation.md):

- :func:`average_precision` / :func:`mean_average_precision`: non-interpolated, tie-aware AP,
  equal to ``sklearn.metrics.average_precision_score`` per class; targets of -1 are ignored; a
  class without a positive gets NaN and is left out of mAP with a warning naming it.
- :func:`voc_interpolated_ap` (SSGRL / Query2Label / SADCL convention) and
  :func:`voc07_11point_ap` are separate, named functions, never flags on "mAP".
- :func:`threshold_metrics`: CP, CR, CF1 (harmonic mean of CP and CR), OP, OR, OF1 at a fixed
  threshold; ``top_k=3`` gives the top-3 variants; the caller states ``scores_are``.
- :func:`per_class_table` / :func:`summary_table`: pandas tables, rates x100.
- :class:`MetricAccumulator`: streaming ``update`` / ``compute`` that gathers across ranks.
- :func:`cosine_topk`: exact cosine k-nearest neighbours of every row, within blocks (e.g. a
  class) and across groups (e.g. other images), in bounded memory; the kit's one kNN search.

Targets use mlrkit's encoding, 1 = present, 0 = absent, -1 = ignore. Every function that takes
targets also accepts ML-GCN's encoding (1 = present, -1 = absent, 0 = difficult, ignored) with
``targets_are="signed"``, converted once on input. Targets with -1 but no 0 at all are signed
targets passed unconverted (every negative would be ignored, every AP 1.0): they raise
:class:`~mlrkit.errors.InvalidInputError` naming ``targets_are``, as does every bad input.

Inputs are torch tensors (CPU or CUDA) or numpy arrays of shape ``(N, K)``; all classes are
computed at once (one sort per column, no Python loop over classes).
"""

from ._warnings import MetricsWarning
from .accumulator import MetricAccumulator
from .neighbors import cosine_topk
from .protocols import PROTOCOLS, protocol_metrics
from .ranking import (
    average_precision,
    mean_average_precision,
    voc07_11point_ap,
    voc_interpolated_ap,
)
from .tables import per_class_table, summary_table
from .threshold import threshold_metrics

__all__ = [
    "PROTOCOLS",
    "MetricAccumulator",
    "MetricsWarning",
    "average_precision",
    "cosine_topk",
    "mean_average_precision",
    "per_class_table",
    "protocol_metrics",
    "summary_table",
    "threshold_metrics",
    "voc07_11point_ap",
    "voc_interpolated_ap",
]
