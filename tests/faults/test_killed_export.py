"""An export killed half-way (SIGKILL): the temporary beside its target is owner-only, and the next export into that
folder removes it and says so on standard error.

Before, the killed export's ``.<name>.<random>.part`` stayed for ever: a part of a patient's record, in whatever
folder the export went to (a shared one, a stick)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import record_simulated
from tests.faults.helpers import REPO_ROOT, CommandLine


@pytest.fixture(scope="module")
def long_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database holding a three-hour session with its pleth wave (its JSON export takes a second or two)."""
    db_path = tmp_path_factory.mktemp("long-session") / "monitor.db"
    return db_path, record_simulated(db_path, plan="baseline:10,infusion:150,recovery:20", pleth=True)


def _parts(folder: Path, target: str = "") -> list[Path]:
    """The temporaries in ``folder`` (of exports to ``target`` when given)."""
    return [path for path in folder.iterdir() if path.name.startswith(f".{target}") and path.name.endswith(".part")]


def _killed_half_way(db_path: Path, session_id: str, out: Path) -> Path:
    """Start ``export … --out OUT``, SIGKILL it once its temporary has data in it; that temporary."""
    run = CommandLine("export", session_id, "--db", str(db_path), "--format", "json", "--out", str(out))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.process.poll() is None:
            begun = [path for path in _parts(out.parent, out.name) if path.stat().st_size > 0]
            if begun:
                run.process.kill()
                break
            time.sleep(0.005)
    finally:
        run.kill()
    assert not out.exists(), "the export finished before it could be killed:\n" + "\n".join(run.output())
    (left,) = _parts(out.parent, out.name)
    return left


def test_a_killed_export_leaves_an_owner_only_part_the_next_export_removes_and_names(
        long_session: tuple[Path, str], tmp_path: Path) -> None:
    db_path, session_id = long_session
    shared = tmp_path / "shared"
    shared.mkdir()
    others = [shared / "notes.part", shared / ".draft.txt.part", shared / "report.json"]
    for path in others:
        path.write_text("someone else's\n")
    left = _killed_half_way(db_path, session_id, shared / "session.json")
    assert stat.S_IMODE(left.stat().st_mode) == 0o600
    assert left.stat().st_size > 0

    again = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "export", session_id, "--db", str(db_path), "--format", "csv",
         "--out", str(shared / "other-name.csv")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"removed {left}: an unfinished export left by a run that was stopped" in again.stderr, again.stderr
    assert not left.exists()
    assert sorted(shared.iterdir()) == sorted([*others, shared / "other-name.csv"])
    assert all(path.read_text() == "someone else's\n" for path in others)


def test_a_running_export_keeps_its_part_when_another_starts_beside_it(
        long_session: tuple[Path, str], tmp_path: Path) -> None:
    """Two exports into one folder at once: the second must not take the first's file for a leftover."""
    db_path, session_id = long_session
    out = tmp_path / "first.json"
    first = CommandLine("export", session_id, "--db", str(db_path), "--format", "json", "--out", str(out))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in _parts(tmp_path)):
            time.sleep(0.005)
        os.kill(first.process.pid, signal.SIGSTOP)  # held mid-way, its temporary still locked
        (writing,) = _parts(tmp_path)
        second = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "export", session_id, "--db", str(db_path), "--format", "csv-events",
             "--out", str(tmp_path / "second.csv")],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
        assert second.returncode == 0, second.stderr
        assert "removed" not in second.stderr and writing.exists()
        os.kill(first.process.pid, signal.SIGCONT)
        assert first.finish() == 0, first.output()
    finally:
        if first.process.poll() is None:
            first.kill()
    assert json.loads(out.read_text())["session"]["id"] == session_id
    assert _parts(tmp_path) == []
