"""mlrkit.files: whole files or none, and never over a file the kit did not write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from mlrkit.config import load_config, save_config
from mlrkit.files import MANIFEST, ForeignFileError, OutputFolder, atomic_path, write_text
from mlrkit.presets import preset


def _half_then_fail(path: Path, text: str, *args: object, **kwargs: object) -> int:
    """A write that dies half-way, as a full disk or a kill would leave it."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text[: len(text) // 2])
    raise OSError(28, "No space left on device")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old,whole\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("new,ha")
        raise KeyboardInterrupt
    assert target.read_text() == "old,whole\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    write_text(target, "new,whole\n")
    assert target.read_text() == "new,whole\n" and len(list(tmp_path.iterdir())) == 1


def test_the_temporary_name_keeps_the_extension_writers_read(tmp_path: Path) -> None:
    # savefig picks the format from the name; np.savez adds ".npz" to a name without it
    with atomic_path(tmp_path / "figure.png") as tmp:
        Figure().savefig(tmp)
    assert (tmp_path / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_json_is_written_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    save_config(preset("digits", loss="bce"), path)
    before = path.read_bytes()
    monkeypatch.setattr(Path, "write_text", _half_then_fail)
    with pytest.raises(OSError, match="No space"):
        save_config(preset("digits", loss="asl"), path)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_config(path).loss.setup == "bce"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_file_the_kit_did_not_write_is_refused_by_name(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path / "out", fix="choose another --out")
    folder.check(["a.csv"])  # nothing there yet: fine
    folder.write_text("a.csv", "kit\n")
    folder.check(["a.csv"])  # the kit's own file, unchanged: may be replaced
    (tmp_path / "out" / "b.csv").write_text("mine\n")
    with pytest.raises(ForeignFileError, match=r"b\.csv exists and was not written by mlrkit.*"
                       r"choose another --out"):  # fmt: skip
        folder.check(["a.csv", "b.csv"])
    with pytest.raises(ForeignFileError):
        folder.write_text("b.csv", "kit\n")
    assert (tmp_path / "out" / "b.csv").read_text() == "mine\n"
    (tmp_path / "out" / "a.csv").write_text("kit, then edited by hand\n")
    with pytest.raises(ForeignFileError, match="or was changed since"):
        folder.write_text("a.csv", "kit again\n")
    (tmp_path / "out" / "c.csv").mkdir()
    with pytest.raises(ForeignFileError, match="is a folder"):
        folder.check(["c.csv"])
    recorded = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert set(recorded) == {"a.csv"}


def test_files_are_written_as_a_set(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path)
    folder.write(
        {"one.txt": lambda p: p.write_text("1 old"), "two.txt": lambda p: p.write_text("2 old")}
    )

    def fails(path: Path) -> None:
        path.write_text("2 ne")
        raise RuntimeError("the figure could not be drawn")

    with pytest.raises(RuntimeError):
        folder.write({"one.txt": lambda p: p.write_text("1 new"), "two.txt": fails})
    # the first file of the set was ready but is not put in place without the second
    assert (tmp_path / "one.txt").read_text() == "1 old"
    assert (tmp_path / "two.txt").read_text() == "2 old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MANIFEST, "one.txt", "two.txt"])
    assert folder.wrote("one.txt") and folder.wrote("two.txt")


def test_a_folder_of_other_files_is_not_claimed(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "results.md").write_text("my notes")
    with pytest.raises(
        ForeignFileError, match=f"holds files but was not made by mlrkit .*{MANIFEST}"
    ):
        OutputFolder(theirs).claim()
    assert sorted(p.name for p in theirs.iterdir()) == ["results.md"]
    ours = OutputFolder(tmp_path / "new" / "demo")
    ours.claim()  # made, with its manifest
    (ours.root / "anything").write_text("x")
    ours.claim()  # the kit's folder: claimed again
    empty = tmp_path / "empty"
    empty.mkdir()
    OutputFolder(empty).claim()
    assert (empty / MANIFEST).is_file()
    with pytest.raises(ForeignFileError, match="is a file"):
        OutputFolder(theirs / "results.md").claim()
