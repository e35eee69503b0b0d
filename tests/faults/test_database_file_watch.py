"""The open database deleted (``rm``) or renamed (``mv``) under a running ``record``.

Within 5 s the recording says so (a high-priority technical alarm and a ``database_moved`` event)
and nothing is lost: the complete session - everything before the deletion and everything after -
is at the configured path when the recording ends, closed, and the file passes the integrity check.
The same when the whole folder is deleted (``rm -r``): the folder is made again, owner-only.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import time
from pathlib import Path

import pytest

from monitor.alarms.model import Priority
from monitor.ownership import lock_dir, owner_alive
from monitor.store import Store
from tests.faults.helpers import CommandLine, counts, integrity, recording

DONE = re.compile(r"session (\w+) (closed|complete|unfinished): (\d+) readings stored")


@pytest.mark.parametrize("how", ["rm", "mv"])
def test_a_deleted_or_renamed_database_is_noticed_and_written_back(db_path: Path, how: str) -> None:
    run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "9",
                      "--plan", "baseline:5,infusion:40,recovery:30")
    run.wait_for("t+", timeout=30)  # recording
    time.sleep(1.5)
    with Store(db_path, readonly=True) as store:
        [summary] = store.sessions()
        before = store.reading_count(summary.id)
    assert before > 0
    moved_to = db_path.with_name("moved.db")
    gone_at = time.monotonic()
    if how == "rm":
        os.unlink(db_path)
    else:
        os.rename(db_path, moved_to)
    line = run.wait_for("database_moved", timeout=6)
    noticed_s = time.monotonic() - gone_at
    assert noticed_s <= 5.0, f"noticed after {noticed_s:.1f} s"
    print(f"{how}: noticed after {noticed_s:.2f} s")
    assert "database_moved" in line
    alarm = run.wait_for("(database_moved) started", timeout=2)
    assert alarm.lstrip().startswith(Priority.HIGH.marker), alarm
    assert "was deleted or moved away" in alarm and "written back" in alarm
    # While the recording goes on, a new reader sees the written-back file whole.
    time.sleep(1.0)
    assert integrity(db_path) == "ok"
    with Store(db_path, readonly=True) as store:
        assert store.reading_count(summary.id) >= before
    assert run.finish() == 0, run.output()
    [done] = [m for text in run.output() if (m := DONE.search(text))]
    assert done.group(2) == "closed"
    assert integrity(db_path) == "ok"
    readings, _ = counts(db_path, summary.id)
    assert readings == int(done.group(3)) > before  # everything, before and after the deletion
    with Store(db_path, readonly=True) as store:
        assert store.status_of(store.session_row(summary.id)) == "closed"
        technical = [e.detail for e in store.events(summary.id) if e.detail.get("condition") == "database_moved"]
        assert technical and technical[0]["written_to"] == str(db_path)
        assert any(a.condition == "database_moved" and a.priority.label == "high" for a in store.alarms(summary.id))


def test_a_database_deleted_with_its_folder_is_written_back_into_it_made_again(tmp_path: Path) -> None:
    """Before, with the folder gone the write-back failed two times a second until the recording ended (a new
    alarm each time), the session went to a recovery file in the temporary folder, and the session's lock file
    was gone with the folder (anyone could have taken the session)."""
    folder = tmp_path / "data"
    db_path = folder / "monitor.db"
    with recording("--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "10",
                   "--plan", "baseline:5,infusion:40,recovery:30") as run:
        time.sleep(1.5)
        with Store(db_path, readonly=True) as store:
            [summary] = store.sessions()
            before = store.reading_count(summary.id)
        assert before > 0
        gone_at = time.monotonic()
        shutil.rmtree(folder)
        alarm = run.wait_for("(database_moved) started", timeout=6)
        noticed_s = time.monotonic() - gone_at
        assert noticed_s <= 5.0, f"noticed after {noticed_s:.1f} s"
        print(f"rm -r: noticed after {noticed_s:.2f} s")
        assert alarm.lstrip().startswith(Priority.HIGH.marker), alarm
        assert "was deleted with its folder; its complete data were written back to it" in alarm
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        time.sleep(2.0)
        with Store(db_path, readonly=True) as store:
            assert store.reading_count(summary.id) > before  # the recording goes on into it
        assert owner_alive(db_path, summary.id) is True  # its lock is held again: nobody else can take it
    assert run.finish() == 0, run.output()
    [done] = [m for text in run.output() if (m := DONE.search(text))]
    assert done.group(2) == "closed"
    assert integrity(db_path) == "ok"
    readings, _ = counts(db_path, summary.id)
    assert readings == int(done.group(3)) > before
    assert sum("(database_moved) started" in line for line in run.output()) == 1, run.output()
    with Store(db_path, readonly=True) as store:
        technical = [e.detail for e in store.events(summary.id) if e.detail.get("condition") == "database_moved"]
        assert [t["written_to"] for t in technical] == [str(db_path)]
        assert [a.priority for a in store.alarms(summary.id) if a.condition == "database_moved"] == [Priority.HIGH]


def test_a_deleted_lock_folder_is_made_again_and_nobody_else_can_resume_the_session(db_path: Path) -> None:
    """``<db>.locks`` deleted under a recording: before, the lock stayed gone until the recording ended, and
    whether the session's owner was alive was judged by its heartbeat alone (as for another host's session), so a
    heartbeat 30 s late (a store that fails meanwhile) let a second ``record --resume`` take it."""
    with recording("--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "8") as run:
        with Store(db_path, readonly=True) as store:
            [summary] = store.sessions()
        shutil.rmtree(lock_dir(db_path))
        time.sleep(2.0)  # the writer looks every second
        assert owner_alive(db_path, summary.id) is True
        second = CommandLine("record", "--db", str(db_path), "--resume", summary.id, "--duration", "2")
        assert second.finish() != 0
        assert any("is recording; only an unfinished session can be resumed" in line for line in second.output()), \
            second.output()
    assert run.finish() == 0, run.output()
    with Store(db_path, readonly=True) as store:
        assert store.status_of(store.session_row(summary.id)) == "closed"
        assert not [e for e in store.events(summary.id) if e.kind.value == "session_resumed"]


@pytest.mark.parametrize("goes_to", ["data folder", "temporary folder"])
def test_a_database_that_cannot_be_written_back_where_it_was_goes_to_the_data_or_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, goes_to: str
) -> None:
    """The database deleted while no copy can be made beside it (its folder goes with it and a file takes the
    folder's name, so nothing can be written there, as on a full disk). Before, the recording went on into the
    deleted file and ended "closed: 1269 readings stored" with no file holding any of them: closing the last
    connection took the whole database along."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    monkeypatch.setenv("TMPDIR", str(tmp))  # the recording's temporary folder
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    if goes_to == "temporary folder":
        (tmp_path / "share").write_text("no data folder can be made here")
    folder = tmp_path / "share" / "infusion-monitor" if goes_to == "data folder" else tmp
    db_path = tmp_path / "data" / "monitor.db"
    with recording("--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "8") as run:
        time.sleep(1.0)
        shutil.rmtree(db_path.parent)
        db_path.parent.write_text("a file where the database's folder was")
        alarm = run.wait_for("(database_moved) started", timeout=6)
        assert f"was deleted with its folder; the complete data are now in {folder}/monitor.db.recovered-" in alarm
    assert run.finish() == 0, run.output()
    [moved] = list(folder.glob("monitor.db.recovered-*.db"))
    assert any(f"the database is now {moved}: it left {db_path} while recording" in line for line in run.output())
    [done] = [m for text in run.output() if (m := DONE.search(text))]
    assert done.group(2) == "closed"
    assert integrity(moved) == "ok"
    readings, _ = counts(moved, done.group(1))
    assert readings == int(done.group(3)) > 0
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    # The next start at the old name begins no new database there: it names the copy.
    again = CommandLine("record", "--db", str(db_path), "--duration", "1")
    assert again.finish() != 0
    assert any(f"Put it back before recording (mv {moved} {db_path})" in line for line in again.output()), \
        again.output()
    assert not db_path.exists()
