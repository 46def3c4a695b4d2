"""Exercises in the notebooks, and the students' copies made from the same source.

A notebook holds the teacher's version: each exercise with its solution. The student version
(:func:`student_version`, :func:`write_student_notebooks`, ``python -m mlrkit notebooks
--student OUT``) is made from it, so there is one source to keep up to date.

How a teacher writes an exercise, three cells in a row:

1. a **markdown cell** with the task, what to compute and under which names;
2. a **code cell tagged** ``solution`` (cell metadata ``"tags": ["solution"]``; in JupyterLab:
   the property inspector, "Cell Tags") holding the solution. Its first line is exactly
   ``# Exercise N: <short task>``, where ``N`` counts the ``solution`` cells of the notebook
   from 1, in order. Comment lines directly below the first line are hints: they stay in the
   student version (a comment that gives the answer away goes below the first line of code);
3. a **code cell tagged** ``check`` that tests the solution's result with ``assert cond,
   "message"``, the message telling the student what is wrong and what to look at. Markdown
   cells may stand between the solution and its check, code cells may not; an exercise may have
   several check cells in a row.

For example::

    [markdown]  ### Exercise 1: the positive labels
                Count the positive labels of each class into ``counts``, a 1-D array.
    [solution]  # Exercise 1: count the positives per class
                # Hint: the targets are a 0/1 matrix, one row per image.
                counts = targets.sum(axis=0)
    [check]     assert counts.shape == (K,), f"one count per class: shape {counts.shape}"

In the student version each ``solution`` cell becomes a placeholder: its first line and the
hint lines below it, a line naming the variables the check cells read that the solution
defines, and ``raise NotImplementedError("Exercise N: <short task>")``, so that running the
notebook stops at the first exercise not done yet, with its task::

    # Exercise 1: count the positives per class
    # Hint: the targets are a 0/1 matrix, one row per image.
    # Your code: define counts (the check below reads it).
    raise NotImplementedError("Exercise 1: count the positives per class")

Every other cell is kept as it is (tags included, so a teacher still recognises the cells);
outputs and execution counts of all code cells are cleared, since an output may show a
solution's result. The notebook's metadata gets ``"mlrkit": {"student": true}``: that mark is
how :func:`write_student_notebooks` knows which files in its output folder it may replace.

:func:`check_exercises` lists where a notebook breaks this convention; :func:`student_version`
refuses such a notebook (:class:`ExerciseError`) rather than guess.
"""

from __future__ import annotations

import ast
import copy
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrkit.errors import MlrkitError
from mlrkit.files import write_text

__all__ = [
    "CHECK", "SOLUTION", "Exercise", "ExerciseError", "StudentFolderError", "check_exercises",
    "exercise_cells", "is_student_version", "student_version", "write_student_notebooks",
]  # fmt: skip

SOLUTION = "solution"
CHECK = "check"
_FIRST_LINE = re.compile(r"# Exercise (\d+): (\S.*)")
_NUMBERED = "[0-9]*.ipynb"
# Names bound inside these are not the cell's variables.
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.comprehension)


class ExerciseError(MlrkitError, ValueError):
    """A notebook breaks the exercise convention (see :mod:`mlrkit.exercises`)."""


class StudentFolderError(MlrkitError, FileExistsError):
    """The student versions would be written over the teacher's notebooks or foreign files."""


@dataclass(frozen=True)
class Exercise:
    """One exercise of a notebook, as :func:`exercise_cells` finds it.

    Attributes:
        number: its number, counting the ``solution`` cells from 1.
        task: the short task of the solution's first line (``""`` when that line is malformed).
        solution: the index of its ``solution`` cell in ``nb.cells``.
        checks: the indices of its ``check`` cells (empty: none follows the solution).
        names: what the solution defines at top level that its check cells read, in the order
            the solution defines them.
    """

    number: int
    task: str
    solution: int
    checks: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def title(self) -> str:
        """``"Exercise N: <task>"``, the placeholder's message."""
        return f"Exercise {self.number}: {self.task}"


def _source(cell: Any) -> str:
    source = cell.get("source", "")  # a list of lines in the JSON, one string once read
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", None) or [])


