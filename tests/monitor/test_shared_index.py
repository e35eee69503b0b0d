"""The "<db>-shm" index deleted while the database is open in another process.

A process that opens the database then makes an index of its own from the log and writes its frames over the
ones the recording adds after that moment. The recording writes its data back before its next commit; a
process of this program that opens the database meanwhile waits for that instead of writing.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store, StoreError, shared_index
from monitor.store.operations import Batch
from monitor.store.shared_index import wait_while_index_lost
from monitor.store.writer import StoreWriter
from tests.monitor.writing import T0, committed_writer, heart_rate
from tests.outside_process import Outsider


@pytest.fixture
def outsider_factory() -> Iterator[list[Outsider]]:
    started: list[Outsider] = []
    yield started
    for outsider in started:
        outsider.close()


def test_the_writer_writes_back_before_it_commits_into_a_log_another_process_indexes_anew(
    db_path: Path, outsider_factory: list[Outsider]
) -> None:
    with committed_writer(db_path) as (session_id, writer):
        os.unlink(f"{db_path}-shm")
        outsider = Outsider(db_path)  # its index is made from the log as it is now
        outsider_factory.append(outsider)
        writer.put(Batch(readings=(heart_rate(T0 + 2),)))
        assert writer.pump(force=True)
        outsider.write("after the recording's second commit")  # where its index says the log ends
        writer.put(Batch(readings=(heart_rate(T0 + 3),)))
        assert writer.pump(force=True)
        incidents = [(i.what, i.written_to) for i in writer.status().incidents]
    outsider_factory.pop().close()  # after the writer, as when the recording ends first
    with Store(db_path) as reopened:
        assert reopened.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert [r.t for r in reopened.readings(session_id)] == [T0 + 1, T0 + 2, T0 + 3]
    assert incidents == [("left without its shared-memory index", str(db_path))]


def test_an_opener_waits_and_then_refuses_while_another_process_holds_the_database_without_its_index(
    db_path: Path, outsider_factory: list[Outsider], monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(db_path) as store:
        store.audit("note", user="RN")
    outsider = Outsider(db_path)
    outsider_factory.append(outsider)
    outsider.write("kept in the log")
    os.unlink(f"{db_path}-shm")
    started = time.monotonic()
    with pytest.raises(StoreError, match=rf"another process \({outsider.process.pid}\).*-shm was deleted"):
        wait_while_index_lost(db_path, wait_s=0.5)
    assert time.monotonic() - started >= 0.5
    monkeypatch.setattr(shared_index, "LOST_INDEX_WAIT_S", 0.2)
    with pytest.raises(StoreError, match="shared-memory index"):
        Store(db_path)  # a command's store writes (who read what): it must not do so into that log
    with Store(db_path, readonly=True) as reader:  # reading alone writes nothing: it need not wait
        assert reader.db.execute("SELECT COUNT(*) FROM outsider").fetchone()[0] == 1
    outsider.close()  # the last connection: it checks its log into the file
    wait_while_index_lost(db_path, wait_s=0.0)
    with Store(db_path) as reopened:
        assert reopened.db.execute("SELECT x FROM outsider").fetchall() == [("kept in the log",)]


def test_a_log_left_by_a_process_that_died_is_opened_at_once(db_path: Path) -> None:
    """Without anybody holding the database, a missing index is made anew from the log (nothing to wait for)."""
    died = subprocess.run([sys.executable, "-c", (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('PRAGMA journal_mode = WAL')\n"
        "conn.execute('CREATE TABLE t (x)')\n"
        "conn.execute('INSERT INTO t VALUES (1)')\n"
        "os._exit(0)\n"  # no close: the log stays
    ), str(db_path)], check=True, timeout=60)
    assert died.returncode == 0 and Path(f"{db_path}-wal").exists()
    os.unlink(f"{db_path}-shm")
    started = time.monotonic()
    wait_while_index_lost(db_path)
    assert time.monotonic() - started < 1.0
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        conn.close()


def test_a_writer_reopened_on_an_index_that_is_gone_from_its_name_writes_back(db_path: Path) -> None:
    """The writer's connection closed (after a write error) and opened again while another connection of the
    process kept the deleted index: SQLite gives the new connection that same index, which no other process
    can find; the writer must not take the name's absence for a fresh start."""
    with Store(db_path) as beside:  # the command's own store, opened first
        session_id = beside.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
        writer = StoreWriter(db_path, session_id)
        try:
            writer.put(Batch(readings=(heart_rate(T0 + 1),)))
            assert writer.pump(force=True)
            writer.close()  # as after a failed write
            os.unlink(f"{db_path}-shm")
            for t in (T0 + 2, T0 + 3):
                writer.put(Batch(readings=(heart_rate(t),)))
                assert writer.pump(force=True)
            incidents = [(i.what, i.written_to) for i in writer.status().incidents]
        finally:
            writer.close()
    assert incidents == [("left without its shared-memory index", str(db_path))]
    with Store(db_path) as reopened:
        assert [r.t for r in reopened.readings(session_id)] == [T0 + 1, T0 + 2, T0 + 3]
