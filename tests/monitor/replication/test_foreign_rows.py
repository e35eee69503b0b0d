"""One chair's login writes only its own rows: under its own chair databases' origins and into its own sessions.

Row level security used to check only the ``chair`` column, so the login of chair 1 could add a low SpO2 and a note
to chair 2's session (both in that patient's export from the server), an event the server's export could not read
(it ended with a traceback), a row under chair 2's origin that the real chair could never overwrite (every later
batch of chair 2 was refused, for good), and a station tile under chair 2's origin. Each is tried here against a
real PostgreSQL, on a current server and on a server of schema 5 brought up to date by ``server migrate``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from monitor.cli import main
from monitor.replication import replicator as replicator_module
from monitor.replication import schema, server_store, server_writes
from monitor.replication.replicator import Replicator
from tests.conftest import Clinic
from tests.monitor.replication.shipping import (
    assert_same,
    drain,
    first_error,
    publish_before_schema_8,
    record_for,
    replicate,
)

#: When the forged rows say they were taken (inside chair 2's session).
FORGED_AT = 1_796_619_800.0


@dataclass(frozen=True)
class ChairTwo:
    """Chair 2 with one session on the server, and the login of chair 1 next to it."""

    url: str
    login: str
    db: Path
    session_id: str
    origin: str
    intruder: str


def _login(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["user"])


def _chair_two(clinic: Clinic, folder: Path) -> ChairTwo:
    url = clinic.role("chair")
    db = folder / "chair2.db"
    session_id = record_for(db, "MRN-102", FORGED_AT - 600.0, seed=2)
    return ChairTwo(url, _login(url), db, session_id, replicate(db, url).origin, clinic.role("chair"))


def _forgeries(two: ChairTwo, local_id: int) -> dict[str, tuple[str, list[object]]]:
    """What chair 1's login tries against chair 2's rows, by what it is: a statement and its values."""
    reading = ("INSERT INTO readings (origin, local_id, session_id, t, parameter, value, unit) "
               "VALUES (%s, %s, %s, %s, 'spo2', 70, '%%')")
    return {
        "a reading into chair 2's session": (reading, ["forged", local_id, two.session_id, FORGED_AT]),
        "a note into chair 2's session": (
            "INSERT INTO events (origin, local_id, session_id, t, kind, detail) VALUES (%s, %s, %s, %s, 'note', %s)",
            ["forged", local_id, two.session_id, FORGED_AT, '{"text": "forged note"}']),
        "an alarm into chair 2's session": (
            "INSERT INTO alarms (id, origin, session_id, condition, parameter, priority, kind, started_at, state) "
            "VALUES (%s, 'forged', %s, 'spo2_low', 'spo2', 'high', 'physiological', %s, 'active')",
            [f"forged-{local_id}", two.session_id, FORGED_AT]),
        "a reading under chair 2's origin": (reading, [two.origin, local_id, f"own-{local_id}", FORGED_AT]),
        "a station tile under chair 2's origin": (
            "INSERT INTO chairs (name, origin, host, live) VALUES ('Chair 2', %s, 'h', '{\"active\": true}') "
            "ON CONFLICT (chair, origin) DO UPDATE SET live = EXCLUDED.live", [two.origin]),
        "a station tile in chair 2's login": (
            "INSERT INTO chairs (chair, name, origin, host, live) VALUES (%s, 'Chair 2', %s, 'h', '{}')",
            [two.login, f"fresh-{local_id}"]),
        "chair 2's progress": (
            "INSERT INTO replication_progress (origin, last_seq) VALUES (%s, 99999999) "
            "ON CONFLICT (origin) DO UPDATE SET last_seq = EXCLUDED.last_seq", [two.origin]),
    }


def _accepted(url: str, forgeries: dict[str, tuple[str, list[object]]]) -> list[str]:
    """The forgeries the server took from the login at ``url`` (each tried on its own)."""
    taken = []
    with psycopg.connect(url, autocommit=True) as conn:
        for name, (statement, values) in forgeries.items():
            try:
                conn.execute(statement, values)
            except psycopg.errors.InsufficientPrivilege:
                continue
            taken.append(name)
    return taken


def test_a_chair_login_cannot_write_into_another_chairs_session_or_origin(clinic: Clinic, tmp_path: Path) -> None:
    two = _chair_two(clinic, tmp_path)
    assert _accepted(two.intruder, _forgeries(two, 900_001)) == []
    with psycopg.connect(two.intruder, autocommit=True) as conn:
        # Its own row of a session of its own (not on the server yet) goes in; moved into chair 2's session, not.
        conn.execute("INSERT INTO readings (origin, local_id, session_id, t, parameter, value, unit) "
                     "VALUES ('mine', 1, 'a-session-of-mine', %s, 'hr', 70, '/min')", [FORGED_AT])
        conn.execute("INSERT INTO alarms (id, origin, session_id, condition, started_at) "
                     "VALUES ('mine-1', 'mine', 'a-session-of-mine', 'hr_high', %s)", [FORGED_AT])
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="another login's"):
            conn.execute("UPDATE alarms SET session_id = %s WHERE origin = 'mine'", [two.session_id])
        # A reading it may not change at all (schema 10).
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table readings"):
            conn.execute("UPDATE readings SET session_id = %s WHERE origin = 'mine'", [two.session_id])
        # A status of its own that names chair 2's session does not put chair 2's patient on its tile.
        server_writes.publish_chair(conn, "Chair 1", "mine", "h",
                                    json.dumps({"active": True, "session_id": two.session_id}))
    with psycopg.connect(clinic.role("reader"), autocommit=True) as reader:
        tiles = {(row.chair, row.origin): row.patient_mrn for row in server_store.chair_rows(reader)}
    assert tiles[(_login(two.intruder), "mine")] is None
    # Both chairs' own replication goes on: chair 2 with a second session, and in a database made anew.
    record_for(two.db, "MRN-102", FORGED_AT + 7 * 86_400, seed=3)
    assert replicate(two.db, two.url).origin == two.origin
    assert_same(two.db, clinic.admin_url, two.origin)
    fresh = tmp_path / "chair2-new.db"
    record_for(fresh, "MRN-102", FORGED_AT + 14 * 86_400, seed=4)
    assert_same(fresh, clinic.admin_url, replicate(fresh, two.url).origin)
    one = tmp_path / "chair1.db"
    record_for(one, "MRN-101", FORGED_AT, seed=5)
    assert_same(one, clinic.admin_url, replicate(one, two.intruder).origin)


def _server_of_schema_5(clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> Clinic:
    """A clinic database on the test run's server, as this program's schema 5 left it."""
    from monitor import server as local_server

    old = Clinic(clinic.server, f"{clinic.database}_v5", clinic.folder)
    with monkeypatch.context() as schema_5:
        schema_5.setattr(schema, "SCHEMA_VERSION", 5)
        local_server.create_database(clinic.server, old.database)
    with psycopg.connect(old.admin_url) as conn:
        assert schema.server_version(conn) == 5
    return old


def _export(reader: str, session_id: str, fmt: str, folder: Path) -> str:
    out = folder / f"export.{fmt}"
    assert main(["export", session_id, "--server", reader, "--db", str(folder / "reviewer.db"), "--format", fmt,
                 "--out", str(out)]) == 0
    return out.read_text()


def test_server_migrate_stops_the_forgeries_and_frees_the_chair_they_blocked(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _server_of_schema_5(clinic, monkeypatch)
    monkeypatch.setattr(replicator_module, "CHAIR_SCHEMA", 5)  # chairs of this version on the old server
    monkeypatch.setattr(replicator_module, "INSERT_ONLY", ("audit",))  # as they sent rows: updating one there
    monkeypatch.setattr(server_writes, "publish_chair", publish_before_schema_8)
    two = _chair_two(old, tmp_path)
    with psycopg.connect(old.admin_url) as conn:
        ahead = int(conn.execute("SELECT MAX(local_id) FROM readings").fetchone()[0]) + 500  # type: ignore[index]
    forgeries = _forgeries(two, ahead)
    assert len(_accepted(two.intruder, forgeries)) == len(forgeries) - 2  # all but the two the policies caught
    with psycopg.connect(two.intruder, autocommit=True) as conn:
        conn.execute("INSERT INTO events (origin, local_id, session_id, t, kind, detail) "
                     "VALUES ('forged', 2, %s, %s, 'note', NULL)", [two.session_id, FORGED_AT])  # no phase
    # Chair 2's next session cannot pass the row under its origin: every batch is refused.
    record_for(two.db, "MRN-102", FORGED_AT + 7 * 86_400, seed=3)
    blocked = first_error(Replicator(two.db, two.url))
    assert "row-level security" in str(blocked.error) and blocked.pending_rows > 0

    with psycopg.connect(old.admin_url) as conn:  # each login's station row from before schema 5 (no origin)
        for login in (two.login, _login(two.intruder)):
            conn.execute("INSERT INTO chairs (chair, name, origin) VALUES (%s, 'Chair', '')", [login])

    out = io.StringIO()
    assert main(["server", "migrate", "--url", old.admin_url], out=out) == 0
    assert out.getvalue().splitlines()[0] == f"schema version {schema.SCHEMA_VERSION}"
    monkeypatch.undo()  # chairs of this version again

    assert _accepted(two.intruder, _forgeries(two, ahead + 1)) == []
    for url in (two.url, two.intruder):  # those rows stay each login's own, as before
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM chairs WHERE origin = ''").fetchone() == (1,)
    again = Replicator(two.db, two.url)
    again.start()
    try:
        drain(again)
    finally:
        again.stop()
    assert_same(two.db, old.admin_url, two.origin)
    with psycopg.connect(old.admin_url) as conn:  # the row that blocked it is kept, under an origin of its writer's
        kept = conn.execute("SELECT origin, chair FROM readings WHERE local_id = %s", [ahead]).fetchall()
    assert (f"{two.origin}:{_login(two.intruder)}", _login(two.intruder)) in kept
    reader = old.role("reader")
    with psycopg.connect(reader, autocommit=True) as conn:
        tiles = {(row.chair, row.origin): (row.live or {}).get("active") for row in server_store.chair_rows(conn)}
    assert tiles[(_login(two.intruder), two.origin)] is False  # the forged tile left the station
    readings, events = (_export(reader, two.session_id, fmt, tmp_path) for fmt in ("csv", "csv-events"))
    assert ",spo2,70," not in readings and "forged note" not in events
    assert "not shown: 4 rows (alarms 1, events 2, readings 1) written into it by another chair's login" in readings
