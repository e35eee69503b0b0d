"""A database path naming a folder, a pipe or a device is refused before anything is changed.

Opening a database makes its file owner-only first. Given a folder (a typo in --db, INFUSION_MONITOR_DB or the
config file's ``db``) that made the folder 0600, so its owner could no longer read the files in it; run as root,
a path such as /dev/null lost its permissions for every program on the computer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store, StoreError


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_folder_is_refused_and_keeps_its_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "clinic data"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept")
    folder.chmod(0o755)
    with pytest.raises(StoreError, match="is a folder, not a database file: name the database file in it"):
        Store(folder)
    assert main(["sessions", "--db", str(folder)]) != 0
    assert "is a folder, not a database file" in capsys.readouterr().err
    assert _mode(folder) == 0o755 and sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_a_pipe_is_refused_and_keeps_its_permissions(tmp_path: Path) -> None:
    pipe = tmp_path / "monitor.db"
    os.mkfifo(pipe, 0o666)
    pipe.chmod(0o666)
    with pytest.raises(StoreError, match="is not a file but a device, pipe or socket"):
        Store(pipe)
    assert _mode(pipe) == 0o666 and stat.S_ISFIFO(os.stat(pipe).st_mode)
