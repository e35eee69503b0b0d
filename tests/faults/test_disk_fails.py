"""The disk under the database fails in the middle of a ``record``: a real ext4 filesystem on a loop device, shut
down by the kernel's ``EXT4_IOC_SHUTDOWN`` (as when a drive stops answering), after which every read and write
there fails with EIO.

Monitoring goes on under a storage alarm, the rows are held in memory, and at the end they go to a recovery file
in the user's data folder (the temporary folder may be emptied by the restart that follows a failed disk). Once the
disk is back (here: mounted again), ``write-held`` puts them into the database: nothing reported stored before the
failure is lost, and nothing recorded after it.

The chair records to the clinic's server (a real PostgreSQL) under a nurse station's eyes: the station goes on
seeing the chair, with its storage alarm, while the disk is gone; once the session ended it still says how many rows
the chair could not keep, and where, until ``write-held --server`` has put them in and sent them: then the server
holds the session exactly as the chair does.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from monitor.cli import EXIT_NOT_STORED
from monitor.config import data_dir
from monitor.replication import compare
from monitor.station import StationFeed, StationModel
from monitor.store import Store
from monitor.store.held_file import pending_recovery_files
from tests.conftest import Clinic
from tests.faults.helpers import (
    REPO_ROOT,
    CommandLine,
    counts,
    ext4_disk,
    fail_disk,
    first_value,
    integrity,
    mount,
    readings_twice,
    stored_counts,
    unmount,
    until,
)

_KEPT_IN = re.compile(r"^rows that could not be written to the database are kept in (\S+)")
_DONE = re.compile(r"session (\w+) (\w+): (\d+) readings stored")
_NOT_WRITTEN = re.compile(r"left unfinished: (\d+) rows could not be written")


def _storage_alarm_seen(station: StationModel) -> bool:
    return any(a.condition == "storage_failed" for view in station.views() if view.current for a in view.tile.alarms)


@pytest.fixture
def station(clinic: Clinic) -> Iterator[StationModel]:
    """A nurse station watching the clinic's server."""
    model = StationModel()
    feed = StationFeed(clinic.role("reader"), model.apply)
    feed.start()
    yield model
    feed.stop()


def test_a_disk_that_fails_mid_session_loses_nothing_once_it_is_back(
    tmp_path: Path, clinic: Clinic, station: StationModel
) -> None:
    image = tmp_path / "disk.img"
    chair_url = clinic.role("chair", "chair_disk")
    with ext4_disk(tmp_path / "disk", image) as disk:
        db_path = disk / "data" / "monitor.db"
        run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "12",
                          "--plan", "baseline:5,infusion:40,recovery:30", "--server", chair_url, "--chair", "Chair D")
        try:
            run.wait_for("| stored", timeout=30)
            until(lambda: bool(station.views()), 15, "the chair's tile at the station")
            time.sleep(2.0)
            stored_before = max(stored_counts(run.output()))
            failed_at = time.monotonic()
            fail_disk(disk)
            alarmed_s = until(lambda: any("(storage_failed) started" in line for line in run.output()), 10,
                              "the storage alarm")
            [alarm] = [line for line in run.output() if "(storage_failed) started" in line]
            assert "its file cannot be read: Input/output error" in alarm, alarm  # the disk named, not "malformed"
            progress_at_alarm = len(stored_counts(run.output()))
            # The station still sees the chair, current, with the alarm: its disk is gone, not the chair.
            until(lambda: _storage_alarm_seen(station), 10, "the storage alarm at the station")
            assert run.finish() == EXIT_NOT_STORED, "\n".join(run.output())
        except BaseException:
            run.kill()
            raise
        lines = run.output()
        print(f"storage alarm {alarmed_s:.2f} s after the disk failed; "
              f"{len(stored_counts(lines)) - progress_at_alarm} progress lines after it")
        assert len(stored_counts(lines)) - progress_at_alarm >= 3, "monitoring did not go on:\n" + "\n".join(lines)
        assert time.monotonic() - failed_at >= 8  # the session ran its length
        [kept] = [m.group(1) for line in lines if (m := _KEPT_IN.search(line))]
        [done] = [m for line in lines if (m := _DONE.search(line))]
        assert done.group(2) == "unfinished"
        recovery = Path(kept)
        assert recovery.parent == data_dir(), f"the rows went to {recovery}"
        assert stat.S_IMODE(recovery.stat().st_mode) == 0o600
        assert "write them into it once it can be written again: 'Write waiting rows' in the window's session list, " \
               f"or infusion-monitor write-held {recovery} --db {db_path}" in lines
        session_id = done.group(1)
        [not_written] = [int(m.group(1)) for line in lines if (m := _NOT_WRITTEN.search(line))]
        # The session's tile is gone from the station; the word of its rows is not.
        until(lambda: not station.views() and bool(station.station_alarms()), 10, "the station's word of the rows")
        [word] = station.station_alarms()
        assert word.condition == "record_not_kept" and not word.sounds
        assert f"session {session_id[:8]} " in word.message and f" {not_written} rows NOT in" in word.message
        assert f"they wait in {recovery} on " in word.message, word.message
    # The disk replaced (here: the same image mounted again, its journal replayed).
    with contextlib.ExitStack() as back:
        disk = tmp_path / "disk"
        assert mount("-o", "loop", str(image), str(disk))
        back.callback(unmount, disk)
        assert integrity(db_path) == "ok"
        on_disk, _ = counts(db_path, session_id)
        assert on_disk >= stored_before, f"{stored_before - on_disk} readings reported stored were lost"
        # Before anything is written, the next start at this chair names the file the session's rows wait in.
        listed = subprocess.run([sys.executable, "-m", "monitor.cli", "record", "--db", str(db_path), "--nurse", "RN",
                                 "--duration", "0.5", "--quiet"],
                                capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert f"note: session {session_id} " in listed.stdout and f"they wait in {recovery}:" in listed.stdout, \
            listed.stdout + listed.stderr
        held = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", str(recovery), "--db", str(db_path),
                               "--server", chair_url],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert held.returncode == 0, held.stdout + held.stderr
        assert "they are on the server too; the nurse station no longer reports them missing" in held.stdout, \
            held.stdout + held.stderr
        until(lambda: not station.station_alarms(), 10, "the station's word of the rows taken off")
        with sqlite3.connect(db_path) as local, psycopg.connect(clinic.admin_url) as remote:
            origins = [row[0] for row in remote.execute("SELECT DISTINCT origin FROM chairs")]
            assert compare.local_digests(local, session_id) == compare.server_digests(remote, session_id, origins)
        after, _ = counts(db_path, session_id)
        print(f"reported stored before the failure {stored_before}; on the disk when it came back {on_disk}; "
              f"after write-held {after}")
        assert after > on_disk
        with Store(db_path, readonly=True) as store:
            assert store.status_of(store.session_row(session_id)) == "closed"
        duplicates = readings_twice(db_path)
        assert duplicates == 0


