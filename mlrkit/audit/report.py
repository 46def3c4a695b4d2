"""Audit a run's split: a suspicion per (image, class) pair, the suspects ranked, and, where the
data keep the truth (planted errors, :func:`mlrkit.data.label_errors`), how well each
suspicion finds the wrong labels.

Scores are in-sample by default (the run trained on the labels it now judges, so it has partly
fitted the wrong ones: a wrong label it learned looks right to it) or cross-fitted with
``folds`` (:func:`mlrkit.audit.cross_fit`: each image judged by a run that never saw it, at the
cost of training ``folds`` runs). Class features are the run's own (in-sample): the feature
suspicion asks the neighbours, not the model, whether a label fits.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mlrkit.audit.crossfit import cross_fit
from mlrkit.audit.detection import detection_report
from mlrkit.audit.suspicion import combine_suspicion, feature_suspicion, score_suspicion
from mlrkit.data import label_errors
from mlrkit.errors import InvalidInputError
from mlrkit.runs import Run

__all__ = ["AUDIT_METHODS", "Audit", "audit_run", "suspect_panels"]

Method = Literal["scores", "features", "both"]
AUDIT_METHODS: tuple[str, ...] = ("scores", "features", "both")


@dataclass
class Audit:
    """What :func:`audit_run` found.

    Attributes:
        suspects: one row per judged (image, class) pair (given label 1 or 0; ignored ones
            are not judged), most suspect first: ``image`` (index in the split), ``path``,
            ``class``, ``class_index``, ``given``, ``score`` (the probability used),
            ``score_suspicion``, ``feature_suspicion`` (when computed), ``suspicion`` (the
            ranked one: the combination for ``"both"``), ``rank`` (1 = most suspect), and,
            when the truth is known, ``error`` (the kind of planted error, or empty).
        suspicion: name -> ``(N, K)`` array, NaN where not judged.
        is_error: ``(N, K)`` bool where the truth is known, else None.
        detection: :func:`~mlrkit.audit.detection_report` of each suspicion, stacked (index
            ``errors``: ``"overall"`` then each kind; a ``method`` column), or None without
            truth.
        notes: what the reader must know (scores in-sample, no class features, no truth).
    """

    suspects: pd.DataFrame
    suspicion: dict[str, np.ndarray]
    is_error: np.ndarray | None = None
    detection: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def audit_run(
    run: Run,
    split: str | None = None,
    *,
    method: Method = "both",
    folds: int | None = None,
    fold_dir: str | Path | None = None,
    k: int = 10,
    progress: bool = True,
) -> Audit:
    """Judge every given label of ``split`` (default: the training split) of ``run``.

    Args:
        run: the run whose scores and class features judge the labels.
        split: the split name (default ``run.config.data.train_split``).
        method: ``"scores"`` (:func:`score_suspicion`), ``"features"``
            (:func:`feature_suspicion`, k nearest rows of the same class from other images)
            or ``"both"`` (each, and their rank average, :func:`combine_suspicion`, ranked).
        folds: cross-fit the scores with this many folds (trains that many runs into
            ``fold_dir``); None: the run's own, in-sample scores.
        fold_dir: where the fold runs go (default: ``<run folder>/crossfit-<folds>``).
        k: neighbours of the feature suspicion.
        progress: progress bars.

    Raises:
        InvalidInputError: an unknown ``method``, or ``folds`` with a split other than the
            training split (cross-fitting scores the training images only).
        mlrkit.data.DatasetError: the data's truth file does not match the split.
    """
    if method not in AUDIT_METHODS:
        raise InvalidInputError(f"method must be one of {AUDIT_METHODS}, got {method!r}")
    name = split or run.config.data.train_split
    if folds and name != run.config.data.train_split:  # before any fold run trains
        raise InvalidInputError(
            f"folds={folds} cross-fits the training split {run.config.data.train_split!r}, not "
            f"{name!r}: audit {name!r} without folds (in-sample scores), or the training split"
        )
    dataset = run.split(name)
    targets = dataset.targets.numpy()  # type: ignore[attr-defined]
    classes = list(run.classes)
    truth = _truth(run, name, targets.shape)  # a truth file at odds with the split: now, not later
    notes = []
    emb = None
    if method != "scores":
        if getattr(run.model, "feature_dim", None) is None:
            notes.append(f"the {run.config.model.head!r} head has no class features: "
                         "audited by scores alone")  # fmt: skip
        else:
            emb = run.embeddings(name, space="features", which="all", progress=progress)
    if folds:
        config = dataclasses.replace(
            run.config, data=dataclasses.replace(run.config.data, holdout={})
        )
        where = Path(fold_dir) if fold_dir is not None else run.folder / f"crossfit-{folds}"
        fitted = cross_fit(config, where, folds, device=str(run.device))
        probabilities = fitted.probabilities
        notes.insert(0, f"scores cross-fitted over {folds} folds (runs in {where})")
    else:
        if emb is not None and len(emb.frame) == targets.size:
            # the one pass over the images that gave the features gave every pair's score
            probabilities = np.full(targets.shape, np.nan, dtype=np.float32)
            frame = emb.frame
            probabilities[frame["image"], frame["class_index"]] = frame["score"]
        else:
            probabilities = run.scores(dataset)[classes].to_numpy()
        notes.insert(0,
            "scores in-sample: the run trained on these labels and has partly fitted the wrong "
            "ones; cross-fitted scores (folds=2) judge each image by a run that never saw it"
        )  # fmt: skip
    suspicion = {"scores": score_suspicion(probabilities, targets, scores_are="probabilities")}
    if emb is not None:
        judged = emb.frame["target"].to_numpy() != -1  # ignored pairs judge nothing
        image = emb.frame["image"].to_numpy()[judged]
        class_index = emb.frame["class_index"].to_numpy()[judged]
        per_row = feature_suspicion(
            emb.vectors[judged], image, class_index,
            emb.frame["target"].to_numpy()[judged], k=k,
        )  # fmt: skip
        grid = np.full(targets.shape, np.nan)
        grid[image, class_index] = per_row
        suspicion["features"] = grid
    if method == "both" and "features" in suspicion:
        suspicion["combined"] = combine_suspicion(suspicion["scores"], suspicion["features"])
    ranked = {"scores": "scores", "features": "features", "both": "combined"}[method]
    ranked = ranked if ranked in suspicion else "scores"
    audit = Audit(_suspects(dataset, classes, probabilities, targets, suspicion, ranked), suspicion)
    audit.notes = notes
    if truth is None:
        notes.append("no planted-error list in the data: nothing to measure the audit against")
        return audit
    is_error, kinds = truth
    audit.is_error = is_error
    kind_of = pd.Series(kinds.ravel()).replace("", np.nan)
    audit.suspects["error"] = kind_of.to_numpy()[
        audit.suspects["image"].to_numpy() * len(classes) + audit.suspects["class_index"].to_numpy()
    ]
    audit.detection = pd.concat(
        [detection_report(values, is_error, kinds=kinds).assign(method=key)
         for key, values in suspicion.items()]
    )  # fmt: skip
    return audit


def _truth(run: Run, split: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """``(is_error (N, K) bool, kind (N, K) str)`` from the data's planted-error list, or None
    when the data keep none (not the embedded dataset, or no noise planted)."""
    if run.config.data.kind != "digits":
        return None
    errors = label_errors(run.config.data.root, split)
    if errors.empty:
        return None
    is_error = np.zeros(shape, dtype=bool)
    kind = np.full(shape, "", dtype=object)
    rows, cols = errors["index"].to_numpy(), errors["class_index"].to_numpy()
    is_error[rows, cols] = True
    kind[rows, cols] = errors["kind"].to_numpy()
    return is_error, kind


def _suspects(
    dataset: object,
    classes: list[str],
    probabilities: np.ndarray,
    targets: np.ndarray,
    suspicion: dict[str, np.ndarray],
    ranked: str,
) -> pd.DataFrame:
    """One row per judged pair, most suspect first (ties: image, then class order)."""
    image, class_index = np.nonzero(targets != -1)
    paths = list(getattr(dataset, "paths", []))
    frame = pd.DataFrame({
        "image": image,
        "path": [str(paths[i]) for i in image] if paths else "",
        "class": np.asarray(classes, dtype=object)[class_index],
        "class_index": class_index,
        "given": targets[image, class_index].astype(int),
        "score": probabilities[image, class_index],
    })  # fmt: skip
    for key, values in suspicion.items():
        frame[f"{key}_suspicion"] = values[image, class_index]
    frame["suspicion"] = suspicion[ranked][image, class_index]
    frame = frame.sort_values("suspicion", ascending=False, kind="stable", na_position="last")
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame.reset_index(drop=True)


def suspect_panels(
    run: Run, audit: Audit, top: int = 16, split: str | None = None
) -> tuple[list[np.ndarray], list[str], list[np.ndarray | None]]:
    """What :func:`mlrkit.viz.audit.plot_suspects` draws for the ``top`` suspects: the
    images ``(H, W, 3)`` uint8, titles (``"#rank class: given g, p 0.xx"``, with the kind of
    planted error when known) and the attention map ``(h, w)`` of the suspect class (None for a
    head without maps)."""
    from PIL import Image

    rows = audit.suspects.head(max(int(top), 1))
    dataset = run.split(split or run.config.data.train_split)
    images = [np.asarray(Image.open(path).convert("RGB")) for path in rows["path"]]
    try:
        attention = run.attention(dataset, rows["image"].tolist())  # (n, K, h, w)
        maps: list[np.ndarray | None] = [
            attention[i, k].numpy() for i, k in enumerate(rows["class_index"])
        ]
    except InvalidInputError:  # a head without attention maps: the images alone
        maps = [None] * len(rows)
    titles = []
    for _, r in rows.iterrows():
        kind = r.get("error")
        known = f" [{kind}]" if isinstance(kind, str) else ""
        titles.append(f"#{r['rank']} {r['class']}: given {r['given']}, p {r['score']:.2f}{known}")
    return images, titles, maps
