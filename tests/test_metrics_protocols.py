"""protocol_metrics against slow per-class transcriptions of each released evaluation code.

The references below are plain Python loops written from the released sources (cited in
mlrkit/metrics/protocols.py): ML-GCN util.py, ASL helper_functions.py + validate.py, Query2Label
metric.py + SADCL metric.py, and mlrkit's documented conventions. They never call mlrkit. All
scores are tie-free (the released codes order tied samples by their sort implementation).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from mlrkit.errors import InvalidInputError
from mlrkit.metrics import (
    PROTOCOLS,
    MetricsWarning,
    mean_average_precision,
    protocol_metrics,
    threshold_metrics,
)

KEYS = ("mAP", "CP", "CR", "CF1", "OP", "OR", "OF1")
NAN = float("nan")


def div(a: float, b: float) -> float:
    """Floating division as numpy / torch do it in the released code: 0/0 is NaN."""
    return a / b if b != 0 else NAN


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------- slow references
def ref_mlrkit(probs, targets, thr=0.5):
    """mlrkit's documented rules: -1 ignored, classes without positives left out, p >= t."""
    n, k = len(probs), len(probs[0])
    aps, precisions, recalls = [], [], []
    nt_all = np_all = ng_all = 0
    for c in range(k):
        valid = [i for i in range(n) if targets[i][c] != -1]
        order = sorted(valid, key=lambda i: -probs[i][c])
        pos, acc = 0, 0.0
        for rank, i in enumerate(order, start=1):
            if targets[i][c] == 1:
                pos += 1
                acc += pos / rank
        nt = sum(1 for i in valid if probs[i][c] >= thr and targets[i][c] == 1)
        npred = sum(1 for i in valid if probs[i][c] >= thr)
        nt_all, np_all, ng_all = nt_all + nt, np_all + npred, ng_all + pos
        if pos:
            aps.append(acc / pos)
            precisions.append(nt / npred if npred else 0.0)
            recalls.append(nt / pos)
    cp, cr = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    op, orec = (nt_all / np_all if np_all else 0.0), nt_all / ng_all
    hm = lambda a, b: 2 * a * b / (a + b) if a + b else 0.0  # noqa: E731
    return {
        "mAP": sum(aps) / len(aps),
        "CP": cp,
        "CR": cr,
        "CF1": hm(cp, cr),
        "OP": op,
        "OR": orec,
        "OF1": hm(op, orec),
    }


def ref_mlgcn(logits, targets):
    """ML-GCN util.py: AveragePrecisionMeter.average_precision (difficult_examples=True) and
    evaluation, on ML-GCN's signed targets (1 present, -1 absent, 0 difficult) and raw logits."""
    n, k = len(logits), len(logits[0])
    signed = [[{1: 1, 0: -1, -1: 0}[v] for v in row] for row in targets]
    aps = []
    for c in range(k):
        order = sorted(range(n), key=lambda i: -logits[i][c])  # torch.sort descending
        pos_count = total_count = 0.0
        precision_at_i = 0.0
        for i in order:
            label = signed[i][c]
            if label == 0:
                continue
            if label == 1:
                pos_count += 1
            total_count += 1
            if label == 1:
                precision_at_i += pos_count / total_count
        aps.append(precision_at_i / pos_count if pos_count else NAN)  # theirs: ZeroDivisionError
    nc, npred, ng = [], [], []
    for c in range(k):
        tg = [0 if signed[i][c] == -1 else signed[i][c] for i in range(n)]  # -1 -> 0
        ng.append(sum(1 for v in tg if v == 1))
        npred.append(sum(1 for i in range(n) if logits[i][c] >= 0))
        nc.append(sum(tg[i] * (logits[i][c] >= 0) for i in range(n)))
    npred = [v if v != 0 else 1 for v in npred]  # Np[Np == 0] = 1
    op, orec = div(sum(nc), sum(npred)), div(sum(nc), sum(ng))
    cp = sum(nc[c] / npred[c] for c in range(k)) / k
    cr = sum(div(nc[c], ng[c]) for c in range(k)) / k
    return {
        "mAP": sum(aps) / k,
        "CP": cp,
        "CR": cr,
        "CF1": div(2 * cp * cr, cp + cr),
        "OP": op,
        "OR": orec,
        "OF1": div(2 * op * orec, op + orec),
    }


