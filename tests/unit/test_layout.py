"""The house's layout: rooms small enough to read in one sitting, each saying what it is for."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
COMMAND = ROOT / "rds_xacct_cli"
"""The operator command: a house of its own, on the same rules."""
MAX_LINES = 300
MODULES = sorted([*FUNCTIONS.rglob("*.py"), *COMMAND.rglob("*.py")])
PACKAGES = sorted(p.parent for root in (FUNCTIONS, COMMAND) for p in root.rglob("__init__.py"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_longer_than_a_sitting(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    assert lines <= MAX_LINES, f"{module.relative_to(ROOT)} has {lines} lines"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_room_says_what_lives_there_and_what_it_may_import(package: Path) -> None:
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert doc, f"{package.relative_to(ROOT)}/__init__.py has no docstring"
    if package.name != "rds_xacct":
        assert "import" in doc, f"{package.name}'s docstring does not say what it may import"


def test_the_operator_command_is_a_room_of_its_own() -> None:
    assert COMMAND / "__init__.py" in [p / "__init__.py" for p in PACKAGES]
