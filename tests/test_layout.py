"""The architecture's rules, checked on the source: layers, self-contained docs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlrkit"
# Layer 1 (the science) may import layer 0 and each other, never the training side, the use of
# finished runs, the feature-space tools or the command line.
SCIENCE = ("data", "models", "losses", "metrics")
HIGHER = (
    "train", "runs", "explore", "viz", "ablation", "ablation_tables", "notebook", "cli", "presets",
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
        if name in ("runs", "explore", "viz", "ablation", "ablation_tables", "notebook", "cli")
    ]
    assert offenders == []


def test_nothing_refers_to_files_a_clone_does_not_have() -> None:
    texts = [*ROOT.glob("*.md"), *ROOT.glob("docs/*.md"), *ROOT.glob("data/*.md")]
    texts += [*PACKAGE.rglob("*.py"), *(ROOT / "tests").glob("*.py"), *ROOT.glob("benchmarks/*.py")]
    pattern = re.compile(r"\.\./shared|METHOD" + r"\.md")  # split so this file does not match
    offenders = [str(p.relative_to(ROOT)) for p in texts if pattern.search(p.read_text())]
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
