"""One call from runs to files: embeddings, separation table, UMAP figure (``explore`` CLI).

For each run: :func:`extract_embeddings` of a split in one space, its
:func:`separation_report` (groups = images, so nearest neighbours come from other images), and
a cached :func:`umap_embed` of the vectors. Written to ``out``:

- ``separation.csv``: the runs' overall rows side by side, then every run's per-class rows;
- ``umap.png``: one panel per run, each on its own limits (separate UMAP fits), coloured by
  class, titled with the space;
- ``embeddings.parquet``: one row per (image, class) pair and run, with the UMAP ``x``, ``y``.

The three are checked before any run is loaded (none may replace a file the kit did not write)
and written as a set at the end, atomically (:class:`mlrkit.files.OutputFolder`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mlrkit.errors import InvalidInputError
from mlrkit.explore.embeddings import SPACE_TITLES, Space, check_space, extract_embeddings
from mlrkit.explore.separation import compare_separation
from mlrkit.explore.umap_cache import DEFAULT_CACHE, umap_embed
from mlrkit.files import OutputFolder
from mlrkit.train import TrainedRun
from mlrkit.viz import plot_embeddings_side_by_side

__all__ = ["EXPLORE_FILES", "ExploreSummary", "explore_runs"]

EXPLORE_FILES = ("separation.csv", "umap.png", "embeddings.parquet")


@dataclass
class ExploreSummary:
    """What :func:`explore_runs` computed and wrote.

    Attributes:
        overall: the runs' overall separation rows side by side (index: run names).
        reports: each run's full report (per class, then ``overall``).
        trustworthiness: each run's UMAP trustworthiness (how faithful its 2-D map is).
        space_title: which space the vectors come from, in words.
        files: the files written.
    """

    overall: pd.DataFrame
    reports: dict[str, pd.DataFrame]
    trustworthiness: dict[str, float]
    space_title: str
    files: list[Path] = field(default_factory=list)


def _names(runs: Sequence[str | Path]) -> list[str]:
    """Short, unique run names: the directory name (or file stem), numbered when repeated."""
    names: list[str] = []
    for run in runs:
        path = Path(run)
        base = path.name if path.is_dir() else f"{path.parent.name}/{path.stem}"
        name, n = base, 2
        while name in names:
            name, n = f"{base} ({n})", n + 1
        names.append(name)
    return names


def _check_same_classes(
    names: Sequence[str], runs: Sequence[str | Path], loaded: Sequence[TrainedRun]
) -> None:
    """Refuse runs whose class lists differ from the first run's.

    Raises:
        InvalidInputError: naming both runs and the classes only one of them has (or saying
            that the same classes come in another order).
    """
    first = loaded[0].classes
    for name, run, trained in zip(names[1:], runs[1:], loaded[1:], strict=True):
        if trained.classes == first:
            continue
        only_first = [c for c in first if c not in trained.classes]
        only_other = [c for c in trained.classes if c not in first]
        differ = (
            f"only in {names[0]!r}: {_listed(only_first)}; only in {name!r}: {_listed(only_other)}"
            if only_first or only_other
            else f"the same {len(first)} classes in another order"
        )
        raise InvalidInputError(
            f"runs {names[0]!r} ({runs[0]}) and {name!r} ({run}) have different classes "
            f"({differ}). The separation table and the shared class colours need the same "
            "classes in the same order: explore these runs one at a time (one `explore` per run)."
        )


def _listed(classes: Sequence[str], shown: int = 8) -> str:
    if not classes:
        return "none"
    more = f", ... ({len(classes)} in all)" if len(classes) > shown else ""
    return ", ".join(map(repr, classes[:shown])) + more


def explore_runs(
    runs: Sequence[str | Path],
    out: str | Path,
    *,
    space: Space = "embedding",
    split: str | None = None,
    max_items: int | None = None,
    device: str = "auto",
    seed: int | None = 0,
    cache_dir: str | Path | None | object = DEFAULT_CACHE,
    progress: bool = True,
) -> ExploreSummary:
    """Compare the class-embedding spaces of ``runs`` and write the three files to ``out``.

    Args:
        runs: run directories or checkpoint files.
        out: output folder (created).
        space: ``"embedding"`` (the objective's projection) or ``"features"``.
        split: split name (default: each run's validation split).
        max_items: at most this many (image, class) pairs per run.
        device: where to run the models.
        seed: UMAP seed (reproducible maps, single-threaded); None for a faster, parallel run.
        cache_dir: UMAP cache folder (see :func:`umap_embed`); None disables it.
        progress: show progress bars.

    Every run is loaded and checked before any extraction or UMAP starts, so a bad run is
    refused at once rather than after the others were computed.

    Raises:
        mlrkit.errors.InvalidInputError: no run; a run without class features, or without the
            space; runs whose class lists differ (names or order).
        mlrkit.train.CheckpointError: a run directory without checkpoint, or a checkpoint
            that does not load.
        mlrkit.data.DatasetError: a run's dataset is missing.
        mlrkit.files.ForeignFileError: one of the three files is in ``out`` and the kit did not
            write it.
    """
    if not runs:
        raise InvalidInputError("explore_runs needs at least one run directory or checkpoint")
    folder = OutputFolder(out, fix="choose another --out")
    folder.check(EXPLORE_FILES)  # before any run is loaded
    names = _names(runs)
    loaded = [TrainedRun.load(run, device=device) for run in runs]
    for trained in loaded:
        check_space(trained, space)
    _check_same_classes(names, runs, loaded)
    classes = loaded[0].classes
    reports: dict[str, pd.DataFrame] = {}
    panels, frames, trust = {}, [], {}
    for name, trained in zip(names, loaded, strict=True):
        emb = extract_embeddings(trained, split, space, max_items=max_items, progress=progress)
        reports[name] = emb.separation()
        result = umap_embed(emb.vectors, seed=seed, cache_dir=cache_dir, progress=progress)
        trust[name] = result.trustworthiness
        panels[name] = (result.coords, emb.frame["class"].astype(str).to_numpy())
        frame = emb.frame.assign(run=name, x=result.coords[:, 0], y=result.coords[:, 1])
        frames.append(frame)
    overall = compare_separation(reports)
    per_class = pd.concat(
        {name: report.drop(index="overall") for name, report in reports.items()}, names=["run"]
    )
    table = pd.concat([overall.assign(**{"class": "overall"}).set_index("class", append=True),
                       per_class])  # fmt: skip
    titled = {f"{name} (trustworthiness {trust[name]:.2f})": p for name, p in panels.items()}
    # A Figure outside pyplot: writing the file never touches the session's backend (a
    # notebook's inline plots stay as they are) and leaves no figure open.
    figure = Figure(figsize=(5 * len(titled) + 1.5, 5))
    axes = figure.subplots(1, len(titled), squeeze=False)[0]
    plot_embeddings_side_by_side(
        titled, list(axes), classes=classes, suptitle=f"UMAP of the {SPACE_TITLES[space]}"
    )
    embeddings = pd.concat(frames, ignore_index=True)
    embeddings["class"] = embeddings["class"].astype(str)
    files = folder.write({
        "separation.csv": table.to_csv,
        "umap.png": lambda path: figure.savefig(path, dpi=120, bbox_inches="tight"),
        "embeddings.parquet": lambda path: embeddings.to_parquet(path, index=False),
    })  # fmt: skip
    return ExploreSummary(overall, reports, trust, SPACE_TITLES[space], files)
