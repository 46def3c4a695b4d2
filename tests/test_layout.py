"""The architecture's rules, checked on the source: layers, self-contained docs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlrkit"
# Layer 1 (the science) may import layer 0 and each other, never the training side, the use of
# finished runs, the feature-space tools or the command line.
SCIENCE = ("data", "models", "losses", "metrics")
HIGHER = (
    "train", "runs", "explore", "audit", "viz", "ablation", "ablation_tables", "notebook",
    "exercises", "cli", "presets",
)  # fmt: skip
IMPORT = re.compile(r"^\s*(?:from|import)\s+mlrkit\.(\w+)", re.M)


@pytest.mark.parametrize("package", SCIENCE)
def test_science_packages_never_import_a_higher_layer(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports mlrkit.{name}"
        for path in sorted((PACKAGE / package).rglob("*.py"))
        for name in IMPORT.findall(path.read_text())
        if name in HIGHER
    ]
    assert offenders == []


def test_the_training_side_never_imports_the_tools_built_on_it() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports mlrkit.{name}"
        for path in sorted((PACKAGE / "train").rglob("*.py"))
        for name in IMPORT.findall(path.read_text())
        if name
        in ("runs", "explore", "audit", "viz", "ablation", "ablation_tables", "notebook", "cli")
    ]
    assert offenders == []


def test_nothing_refers_to_files_a_clone_does_not_have() -> None:
    texts = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("data/*.md")]
    texts += [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"), *ROOT.glob("benchmarks/*.py")]
    pattern = re.compile(r"\.\./shared|METHOD" + r"\.md")  # split so this file does not match
    offenders = [str(p.relative_to(ROOT)) for p in texts if pattern.search(p.read_text())]
    assert offenders == []


# ---------------------------------------------------------------- private modules and names


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imports(module: str, is_package: bool, source: str) -> list[tuple[int, str, list[str]]]:
    """``(line, absolute module, names imported from it)`` of every import in ``source``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.level else [node.module or ""])
            if node.module is None:  # `from . import name`: each name is a module
                found += [(node.lineno, f"{target}.{a.name}", []) for a in node.names]
            else:
                found.append((node.lineno, target, [a.name for a in node.names]))
    return found


def _privacy_offences(module: str, is_package: bool, source: str) -> list[str]:
    """Imports of another package's private module, of ``mlrkit._x``, or of a private name."""
    offences = []
    for line, target, names in _imports(module, is_package, source):
        parts = target.split(".")
        if parts[0] != "mlrkit":
            continue
        for i, part in enumerate(parts[1:], start=1):
            owner = ".".join(parts[:i])  # the package the private module belongs to
            inside = owner != "mlrkit" and f"{module}.".startswith(f"{owner}.")
            if _is_private(part) and not inside:
                offences.append(f"{module}:{line} imports the private module {target}")
                break
        offences += [
            f"{module}:{line} imports the private name {name} from {target}"
            for name in names
            if _is_private(name)
        ]
    return offences


@pytest.mark.parametrize(
    ("module", "source", "offending"),
    [
        ("mlrkit.viz.data", "from mlrkit.metrics._inputs import as_targets", True),
        ("mlrkit.viz.data", "import mlrkit.explore._rows", True),
        ("mlrkit.viz.data", "from mlrkit._arrays import to_numpy", True),
        ("mlrkit.explore._rows", "from mlrkit._arrays import to_numpy", True),
        ("mlrkit.viz.samples", "from mlrkit.viz.data import _class_list", True),
        ("mlrkit.viz.samples", "from mlrkit.viz.data import (\n    x,\n    _y,\n)", True),
        ("mlrkit.metrics.ranking", "from .._arrays import to_numpy", True),
        ("mlrkit.metrics.ranking", "from ._inputs import _private", True),
        ("mlrkit.metrics.ranking", "from ._warnings import warn_left_out", False),
        ("mlrkit.explore.separation", "from mlrkit.explore._rows import OVERALL", False),
        ("mlrkit.explore.umap_cache", "from mlrkit.explore._umap_fit import fit as _fit", False),
        ("mlrkit.viz.data", "from mlrkit.inputs import as_targets", False),
    ],
)
def test_the_privacy_check_sees_what_it_should(module: str, source: str, offending: bool) -> None:
    assert bool(_privacy_offences(module, False, source)) == offending


