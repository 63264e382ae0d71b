"""The package's shape as docs/architecture.md states it: module sizes and who may import the simulator.

The layer contracts themselves are import-linter's (pyproject.toml), run by ./scripts/test; these checks
cover what import-linter cannot: sizes, and imports written inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sbems"
MAX_MODULE_LINES = 500
MAX_TASK_MODULE_LINES = 300
MAY_IMPORT_SIM = ("sim", "local", "cli.py")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_package_has_modules():
    assert len(_modules()) > 50


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_size(path: Path):
    limit = MAX_TASK_MODULE_LINES if path.parent.name == "tasks" else MAX_MODULE_LINES
    assert _line_count(path) <= limit, f"{path.relative_to(PACKAGE)}: over {limit} lines"


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # walks function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_only_sim_local_and_cli_import_the_simulator():
    offenders = []
    for path in _modules():
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in MAY_IMPORT_SIM:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{relative}: {m}" for m in _imported_modules(tree) if m.startswith("sbems.sim")]
    assert offenders == []


def test_the_panel_imports_no_database_code():
    offenders = []
    for path in (PACKAGE / "ui").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{path.relative_to(PACKAGE)}: {m}"
            for m in _imported_modules(tree)
            if m.split(".")[0] in ("psycopg", "psycopg_pool") or m.startswith("sbems.storage")
        ]
    assert offenders == []