def ref_asl_counts(probs, targets, thr):
    """ASL validate.py validate_multi (= SADCL overall): pred = p > thr, rates x100."""
    n, k = len(probs), len(probs[0])
    tp, fp, fn = [0] * k, [0] * k, [0] * k
    for c in range(k):
        for i in range(n):
            pred, t = int(probs[i][c] > thr), targets[i][c]
            tp[c] += pred + t == 2
            fp[c] += pred - t == 1
            fn[c] += pred - t == -1
    p_c = [tp[c] / (tp[c] + fp[c]) * 100.0 if tp[c] > 0 else 0.0 for c in range(k)]
    r_c = [tp[c] / (tp[c] + fn[c]) * 100.0 if tp[c] > 0 else 0.0 for c in range(k)]
    f_c = [2 * p_c[c] * r_c[c] / (p_c[c] + r_c[c]) if tp[c] > 0 else 0.0 for c in range(k)]
    o_p = div(sum(tp), sum(tp) + sum(fp)) * 100.0
    o_r = div(sum(tp), sum(tp) + sum(fn)) * 100.0
    o_f = div(2 * o_p * o_r, o_p + o_r)
    rates = (sum(p_c) / k, sum(r_c) / k, sum(f_c) / k, o_p, o_r, o_f)
    return {key: value / 100.0 for key, value in zip(KEYS[1:], rates, strict=True)}


def ref_asl(probs, targets, thr=0.5):
    """ASL helper_functions.py average_precision / mAP (target == 1 positive, eps 1e-8)."""
    n, k = len(probs), len(probs[0])
    aps = []
    for c in range(k):
        order = sorted(range(n), key=lambda i: -probs[i][c])  # argsort()[::-1]
        pos, acc = 0, 0.0
        for rank, i in enumerate(order, start=1):
            if targets[i][c] == 1:
                pos += 1
                acc += pos / rank
        aps.append(acc / (pos + 1e-8))
    binary = [[1 if v == 1 else 0 for v in row] for row in targets]  # -1 is a negative
    return {"mAP": sum(aps) / k, **ref_asl_counts(probs, binary, thr)}


def ref_q2l(probs, targets, thr=0.5):
    """Query2Label metric.py voc_mAP / voc_ap (label <= 0 negative); SADCL overall."""
    n, k = len(probs), len(probs[0])
    aps = []
    for c in range(k):
        order = sorted(range(n), key=lambda i: -probs[i][c])  # np.argsort(-confidence)
        tp_cum, fp_cum, tp, fp = [], [], 0, 0
        for i in order:
            tp += targets[i][c] > 0
            fp += targets[i][c] <= 0
            tp_cum.append(tp)
            fp_cum.append(fp)
        true_num = tp
        rec = [t / true_num if true_num else NAN for t in tp_cum]
        eps = np.finfo(np.float64).eps
        prec = [t / max(t + f, eps) for t, f in zip(tp_cum, fp_cum, strict=True)]
        mrec, mpre = [0.0, *rec, 1.0], [0.0, *prec, 0.0]
        for i in range(len(mpre) - 1, 0, -1):
            mpre[i - 1] = max(mpre[i - 1], mpre[i])
        aps.append(
            sum(
                (mrec[i + 1] - mrec[i]) * mpre[i + 1]
                for i in range(len(mrec) - 1)
                if mrec[i + 1] != mrec[i]  # NaN != NaN: every step, as np.where does
            )
        )
    binary = [[1 if v == 1 else 0 for v in row] for row in targets]  # -1 is a negative
    return {"mAP": sum(aps) / k, **ref_asl_counts(probs, binary, thr)}


