"""Replication of a chair's SQLite to a real PostgreSQL: complete, ordered, idempotent, least privilege."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from monitor.alarms.engine import AlarmEngine
from monitor.replication import schema
from monitor.replication.replicator import Replicator
from monitor.store import Store, outbox
from tests.conftest import Clinic, record_simulated
from tests.monitor.replication.shipping import assert_same, drain, first_error


def test_a_recorded_session_arrives_whole_and_equal(clinic: Clinic, db_path: Path) -> None:
    url = clinic.role("chair", "chair_two")
    Store(db_path).close()
    replicator = Replicator(db_path, url, chair_name="Chair 2")
    record_simulated(
        db_path, scenario="desaturation", plan="baseline:2,infusion:25,recovery:2", pleth=True, alarms=AlarmEngine()
    )
    replicator.start()
    try:
        drain(replicator)
    finally:
        replicator.stop()
    digests = assert_same(db_path, clinic.admin_url, replicator.origin)
    rows = {d.table: d.rows for d in digests}
    assert rows["readings"] > 100 and rows["waveforms"] > 10 and rows["events"] > 5 and rows["alarms"] >= 1
    with psycopg.connect(clinic.admin_url) as server:
        chairs = {r[0] for r in server.execute("SELECT DISTINCT chair FROM readings")}
        assert chairs == {"chair_two"}


def _shipped_whole(clinic: Clinic, db_path: Path) -> None:
    """A new chair login sends everything ``db_path`` holds; the server then holds the same."""
    replicator = Replicator(db_path, clinic.role("chair"))
    replicator.start()
    try:
        drain(replicator)
    finally:
        replicator.stop()
    assert_same(db_path, clinic.admin_url, replicator.origin)


def test_history_recorded_before_the_server_existed_is_shipped(clinic: Clinic, db_path: Path) -> None:
    record_simulated(db_path, seed=3)
    _shipped_whole(clinic, db_path)


def test_a_replay_stores_nothing_twice(clinic: Clinic, db_path: Path) -> None:
    url = clinic.role("chair")
    Store(db_path).close()
    replicator = Replicator(db_path, url)
    record_simulated(db_path, pleth=True)
    replicator.start()
    drain(replicator)
    replicator.stop()
    first = assert_same(db_path, clinic.admin_url, replicator.origin)
    # As after a crash between the server's commit and the local forgetting: every row queued again.
    with sqlite3.connect(db_path) as local:
        for table in outbox.TABLES:
            local.execute(
                f"INSERT INTO replication_outbox (tbl, row_key, queued_at) SELECT '{table}', CAST(id AS TEXT), 0 "
                f"FROM {table}"
            )
    with psycopg.connect(clinic.admin_url) as server:
        server.execute("DELETE FROM replication_progress")
    again = Replicator(db_path, url)
    assert again.status().pending_rows > 100
    again.start()
    drain(again)
    again.stop()
    assert assert_same(db_path, clinic.admin_url, again.origin) == first


def test_recording_while_replicating_keeps_order_and_everything(clinic: Clinic, db_path: Path) -> None:
    Store(db_path).close()
    replicator = Replicator(db_path, clinic.role("chair"), batch_rows=50)
    replicator.start()
    try:
        for seed in (1, 2):
            record_simulated(db_path, seed=seed, start_time=1_790_000_000.0 + seed * 10_000)
        drain(replicator)
        shipped = replicator.status()
    finally:
        replicator.stop()
    assert shipped.connected and shipped.pending_rows == 0 and shipped.last_shipped_at is not None
    assert_same(db_path, clinic.admin_url, replicator.origin)


def test_a_chair_cannot_touch_another_chairs_rows_nor_change_the_audit(clinic: Clinic, db_path: Path) -> None:
    url_a, url_b, reader = clinic.role("chair"), clinic.role("chair"), clinic.role("reader")
    Store(db_path).close()
    replicator = Replicator(db_path, url_a)
    record_simulated(db_path)
    replicator.start()
    drain(replicator)
    replicator.stop()
    with psycopg.connect(url_b, autocommit=True) as b:
        assert b.execute("SELECT COUNT(*) FROM readings").fetchone() == (0,)  # another chair's rows are invisible
        assert b.execute("UPDATE sessions SET status = 'closed'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            b.execute(
                "INSERT INTO readings (origin, local_id, chair, session_id, t, parameter, unit) "
                "VALUES ('x', 1, %s, 's', 0, 'hr', '/min')",
                [url_a.split("@")[0].rsplit("/", 1)[-1]],
            )
    with psycopg.connect(url_a, autocommit=True) as a:
        assert a.execute("SELECT COUNT(*) FROM audit").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            a.execute("UPDATE audit SET action = 'nothing happened'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            a.execute("DELETE FROM readings")
    with psycopg.connect(reader, autocommit=True) as r:
        assert r.execute("SELECT COUNT(*) FROM readings").fetchone()[0] > 100
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            r.execute("UPDATE sessions SET status = 'closed'")


def test_server_migrations_are_ordered_and_idempotent(clinic: Clinic) -> None:
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        assert schema.server_version(conn) == schema.SCHEMA_VERSION
        assert schema.migrate(conn) == schema.SCHEMA_VERSION  # a second run changes nothing
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, schema.SCHEMA_VERSION + 1))


def test_a_chair_refuses_a_server_with_an_older_schema(clinic: Clinic, db_path: Path) -> None:
    url = clinic.role("chair")
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_version WHERE version >= %s", [schema.CHAIR_SCHEMA])
    Store(db_path).close()
    replicator = Replicator(db_path, url)
    status = first_error(replicator)
    assert not status.connected
    assert status.error is not None and "server migrate" in status.error
    assert "NOT CONNECTED" in status.text and "nurse station cannot see" in status.text


def test_a_chair_ships_to_a_server_whose_later_schema_only_concerns_readers(clinic: Clinic, db_path: Path) -> None:
    """Schema 11 gives readers the REMS forms marked submitted; a chair writes nothing new for it, so a server not yet
    migrated past what a chair writes against (schema 10) takes this chair's rows."""
    assert schema.CHAIR_SCHEMA < schema.SCHEMA_VERSION
    with psycopg.connect(clinic.admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_version WHERE version > %s", [schema.CHAIR_SCHEMA])
    record_simulated(db_path, seed=5)
    _shipped_whole(clinic, db_path)


def test_a_stopping_chair_does_not_hammer_a_refusing_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the end of a recording the replicator flushes for a while; a server that refuses (a wrong password, a
    certificate, down) was tried again without any pause meanwhile (~120 logins a second in the server's log)."""
    import time

    from monitor.replication import replicator as module

    db = tmp_path / "monitor.db"
    record_simulated(db, seed=1)
    attempts: list[float] = []

    def refuse(*_args: object, **_kw: object) -> None:
        attempts.append(time.monotonic())
        raise psycopg.OperationalError('FATAL:  password authentication failed for user "chair_x"')

    monkeypatch.setattr(module.psycopg, "connect", refuse)
    replicator = Replicator(db, "postgresql://chair_x@127.0.0.1:1/db")
    replicator.start()
    time.sleep(1.0)
    before = len(attempts)
    replicator.stop(timeout=2.0)
    # Backing off from 0.5 s, doubling: a handful of tries in 2 s, not thousands.
    assert len(attempts) - before <= 10, f"{len(attempts) - before} connection attempts in the 2 s flush"


def test_a_stop_during_a_slow_batch_does_not_leave_a_spinning_thread(
    clinic: Clinic, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that outlasts stop()'s wait: the file is closed under it, and the thread then spun on the closed
    file (~7,000 reads a second) for ever instead of ending."""
    import time

    from monitor.replication import replicator as module

    url = clinic.role("chair", "chair_slow")
    record_simulated(db_path, seed=3)
    real_upsert = Replicator._upsert
    slow = {"on": True}

    def slow_upsert(self: Replicator, conn: object, table: str, rows: object) -> None:
        if slow["on"]:
            slow["on"] = False
            time.sleep(4.0)  # a slow server / link: this batch outlasts stop(timeout=0.5)'s join (2.5 s)
        real_upsert(self, conn, table, rows)

    turns = {"n": 0}
    real_take = module.outbox.take

    def counting_take(*args: object, **kw: object) -> object:
        turns["n"] += 1
        return real_take(*args, **kw)

    monkeypatch.setattr(Replicator, "_upsert", slow_upsert)
    monkeypatch.setattr(module.outbox, "take", counting_take)
    replicator = Replicator(db_path, url)
    thread_holder = {}
    replicator.start()
    thread_holder["t"] = replicator._thread
    time.sleep(0.5)
    replicator.stop(timeout=0.5)
    time.sleep(3.0)
    before = turns["n"]
    time.sleep(1.0)
    spun = turns["n"] - before
    alive = thread_holder["t"].is_alive()
    assert not alive and spun == 0, f"replicator thread alive={alive}, {spun} outbox reads in 1 s after stop()"
