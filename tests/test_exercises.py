"""Exercises in the notebooks: the convention's checker, the student version made from the
teacher's notebook (run with a kernel: it stops at the first exercise), and the command that
writes the student versions of a folder."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import v4

from mlrkit.cli import main
from mlrkit.exercises import (
    ExerciseError,
    StudentFolderError,
    check_exercises,
    exercise_cells,
    is_student_version,
    student_version,
    write_student_notebooks,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SOLUTION, CHECK = {"tags": ["solution"]}, {"tags": ["check"]}


def teacher() -> nbformat.NotebookNode:
    """A tiny notebook of plain Python with two exercises (the second one's check after a
    markdown cell), a cell before them and one after."""
    return v4.new_notebook(
        cells=[
            v4.new_code_cell("values = [3, 1, 2]"),
            v4.new_markdown_cell("### Exercise 1\nSort `values` into a new list `ordered`."),
            v4.new_code_cell(
                "# Exercise 1: sort the values\n# Hint: sorted() returns a new list.\n"
                "ordered = sorted(values)",
                metadata=copy.deepcopy(SOLUTION),
            ),
            v4.new_code_cell(
                'assert ordered == [1, 2, 3], f"ordered: from small to large, got {ordered}"',
                metadata=copy.deepcopy(CHECK),
            ),
            v4.new_markdown_cell("### Exercise 2\nAdd the values up into `total`."),
            v4.new_code_cell(
                "# Exercise 2: add them up\ntotal = 0\nfor v in values:\n    total += v",
                metadata=copy.deepcopy(SOLUTION),
            ),
            v4.new_markdown_cell("Did it work?"),
            v4.new_code_cell(
                'assert total == 6, f"total: the sum of the values, got {total}"',
                metadata=copy.deepcopy(CHECK),
            ),
            v4.new_code_cell("done = True"),
        ]
    )


def execute(nb: nbformat.NotebookNode, folder: Path) -> CellExecutionError | None:
    """Run ``nb`` in place with a fresh kernel; the error it stopped at, or ``None``."""
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        return err
    return None


def errors(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the cells whose outputs hold an error."""
    return [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code"
        and any(o.output_type == "error" for o in c.outputs)
    ]  # fmt: skip


# --- The student version of one notebook ------------------------------------------------------


def test_each_solution_becomes_its_placeholder_and_nothing_else_changes() -> None:
    nb = teacher()
    before = json.dumps(nb, sort_keys=True)
    student = student_version(nb)
    assert json.dumps(nb, sort_keys=True) == before  # the teacher's notebook is left alone
    assert student.cells[2].source == (
        "# Exercise 1: sort the values\n# Hint: sorted() returns a new list.\n"
        "# Your code: define ordered (the check below reads it).\n"
        'raise NotImplementedError("Exercise 1: sort the values")'
    )
    assert student.cells[5].source == (
        "# Exercise 2: add them up\n# Your code: define total (the check below reads it).\n"
        'raise NotImplementedError("Exercise 2: add them up")'
    )
    for i in (2, 5):  # the tags stay: a teacher still sees which cells were the solutions
        assert student.cells[i].metadata == SOLUTION and student.cells[i].id == nb.cells[i].id
    for i in (0, 1, 3, 4, 6, 7, 8):
        assert json.dumps(student.cells[i]) == json.dumps(nb.cells[i]), i
    assert is_student_version(student) and not is_student_version(nb)
    assert check_exercises(student) == []  # still an exercise notebook: the first lines stay


def test_outputs_and_execution_counts_of_every_code_cell_are_cleared() -> None:
    nb = teacher()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.execution_count = 7
            cell.outputs = [v4.new_output("stream", name="stdout", text="[1, 2, 3]\n")]
    student = student_version(nb)
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_a_student_version_or_a_broken_notebook_is_refused() -> None:
    with pytest.raises(ExerciseError, match="student version already"):
        student_version(student_version(teacher()))
    nb = teacher()
    del nb.cells[3]  # exercise 1 loses its check
    with pytest.raises(ExerciseError, match=r"cells\[2\] .*check_exercises"):
        student_version(nb)


def test_the_placeholder_names_what_the_check_reads_and_quotes_the_task_safely() -> None:
    nb = teacher()
    nb.cells[2].source = (
        '# Exercise 1: the "middle" value\nimport statistics\n\n\ndef middle(xs):\n'
        "    ys = sorted(xs)\n    return ys[len(ys) // 2]\n"
    )
    nb.cells[3].source = 'assert middle(values) == 2, "middle([3, 1, 2]) should be 2"'
    nb.cells[5].source = "# Exercise 2: add them up\n%time total = sum(values)"  # no plain Python
    student = student_version(nb)
    assert student.cells[2].source.splitlines()[1:] == [
        "# Your code: define middle (the check below reads it).",
        r'raise NotImplementedError("Exercise 1: the \"middle\" value")',
    ]
    assert "# Your code here (the check below says what it expects)." in student.cells[5].source


