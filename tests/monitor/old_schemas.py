"""Databases of older schema versions, each holding one recorded session, built as that version built them.

The ordered migrations applied up to N (with this run's key file), then a session written in that version's
tables with plain SQL (patient, session row, readings, a waveform block, events, alarms, audit entries, a live-feed
message waiting with its PID segment, and the rows the later tables of that version hold).
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from pathlib import Path

import sqlite_utils

from monitor import accounts, approval, identifiers, integrity
from monitor.keys import Keys, load_keys
from monitor.store import MIGRATIONS
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
#: A live-feed message as versions before its encryption queued it: its PID segment names the patient.
QUEUED = ("MSH|^~\\&|INFUSION_MONITOR|CHAIR||EMR|20231114221320||ORU^R01|c1|P|2.5.1\r"
          f"PID|||{MRN}^^^&urn:infusion-monitor:mrn&URI^MR||Oldversion^Ada||19580211\r")
#: How the patient's identifiers read in that message (HL7 writes the name and the birth date its own way).
QUEUED_IDENTIFIERS = (MRN, "Oldversion^Ada", "19580211")
#: From version 4: an approved alarm profile and one whose approval was revoked.
APPROVED, REVOKED = "a1" * 32, "b2" * 32


def old_database(path: Path, version: int) -> None:
    """A database at schema ``version`` holding one recorded session, written as that version wrote it."""
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    # From version 4 the key file's keys (made when missing, as those versions did); before, none was made.
    keys = _keys() if version >= 4 else None
    for migration in MIGRATIONS[:version]:
        migration(db, keys)  # the migrations to version 3 take no keys
    conn.execute(f"PRAGMA user_version = {version}")
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
                     "VALUES ('s1', 'c1', ?, ?, ?)", [T0 + 5, T0 + 6, QUEUED])
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


def _keys() -> Keys:
    """This run's keys (INFUSION_MONITOR_KEY_FILE), made when missing, as the old versions did."""
    keys = load_keys()
    assert keys is not None
    return keys


def files_beside(db_path: Path) -> list[Path]:
    """Every file the database left beside it (its log, its journal, and what its ``.locks`` folder holds), where
    an identifier written in the clear would still be read."""
    found: list[Path] = []
    for path in sorted(db_path.parent.glob(db_path.name + "*")):
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found