def test_no_module_imports_a_private_module_or_name_it_does_not_own() -> None:
    offenders = [
        offence
        for path in sorted(PACKAGE.rglob("*.py"))
        for offence in _privacy_offences(
            _module_name(path), path.name == "__init__.py", path.read_text()
        )
    ]
    assert offenders == []


def test_the_input_layer_imports_only_errors_numpy_torch_and_the_standard_library() -> None:
    allowed = {"numpy", "torch", *sys.stdlib_module_names}
    paths = sorted((PACKAGE / "inputs").rglob("*.py"))
    assert paths, "mlrkit/inputs is missing"
    offenders = []
    for path in paths:
        module = _module_name(path)
        for line, target, _ in _imports(module, path.name == "__init__.py", path.read_text()):
            top = target.split(".")[0]
            own = target == "mlrkit.errors" or f"{target}.".startswith("mlrkit.inputs.")
            if (top == "mlrkit" and not own) or (top != "mlrkit" and top not in allowed):
                offenders.append(f"{module}:{line} imports {target}")
    assert offenders == []


def _module_graph() -> dict[str, set[str]]:
    """mlrkit module -> the mlrkit modules it imports when it is imported (module level, and
    ``if TYPE_CHECKING:`` blocks: a cycle there is a cycle of the design)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        nodes = [n for t in tree.body for n in ([t, *t.body] if isinstance(t, ast.If) else [t])]
        edges: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, base] if base else kept)
                if base.startswith("mlrkit"):
                    edges |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                              for a in node.names}  # fmt: skip
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("mlrkit")}
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def test_no_import_cycle() -> None:
    graph = _module_graph()
    cycles = []

    def visit(node: str, path: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in path:
                cycles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in done:
                visit(nxt, [*path, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert cycles == []


def test_every_module_is_at_most_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_plots_never_load_runs_and_explore_never_imports_the_run_object() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports mlrkit.{name}"
        for package, banned in (
            ("viz", ("train", "runs", "explore", "ablation", "demo", "notebook", "cli")),
            ("explore", ("runs", "ablation", "demo", "notebook", "cli")),
            # the suspicions and their measurement take arrays; the run-level audit
            # (crossfit, report, bench) opens runs like the rest of layer 3
            ("audit/suspicion.py", ("train", "runs", "ablation", "demo", "notebook", "cli")),
            ("audit/detection.py", ("train", "runs", "ablation", "demo", "notebook", "cli")),
        )
        for path in (
            [PACKAGE / package]
            if package.endswith(".py")
            else sorted((PACKAGE / package).rglob("*.py"))
        )  # fmt: skip
        for name in IMPORT.findall(path.read_text())
        if name in banned
    ]
    assert offenders == []


# --- The command line is the top layer and the only one that prints ------------------------------

CLI = PACKAGE / "cli"


def test_only_the_command_line_prints() -> None:
    """The library returns what it did or logs it (``logging``); printing is for ``mlrkit.cli``.

    Any use of the name ``print`` counts (a call, or ``say = print``); docstrings do not.
    """
    offenders = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if CLI not in path.parents
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Name) and node.id == "print"
    ]
    assert offenders == []


def test_nothing_below_the_command_line_imports_it() -> None:
    below = [p for p in PACKAGE.rglob("*.py") if CLI not in p.parents]
    offenders = [
        f"{path.relative_to(ROOT)} imports mlrkit.cli"
        for path in sorted(below)
        if path != PACKAGE / "__main__.py"  # `python -m mlrkit`: the command line's entry point
        and "cli" in IMPORT.findall(path.read_text())
    ]
    assert offenders == []
    assert not (PACKAGE / "cli.py").exists() and not (PACKAGE / "cli_args.py").exists()
    assert not (PACKAGE / "demo.py").exists()  # now mlrkit.notebook and mlrkit.cli.demo
