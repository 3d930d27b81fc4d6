"""The dependency rule (STYLE habit 1): the domain and routing core import no web framework,
database driver, storage, API or CLI module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import convroute

PACKAGE = Path(convroute.__file__).parent
PURE = ["domain", "routing", "sim", "evaluation"]
ALLOWED_THIRD_PARTY = {"phonenumbers", "numpy"}
FORBIDDEN_INTERNAL = (
    "convroute.storage",
    "convroute.api",
    "convroute.cli",
    "convroute.bootstrap",
    "convroute.services",
    "convroute.config",
)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_core_imports_only_stdlib_and_pure_libraries(package: str) -> None:
    import sys

    offenders = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in imports_of(path):
            top = name.split(".")[0]
            third_party = top not in sys.stdlib_module_names and top != "convroute"
            if name.startswith(FORBIDDEN_INTERNAL) or (
                third_party and top not in ALLOWED_THIRD_PARTY
            ):
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sqlalchemy\nfrom convroute.storage import schema\n")
    assert imports_of(bad) == {"sqlalchemy", "convroute.storage"}


def test_public_api_is_pinned() -> None:
    assert convroute.__all__ == ["__version__"]