#: A progress line's session time: "[infusion] t+12:34 ...".
_ELAPSED = re.compile(r"\] t\+(\d+):(\d\d) ")


def test_a_recording_killed_while_its_disk_is_gone_keeps_what_it_held(tmp_path: Path) -> None:
    """The disk fails, and the recording is then killed (kill -9; a power cut would do the same): what it held in
    memory since the failure is not lost, for it has been in a recovery file in the user's data folder all along.
    (Before, it went to a recovery file only when the recording ended by itself; then the file was written whole
    every 5 s, and a kill lost up to the last 5 s and more. What came since is now added every second.)"""
    image = tmp_path / "disk.img"
    with ext4_disk(tmp_path / "disk", image) as disk:
        db_path = disk / "data" / "monitor.db"
        run = CommandLine("record", "--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "60",
                          "--plan", "baseline:5,infusion:40,recovery:30")
        try:
            started = run.wait_for("session ", timeout=30)
            session_id = started.split()[1]
            run.wait_for("| stored", timeout=30)
            time.sleep(2.0)
            fail_disk(disk)
            until(lambda: any("(storage_failed) started" in line for line in run.output()), 10, "the storage alarm")
            time.sleep(9.5)  # 4.5 s after the file was written whole at 0 and 5 s, as it was before
            progress = [m for line in run.output() if (m := _ELAPSED.search(line))]
        finally:
            run.kill()
        [waiting] = pending_recovery_files(db_path, session_id)
        assert waiting.parent == data_dir(), f"the held rows went to {waiting}"
        assert stat.S_IMODE(waiting.stat().st_mode) == 0o600
    with contextlib.ExitStack() as back:
        disk = tmp_path / "disk"
        assert mount("-o", "loop", str(image), str(disk))
        back.callback(unmount, disk)
        on_disk, _ = counts(db_path, session_id)
        newest_on_disk = first_value(db_path, "SELECT MAX(t) FROM readings")
        listed = subprocess.run([sys.executable, "-m", "monitor.cli", "sessions", "--db", str(db_path)],
                                capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        [line] = [line for line in listed.stdout.splitlines() if session_id[:8] in line]
        assert "unfinished" in line, line
        held = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", str(waiting), "--db", str(db_path)],
                              capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT)
        assert held.returncode == 0, held.stdout + held.stderr
        after, _ = counts(db_path, session_id)
        newest_after = first_value(db_path, "SELECT MAX(t) FROM readings")
        started_at = float(str(first_value(db_path, f"SELECT started_at FROM sessions WHERE id = '{session_id}'")))
        # The session time the recording had reached at its last progress line before the kill (up to 1 s before):
        # what the file did not hold of that is what the kill lost, at least.
        shown = int(progress[-1].group(1)) * 60 + int(progress[-1].group(2))
        lost_s = shown - (newest_after - started_at)
        print(f"on the disk when it came back {on_disk} readings up to t={newest_on_disk:.0f}; after write-held "
              f"{after} up to t={newest_after:.0f} ({newest_after - newest_on_disk:.0f} s of the session more); "
              f"the session had reached t+{shown} s at its last progress line before the kill: {lost_s:.0f} s of "
              f"the session ({lost_s / 30:.1f} s at 30x) not in the file")
        # At 30x, 9.5 s of the outage is 285 s of the session: nearly all of it came back from the file.
        assert newest_after - newest_on_disk >= 200, (newest_on_disk, newest_after)
        # Written whole every 5 s, the file lacked the last 4.5 s (135 s of the session) here.
        assert lost_s <= 75, f"{lost_s:.0f} s of the session ({lost_s / 30:.1f} s) lost"
        duplicates = readings_twice(db_path)
        assert duplicates == 0
