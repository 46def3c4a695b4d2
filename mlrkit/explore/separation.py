"""How well classes separate in a feature space: one table per run, comparable across runs.

The input is one row per (image, class) pair (what :func:`mlrkit.explore.extract_embeddings`
returns): a vector, its class and the image it comes from. Every row is L2-normalised first and
every measure uses the cosine geometry. With ``z`` a normalised row, ``y`` its class, ``g`` its
image (its *group*), ``mu_c`` the mean of the rows of class c, ``m_c = mu_c / ||mu_c||`` its
direction and ``mu_G`` the mean of the K class centroids (each class counts once):

- ``silhouette``: sklearn's silhouette with the cosine distance ``1 - cos``: per row
  ``s = (b - a) / max(a, b)``, ``a`` the mean distance to the other rows of its class, ``b`` the
  smallest mean distance to the rows of another class (0 for a class with one row). Per class
  the mean over its rows, overall the mean over all rows (``silhouette_score``); in [-1, 1],
  higher = better separated.
- ``knn_precision_at_1``: the fraction of rows whose cosine-nearest row *of another image* has
  the same class (ties go to the first row); higher = better. The neighbour is
  :func:`mlrkit.metrics.cosine_topk`'s (exact on the unit rows rounded to multiples of
  ``2**-26``, so it can differ from a float64 search only between rows whose cosines to the
  row differ by less than about ``1e-7``).
- ``intra_cos``: the mean cosine between a row and its class direction, ``cos(z, m_y)``; higher =
  tighter classes. (Per class it equals ``||mu_c||``, since the rows are unit vectors.)
- ``inter_cos``: the mean cosine between class directions ``m_c . m_c'`` (per class: against
  the K - 1 others; overall: over the distinct pairs); lower = classes further apart.
- ``nc1`` (overall only): the within-class variability collapse of Papyan, Han and Donoho
  (2020), ``tr(S_W S_B^+) / K`` with ``S_W = (1/N) sum_i (z_i - mu_{y_i})(z_i - mu_{y_i})^T``
  and ``S_B = (1/K) sum_c (mu_c - mu_G)(mu_c - mu_G)^T``: the within-class spread measured in
  units of the between-class spread; lower = tighter classes. ``S_B`` has rank at most K - 1,
  so ``S_B^+`` keeps only the singular values above ``1e-6`` times the largest: the others
  are round-off (about ``1e-17`` relative), and a cut-off below them inverts the round-off and
  the trace explodes. Computed from the SVD of the ``(K, D)`` centred centroids, never a
  ``(D, D)`` matrix.
- ``alignment`` (overall only): Wang and Isola's (2020) alignment with alpha = 2, the mean of
  ``||z_i - z_j||^2`` over pairs of rows of the same class from different images; lower =
  positives closer together.
- ``uniformity`` (overall only): Wang and Isola's uniformity with t = 2,
  ``log mean_{i != j} exp(-2 ||z_i - z_j||^2)``; lower (more negative) = rows spread more
  uniformly over the sphere. It ignores the classes: tight, well-separated clusters are *less*
  uniform (higher) than the same number of rows scattered at random.
- ``presence_auroc`` (only with ``present``, NaN without): how well the class direction ranks
  the images that show a class above those that do not. The rows are then *every* (image,
  class) pair (``extract_embeddings(run, which="all")``) and ``present`` says which pairs are
  present. For class c, with ``m_c`` the direction of the mean of *all* its present rows
  (before any subsample; absent rows never enter it), every row ``i`` of class c, present or
  absent, gets the score ``s_i = cos(z_i, m_c)``, and with ``P_c`` present and ``N_c`` absent
  rows of class c::

      presence_auroc_c = (1 / (P_c N_c)) sum_{i present, j absent} ([s_i > s_j] + [s_i = s_j] / 2)
                       = (R_c - P_c (P_c + 1) / 2) / (P_c N_c)

  with ``R_c`` the sum of the ranks of the present rows among the class's ``P_c + N_c`` scores
  (tied scores share their average rank): the ROC AUC of present against absent rows, as
  ``sklearn.metrics.roc_auc_score(present, s)``. NaN for a class without absent rows (or whose
  present rows average to the origin); overall: the mean over the classes where it is defined
  (those with present and absent rows). 0.5 = the direction does not tell present from
  absent, 1 = every present row is closer to it than every absent row. ``m_c`` includes the
  present row being scored (no leave-one-out), which lifts a present row's score by about
  ``1 / P_c``: a class with few present rows reads optimistic.

What the measures see. Silhouette, kNN@1, intra/inter cos, nc1, alignment and uniformity look
only at the present rows (all of them are computed on the present rows alone when ``present``
is given): they say how tight and far apart the classes are among the images that show them,
which is what a contrastive loss such as SSCL optimises. They cannot explain mAP, which ranks,
for each class, the images that show it against those that do not: a space can separate the
present rows perfectly and still put absent rows right next to a class's direction.
``presence_auroc`` measures that ranking (as ROC AUC, which weighs every present/absent pair
equally, where AP weighs the top of the ranking most).

Rows of the same image, measure by measure (exactly what the code does; only kNN@1 and
alignment read the groups):

- ``knn_precision_at_1``: excludes them: a row's nearest neighbour is searched among the rows
  of *other* images only.
- ``alignment``: excludes them: two rows of one class in one image (the same digit seen twice)
  are never a pair.
- ``silhouette``: includes them: ``a`` and ``b`` are mean distances to *every* row of a class,
  rows of the same image included (only the row itself is left out of ``a``).
- ``intra_cos``, ``inter_cos``, ``nc1``: include them: the centroids are means over every row
  of a class (the row itself included), whatever its image.
- ``uniformity``: includes them: the mean runs over all pairs ``i != j``.
- ``presence_auroc``: ignores the groups: ``m_c`` is the mean of every present row of class c.

Why the two exclusions: an image contributes one row per class it shows, and those rows share
most of their content (the same backbone features, the same background), so without the rule a
row's nearest neighbour is often the *other class of the same image*, and two rows of one class
in one image would count as a perfectly aligned pair: those two measures would describe images,
not classes. With ``groups=None`` every row is its own group (a plain k-NN), which changes
kNN@1 and alignment only.

These measure the feature space, not classification: a head can classify well from features
that separate poorly under the cosine (and the reverse). Read them next to mAP, and compare runs
only within one space (``"features"`` or ``"embedding"``) and one split.

Cost: the rows are compared in blocks of whole rows against all rows, so memory stays
``O(block x N)`` and every pairwise measure is exact over the rows used; time is
``O(N^2 D)``, plus half that in float32 for the nearest neighbours (also in bounded memory).
Above ``sample`` present rows a stratified, seeded subsample is used instead (see
:func:`separation_report`). ``presence_auroc`` is not pairwise: one blocked pass over every row
for the centroids, one for the scores, then a sort (``O(M D + M log M)``), exact over all rows.
Everything else is computed and accumulated in float64.

This module holds the report's table and the two public functions; the pairwise measures, NC1
and ``presence_auroc`` are in :mod:`mlrkit.explore._measures`, the subsample in
:mod:`mlrkit.explore._rows`; the inputs are checked, and the class centroids computed, by
:mod:`mlrkit.inputs` (the same centroids as :func:`mlrkit.viz.centroid_cosine`).

References:
    V. Papyan, X. Y. Han, D. L. Donoho. Prevalence of neural collapse during the terminal
    phase of deep learning training. PNAS 117(40), 2020.
    T. Wang, P. Isola. Understanding contrastive representation learning through alignment
    and uniformity on the hypersphere. ICML 2020.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlrkit.errors import InvalidInputError
from mlrkit.explore._measures import nc1, pairwise, presence_auroc, silhouette
from mlrkit.explore._rows import OVERALL, as_report_labels, check_sample, stratified_rows
from mlrkit.inputs import as_groups, as_nonzero_vectors, as_present, class_centroids, unit_rows
from mlrkit.metrics import cosine_topk

__all__ = ["COLUMNS", "compare_separation", "separation_report"]

COLUMNS: tuple[str, ...] = (
    "n",
    "silhouette",
    "knn_precision_at_1",
    "intra_cos",
    "inter_cos",
    "nc1",
    "alignment",
    "uniformity",
    "presence_auroc",
)


# ---------------------------------------------------------------- the table


def _measure(
    z: np.ndarray,
    y: np.ndarray,
    g: np.ndarray,
    names: list[str],
    auroc: np.ndarray | None = None,
) -> pd.DataFrame:
    """The report's table from the measured rows ``z (N, D)`` (unit, float64), their classes
    ``y (N,)`` in 0..K-1 and groups ``g (N,)``; ``auroc (K,)`` the per-class presence AUROC
    (None: NaN everywhere)."""
    num_classes = len(names)
    counts = np.bincount(y, minlength=num_classes)
    onehot = np.zeros((len(z), num_classes))  # (N, K)
    onehot[np.arange(len(z)), y] = 1.0
    # every class has a row here, so no centroid is NaN; norm = mean over the class of z . m_c
    mu, norm, direction = class_centroids(z, y, num_classes)
    pair = pairwise(z, y, g, onehot)

    sil = silhouette(pair["class_dist"], y, counts)
    nearest = cosine_topk(z, 1, groups=g)[0][:, 0]  # (N,) the nearest other-group row, or -1
    valid = nearest >= 0
    hit = (valid & (y[nearest] == y)).astype(np.float64)

    def per_class(values: np.ndarray, use: np.ndarray) -> np.ndarray:
        total = np.bincount(y[use], weights=values[use], minlength=num_classes)
        used = np.bincount(y[use], minlength=num_classes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(used > 0, total / used, np.nan)

    cos = direction @ direction.T  # (K, K)
    off = ~np.eye(num_classes, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        inter = (cos * off).sum(axis=1) / (num_classes - 1)
    upper = np.triu_indices(num_classes, k=1)

    every = np.ones(len(z), dtype=bool)
    if auroc is None:
        presence = np.full(num_classes + 1, np.nan)
    else:
        defined = auroc[np.isfinite(auroc)]  # classes with present and absent rows
        presence = np.append(auroc, defined.mean() if len(defined) else np.nan)
    table = {
        "n": np.append(counts, len(z)),
        "silhouette": np.append(per_class(sil, every), sil.mean()),
        "knn_precision_at_1": np.append(
            per_class(hit, valid), hit[valid].mean() if valid.any() else np.nan
        ),
        "intra_cos": np.append(norm, (counts * norm).sum() / len(z)),
        "inter_cos": np.append(inter, cos[upper].mean() if num_classes > 1 else np.nan),
        "nc1": np.append(np.full(num_classes, np.nan), nc1(z, y, mu)),
        "alignment": np.append(np.full(num_classes, np.nan), pair["alignment"]),
        "uniformity": np.append(np.full(num_classes, np.nan), pair["uniformity"]),
        "presence_auroc": presence,
    }
    frame = pd.DataFrame(table, index=pd.Index([*names, OVERALL], name="class"))
    return frame.astype({c: np.int64 if c == "n" else np.float64 for c in COLUMNS})


# ---------------------------------------------------------------- public API


def separation_report(
    vectors: Any,
    labels: Any,
    groups: Any | None = None,
    *,
    classes: Sequence[str] | None = None,
    sample: int | None = 20000,
    seed: int = 0,
    present: Any | None = None,
) -> pd.DataFrame:
    """Class-separation measures of a set of vectors, per class and overall (cosine geometry).

    Rows are L2-normalised, then (above ``sample`` rows) subsampled, then measured; see the
    module docstring for every definition and for which measures compare rows of one image.

    With ``present``, the rows are every (image, class) pair (``extract_embeddings(run,
    which="all")``): every measure but ``presence_auroc`` is computed on the present rows
    exactly as ``separation_report`` of those rows alone would (same classes, same subsample),
    and ``presence_auroc`` scores every row of a class, present or absent, by its cosine to the
    direction of all the class's present rows: per class ``c``

        ``presence_auroc_c = (R_c - P_c (P_c + 1) / 2) / (P_c N_c)``

    (``P_c`` present and ``N_c`` absent rows of class c, ``R_c`` the tie-averaged rank sum of
    the present ones' scores), the ROC AUC of present against absent rows.

    Sampling: when the rows measured (all rows, or the present ones) number ``M' > sample``,
    ``sample`` of them are kept, stratified by class: each class keeps its share
    ``sample * n_c / M'`` to within one row, and at least ``min(2, n_c)`` rows (so its
    silhouette and centroid exist), drawn with ``np.random.default_rng(seed)``: the same
    inputs and seed always keep the same rows. ``presence_auroc`` always uses every row.

    Args:
        vectors: ``(M, D)`` float array or tensor (any device), one row per (image, class) pair.
        labels: ``(M,)`` the class of each row: integer indices (named by ``classes``) or
            class-name strings (rows sorted by name).
        groups: ``(M,)`` the image id of each row (any comparable ids); None = every row its
            own group (a plain nearest-neighbour search).
        classes: names of the integer labels, index = label; without it the rows are named
            ``"0"``, ``"1"``, ... Classes without any row (with ``present``: without any
            present row) are left out.
        sample: the most rows to measure (all pairwise measures cost ``O(sample^2 D)``); None
            measures every row.
        seed: the seed of the subsample.
        present: ``(M,)`` bool or 0/1, whether each row's class is present in its image (for
            mlrkit targets: ``target == 1``, with the ignored rows dropped from every input);
            None = every row is present, and ``presence_auroc`` is NaN.

    Returns:
        A DataFrame indexed by the class names (label order) then ``"overall"``, with the
        columns ``n, silhouette, knn_precision_at_1, intra_cos, inter_cos, nc1, alignment,
        uniformity, presence_auroc`` (``nc1``, ``alignment`` and ``uniformity`` on the overall
        row only, NaN elsewhere). ``n``: the number of (present) rows measured, after the
        subsample. NaN where a measure is undefined: silhouette unless ``2 <= K <= N - 1``,
        k-NN without any row of another group, ``inter_cos`` and ``nc1`` with one class,
        ``alignment`` without a pair, ``presence_auroc`` without ``present`` or for a class
        without absent rows (overall: the mean over the classes where it is defined).
        ``frame.attrs`` = ``{"rows": M, "sampled": rows measured, "sample": sample,
        "seed": seed, "metric": "cosine"}``, plus ``"present_rows"`` and ``"absent_rows"``
        (summing to M) when ``present`` is given.

    Raises:
        InvalidInputError: on a bad shape or length, NaN or inf, an all-zero row, labels that
            are neither indices nor strings, a bad ``sample``, or a ``present`` that is not
            bool or 0/1 or marks no row present.

    Example:
        >>> r = separation_report([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], [0, 0, 1, 1],
        ...                       classes=["cat", "dog"])
        >>> list(r.index), float(r.loc["overall", "knn_precision_at_1"])
        (['cat', 'dog', 'overall'], 1.0)
        >>> r = separation_report([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9], [0.95, 0.05]],
        ...                       [0, 0, 1, 1, 1], present=[1, 1, 1, 1, 0])
        >>> float(r.loc["1", "presence_auroc"]), int(r.loc["overall", "n"])
        (1.0, 4)
    """
    check_sample(sample)
    v = as_nonzero_vectors(vectors)
    num_rows = v.shape[0]
    codes, names = as_report_labels(labels, num_rows, classes)
    group_codes = as_groups(groups, num_rows)
    auroc = None
    attrs: dict[str, Any] = {}
    if present is not None:
        mask = as_present(present, num_rows)
        # A class without a present row has no direction to score against and nothing to
        # measure: it is left out, so the report has the classes of the present rows alone.
        has = np.bincount(codes[mask], minlength=len(names)) > 0
        codes = np.where(has, np.cumsum(has) - 1, -1)[codes]
        names = [name for name, kept in zip(names, has, strict=True) if kept]
        auroc = presence_auroc(v, codes, mask, len(names))
        present_rows = int(mask.sum())
        attrs = {"present_rows": present_rows, "absent_rows": num_rows - present_rows}
        v, codes, group_codes = v[mask], codes[mask], group_codes[mask]
    if sample is not None and len(v) > sample:
        used = stratified_rows(codes, int(sample), seed)
        v, codes, group_codes = v[used], codes[used], group_codes[used]
    z = unit_rows(v)
    frame = _measure(z, codes, group_codes, names, auroc)
    frame.attrs = {
        "rows": num_rows,
        "sampled": len(z),
        "sample": sample,
        "seed": seed,
        "metric": "cosine",
        **attrs,
    }
    return frame


def compare_separation(reports: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The ``overall`` rows of several reports side by side, one row per run.

    Args:
        reports: run name -> a :func:`separation_report` frame (same space and split, or the
            comparison means nothing).

    Returns:
        A DataFrame indexed by the run names (in the mapping's order) with the columns of a
        report (:data:`COLUMNS`); ``frame.attrs["runs"]`` holds each report's attrs under its
        run name.

    Raises:
        InvalidInputError: on an empty mapping or a frame that is not a report.
    """
    if not reports:
        raise InvalidInputError("`reports` is empty; pass {run name: separation_report(...)}.")
    rows = []
    for name, report in reports.items():
        if (
            not isinstance(report, pd.DataFrame)
            or OVERALL not in report.index
            or list(report.columns) != list(COLUMNS)
        ):
            raise InvalidInputError(
                f"`reports[{name!r}]` is not a separation_report frame (it needs the columns "
                f"{list(COLUMNS)} and an {OVERALL!r} row); pass the frames it returns."
            )
        rows.append(report.loc[OVERALL, list(COLUMNS)].rename(name))
    frame = pd.DataFrame(rows)
    frame.index.name = "run"
    frame = frame.astype({c: np.int64 if c == "n" else np.float64 for c in COLUMNS})
    frame.attrs = {"runs": {name: dict(report.attrs) for name, report in reports.items()}}
    return frame
