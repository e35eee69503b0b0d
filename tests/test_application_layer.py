"""The windows reach the core through the application layer, never through the command line."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _ui_graph() -> dict[str, set[str]]:
    return {
        f"ui.{path.stem}": {name for name in _imports(path) if name.startswith("ui.")}
        for path in (REPO_ROOT / "ui").glob("*.py")
    }


def test_no_window_imports_the_command_line() -> None:
    offenders = [
        f"{path.relative_to(REPO_ROOT)} imports {name}"
        for path in sorted((REPO_ROOT / "ui").glob("*.py"))
        for name in _imports(path)
        if name == "monitor.cli" or name.startswith("monitor.cli.")
    ]
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles among modules (each found once, from its smallest member)."""
    found: list[list[str]] = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                found.append([*path, start])
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def test_the_windows_import_each_other_one_way_only() -> None:
    assert _cycles(_ui_graph()) == []


def test_the_cycle_finder_sees_a_cycle() -> None:
    graph = {"ui.a": {"ui.b"}, "ui.b": {"ui.c"}, "ui.c": {"ui.a"}, "ui.d": {"ui.a"}}
    assert _cycles(graph) == [["ui.a", "ui.b", "ui.c", "ui.a"]]
