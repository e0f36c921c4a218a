"""DESIGN §6: the sans-IO core modules import no asyncio, sockets, clocks, randomness, os or sqlite3."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import imcluster

CORE_MODULES = ("_hlc", "_state", "_events", "_wire", "_auth", "_hub", "_access", "_config",
                "_offers", "_clientcore")
FORBIDDEN = {"asyncio", "socket", "time", "random", "os", "sqlite3", "selectors", "threading",
             "subprocess", "datetime", "secrets", "harness"}
PACKAGE_DIR = Path(imcluster.__file__).parent


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__"):
            roots.add("__import__")
    return roots


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_nothing_impure(module: str) -> None:
    source = (PACKAGE_DIR / f"{module}.py").read_text(encoding="utf-8")
    bad = imported_roots(source) & (FORBIDDEN | {"__import__"})
    assert not bad, f"imcluster/{module}.py imports {sorted(bad)}"


def test_the_check_itself_catches_forbidden_imports() -> None:
    assert imported_roots("import time\nfrom asyncio import sleep\nimport os.path") == {
        "time", "asyncio", "os"}


def test_imcluster_imports_nothing_from_harness() -> None:
    for path in PACKAGE_DIR.glob("*.py"):
        assert "harness" not in imported_roots(path.read_text(encoding="utf-8")), path.name
