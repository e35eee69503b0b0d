"""Every older schema version, holding a recorded session, upgrades to the current one without losing anything.

Each old database is built the way that version built it (:mod:`tests.monitor.old_schemas`). Opening it with the
current :class:`Store` must keep every row, readable through the store's own queries, and seal it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from drivers.core.readings import Parameter
from monitor import approval, integrity
from monitor.accounts import Accounts
from monitor.store import SCHEMA_VERSION, Store, feed_queue
from tests.conftest import ADMIN_SECRET
from tests.monitor.old_schemas import (
    ALARMS,
    APPROVED,
    AUDIT,
    BIRTH,
    EVENTS,
    MRN,
    NAME,
    PLETH,
    QUEUED,
    QUEUED_IDENTIFIERS,
    READINGS,
    REVOKED,
    T0,
    files_beside,
    old_database,
)


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_an_old_database_holding_a_session_upgrades_without_losing_anything(db_path: Path, version: int) -> None:
    old_database(db_path, version)
    with Store(db_path) as store:
        assert store.user_version() == SCHEMA_VERSION
        patient = store.patient_row("p1")
        assert patient is not None
        assert (patient["mrn"], patient["name"], patient["birth_date"]) == (MRN, NAME, BIRTH)
        assert store.create_patient(MRN) == "p1"  # found again through the keyed MRN hash
        row = store.session_row("s1")
        assert (row["patient_id"], row["started_at"], row["ended_at"], row["status"], row["device"], row["nurse"]) == (
            "p1", T0, T0 + 300, "complete", "sim-1", "RN")
        assert json.loads(row["phases_reached"]) == ["setup", "baseline", "infusion", "complete"]
        assert row["protocol"] == ("default" if version >= 3 else None)
        readings = [(r.t, r.parameter.value, r.value, r.unit) for r in store.readings("s1")]
        assert readings == READINGS
        times, values = store.waveform("s1", Parameter.PLETH)
        assert values == PLETH and times[0] == T0 + 100 and times[-1] == pytest.approx(T0 + 100 + 249 / 50)
        events = [(e.t, e.kind.value, e.phase.value, e.user, dict(e.detail)) for e in store.events("s1")]
        assert events == EVENTS
        alarms = [
            (a.id, a.condition, a.parameter, a.priority.label, a.kind.value, a.started_at, a.ended_at, a.limit,
             a.peak_value, [step.as_dict() for step in a.escalations], a.acknowledged_at, a.acknowledged_by,
             a.message, a.state.value)
            for a in store.alarms("s1")
        ]
        assert alarms == [(*alarm[:9], json.loads(alarm[9]), *alarm[10:]) for alarm in ALARMS]
        audit = [(a["at"], a["user"], a["action"], json.loads(a["detail"])) for a in store.audit_log("s1")]
        assert audit == AUDIT
        assert store.last_data_at("s1") == T0 + 239
        if version >= 2:
            queued = feed_queue.oldest(store)
            assert queued is not None and queued[1:] == ("c1", QUEUED)
        if version >= 3:
            plan = store.db.execute("SELECT planned_sessions, interval_days FROM course_plans").fetchall()
            assert plan == [(6, 3.5)]
            rems = store.db.execute("SELECT reference FROM rems_submissions WHERE session_id = 's1'").fetchall()
            assert rems == [("REMS-1",)]
        report = integrity.verify(store.db.conn, store.keys)
        assert report.ok, [f.text() for f in report.findings]
        origins = {r[0] for r in store.db.execute("SELECT DISTINCT origin FROM chain")}
        # What a version before 6 left unsealed was sealed at the upgrade, marked so; from 6 on everything was.
        assert (integrity.ORIGIN_UPGRADE in origins) == (version < 6), origins
        if version >= 4:  # the account and the approvals written before are trusted after the upgrade
            assert Accounts(store).authenticate("AD", ADMIN_SECRET).role == "admin"
            assert approval.approval_of(store, APPROVED) is not None
            assert approval.approval_of(store, REVOKED) is None
    for path in files_beside(db_path):
        for secret in (MRN, NAME, BIRTH, *QUEUED_IDENTIFIERS):
            assert secret.encode() not in path.read_bytes(), f"{secret} still readable in {path.name}"
    # What the old version recorded is sealed at the upgrade: changing an old row afterwards is found.
    changes = [("readings", "UPDATE readings SET value = 10 WHERE parameter = 'hr' AND t = ?"),
               ("events", "UPDATE events SET user = 'someone' WHERE t = ?"),
               ("alarms", "UPDATE alarms SET message = 'edited' WHERE started_at = ?"),
               ("sessions", "UPDATE sessions SET patient_id = NULL WHERE started_at = ?")]
    if version >= 4:
        changes += [("users", "UPDATE users SET disabled = 1 WHERE created_at = ?"),
                    ("profile_approvals", "UPDATE profile_approvals SET revoked_at = NULL WHERE approved_at = ?")]
    for table, change in changes:
        conn = sqlite3.connect(db_path, isolation_level=None)
        conn.execute("SAVEPOINT tamper")
        at = {"alarms": T0 + 200, "events": T0 + 60, "sessions": T0, "users": T0, "profile_approvals": T0}.get(
            table, T0 + 5)
        conn.execute(change, [at])
        with Store(db_path, readonly=True, check=False) as reader:
            pass
        report = integrity.verify(conn, reader.keys)
        conn.execute("ROLLBACK TO tamper")
        conn.close()
        assert not report.ok, f"a changed {table} row of the old version was not found"
