"""One call from runs to files: embeddings, separation table, UMAP figure (``explore`` CLI).

For each run: :func:`extract_embeddings` of a split in one space, its
:func:`separation_report` (groups = images, so nearest neighbours come from other images), and
a cached :func:`umap_embed` of the vectors. Written to ``out``:

- ``separation.csv``: the runs' overall rows side by side, then every run's per-class rows;
- ``umap.png``: one panel per run on shared limits, coloured by class, titled with the space;
- ``embeddings.parquet``: one row per (image, class) pair and run, with the UMAP ``x``, ``y``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from mlrkit.explore.embeddings import SPACE_TITLES, Space, extract_embeddings
from mlrkit.explore.separation import compare_separation
from mlrkit.explore.umap_cache import DEFAULT_CACHE, umap_embed
from mlrkit.viz import plot_embeddings_side_by_side

__all__ = ["ExploreSummary", "explore_runs"]


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

    Raises:
        mlrkit.errors.InvalidInputError: a run without class features, or without the space.
        mlrkit.data.DatasetError: a run's dataset is missing.
    """
    out = Path(out)
    names = _names(runs)
    reports: dict[str, pd.DataFrame] = {}
    panels, frames, trust = {}, [], {}
    classes: tuple[str, ...] | None = None
    for name, run in zip(names, runs, strict=True):
        emb = extract_embeddings(
            run, split, space, max_items=max_items, device=device, progress=progress
        )
        classes = classes or emb.classes
        reports[name] = emb.separation()
        result = umap_embed(emb.vectors, seed=seed, cache_dir=cache_dir, progress=progress)
        trust[name] = result.trustworthiness
        panels[name] = (result.coords, emb.frame["class"].astype(str).to_numpy())
        frame = emb.frame.assign(run=name, x=result.coords[:, 0], y=result.coords[:, 1])
        frames.append(frame)
    out.mkdir(parents=True, exist_ok=True)
    overall = compare_separation(reports)
    per_class = pd.concat(
        {name: report.drop(index="overall") for name, report in reports.items()}, names=["run"]
    )
    table = pd.concat([overall.assign(**{"class": "overall"}).set_index("class", append=True),
                       per_class])  # fmt: skip
    table.to_csv(out / "separation.csv")
    titled = {f"{name} (trustworthiness {trust[name]:.2f})": p for name, p in panels.items()}
    # A Figure outside pyplot: writing the file never touches the session's backend (a
    # notebook's inline plots stay as they are) and leaves no figure open.
    figure = Figure(figsize=(5 * len(titled) + 1.5, 5))
    axes = figure.subplots(1, len(titled), squeeze=False)[0]
    plot_embeddings_side_by_side(
        titled, list(axes), classes=classes, suptitle=f"UMAP of the {SPACE_TITLES[space]}"
    )
    figure.savefig(out / "umap.png", dpi=120, bbox_inches="tight")
    embeddings = pd.concat(frames, ignore_index=True)
    embeddings["class"] = embeddings["class"].astype(str)
    embeddings.to_parquet(out / "embeddings.parquet", index=False)
    files = [out / "separation.csv", out / "umap.png", out / "embeddings.parquet"]
    return ExploreSummary(overall, reports, trust, SPACE_TITLES[space], files)
