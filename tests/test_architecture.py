"""The core (monitor/, drivers/) never imports Qt; only ui/ does; the import contracts hold and can fail."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_copy(tmp_path: Path, edit: tuple[str, str] | None) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on a copy of the tree, with one line added to one module (or none)."""
    for package in ("monitor", "drivers", "ui"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if edit is not None:
        module, line = edit
        path = tmp_path / module
        path.write_text(path.read_text() + f"\n{line}\n")
    # The copy comes first on the path, so the contracts are checked against it, not the installed tree.
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)


def test_the_contracts_hold_on_an_unchanged_copy(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("drivers/core/readings.py", "import monitor.session  # noqa", "Layers point down: ui, monitor, drivers"),
        ("drivers/base.py", "from monitor.plan import SessionPlan  # noqa", "Layers point down: ui, monitor, drivers"),
        ("monitor/store/queries.py", "import ui.app  # noqa", "The core never imports Qt"),
        ("drivers/nonin/codec.py", "import drivers.masimo.codec  # noqa", "Device folders are independent"),
        ("drivers/core/clock.py", "import drivers.transport.serial_link  # noqa", "Inside drivers, layers point down"),
        ("ui/session_text.py", "from monitor.cli import main  # noqa",
         "The windows and the application layer never import the command line"),
    ],
)
def test_a_forbidden_import_breaks_the_build_naming_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    result = _lint_copy(tmp_path, (module, line))
    assert result.returncode != 0
    # The summary lists each contract once, then KEPT or BROKEN (long names wrap onto a second line).
    summary = " ".join(result.stdout.split("Contracts\n---------")[-1].split())
    assert f"{contract} BROKEN" in summary, result.stdout
