"""The set-up files agree with each other and with what is installed.

`pyproject.toml` is the single source of the dependency list; `environment.yml` must build the same
environment by installing this package (with its dev extras) through pip, the Makefile and CI must
go through the README's two commands.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _requirements(pyproject: dict) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def test_environment_yml_builds_this_package_with_dev_extras(environment: dict) -> None:
    deps = environment["dependencies"]
    names = [d.split("=")[0].strip() for d in deps if isinstance(d, str)]
    assert "python" in names and "pip" in names
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    pip_lines = [
        line.replace(" ", "").replace('"', "").replace("'", "") for line in pip_sections[0]
    ]
    # The package itself with [dev] is what brings the pinned stack: nothing is listed twice.
    assert pip_lines == ["-e.[dev]"], pip_lines


def test_environment_python_satisfies_requires_python(environment: dict, pyproject: dict) -> None:
    python = next(
        d for d in environment["dependencies"] if isinstance(d, str) and d.startswith("python")
    )
    version = Version(re.split(r"[=<>]+", python, maxsplit=1)[1])
    assert version in SpecifierSet(pyproject["project"]["requires-python"])


def test_torch_and_torchvision_are_a_pinned_matching_pair(pyproject: dict) -> None:
    reqs = _requirements(pyproject)
    torch_spec, vision_spec = reqs["torch"].specifier, reqs["torchvision"].specifier
    # 2.14.x pairs with 0.29.x; anything outside either minor must be refused.
    assert Version("2.14.1") in torch_spec and Version("2.15.0") not in torch_spec
    assert Version("2.13.0") not in torch_spec
    assert Version("0.29.2") in vision_spec and Version("0.28.0") not in vision_spec
    assert Version("0.30.0") not in vision_spec


def test_installed_packages_satisfy_pyproject(pyproject: dict) -> None:
    reqs = list(_requirements(pyproject).values())
    reqs += [Requirement(r) for r in pyproject["project"]["optional-dependencies"]["dev"]]
    for req in reqs:
        installed = Version(importlib.metadata.version(req.name))
        # Local version labels (+cu130) do not take part in the comparison.
        assert Version(installed.public) in req.specifier, f"{req.name} {installed} vs {req}"


def test_makefile_and_ci_go_through_the_readme_commands() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "lab"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"Makefile lacks '{target}'"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


def test_requires_python_admits_only_versions_the_code_runs_on(pyproject: dict) -> None:
    # tomllib (used here) and the typing the library relies on need Python 3.11.
    spec = SpecifierSet(pyproject["project"]["requires-python"])
    assert Version("3.10.14") not in spec and Version("3.11.0") in spec
    assert pyproject["tool"]["ruff"]["target-version"] == "py311"
