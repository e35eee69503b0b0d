"""A database on read-only media (an archived copy on a read-only share or disc), on a real filesystem remounted
read-only: `verify` checks it where it is; commands that record who read it say why they cannot, in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.faults.helpers import REPO_ROOT, mount, tmpfs


@pytest.fixture
def medium(tmp_path: Path) -> Iterator[Path]:
    """A folder on a real tmpfs, remounted read-only by :func:`read_only` below."""
    folder = tmp_path / "archive"
    folder.mkdir()
    with tmpfs(folder, "20m") as mounted:
        if not mounted:
            pytest.skip("mounting a filesystem needs root here")
        yield folder


def read_only(folder: Path) -> None:
    assert mount("-o", "remount,ro", str(folder))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120, check=False)


def test_verify_reads_an_archived_copy_and_exports_say_why_not(medium: Path) -> None:
    db = medium / "monitor.db"
    recorded = _cli("record", "--db", str(db), "--speed", "60", "--duration", "3", "--quiet")
    assert recorded.returncode == 0, recorded.stderr
    read_only(medium)
    verified = _cli("verify", "--db", str(db))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified: nothing was changed" in verified.stdout
    for command in (["sessions"], ["export", "latest", "--format", "csv", "--out", str(medium.parent / "x.csv")]):
        refused = _cli(*command, "--db", str(db))
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr, refused.stderr
        (line,) = refused.stderr.splitlines()
        assert "Read-only file system" in line and "`verify` checks it where it is" in line, line
    assert not (medium.parent / "x.csv").exists()


def test_a_copy_whose_write_ahead_log_holds_rows_is_refused_not_read_short(medium: Path, tmp_path: Path) -> None:
    """Copied while open: its rows are partly in the -wal file. Opened as immutable they would be missed."""
    source = tmp_path / "open.db"
    store = Store(source)
    try:
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        store.create_patient("MRN-1", name="A B")
        store.audit("note", user="RN", text="written before the copy")
        assert Path(f"{source}-wal").stat().st_size > 0
        for suffix in ("", "-wal"):
            shutil.copy(f"{source}{suffix}", f"{medium / 'monitor.db'}{suffix}")
    finally:
        store.close()
    read_only(medium)
    refused = _cli("verify", "--db", str(medium / "monitor.db"))
    assert refused.returncode != 0
    assert "write-ahead log (monitor.db-wal) holds rows not yet in the file" in refused.stderr, refused.stderr
