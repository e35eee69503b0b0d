"""Every older schema version, holding a recorded session, upgrades to the current one without losing anything.

Each old database is built the way that version built it: the ordered migrations applied up to N, then a
session written in that version's tables with plain SQL (patient, session row, readings, a waveform block,
events, alarms, audit entries, and the rows the later tables of that version hold). Opening it with the
current :class:`Store` must keep every row, readable through the store's own queries, and seal it.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from pathlib import Path

import pytest
import sqlite_utils

from drivers.core.readings import Parameter
from monitor import accounts, approval, identifiers, integrity
from monitor.accounts import Accounts
from monitor.keys import load_keys
from monitor.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.conftest import ADMIN_SECRET

MRN = "MRN-OLD-0815"
NAME = "Ada Oldversion"
BIRTH = "1958-02-11"
T0 = 1_700_000_000.0
READINGS = [(T0 + i, parameter, value, unit)
            for i in range(240)
            for parameter, value, unit in (("spo2", 94.0 + i % 4, "%"), ("hr", 70.0 + i % 9, "/min"))]
PLETH = [50.0 + (i % 25) for i in range(250)]
EVENTS = [(T0, "session_started", "setup", "RN", {"driver": "simulated"}),
          (T0 + 60, "baseline_started", "baseline", "RN", {}),
          (T0 + 180, "infusion_started", "infusion", "DrX", {"override_reason": "usual for this patient"})]
ALARM_COLUMNS = ("id", "condition", "parameter", "priority", "kind", "started_at", "ended_at", "limit",
                 "peak_value", "escalations", "acknowledged_at", "acknowledged_by", "message", "state")
ALARMS = [
    ("a-spo2", "spo2_low", "spo2", "high", "physiological", T0 + 200, T0 + 230, 90.0, 86.0,
     json.dumps([{"at": T0 + 210, "from": "medium", "to": "high", "reason": "unacknowledged for 30 s"}]),
     T0 + 231, "RN", "SpO2 86 < 90 %", "ended"),
    ("a-link", "link_lost", None, "medium", "technical", T0 + 235, None, None, None, "[]", None, None,
     "Device link lost", "active"),
]
AUDIT = [(T0, "RN", "session_started", {"driver": "simulated"}), (T0 + 180, "DrX", "start_infusion", {"x": 1})]
#: From version 4: an approved alarm profile and one whose approval was revoked.
APPROVED, REVOKED = "a1" * 32, "b2" * 32


def _old_database(path: Path, version: int) -> None:
    """A database at schema ``version`` holding one recorded session, written as that version wrote it."""
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migration in MIGRATIONS[:version]:
        migration(db)
    conn.execute(f"PRAGMA user_version = {version}")
    keys = load_keys() if version >= 4 else None
    if keys is not None:  # from version 4 identifiers are encrypted, with the MRN's keyed hash
        conn.execute("INSERT INTO patients (id, mrn, name, birth_date, mrn_lookup, created_at) "
                     "VALUES ('p1', ?, ?, ?, ?, ?)",
                     [identifiers.encrypt(keys, "p1", "mrn", MRN), identifiers.encrypt(keys, "p1", "name", NAME),
                      identifiers.encrypt(keys, "p1", "birth_date", BIRTH), identifiers.mrn_lookup(keys, MRN), T0])
    else:
        conn.execute("INSERT INTO patients (id, mrn, name, birth_date, created_at) VALUES ('p1', ?, ?, ?, ?)",
                     [MRN, NAME, BIRTH, T0])
    columns = {"id": "s1", "patient_id": "p1", "started_at": T0, "ended_at": T0 + 300, "status": "complete",
               "phase": "complete", "phases_reached": json.dumps(["setup", "baseline", "infusion", "complete"]),
               "driver": "simulated", "port": "", "device": "sim-1", "plan": "", "baseline": "", "nurse": "RN"}
    if version >= 3:
        columns.update(protocol="default", protocol_sha256="ab" * 32)
    conn.execute(f"INSERT INTO sessions ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                 list(columns.values()))
    conn.executemany("INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                     "VALUES ('s1', ?, ?, ?, ?, '', 'sim')", READINGS)
    conn.execute("INSERT INTO waveforms (session_id, parameter, t0, rate_hz, n, samples, source, status) "
                 "VALUES ('s1', 'pleth', ?, 50.0, ?, ?, 'sim', '')",
                 [T0 + 100, len(PLETH), array("f", PLETH).tobytes()])
    conn.executemany("INSERT INTO events (session_id, t, kind, phase, user, detail) VALUES ('s1', ?, ?, ?, ?, ?)",
                     [(t, kind, phase, user, json.dumps(detail)) for t, kind, phase, user, detail in EVENTS])
    quoted = ", ".join(f'"{c}"' for c in ALARM_COLUMNS)
    marks = ", ".join("?" for _ in ALARM_COLUMNS)
    conn.executemany(f"INSERT INTO alarms (session_id, {quoted}) VALUES ('s1', {marks})", ALARMS)
    conn.executemany("INSERT INTO audit (at, user, action, session_id, detail) VALUES (?, ?, ?, 's1', ?)",
                     [(at, user, action, json.dumps(detail)) for at, user, action, detail in AUDIT])
    if version >= 2:
        conn.execute("INSERT INTO feed_queue (session_id, control_id, observed_at, queued_at, message) "
                     "VALUES ('s1', 'c1', ?, ?, 'MSH|^~\\&|held')", [T0 + 5, T0 + 6])
        conn.execute("INSERT INTO feed_cursor (session_id, last_reading_id, next_number, attached_at) "
                     "VALUES ('s1', 17, 18, ?)", [T0])
    if version >= 3:
        conn.execute("INSERT INTO course_plans (patient_id, planned_sessions, interval_days, booster_interval_days, "
                     "updated_at) VALUES ('p1', 6, 3.5, 28, ?)", [T0])
        conn.execute("INSERT INTO rems_submissions (session_id, submitted_at, submitted_by, reference) "
                     "VALUES ('s1', ?, 'RN', 'REMS-1')", [T0 + 400])
    if keys is not None:  # accounts and approvals came with version 4, each row under its own keyed hash
        secret_hash = accounts.HASHER.hash(ADMIN_SECRET)
        conn.execute("INSERT INTO users (name, role, secret_hash, created_at, changed_at, mac) "
                     "VALUES ('AD', 'admin', ?, ?, ?, ?)",
                     [secret_hash, T0, T0, accounts._row_mac(keys, "AD", "admin", secret_hash, 0)])
        for sha256, revoked_at in ((APPROVED, None), (REVOKED, T0 + 50)):
            conn.execute("INSERT INTO profile_approvals (sha256, name, approved_by, approved_at, below_floors, text, "
                         "revoked_at, revoked_by, mac) VALUES (?, 'North', 'AD', ?, 0, '# profile', ?, ?, ?)",
                         [sha256, T0, revoked_at, revoked_at and "AD",
                          approval._mac(keys, sha256, "North", "AD", T0, 0)])
        # Version 4 sealed every row but the sessions' as it wrote them, version 5 the sessions' too (neither
        # the accounts' nor the approvals'), version 6 those too.
        versions = dict.fromkeys(["alarms", "sessions", "users", "profile_approvals"][:{4: 1, 5: 2}.get(version, 4)])
        conn.execute("BEGIN")
        integrity.seal(conn, keys, versions=versions)
        conn.execute("COMMIT")
    conn.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_an_old_database_holding_a_session_upgrades_without_losing_anything(db_path: Path, version: int) -> None:
    _old_database(db_path, version)
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
            queued = store.db.execute("SELECT control_id, message FROM feed_queue WHERE session_id = 's1'").fetchall()
            assert queued == [("c1", "MSH|^~\\&|held")]
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
    for path in db_path.parent.glob(db_path.name + "*"):
        for secret in (MRN, NAME, BIRTH):
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
