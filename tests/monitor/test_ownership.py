"""One owner per session: a file lock the kernel drops with its process, whatever the heartbeat says."""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.app.errors import AppError
from monitor.app.sessions import check_resumable, close_unfinished
from monitor.ownership import SessionLock, SessionOwned, lock_dir, lock_path, owner_alive
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.session import SessionRuleError
from monitor.store import Store

T0 = 1_790_000_000.0


def _recorder(store: Store) -> Recorder:
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30))


def test_a_live_owner_keeps_its_session_however_stale_the_heartbeat(store: Store, db_path: Path) -> None:
    recorder = _recorder(store)
    for _ in range(5):
        recorder.step()
    session_id = recorder.session.id
    # A disk that stalled the heartbeat for an hour: the owner is still alive and holds the lock.
    store.db.execute("UPDATE sessions SET heartbeat_at = ? WHERE id = ?", [time.time() - 3600, session_id])
    assert owner_alive(db_path, session_id) is True
    assert store.status_of(store.session_row(session_id)) == "recording"
    assert store.unfinished_sessions() == []
    other = Store(db_path)
    try:
        with pytest.raises(SessionRuleError, match="being recorded by a running process"):
            Recorder.resume_session(other, SimulatedSource(seed=1, speed=math.inf, start_time=T0 + 60), session_id)
        with pytest.raises(AppError, match="is recording"):
            close_unfinished(other, session_id, "RN")
    finally:
        other.close()
    recorder.run(until=lambda r: True)
    assert store.status_of(store.session_row(session_id)) == "closed"
    assert owner_alive(db_path, session_id) is None  # its lock file went with the session's end


def test_a_resume_that_opened_the_lock_file_of_a_session_as_it_closed_finds_the_session_closed(
    store: Store, db_path: Path
) -> None:
    """The lock file is removed at a clean close while still held: a resume that opened it just before takes the
    lock on the removed file once it is given up, and then finds the session ended."""
    recorder = _recorder(store)
    recorder.step()
    session_id = recorder.session.id
    early = os.open(lock_path(db_path, session_id), os.O_RDONLY)
    try:
        recorder.run(until=lambda r: True)
        fcntl.flock(early, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: the lock went with the removed file
    finally:
        os.close(early)
    assert not lock_path(db_path, session_id).exists()
    with pytest.raises(AppError, match="is closed; only an unfinished session can be resumed"):
        check_resumable(store, session_id)


def test_the_lock_goes_with_a_killed_process(db_path: Path) -> None:
    Store(db_path).close()
    code = (
        "import sys, time\n"
        "from monitor.ownership import SessionLock\n"
        "lock = SessionLock(sys.argv[1], 'abc123')\n"
        "lock.acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(db_path)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        assert owner_alive(db_path, "abc123") is True
        with pytest.raises(SessionOwned, match=f"pid {child.pid}"):
            SessionLock(db_path, "abc123").acquire()
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert owner_alive(db_path, "abc123") is False
    mine = SessionLock(db_path, "abc123")
    mine.acquire()
    assert mine.held
    mine.release()


def test_a_lock_file_deleted_with_its_folder_is_taken_again(db_path: Path) -> None:
    """The database's folder deleted under a recording took the lock file with it: until the lock is taken again
    at its path, a second process could make the file anew and record the same session."""
    lock = SessionLock(db_path, "s1")
    lock.acquire()
    try:
        assert lock.keep()  # nothing to do while the file is there
        shutil.rmtree(lock_dir(db_path))
        assert owner_alive(db_path, "s1") is None
        assert lock.keep()
        assert owner_alive(db_path, "s1") is True
        with pytest.raises(SessionOwned):
            SessionLock(db_path, "s1").acquire()
    finally:
        lock.release()
    assert owner_alive(db_path, "s1") is False
