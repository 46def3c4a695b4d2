"""The input checks every metric, plot and feature-space tool uses (layer 0).

Tensors (any device) or arrays in, validated numpy arrays out, with an
:class:`~mlrkit.errors.InvalidInputError` that names the argument and says how to fix it. Every
package imports its checks from here (``from mlrkit.inputs import as_pair``), never from
another package's private helpers; the private modules of this package only split it into
files under the 400-line rule. It imports only numpy, torch, the standard library and
:mod:`mlrkit.errors`, so every layer can use it.

Scores keep their precision: float32 stays float32 (its order is exactly the order of the same
values in float64, so ranking float32 natively is exact), float64 stays float64, and float16 /
bfloat16 are widened to float32 (exact). Nothing is ever narrowed, because narrowing (e.g. fp16
sigmoids) creates ties that change AP.

Targets always come out in mlrkit's encoding, ``1`` = present, ``0`` = absent, ``-1`` = ignore,
whichever encoding the caller states (``targets_are``): ML-GCN's signed encoding (``1`` =
present, ``-1`` = absent, ``0`` = difficult, ignored) is converted here, once, by
:func:`signed_to_binary`. A matrix with ignored entries but no negative at all is the signature
of the wrong encoding and is refused.

Rows of a feature space (one per (image, class) pair) come as ``(M, D)`` vectors with ``(M,)``
labels, groups (image ids) and ``present`` flags. Two vector checks, because their users compute
on different things: :func:`as_nonzero_vectors` keeps the dtype (the cosine measures normalise
in float64 themselves), checks finiteness in float64 row chunks (never a full float64 copy) and
refuses all-zero rows, which have no cosine direction; :func:`as_float32_vectors` returns the
float32 C-contiguous array that UMAP computes on and its cache key hashes, checked after the
conversion (a float64 beyond float32's range becomes inf). :func:`unit_rows` and
:func:`class_centroids` are the cosine geometry both the plots and the separation measures use.
"""

from mlrkit.inputs._common import class_names, is_count, to_numpy
from mlrkit.inputs._rows import as_blocks, as_groups, as_labels, as_present, label_codes
from mlrkit.inputs._targets import (
    SCORE_KINDS,
    TARGET_KINDS,
    ScoresKind,
    TargetsKind,
    as_pair,
    as_scores,
    as_targets,
    check_scores_are,
    check_target_encoding,
    check_targets_are,
    signed_to_binary,
)
from mlrkit.inputs._vectors import (
    ClassCentroids,
    as_float32_vectors,
    as_nonzero_vectors,
    class_centroids,
    unit_rows,
)

__all__ = [
    "SCORE_KINDS",
    "TARGET_KINDS",
    "ClassCentroids",
    "ScoresKind",
    "TargetsKind",
    "as_float32_vectors",
    "as_blocks",
    "as_groups",
    "as_labels",
    "as_nonzero_vectors",
    "as_pair",
    "as_present",
    "as_scores",
    "as_targets",
    "check_scores_are",
    "check_target_encoding",
    "check_targets_are",
    "class_centroids",
    "class_names",
    "is_count",
    "label_codes",
    "signed_to_binary",
    "to_numpy",
    "unit_rows",
]
