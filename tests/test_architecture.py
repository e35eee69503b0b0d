"""The core (monitor/, drivers/) never imports Qt; only ui/ does."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

QT_MODULES = ("PySide6", "pyqtgraph", "PyQt5", "PyQt6", "shiboken6", "ui")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_core_source_file_imports_qt() -> None:
    offenders = []
    for package in ("monitor", "drivers"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            for name in _imports(path):
                if name.split(".")[0] in QT_MODULES:
                    offenders.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    assert offenders == []


def test_importing_every_core_module_loads_no_qt() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import monitor, drivers\n"
        "for pkg in (monitor, drivers):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_the_checker_itself_sees_a_qt_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from PySide6.QtCore import QObject\nimport pyqtgraph as pg\n")
    assert [n.split(".")[0] for n in _imports(sample)] == ["PySide6", "pyqtgraph"]