# ---------------------------------------------------------------- data and helpers
def make_data(seed: int, empty: bool, n: int = 40, k: int = 6):
    """Tie-free logits; -1 entries; optionally classes without positives; class 5 never fires."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, k)) < 0.35).astype(np.int64)
    targets[rng.random((n, k)) < 0.12] = -1
    targets[:3, :] = 1  # every class has a positive ...
    targets[3, :] = 0
    if empty:  # ... unless emptied: class 0 all negative, class 3 negative or difficult
        targets[:, 0] = 0
        targets[:, 3] = np.where(rng.random(n) < 0.3, -1, 0)
    logits = rng.normal(size=(n, k)) + 1.5 * (targets == 1)
    logits[:, 5] = -4.0 - rng.random(n)  # never predicted: Np = 0 (ML-GCN's Np -> 1)
    assert all(len(np.unique(logits[:, c])) == n for c in range(k))
    return logits, targets


def assert_same(got: dict, expected: dict, tol: float = 1e-12) -> None:
    assert tuple(got) == KEYS
    for key in KEYS:
        if math.isnan(expected[key]):
            assert math.isnan(got[key]), (key, got[key])
        else:
            assert got[key] == pytest.approx(expected[key], abs=tol, rel=0), key


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricsWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


REFERENCES = {"mlrkit": ref_mlrkit, "asl": ref_asl, "q2l": ref_q2l}


# ---------------------------------------------------------------- against the references
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("empty", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_protocol_equals_its_slow_reference(protocol, empty, seed):
    logits, targets = make_data(seed, empty)
    probs = sigmoid(logits)
    if protocol == "mlgcn":
        expected = quiet(ref_mlgcn, logits.tolist(), targets.tolist())
    else:
        expected = quiet(REFERENCES[protocol], probs.tolist(), targets.tolist())
    for scores, kind in ((logits, "logits"), (probs, "probabilities")):
        got = quiet(protocol_metrics, scores, targets, protocol=protocol, scores_are=kind)
        assert_same(got, expected)


@pytest.mark.parametrize("protocol", ["mlrkit", "asl", "q2l"])
def test_other_threshold_follows_the_reference(protocol):
    logits, targets = make_data(7, empty=False)
    probs = sigmoid(logits)
    expected = quiet(REFERENCES[protocol], probs.tolist(), targets.tolist(), thr=0.7)
    got = quiet(
        protocol_metrics, logits, targets, protocol=protocol, scores_are="logits", threshold=0.7
    )
    assert_same(got, expected)


def test_mlrkit_protocol_is_mlrkits_functions_and_sklearn():
    logits, targets = make_data(4, empty=True)
    got = quiet(protocol_metrics, logits, targets, scores_are="logits")
    assert got["mAP"] == quiet(mean_average_precision, logits, targets)
    expected = quiet(threshold_metrics, logits, targets, scores_are="logits")
    assert {key: got[key] for key in expected} == expected
    aps = []
    for c in range(targets.shape[1]):
        valid = targets[:, c] >= 0  # sklearn has no "ignore": drop the -1 entries
        if (targets[valid, c] == 1).any():
            aps.append(average_precision_score(targets[valid, c], logits[valid, c]))
    assert len(aps) == targets.shape[1] - 2
    assert got["mAP"] == pytest.approx(np.mean(aps), abs=1e-12)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tensors_signed_targets_and_keys(protocol):
    logits, targets = make_data(5, empty=False)
    expected = quiet(protocol_metrics, logits, targets, protocol=protocol, scores_are="logits")
    tensors = quiet(
        protocol_metrics,
        torch.from_numpy(logits),
        torch.from_numpy(targets).float(),
        protocol=protocol,
        scores_are="logits",
    )
    assert_same(tensors, expected, tol=0.0)
    signed = np.select([targets == 1, targets == 0], [1, -1], 0)  # ML-GCN's encoding
    got = quiet(
        protocol_metrics,
        logits,
        signed,
        protocol=protocol,
        scores_are="logits",
        targets_are="signed",
    )
    assert_same(got, expected, tol=0.0)


# ---------------------------------------------------------------- hand-computed examples
# Three images, two classes; class 1 has no positive. Probabilities at threshold 0.5.
EMPTY_P = [[0.9, 0.7], [0.6, 0.4], [0.3, 0.2]]
EMPTY_T = [[1, 0], [0, 0], [1, 0]]
ASL_AP = 5 / 6 * 2 / (2 + 1e-8)  # AP 5/6 divided by (2 + 1e-8) positives, not 2
EMPTY_EXPECTED = {  # Nt = [1, 0], Np = [2, 1], Ng = [2, 0]
    "mlrkit": {
        "mAP": 5 / 6,
        "CP": 1 / 2,
        "CR": 1 / 2,
        "CF1": 1 / 2,
        "OP": 1 / 3,
        "OR": 1 / 2,
        "OF1": 2 / 5,
    },  # class 1 left out of mAP, CP, CR; its prediction counts in OP
    "mlgcn": {
        "mAP": NAN,
        "CP": 1 / 4,
        "CR": NAN,
        "CF1": NAN,
        "OP": 1 / 3,
        "OR": 1 / 2,
        "OF1": 2 / 5,
    },  # AP 0/0, CR mean of (1/2, 0/0)
    "asl": {
        "mAP": ASL_AP / 2,
        "CP": 1 / 4,
        "CR": 1 / 4,
        "CF1": 1 / 4,
        "OP": 1 / 3,
        "OR": 1 / 2,
        "OF1": 2 / 5,
    },  # class 1: AP 0, p = r = f = 0, all in the means
    "q2l": {
        "mAP": NAN,
        "CP": 1 / 4,
        "CR": 1 / 4,
        "CF1": 1 / 4,
        "OP": 1 / 3,
        "OR": 1 / 2,
        "OF1": 2 / 5,
    },  # voc_ap of a class without positives is NaN
}

# Four images, two classes; image 1 scores exactly 0.5 for class 0 (a positive).
EDGE_P = [[0.8, 0.9], [0.5, 0.7], [0.3, 0.6], [0.1, 0.2]]
EDGE_T = [[1, 1], [1, 0], [0, 0], [1, 0]]
AT_LEAST = {"CP": 2 / 3, "CR": 5 / 6, "CF1": 20 / 27, "OP": 3 / 5, "OR": 3 / 4, "OF1": 2 / 3}
STRICT = {"CP": 2 / 3, "CR": 2 / 3, "CF1": 1 / 2, "OP": 1 / 2, "OR": 1 / 2, "OF1": 1 / 2}
EDGE_EXPECTED = {  # AP: class 0 (1 + 1 + 3/4) / 3 = 11/12, class 1 1
    "mlrkit": {"mAP": 23 / 24, **AT_LEAST},  # 0.5 >= 0.5 predicted; CF1 = 2 CP CR / (CP + CR)
    "mlgcn": {"mAP": 23 / 24, **AT_LEAST},
    "asl": {"mAP": (11 / 12 * 3 / (3 + 1e-8) + 1 / (1 + 1e-8)) / 2, **STRICT},  # 0.5 > 0.5 no;
    "q2l": {"mAP": 23 / 24, **STRICT},  # CF1 = mean of per-class F1 (1/2, 1/2), not 2/3
}

# One class: a difficult (-1) image ranked 2nd, above both positives; all predicted.
DIFF_P = [[0.9], [0.8], [0.7], [0.6]]
DIFF_T = [[0], [-1], [1], [1]]
DIFF_EXPECTED = {
    "mlrkit": {
        "mAP": 7 / 12,
        "CP": 2 / 3,
        "CR": 1.0,
        "CF1": 4 / 5,
        "OP": 2 / 3,
        "OR": 1.0,
        "OF1": 4 / 5,
    },  # -1 ignored everywhere: precision 1/2, 2/3; Np = 3
    "mlgcn": {
        "mAP": 7 / 12,
        "CP": 1 / 2,
        "CR": 1.0,
        "CF1": 2 / 3,
        "OP": 1 / 2,
        "OR": 1.0,
        "OF1": 2 / 3,
    },  # skipped in AP, a negative in Np = 4
    "asl": {
        "mAP": 5 / 12 * 2 / (2 + 1e-8),
        "CP": 1 / 2,
        "CR": 1.0,
        "CF1": 2 / 3,
        "OP": 1 / 2,
        "OR": 1.0,
        "OF1": 2 / 3,
    },  # a negative: precision 1/3, 1/2
    "q2l": {
        "mAP": 1 / 2,
        "CP": 1 / 2,
        "CR": 1.0,
        "CF1": 2 / 3,
        "OP": 1 / 2,
        "OR": 1.0,
        "OF1": 2 / 3,
    },  # a negative, then the envelope lifts 1/3 to 1/2
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("scores", "targets", "expected"),
    [
        (EMPTY_P, EMPTY_T, EMPTY_EXPECTED),
        (EDGE_P, EDGE_T, EDGE_EXPECTED),
        (DIFF_P, DIFF_T, DIFF_EXPECTED),
    ],
    ids=["class-without-positive", "score-at-threshold", "difficult"],
)
def test_hand_computed_examples(protocol, scores, targets, expected):
    probs = np.array(scores)
    logits = np.log(probs) - np.log1p(-probs)  # 0.5 -> exactly 0.0
    for values, kind in ((probs, "probabilities"), (logits, "logits")):
        got = quiet(protocol_metrics, values, targets, protocol=protocol, scores_are=kind)
        assert_same(got, expected[protocol], tol=1e-14)
    # the references agree with the hand computation too
    if protocol == "mlgcn":
        ref = quiet(ref_mlgcn, logits.tolist(), targets)
    else:
        ref = quiet(REFERENCES[protocol], scores, targets)
    assert_same(ref, expected[protocol], tol=1e-14)


def test_the_protocols_differ_on_the_examples():
    for table in (EMPTY_EXPECTED, EDGE_EXPECTED, DIFF_EXPECTED):
        rows = {
            p: tuple(round(v, 9) if not math.isnan(v) else None for v in table[p].values())
            for p in PROTOCOLS
        }
        assert len(set(rows.values())) >= 3


# ---------------------------------------------------------------- warnings and errors
@pytest.mark.parametrize(
    ("protocol", "match"),
    [
        ("mlrkit", r"left out of (mAP|CP/CR): cat"),
        ("mlgcn", r"cat; ML-GCN's average_precision"),
        ("asl", r"cat; ASL counts them as AP 0"),
        ("q2l", r"cat; Query2Label's voc_mAP"),
    ],
)
def test_class_without_positive_is_named_in_a_warning(protocol, match):
    with pytest.warns(MetricsWarning, match=match):
        protocol_metrics(
            EMPTY_P, EMPTY_T, protocol=protocol, scores_are="probabilities", classes=["dog", "cat"]
        )


def test_unknown_protocol_names_the_choices():
    with pytest.raises(InvalidInputError, match=r"'voc'.*'mlrkit', 'mlgcn', 'asl', 'q2l'"):
        protocol_metrics(EDGE_P, EDGE_T, protocol="voc", scores_are="probabilities")


def test_scores_are_and_threshold_are_checked():
    with pytest.raises(TypeError):
        protocol_metrics(EDGE_P, EDGE_T)  # scores_are is required
    with pytest.raises(InvalidInputError, match="scores_are"):
        protocol_metrics(EDGE_P, EDGE_T, scores_are="sigmoid")
    with pytest.raises(InvalidInputError, match="threshold"):
        protocol_metrics(EDGE_P, EDGE_T, protocol="q2l", scores_are="logits", threshold=1.0)
    with pytest.raises(InvalidInputError, match="logits"):
        protocol_metrics([[2.0], [-1.0]], [[1], [0]], protocol="asl", scores_are="probabilities")


def test_bad_inputs_raise_invalid_input_error():
    with pytest.raises(InvalidInputError, match="shape"):
        protocol_metrics(EDGE_P, EDGE_T[:3], protocol="mlgcn", scores_are="probabilities")
    with pytest.raises(InvalidInputError, match="targets_are"):  # signed targets unconverted
        protocol_metrics([[0.2], [0.7]], [[1], [-1]], protocol="asl", scores_are="logits")
