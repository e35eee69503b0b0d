"""The replication thread ends on an error nobody expected while the chair records."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.replication.replicator import Replicator
from monitor.store import Store
from tests.conftest import Clinic, record_simulated


def test_a_replicator_thread_that_died_is_not_shown_as_connected(
    clinic: Clinic, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Store(db_path).close()
    replicator = Replicator(db_path, clinic.role("chair"), chair_name="Chair 4")
    replicator.start()
    try:
        deadline = time.monotonic() + 20
        while not replicator.status().connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert replicator.status().connected

        def broken(self: Replicator, *, checked: bool = False) -> int:
            raise ValueError("a row this version cannot send")

        monkeypatch.setattr(Replicator, "ship_once", broken)
        record_simulated(db_path, seed=3)  # the chair goes on recording; its rows wait in the outbox
        replicator.nudge()
        time.sleep(3.0)
        thread = replicator._thread
        status = replicator.status()
        assert status.pending_rows > 0
        assert not status.connected and thread is not None and thread.is_alive(), (
            f"replication thread alive: {thread is not None and thread.is_alive()}; the chair shows: {status.text!r}")
        monkeypatch.undo()  # the fault goes: the rows waiting go to the server
        deadline = time.monotonic() + 30
        while replicator.status().pending_rows and time.monotonic() < deadline:
            replicator.nudge()
            time.sleep(0.2)
        assert replicator.status().pending_rows == 0 and replicator.status().connected
    finally:
        replicator.stop(timeout=1.0)