# --- Run with a kernel: the student's stops at exercise 1, the teacher's runs to the end -------


def test_the_teachers_notebook_runs_to_the_end_with_every_check_passing(tmp_path: Path) -> None:
    nb = teacher()
    assert execute(nb, tmp_path) is None
    assert errors(nb) == [] and nb.cells[-1].execution_count is not None


def test_the_student_version_raises_at_the_first_exercise_and_nowhere_before(
    tmp_path: Path,
) -> None:
    nb = student_version(teacher())
    err = execute(nb, tmp_path)
    assert err is not None and err.ename == "NotImplementedError"
    assert err.evalue == "Exercise 1: sort the values"
    assert errors(nb) == [2]  # the first solution cell
    assert nb.cells[0].execution_count is not None  # the cells before it ran
    assert all(c.get("execution_count") is None for c in nb.cells[3:])  # none after it


def test_a_wrong_solution_fails_its_check_with_its_message(tmp_path: Path) -> None:
    nb = teacher()
    nb.cells[5].source = "# Exercise 2: add them up\ntotal = max(values)"
    err = execute(nb, tmp_path)
    assert err is not None and err.ename == "AssertionError"
    assert err.evalue == "total: the sum of the values, got 3"
    assert errors(nb) == [7]


# --- The checker -------------------------------------------------------------------------------


def test_the_exercises_are_found_with_their_checks() -> None:
    found = exercise_cells(teacher())
    assert [(e.number, e.task, e.solution, e.checks, e.names) for e in found] == [
        (1, "sort the values", 2, (3,), ("ordered",)),
        (2, "add them up", 5, (7,), ("total",)),
    ]
    assert check_exercises(teacher()) == []
    assert check_exercises(v4.new_notebook(cells=[v4.new_code_cell("x = 1")])) == []


def _broken(change) -> list[str]:
    nb = teacher()
    change(nb)
    return check_exercises(nb)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda nb: nb.cells.pop(3), r"cells\[2\] \(exercise 1's solution\) is not followed by a "
                                     r"code cell tagged check"),
        (lambda nb: nb.cells.insert(3, v4.new_code_cell("x = 1")), r"cells\[2\] .* not followed"),
        (lambda nb: nb.cells[7].metadata.clear(), r"cells\[5\] .* not followed"),
        (lambda nb: setattr(nb.cells[5], "source", "# Exercise 3: add\ntotal = 6"),
         r"says 'Exercise 3'; .* so write `# Exercise 2: add`"),
        (lambda nb: setattr(nb.cells[2], "source", "ordered = sorted(values)"),
         r"cells\[2\] .*: the first line must be '# Exercise 1: <short task>'"),
        (lambda nb: setattr(nb.cells[2], "source", "# Exercise 1: sort\n# sorted(values)"),
         r"cells\[2\] .* holds no code below its comment lines"),
        (lambda nb: nb.cells.pop(1), r"cells\[1\] .* no markdown cell with the task"),
        (lambda nb: setattr(nb.cells[3], "source", "assert ordered == [1, 2, 3]"),
         r"cells\[3\] \(exercise 1's check\): the assert on its line 1 has no message"),
        (lambda nb: setattr(nb.cells[3], "source", "ordered"), r"cells\[3\] .* tests nothing"),
        (lambda nb: nb.cells[0].metadata.update(CHECK), r"cells\[0\] is tagged check but"),
        (lambda nb: nb.cells[1].metadata.update(SOLUTION),
         r"cells\[1\] is a markdown cell tagged solution"),
        (lambda nb: nb.cells[3].metadata.update(tags=["solution", "check"]),
         r"cells\[3\] is tagged both"),
    ],
)  # fmt: skip
def test_the_checker_names_the_cell_and_the_fix(change, expected: str) -> None:
    problems = _broken(change)
    assert problems and any(re.search(expected, p) for p in problems), problems


# --- The folder and the command ----------------------------------------------------------------


def _source_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_first.ipynb", "02_second.ipynb", "scratch.ipynb"):
        nbformat.write(teacher(), folder / name)
    return folder


