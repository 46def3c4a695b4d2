"""Published evaluation protocols by name: mAP, CP, CR, CF1, OP, OR, OF1 as a code reports them.

:func:`protocol_metrics` computes the seven headline numbers under the conventions of one
released evaluation code, so a result can be compared with a paper that used that code. Each
convention below was read in the released source (cited per protocol); results are fractions.

Notation, per class k: ``P_k`` positives; for the threshold metrics ``Nc_k`` (= ``tp_k``)
correct predictions, ``Np_k`` predictions, ``Ng_k`` positives, ``fp_k`` predicted non-positives,
``fn_k`` missed positives. ``prec@i`` is the precision among the samples ranked at or above the
i-th sample of the class, ``K`` the number of classes.

``"mlrkit"`` -- :func:`mean_average_precision` and :func:`threshold_metrics`, unchanged: tie-aware
    AP (= sklearn), -1 ignored everywhere, a class without positives left out of mAP, CP and CR
    (warned), ``score >= t``, ``CF1 = 2 CP CR / (CP + CR)``, ``OP = sum Nc / sum Np`` (0 when
    nothing is predicted), precision 0 for a class with ``Np_k = 0``.
``"mlgcn"`` -- ML-GCN, ``util.py`` ``AveragePrecisionMeter`` (Megvii-Nanjing/ML-GCN):
    ``AP_k = (1/P_k) sum_{positives i} prec@i`` with difficult (-1) samples skipped (not ranked);
    ``mAP = mean over all K`` (their code divides by ``P_k = 0`` and fails: NaN here, warned).
    ``score >= 0`` on logits (= ``p >= 0.5``); difficult entries count as negatives;
    ``Np'_k = max(Np_k, 1)``, ``CP = (1/K) sum Nc_k / Np'_k``, ``CR = (1/K) sum Nc_k / Ng_k``
    (NaN when a class has no positive), ``OP = sum Nc / sum Np'``, ``OR = sum Nc / sum Ng``,
    ``CF1`` / ``OF1`` harmonic means.
``"asl"`` -- ASL, ``src/helper_functions/helper_functions.py`` ``mAP`` / ``average_precision`` and
    ``validate.py`` ``validate_multi`` (Alibaba-MIIL/ASL): ``AP_k = sum_{positives i} prec@i /
    (P_k + 1e-8)``, so a class without positives has AP 0 and stays in the mean over all K;
    -1 is a negative (their test is ``target == 1``); ``p > t`` (strict); with ``tp_k > 0``:
    ``p_k = tp/(tp+fp)``, ``r_k = tp/(tp+fn)``, ``f_k = 2 p_k r_k/(p_k+r_k)``, else all three 0;
    ``CP, CR, CF1 = mean over all K of p_k, r_k, f_k`` (CF1: mean of per-class F1s);
    ``OP = sum tp / sum (tp+fp)``, ``OR = sum tp / sum (tp+fn)``, ``OF1`` harmonic mean.
``"q2l"`` -- Query2Label ``lib/utils/metric.py`` ``voc_mAP`` (SlongLiu/query2labels) for AP, SADCL
    ``code/lib_sadcl/utils/metric.py`` ``overall`` (yu-gi-oh-leilei/SADCL; Query2Label itself
    reports mAP only) for the rest: VOC-interpolated ``AP_k = (1/P_k) sum_{positives i}
    max_{j ranked at or below i} prec@j``; -1 is a negative (``label <= 0``); a class without
    positives makes their AP and mAP NaN (warned); the threshold metrics are ASL's above.

Everywhere a 0/0 that the released code computes in floating point is NaN here too (e.g. OP
when nothing is predicted). Targets are mlrkit's encoding after ``targets_are`` (1 / 0 / -1);
what -1 means is per protocol, as above. Caveats: on tied scores the released codes rank tied
samples in the order their sort returns (``torch.sort``, ``np.argsort``: not stable, and ASL
reverses it), so their AP depends on the library and device; here AP is tie-aware for every
protocol (all tied samples at one threshold), equal to theirs on tie-free scores. They compute
some quantities in float32 (ML-GCN's per-class AP, ASL/SADCL's rates); here all is float64.

Choices where the released code gives no answer: ML-GCN's AP of a class without positives
(a ZeroDivisionError there) is NaN. ML-GCN skips difficult samples only with
``difficult_examples=True``, which both its demos set. ASL's and SADCL's ``tp/fp/fn`` arithmetic
(``pred + t == 2``, ``pred - t == 1``, ``pred - t == -1``) would count an unpredicted target of
-1 as a false positive; their data loaders never emit -1 (SADCL drops difficult objects, so they
become 0), so -1 is turned into 0 before counting, the meaning their pipelines give it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from mlrkit.errors import InvalidInputError
from mlrkit.inputs import TargetsKind, as_pair, check_scores_are, class_names

from ._warnings import warn_no_positive
from .ranking import average_precision, mean_average_precision, voc_interpolated_ap
from .threshold import predict, threshold_metrics

ProtocolName = Literal["mlrkit", "mlgcn", "asl", "q2l"]
PROTOCOLS: tuple[str, ...] = ("mlrkit", "mlgcn", "asl", "q2l")
PROTOCOL_KEYS: tuple[str, ...] = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")
ASL_EPSILON = 1e-8  # ASL's average_precision divides by (positives + 1e-8)
_STRICT = {"mlrkit": False, "mlgcn": False, "asl": True, "q2l": True}  # p > t, not p >= t


def _ratio(num: float, den: float) -> float:
    """``num / den`` as the released numpy / torch code computes it: 0/0 is NaN, not an error."""
    return float(num) / float(den) if den != 0 else float("nan")


def _harmonic(a: float, b: float) -> float:
    """``2ab / (a + b)`` without a guard, as every released code writes it (0/0 -> NaN)."""
    return _ratio(2.0 * a * b, a + b)


def _predictions(s: np.ndarray, scores_are: str, threshold: float, strict: bool) -> np.ndarray:
    """``p >= t`` (mlrkit's :func:`predict`, which also validates), or ``p > t`` when strict.

    Logits are compared with ``logit(t)`` in float64, the cut :func:`predict` uses, never a
    sigmoid: ``sigmoid(x) > t`` exactly when ``x > logit(t)``.
    """
    at_or_above = predict(s, scores_are=scores_are, threshold=threshold)
    if not strict:
        return at_or_above
    cut = (
        threshold if scores_are == "probabilities" else math.log(threshold) - math.log1p(-threshold)
    )
    return at_or_above & (s != np.float64(cut))


def _warn_no_positive(no_pos: np.ndarray, names: list[str], consequence: str) -> None:
    """Warn naming the classes without a positive and what the protocol makes of them."""
    template = "{count} class(es) without any positive target: {shown}; " + consequence + "."
    warn_no_positive(no_pos, names, template, stacklevel=5)  # the caller of protocol_metrics


def _mlgcn_counts(pred: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """ML-GCN's ``evaluation``: difficult (-1) entries are negatives, ``Np`` zeros become 1."""
    positive = t == 1  # ML-GCN sets its -1 (absent) to 0 and keeps 0 (difficult): both negative
    nc = (pred & positive).sum(axis=0).astype(np.float64)
    np1 = np.maximum(pred.sum(axis=0), 1).astype(np.float64)  # their `Np[Np == 0] = 1`
    ng = positive.sum(axis=0).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = nc / ng  # 0/0 = NaN for a class without positives, as in their numpy code
    cp, cr = float(np.mean(nc / np1)), float(np.mean(recall))
    op, orec = _ratio(nc.sum(), np1.sum()), _ratio(nc.sum(), ng.sum())
    return {
        "CP": cp,
        "CR": cr,
        "CF1": _harmonic(cp, cr),
        "OP": op,
        "OR": orec,
        "OF1": _harmonic(op, orec),
    }


def _asl_counts(pred: np.ndarray, positive: np.ndarray) -> dict[str, float]:
    """ASL's ``validate_multi`` (SADCL's ``overall``): per-class rates 0 unless ``tp > 0``."""
    tp = (pred & positive).sum(axis=0).astype(np.float64)
    fp = (pred & ~positive).sum(axis=0).astype(np.float64)
    fn = (~pred & positive).sum(axis=0).astype(np.float64)
    has = tp > 0  # their `if tp[i] > 0 else 0.0`: no 0/0 per class
    p, r, f = np.zeros_like(tp), np.zeros_like(tp), np.zeros_like(tp)
    p[has], r[has] = tp[has] / (tp + fp)[has], tp[has] / (tp + fn)[has]
    f[has] = 2.0 * p[has] * r[has] / (p[has] + r[has])
    op, orec = _ratio(tp.sum(), (tp + fp).sum()), _ratio(tp.sum(), (tp + fn).sum())
    return {
        "CP": float(p.mean()),
        "CR": float(r.mean()),
        "CF1": float(f.mean()),
        "OP": op,
        "OR": orec,
        "OF1": _harmonic(op, orec),
    }


def check_protocol(protocol: str) -> None:
    """Fail unless `protocol` names one of :data:`PROTOCOLS`."""
    if protocol not in PROTOCOLS:
        raise InvalidInputError(
            f"protocol={protocol!r} is not one of {PROTOCOLS}: 'mlrkit' (mlrkit's own "
            "conventions), 'mlgcn' (ML-GCN's util.py), 'asl' (ASL's helper_functions.py and "
            "validate.py) or 'q2l' (Query2Label's voc_mAP with SADCL's overall)."
        )


def protocol_metrics(
    scores: Any,
    targets: Any,
    *,
    protocol: ProtocolName = "mlrkit",
    scores_are: str,
    threshold: float = 0.5,
    targets_are: TargetsKind = "binary",
    classes: Sequence[str] | None = None,
) -> dict[str, float]:
    """mAP, CP, CR, CF1, OP, OR, OF1 under the evaluation conventions of a released code.

    The conventions of each protocol (AP formula, classes without positives, what -1 means,
    prediction rule, CF1 and OP definitions) are in this module's docstring and in
    ``docs/evaluation.md``; tied scores are ranked tie-aware for every protocol (see there).

    Args:
        scores: ``(N, K)`` tensor (CPU or CUDA) or array of logits or probabilities.
        targets: ``(N, K)``, mlrkit's encoding 1 (present), 0 (absent), -1 (difficult / ignore).
            -1 is ignored everywhere under ``"mlrkit"``; skipped in AP but a negative in the
            counts under ``"mlgcn"``; a negative under ``"asl"`` and ``"q2l"``.
        protocol: one of :data:`PROTOCOLS`: ``"mlrkit"`` (default), ``"mlgcn"``, ``"asl"``,
            ``"q2l"``.
        scores_are: ``"logits"`` or ``"probabilities"`` (required: no guessing).
        threshold: on the probability scale, applied as ``p >= t`` (``"mlrkit"``, ``"mlgcn"``)
            or ``p > t`` (``"asl"``, ``"q2l"``); logits are compared with ``logit(t)``, so 0.5
            is ML-GCN's ``logit >= 0``. ASL's ``validate.py`` defaults to 0.8: pass it.
        targets_are: ``"binary"`` (mlrkit's encoding, the default) or ``"signed"`` (ML-GCN's:
            1 present, -1 absent, 0 difficult), converted on input (0 -> -1, -1 -> 0).
        classes: the K class names, used in warnings.

    Returns:
        ``{"mAP", "CP", "CR", "CF1", "OP", "OR", "OF1"}``, fractions in [0, 1] (NaN where the
        protocol's own code gives NaN or fails, e.g. ``"q2l"`` mAP with a class without
        positives).

    Raises:
        InvalidInputError: on an unknown protocol, a missing / wrong ``scores_are``, a threshold
            outside (0, 1), bad shapes, NaN scores, or targets outside the encoding.

    Example:
        The positives ranked 2nd and 3rd: precision 1/2 then 2/3; Query2Label's envelope
        raises the first to 2/3.

        >>> s, t = [[0.9], [0.8], [0.7], [0.6]], [[0], [1], [1], [0]]
        >>> [round(protocol_metrics(s, t, protocol=p, scores_are="probabilities")["mAP"], 4)
        ...  for p in PROTOCOLS]
        [0.5833, 0.5833, 0.5833, 0.6667]
    """
    check_protocol(protocol)
    check_scores_are(scores_are)
    s, t = as_pair(scores, targets, targets_are)
    names = class_names(classes, s.shape[1])
    if protocol == "mlrkit":  # mlrkit's own functions, unchanged (they warn themselves)
        result = {"mAP": mean_average_precision(s, t, classes=names)}
        result.update(
            threshold_metrics(s, t, scores_are=scores_are, threshold=threshold, classes=names)
        )
        return {key: result[key] for key in PROTOCOL_KEYS}
    pred = _predictions(s, scores_are, threshold, _STRICT[protocol])
    if protocol == "mlgcn":
        # ML-GCN skips difficult samples when ranking (`if label == 0: continue`): mlrkit's
        # AP ignoring -1 is that, tie-aware
        ap = average_precision(s, t)
        _warn_no_positive(
            np.isnan(ap),
            names,
            "ML-GCN's average_precision divides by zero for them: AP, mAP, CR and CF1 are NaN",
        )
        return {"mAP": float(ap.mean()), **_mlgcn_counts(pred, t)}
    t = np.where(t < 0, np.int8(0), t)  # asl and q2l: only a target of 1 is a positive
    if protocol == "asl":
        ap = average_precision(s, t)
        num_pos = (t == 1).sum(axis=0)
        _warn_no_positive(num_pos == 0, names, "ASL counts them as AP 0 in the mean")
        # ASL divides the summed precision by (positives + 1e-8): AP * P / (P + 1e-8)
        ap = np.where(num_pos > 0, np.nan_to_num(ap) * num_pos / (num_pos + ASL_EPSILON), 0.0)
    else:
        ap = voc_interpolated_ap(s, t)
        _warn_no_positive(
            np.isnan(ap), names, "Query2Label's voc_mAP gives them AP NaN, so its mAP is NaN"
        )
    return {"mAP": float(ap.mean()), **_asl_counts(pred, t == 1)}