def _first_line(source: str) -> tuple[str, re.Match[str] | None]:
    """The solution's first line and its match of ``# Exercise N: <task>``."""
    first = source.splitlines()[0].rstrip() if source.strip() else ""
    return first, _FIRST_LINE.fullmatch(first)


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree; ``None`` when it is no plain Python (IPython magics, errors)."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _defined(tree: ast.Module | None) -> list[str]:
    """Names bound at top level (not inside functions, classes or comprehensions), in order."""
    names: list[str] = []
    stack = list(reversed(tree.body)) if tree else []
    while stack:
        node = stack.pop()
        found: list[str] = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found = [node.id]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found = [node.name]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            found = [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
        names += [n for n in found if n not in names]
        if not isinstance(node, _SCOPES):
            stack += reversed(list(ast.iter_child_nodes(node)))
    return names


def _read(tree: ast.Module | None) -> set[str]:
    """Names read anywhere in the cell."""
    if tree is None:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _header(source: str) -> list[str]:
    """The first line and the comment lines directly below it."""
    lines = source.splitlines()
    return lines[:1] + list(itertools.takewhile(lambda x: x.lstrip().startswith("#"), lines[1:]))


def _groups(nb: Any) -> tuple[list[tuple[int, list[int]]], list[str]]:
    """``(solution index, check indices)`` of each exercise, and the misplaced tags."""
    groups: list[tuple[int, list[int]]] = []
    problems = []
    open_ = False  # whether check cells may still join the last exercise
    for index, cell in enumerate(nb.cells):
        tags, kind, where = _tags(cell), cell.get("cell_type"), f"cells[{index}]"
        if SOLUTION in tags and CHECK in tags:
            problems.append(f"{where} is tagged both solution and check; keep one")
        if kind != "code":
            wrong = [t for t in (SOLUTION, CHECK) if t in tags]
            problems += [f"{where} is a {kind} cell tagged {t}; tag a code cell" for t in wrong]
        elif SOLUTION in tags:
            groups.append((index, []))
            open_ = True
        elif CHECK in tags and open_:
            groups[-1][1].append(index)
        elif CHECK in tags:
            msg = "no solution cell before it (only markdown and check cells may stand between)"
            problems.append(f"{where} is tagged check but there is {msg}")
        else:
            open_ = False
    return groups, problems


def _scan(nb: Any) -> tuple[list[Exercise], list[str]]:
    """The exercises of ``nb`` and the problems with the convention."""
    groups, problems = _groups(nb)
    exercises = []
    for number, (index, checks) in enumerate(groups, start=1):
        source, where = _source(nb.cells[index]), f"cells[{index}] (exercise {number}'s solution)"
        problems += _solution_problems(nb, index, number, where)
        if not checks:
            msg = "is not followed by a code cell tagged check (only markdown may stand between)"
            problems.append(f"{where} {msg}")
        for i in checks:
            problems += _check_problems(_source(nb.cells[i]), f"cells[{i}]", number)
        read = set().union(*(_read(_parse(_source(nb.cells[i]))) for i in checks))
        names = tuple(n for n in _defined(_parse(source)) if n in read)
        task = match.group(2) if (match := _first_line(source)[1]) else ""
        exercises.append(Exercise(number, task, index, tuple(checks), names))
    problems.sort(key=lambda problem: int(problem[len("cells[") : problem.index("]")]))
    return exercises, problems


def _solution_problems(nb: Any, index: int, number: int, where: str) -> list[str]:
    """What is wrong with the solution cell ``nb.cells[index]`` of exercise ``number``."""
    source = _source(nb.cells[index])
    (first, match), problems = _first_line(source), []
    if match is None:
        problems.append(
            f"{where}: the first line must be '# Exercise {number}: <short task>', found {first!r}"
        )
    elif int(match.group(1)) != number:
        order = "exercises are numbered 1, 2, 3, ... in order of their solution cells"
        fix = f"# Exercise {number}: {match.group(2)}"
        problems.append(f"{where} says 'Exercise {match.group(1)}'; {order}, so write `{fix}`")
    body = source.splitlines()[len(_header(source)) :]
    if not any(line.strip() and not line.lstrip().startswith("#") for line in body):
        problems.append(f"{where} holds no code below its comment lines; write the solution")
    if index == 0 or nb.cells[index - 1].get("cell_type") != "markdown":
        problems.append(f"{where} has no markdown cell with the task directly above it")
    return problems


def _check_problems(source: str, where: str, number: int) -> list[str]:
    """What is wrong with a check cell of exercise ``number``: no test, an assert without a
    message (skipped for cells that are no plain Python)."""
    tree = _parse(source)
    if tree is None:
        return []
    nodes = list(ast.walk(tree))
    asserts = [n for n in nodes if isinstance(n, ast.Assert)]
    calls = [n.func for n in nodes if isinstance(n, ast.Call)]
    called = {f.id if isinstance(f, ast.Name) else getattr(f, "attr", "") for f in calls}
    tests = asserts or any(isinstance(n, ast.Raise) for n in nodes)
    if not tests and not any(name.startswith("assert") for name in called):
        fix = 'assert cond, "what is wrong and what to look at"'
        return [f"{where} (exercise {number}'s check) tests nothing; write `{fix}`"]
    return [
        f"{where} (exercise {number}'s check): the assert on its line {n.lineno} has no message; "
        "add one that tells the student what is wrong"
        for n in asserts
        if n.msg is None
    ]


def exercise_cells(nb: Any) -> list[Exercise]:
    """The exercises of the notebook ``nb`` (an ``nbformat`` notebook, version 4), numbered in
    order of their ``solution`` cells, each with its check cells. Found as well as the cells
    allow when the convention is broken; :func:`check_exercises` says where."""
    return _scan(nb)[0]


def check_exercises(nb: Any) -> list[str]:
    """Where the notebook ``nb`` breaks the exercise convention of :mod:`mlrkit.exercises`, one
    sentence each naming the cell (``cells[i]``, counted from 0, markdown included) and the fix;
    ``[]`` when it follows it (a notebook without exercises does)."""
    return _scan(nb)[1]


def is_student_version(nb: Any) -> bool:
    """Whether ``nb`` (a notebook or its JSON as a dict) carries the student version's mark."""
    mark = nb.get("metadata", {}).get("mlrkit", {})
    return isinstance(mark, dict) and mark.get("student") is True


def _placeholder(exercise: Exercise, source: str) -> str:
    if exercise.names:
        it = "it" if len(exercise.names) == 1 else "them"
        hint = f"# Your code: define {', '.join(exercise.names)} (the check below reads {it})."
    else:
        hint = "# Your code here (the check below says what it expects)."
    # A JSON string is a Python string literal too, in double quotes as a person writes it.
    message = json.dumps(exercise.title, ensure_ascii=False)
    return "\n".join([*_header(source), hint, f"raise NotImplementedError({message})"])


def student_version(nb: Any) -> Any:
    """A copy of the notebook ``nb`` for students: each ``solution`` cell's code replaced by its
    placeholder (see :mod:`mlrkit.exercises`), every code cell's outputs and execution count
    cleared, the metadata marked ``"mlrkit": {"student": true}``; ``nb`` is not changed.

    Raises:
        ExerciseError: ``nb`` breaks the convention (:func:`check_exercises`), or is a student
            version already.

    Example:
        >>> from nbformat import v4
        >>> solution, check = {"tags": ["solution"]}, {"tags": ["check"]}
        >>> nb = v4.new_notebook(cells=[
        ...     v4.new_markdown_cell("Set `x` to the answer."),
        ...     v4.new_code_cell("# Exercise 1: the answer\\nx = 42", metadata=solution),
        ...     v4.new_code_cell('assert x == 42, f"x is {x}"', metadata=check),
        ... ])
        >>> print(student_version(nb).cells[1].source)
        # Exercise 1: the answer
        # Your code: define x (the check below reads it).
        raise NotImplementedError("Exercise 1: the answer")
    """
    if is_student_version(nb):
        raise ExerciseError("a student version already; start from the teacher's notebook")
    exercises, problems = _scan(nb)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ExerciseError(
            f"{problems[0]}{more}; mlrkit.exercises.check_exercises(nb) lists them all"
        )
    student = copy.deepcopy(nb)
    for exercise in exercises:
        cell = student.cells[exercise.solution]
        cell["source"] = _placeholder(exercise, _source(cell))
    for cell in student.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    mark = student.metadata.get("mlrkit")
    student.metadata["mlrkit"] = {**(mark if isinstance(mark, dict) else {}), "student": True}
    return student


def _is_student_file(path: Path) -> bool:
    try:
        return is_student_version(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError):
        return False


def write_student_notebooks(source_folder: str | Path, out_folder: str | Path) -> list[Path]:
    """Write the student version of every numbered notebook (``[0-9]*.ipynb``) of
    ``source_folder`` to ``out_folder`` under the same name (created if missing), each file
    atomically (a temporary file beside it, then ``os.replace``). All notebooks are read and
    checked, and all targets looked at, before the first file is written.

    Returns:
        The paths written, in the notebooks' order.

    Raises:
        StudentFolderError: ``out_folder`` is ``source_folder`` or a file, or a file it would
            replace is not a student version (no ``"mlrkit": {"student": true}`` mark).
        ExerciseError: no numbered notebook in ``source_folder``, or one breaks the exercise
            convention or cannot be read (the message names the file).
    """
    import nbformat

    source, out = Path(source_folder), Path(out_folder)
    paths = sorted(source.glob(_NUMBERED))
    if not paths:
        raise ExerciseError(f"no {_NUMBERED} in {source}; give the teacher's notebooks' folder")
    if out.exists() and not out.is_dir():
        raise StudentFolderError(f"{out} is a file; give a folder for the student notebooks")
    if out.resolve() == source.resolve():
        msg = "is the teacher's notebooks' folder; write the student versions to another one"
        raise StudentFolderError(f"{out} {msg}")
    students = []
    for path in paths:
        try:
            students.append(student_version(nbformat.read(path, as_version=4)))
        except ExerciseError as err:
            raise ExerciseError(f"{path}: {err}") from None
        except (OSError, ValueError) as err:  # unreadable, not JSON, not a notebook
            raise ExerciseError(
                f"{path} cannot be read as a notebook ({err}); fix or remove it"
            ) from None
    targets = [out / path.name for path in paths]
    for target in targets:
        if target.exists() and not _is_student_file(target):
            msg = "exists and is not a student version; move it away or choose another folder"
            raise StudentFolderError(f"{target} {msg}")
    out.mkdir(parents=True, exist_ok=True)
    for student, target in zip(students, targets, strict=True):
        text = nbformat.writes(student)
        write_text(target, text if text.endswith("\n") else text + "\n")
    return targets