def test_the_command_writes_every_numbered_notebook_and_replaces_its_own_files(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source, out = _source_folder(tmp_path), tmp_path / "student"
    argv = ["notebooks", "--student", str(out), "--notebooks", str(source)]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    names = ["01_first.ipynb", "02_second.ipynb"]  # scratch.ipynb is no numbered notebook
    assert printed == [f"wrote {out / name} (2 exercises)" for name in names]
    assert sorted(p.name for p in out.iterdir()) == names
    written = json.loads((out / "01_first.ipynb").read_text(encoding="utf-8"))
    original = json.loads((source / "01_first.ipynb").read_text(encoding="utf-8"))
    assert written["metadata"]["mlrkit"] == {"student": True}
    changed = [i for i, c in enumerate(original["cells"]) if c != written["cells"][i]]
    assert changed == [2, 5]  # only the solutions differ, in the file as in memory
    assert (out / "01_first.ipynb").stat().st_mode & 0o044 == 0o044 & ~_umask()
    assert main(argv) == 0  # a second run replaces its own student versions
    assert write_student_notebooks(source, out) == [out / name for name in names]


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_the_command_refuses_to_overwrite_a_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    source, out = _source_folder(tmp_path), tmp_path / "student"
    out.mkdir()
    (out / "02_second.ipynb").write_text("my own notes", encoding="utf-8")
    assert main(["notebooks", "--student", str(out), "--notebooks", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: StudentFolderError: ")
    assert f"{out / '02_second.ipynb'} exists and is not a student version" in err
    assert (out / "02_second.ipynb").read_text(encoding="utf-8") == "my own notes"
    assert sorted(p.name for p in out.iterdir()) == ["02_second.ipynb"]  # nothing written
    with pytest.raises(StudentFolderError, match="02_second.ipynb exists") as raised:
        write_student_notebooks(source, out)
    assert isinstance(raised.value, FileExistsError)


@pytest.mark.parametrize("where", ["source", "a broken notebook", "no notebooks"])
def test_the_command_refuses_the_source_folder_and_broken_notebooks_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, where: str
) -> None:
    source = _source_folder(tmp_path)
    out, expected = tmp_path / "student", "ExerciseError: "
    if where == "source":
        out, expected = source, "is the teacher's notebooks' folder"
    elif where == "a broken notebook":
        nb = teacher()
        del nb.cells[7]
        nbformat.write(nb, source / "02_second.ipynb")
        expected = f"{source / '02_second.ipynb'}: cells[5] (exercise 2's solution) is not"
    else:
        source = tmp_path / "empty"
        source.mkdir()
        expected = "no [0-9]*.ipynb in"
    assert main(["notebooks", "--student", str(out), "--notebooks", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "student").exists()


def test_a_failed_write_leaves_neither_a_half_file_nor_a_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, out = _source_folder(tmp_path), tmp_path / "student"
    write_student_notebooks(source, out)
    before = (out / "01_first.ipynb").read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    nb = teacher()
    nb.cells[0].source = "values = [2, 3, 1]"
    nbformat.write(nb, source / "01_first.ipynb")
    with pytest.raises(OSError, match="disk full"):
        write_student_notebooks(source, out)
    assert (out / "01_first.ipynb").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["01_first.ipynb", "02_second.ipynb"]


# --- The kit's own notebooks, once they hold exercises -----------------------------------------


def _tagged(path: Path, tag: str) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(tag in c.get("metadata", {}).get("tags", []) for c in cells)


NO_EXERCISES_YET = not any(_tagged(path, "solution") for path in NOTEBOOKS)
WHY = "no notebook in notebooks/ has a solution cell yet; this test runs once exercises exist"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_numbered_notebook_has_three_exercises_that_follow_the_convention(
    path: Path,
) -> None:
    if NO_EXERCISES_YET:
        pytest.skip(WHY)
    counts = {tag: _tagged(path, tag) for tag in ("solution", "check")}
    assert min(counts.values()) >= 3, f"{path.name}: {counts}; every notebook has 3 exercises"
    assert check_exercises(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_student_version_of_every_notebook_stops_at_its_first_exercise(path: Path) -> None:
    """Without a kernel, by two facts: the cells before exercise 1 are the teacher's, byte for
    byte (and tests/test_notebooks.py runs the teacher's notebooks to the end in fast mode, so
    they raise nothing), and exercise 1's placeholder, run on its own, raises
    NotImplementedError naming the exercise. The kernel run of a student version is tested
    above on the small notebook (``test_the_student_version_raises_at_the_first_exercise``)."""
    if NO_EXERCISES_YET:
        pytest.skip(WHY)
    nb = nbformat.read(path, as_version=4)
    student = student_version(nb)
    exercises = exercise_cells(student)
    assert exercises, f"{path.name} has no exercise (no cell tagged solution)"
    first = exercises[0]
    before = [json.dumps(c, sort_keys=True) for c in nb.cells[: first.solution]]
    assert [json.dumps(c, sort_keys=True) for c in student.cells[: first.solution]] == before
    code = [c for c in student.cells[: first.solution] if c.cell_type == "code"]
    assert all(c.outputs == [] for c in code)  # committed without outputs: nothing stale shown
    with pytest.raises(NotImplementedError) as raised:
        exec(compile(student.cells[first.solution].source, path.name, "exec"), {})
    assert str(raised.value) == first.title
    for later in exercises[1:]:  # and every later placeholder raises its own exercise
        with pytest.raises(NotImplementedError, match=re.escape(later.title)):
            exec(compile(student.cells[later.solution].source, path.name, "exec"), {})
