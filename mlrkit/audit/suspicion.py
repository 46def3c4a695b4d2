"""How suspicious each given label is: from the model's scores, from the feature space, combined.

Pure functions on arrays (tensors or numpy arrays in, numpy arrays out); a suspicion is a
float, higher = more likely a wrong label, NaN = not scored.

- :func:`score_suspicion`: one minus the model's confidence in the label it was given
  (*self-confidence*, as in confident learning): ``1 - p`` for a given positive, ``p`` for a
  given negative.
- :func:`feature_suspicion`: how many of a (image, class) row's nearest rows of the same class
  in other images were given the other label.
- :func:`combine_suspicion`: the mean of the suspicions' normalised ranks.

How well a suspicion finds known (planted) errors is :func:`mlrkit.audit.detection_report`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import ScoresKind, as_pair, check_scores_are, is_count, to_numpy
from mlrkit.metrics import cosine_topk

__all__ = ["combine_suspicion", "feature_suspicion", "score_suspicion"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in float64 without overflow (``exp`` of ``-|x|`` only)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def score_suspicion(scores: Any, targets: Any, *, scores_are: ScoresKind) -> np.ndarray:
    """The self-confidence suspicion of every given label: ``(N, K)`` float64.

    With ``p_nk`` the model's probability that class k is in image n (``sigmoid(s_nk)`` for
    logits, ``s_nk`` for probabilities) and ``t_nk`` the given label::

        u_nk = 1 - p_nk   if t_nk = 1  (a given positive the model doubts)
        u_nk = p_nk       if t_nk = 0  (a given negative the model believes in)
        u_nk = NaN        if t_nk = -1 (ignored)

    For logits, ``1 - sigmoid(s)`` is computed as ``sigmoid(-s)``, so confident labels keep
    their order instead of rounding to 0 (a logit of 40 gives ``4e-18``, not 0).

    Args:
        scores: ``(N, K)`` tensor or array (``(N,)``: one class).
        targets: ``(N, K)`` in mlrkit's encoding, 1 present, 0 absent, -1 ignored.
        scores_are: ``"logits"`` or ``"probabilities"`` (required: no guessing).

    Returns:
        ``(N, K)`` float64 in [0, 1], NaN where the target is -1.

    Raises:
        InvalidInputError: on a bad ``scores_are``, mismatched shapes, NaN scores, targets
            outside {1, 0, -1}, or probabilities outside [0, 1].

    Example:
        >>> score_suspicion([[0.9, 0.2]], [[1, 1]], scores_are="probabilities").round(2)
        array([[0.1, 0.8]])
    """
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets)
    s = s.astype(np.float64)
    if scores_are == "probabilities":
        if s.size and (s.min() < 0.0 or s.max() > 1.0):
            raise InvalidInputError(
                f"scores_are='probabilities' but scores span [{s.min():.4g}, {s.max():.4g}]; "
                "pass scores_are='logits' for raw model outputs."
            )
        out = np.where(t == 1, 1.0 - s, s)
    else:
        out = _sigmoid(np.where(t == 1, -s, s))
    out[t < 0] = np.nan
    return out


def _per_row(x: Any, name: str, num_rows: int, meaning: str) -> np.ndarray:
    a = to_numpy(x, name)
    if a.ndim != 1 or len(a) != num_rows:
        raise InvalidInputError(
            f"`{name}` must have shape (M,) = ({num_rows},), {meaning}, got shape {a.shape}."
        )
    return a


def _as_given(given: Any, num_rows: int) -> np.ndarray:
    """``(M,)`` bool from 0/1 or bool labels; -1, NaN and fractions are refused."""
    a = _per_row(given, "given", num_rows, "the label given to each row (1 present, 0 absent)")
    if a.dtype.kind == "b":
        return a
    if a.dtype.kind not in "iuf" or ((a != 0) & (a != 1)).any():
        raise InvalidInputError(
            "`given` must hold 0 (absent) or 1 (present) for every row; drop the ignored rows "
            "(target -1) from every input first."
        )
    return a == 1


def feature_suspicion(
    vectors: Any, image: Any, class_index: Any, given: Any, *, k: int = 10
) -> np.ndarray:
    """How much a row's neighbours in feature space disagree with its given label: ``(M,)``.

    The rows are (image, class) pairs. For row i, let ``N_i`` be its ``k`` nearest rows by
    cosine (:func:`mlrkit.metrics.cosine_topk`) among the rows of the same class index from
    other images (fewer when fewer exist). Then::

        f_i = |{j in N_i : given_j != given_i}| / |N_i|      (NaN when N_i is empty)

    A wrong label sits among rows that look like the other label and were mostly given it, so
    its share is high; a right one sits among rows given its own label.

    Args:
        vectors: ``(M, D)`` features of the rows (tensor or array; zero rows allowed).
        image: ``(M,)`` the image of each row (any comparable ids).
        class_index: ``(M,)`` the class of each row (any comparable ids).
        given: ``(M,)`` the label given to each row's class in its image: 1 / True present,
            0 / False absent (ignored pairs must be dropped first).
        k: neighbours per row, ``>= 1``.

    Returns:
        ``(M,)`` float64 in [0, 1], in steps of ``1 / |N_i|``; NaN for a row whose class has
        no row in another image.

    Raises:
        InvalidInputError: on inputs of other lengths than the rows, a ``given`` that is not
            0/1, a bad ``k``, or vectors :func:`~mlrkit.metrics.cosine_topk` refuses.

    Example:
        >>> feature_suspicion([[1, 0], [1, 0.1], [0.9, 0], [0, 1]], [0, 1, 2, 3], [0] * 4,
        ...                   [1, 1, 0, 0], k=2).tolist()
        [0.5, 0.5, 1.0, 1.0]
    """
    v = to_numpy(vectors, "vectors")
    num_rows = len(v) if v.ndim else 0
    img = _per_row(image, "image", num_rows, "the image of each row of `vectors`")
    cls = _per_row(class_index, "class_index", num_rows, "the class of each row of `vectors`")
    label = _as_given(given, num_rows)
    if not is_count(k):
        raise InvalidInputError(f"k={k!r} must be a whole number >= 1 (neighbours per row).")
    idx, _ = cosine_topk(v, k, groups=img, blocks=cls)
    found = idx >= 0
    count = found.sum(axis=1)
    disagree = (found & (label[idx] != label[:, None])).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, disagree / count, np.nan)


def _unit_ranks(values: np.ndarray) -> np.ndarray:
    """Tie-averaged ranks of the non-NaN ``values`` scaled to [0, 1]; NaN stays NaN."""
    out = np.full(values.shape, np.nan)
    ok = ~np.isnan(values)
    n = int(ok.sum())
    if n == 1:
        out[ok] = 0.5
    elif n > 1:
        _, inverse, counts = np.unique(values[ok], return_inverse=True, return_counts=True)
        below = np.cumsum(counts) - counts  # values smaller than each distinct value
        rank = below + (counts + 1) / 2.0  # 1-based, ties share the mean of their ranks
        out[ok] = (rank[inverse.reshape(-1)] - 1.0) / (n - 1)
    return out


def combine_suspicion(*suspicions: Any) -> np.ndarray:
    """A rank average of several suspicions of the same entries.

    Each suspicion ``u^(m)`` (same shape, any scale) becomes ranks in [0, 1] over its non-NaN
    entries: ``r_i = (R_i - 1) / (n - 1)`` with ``R_i`` the 1-based rank of entry i among the
    ``n`` non-NaN ones (ties share their mean rank; a lone entry gets 0.5). The combination of
    an entry is the mean of its ranks over the suspicions that score it::

        c_i = mean_{m : u^(m)_i not NaN} r^(m)_i       (NaN when none scores it)

    Ranks make scales comparable (a probability and a share of neighbours) and weigh each
    suspicion equally.

    Args:
        *suspicions: one or more arrays or tensors of one shape (e.g. ``(N, K)``, or flat).

    Returns:
        float64 of that shape, in [0, 1].

    Raises:
        InvalidInputError: without a suspicion, on shapes that differ, or on values that are not
            real numbers.

    Example:
        >>> combine_suspicion([0.1, 0.9, 0.5, np.nan], [2, 3, 1, np.nan]).tolist()
        [0.25, 1.0, 0.25, nan]
    """
    if not suspicions:
        raise InvalidInputError("combine_suspicion needs at least one suspicion array.")
    arrays = [to_numpy(s, f"suspicions[{m}]") for m, s in enumerate(suspicions)]
    for m, a in enumerate(arrays):
        if a.dtype.kind not in "biuf":
            raise InvalidInputError(
                f"`suspicions[{m}]` must hold real numbers, got dtype {a.dtype}."
            )
        if a.shape != arrays[0].shape:
            raise InvalidInputError(
                f"`suspicions[{m}]` has shape {a.shape} but `suspicions[0]` has shape "
                f"{arrays[0].shape}; pass suspicions of the same entries, in the same order."
            )
    ranks = np.stack([_unit_ranks(a.astype(np.float64).reshape(-1)) for a in arrays])
    scored = (~np.isnan(ranks)).sum(axis=0)
    total = np.nansum(ranks, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(scored > 0, total / scored, np.nan)
    return out.reshape(arrays[0].shape)
