"""The core (monitor/, drivers/) never imports Qt; only ui/ does; the import contracts hold and can fail."""

from __future__ import annotations

import ast
import os
import re
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


def test_the_command_line_and_every_export_format_load_no_numpy() -> None:
    """Exports and record checks run as processes of their own; numpy (15 MB, 0.1 s) is for the review chart."""
    code = (
        "import sys\n"
        "import monitor.cli, monitor.exports, monitor.background_verify, monitor.integrity\n"
        "from monitor.exports import writer\n"
        "for fmt in ('csv', 'csv-events', 'csv-alarms', 'json', 'hl7', 'fhir', 'pdf'):\n"
        "    writer(fmt)\n"
        "print('numpy' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    # numpy is still there for the review chart after the store was imported without it.
    code = "import monitor.store, numpy, monitor.review_arrays; print(numpy.float64(1.5) + 1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "2.5", result.stderr


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


# -- SQL lives only in the stores ------------------------------------------------------------

#: Where SQL may be written: the chair's store, and the server's store (its schema, its reads, its writes).
SQL_HOMES = (
    "monitor/store/",
    "monitor/replication/schema.py",
    "monitor/replication/server_store.py",
    "monitor/replication/server_writes.py",
)

#: Database calls: DB-API cursors and connections, sqlite-utils' ``query``, psycopg's ``sql.SQL``.
_SQL_CALLS = frozenset({"execute", "executemany", "executescript", "query", "SQL"})
#: sqlite-utils' table objects (``db["name"]``, ``db.table(...)``) on something called ``db``.
_DB_NAMES = frozenset({"db", "database"})
_SQL_TEXT = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\b(CREATE|ALTER|DROP)\s+(TABLE|INDEX|UNIQUE\s+INDEX|TRIGGER|VIEW|DATABASE|ROLE|POLICY)\b"
    r"|\bPRAGMA\s+\w+|^\s*(BEGIN(\s+IMMEDIATE)?|COMMIT|ROLLBACK|VACUUM)\s*$|^\s*(LISTEN|NOTIFY|GRANT|REVOKE)\s",
    re.DOTALL,
)


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string nodes that are docstrings (prose about SQL is allowed anywhere)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def sql_in_file(path: Path) -> list[tuple[int, str]]:
    """``(line, what)`` for each database call or SQL text in one source file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    # An f-string is judged whole; its literal parts are not judged again on their own.
    docstrings |= {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
            name = _name_of(node.func)
            if name in _SQL_CALLS:
                found.append((node.lineno, f"calls {name}()"))
            elif (name == "table" and isinstance(node.func, ast.Attribute)
                  and _name_of(node.func.value) in _DB_NAMES):
                found.append((node.lineno, "opens a sqlite-utils table"))
        elif (isinstance(node, ast.Subscript) and _name_of(node.value) in _DB_NAMES
              and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
            found.append((node.lineno, f"opens the sqlite-utils table {node.slice.value!r}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _SQL_TEXT.search(node.value):
                found.append((node.lineno, f"SQL text {node.value[:40]!r}"))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values)
            if _SQL_TEXT.search(text):
                found.append((node.lineno, f"SQL text {text[:40]!r}"))
    return sorted(set(found))


def sql_outside_homes(root: Path, allowed: tuple[str, ...]) -> list[str]:
    """``file:line: what`` for every piece of SQL in monitor/, drivers/ and ui/ outside ``allowed`` paths."""
    offenders = []
    for package in ("monitor", "drivers", "ui"):
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative.startswith(allowed):
                continue
            offenders += [f"{relative}:{line}: {what}" for line, what in sql_in_file(path)]
    return offenders


def test_sql_is_written_only_in_the_stores() -> None:
    offenders = sql_outside_homes(REPO_ROOT, SQL_HOMES)
    assert offenders == [], "SQL outside the stores (move it into monitor/store/):\n" + "\n".join(offenders)


def test_the_sql_check_names_each_offence_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "monitor" / "store").mkdir(parents=True)
    (tmp_path / "ui").mkdir()
    (tmp_path / "monitor" / "store" / "rows.py").write_text('db.execute("SELECT id FROM sessions")\n')
    (tmp_path / "monitor" / "domain.py").write_text(
        '"""Reads SELECT x FROM y in prose only."""\n'
        "def f(conn, db, table):\n"
        '    conn.execute("PRAGMA foreign_keys = OFF")\n'
        "    rows = db['users'].rows\n"
        '    return f"DELETE FROM {table} WHERE id = 1"\n'
    )
    (tmp_path / "ui" / "window.py").write_text(
        "HINT = 'Select a patient from the list'\n"
        "def trend(cursor):\n"
        "    return cursor.executemany(STATEMENT, [])\n"
    )
    assert sql_outside_homes(tmp_path, ("monitor/store/",)) == [
        "monitor/domain.py:3: SQL text 'PRAGMA foreign_keys = OFF'",
        "monitor/domain.py:3: calls execute()",
        "monitor/domain.py:4: opens the sqlite-utils table 'users'",
        "monitor/domain.py:5: SQL text 'DELETE FROM {} WHERE id = 1'",
        "ui/window.py:3: calls executemany()",
    ]


def test_the_sql_check_knows_the_moved_modules() -> None:
    # Each module the check allows exists: a renamed store module cannot silently widen the allowance.
    for home in SQL_HOMES:
        assert (REPO_ROOT / home).exists(), home
    # and the modules whose SQL moved into the stores would be caught if it came back.
    assert sql_in_file(REPO_ROOT / "monitor" / "store" / "accounts.py")
    assert sql_in_file(REPO_ROOT / "monitor" / "store" / "outbox.py")
    assert sql_in_file(REPO_ROOT / "monitor" / "store" / "chain.py")
