"""When an opening reads the whole database file (``PRAGMA quick_check``) and when it does not.

Each such read costs about a second per GiB (1.46 s at 1.63 GiB), and every process read the file whole at every
opening: a recording's start, a window, each export. An opening now reads it only where it may have been damaged
since this program left it whole: a process of it ended without closing it, or something else changed the file.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from monitor.store import Store
from tests.conftest import record_simulated

REPO_ROOT = Path(__file__).resolve().parents[2]


def _opened(path: Path, *, readonly: bool = False) -> str | None:
    with Store(path, readonly=readonly) as store:
        return store.checked_whole


def test_an_open_after_a_clean_close_reads_no_whole_file(db_path: Path, file_checks: list[tuple[str, bool]]) -> None:
    record_simulated(db_path)
    _opened(db_path)  # the first open of a file this version never closed checks it
    file_checks.clear()
    for readonly in (False, True, False):
        assert _opened(db_path, readonly=readonly) is None
    assert file_checks == [], "an ordinary open after a clean close read the whole file"


def test_an_open_after_a_process_ended_without_closing_reads_the_file_whole(
    db_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    record_simulated(db_path)
    _opened(db_path)
    killed = ("import os, sys\nfrom monitor.store import Store\nstore = Store(sys.argv[1])\n"
              "store.audit('noted', user='RN')\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", killed, str(db_path)], check=True, cwd=REPO_ROOT)
    file_checks.clear()
    assert _opened(db_path) == "1 store(s) ended without closing it"
    assert len(file_checks) == 1
    assert _opened(db_path) is None, "checked whole after the crash, the file counts as left whole again"
    assert len(file_checks) == 1


def test_a_file_written_by_something_else_is_read_whole(db_path: Path, file_checks: list[tuple[str, bool]]) -> None:
    record_simulated(db_path)
    _opened(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE elsewhere (x)")
    conn.commit()
    conn.close()
    file_checks.clear()
    assert _opened(db_path, readonly=True) == "changed since this program closed it"
    assert _opened(db_path) == "changed since this program closed it"
    assert len(file_checks) == 2
    assert _opened(db_path) is None


def test_a_store_open_in_another_process_spares_the_next_opening_the_whole_file(
    db_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    """An export or a window beside a recording: the recording's process has the file open (and checks it)."""
    record_simulated(db_path)
    _opened(db_path)
    held = subprocess.Popen([sys.executable, "-c", "import sys\nfrom monitor.store import Store\n"
                             "store = Store(sys.argv[1])\nprint('open', flush=True)\nsys.stdin.read()\n"
                             "store.close()\n", str(db_path)],
                            cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert held.stdout is not None and held.stdout.readline().strip() == "open"
        file_checks.clear()
        assert _opened(db_path) is None
        assert file_checks == []
    finally:
        held.communicate("")
    assert held.returncode == 0
    assert _opened(db_path) is None


def test_marks_are_removed_when_stores_close(db_path: Path) -> None:
    with Store(db_path):
        pass
    folder = db_path.with_name(db_path.name + ".locks")
    assert sorted(os.listdir(folder)) == ["closed-whole.json"]
