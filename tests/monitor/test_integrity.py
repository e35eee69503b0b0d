"""The record shows tampering: each attack on the audit log, events, alarms and readings is found by `verify`.

The attacks are carried out with a separate plain ``sqlite3`` connection, as someone with the
file but without the key file would: drop the append-only triggers, change or delete rows,
recreate the triggers, VACUUM.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from monitor.alarms.engine import AlarmEngine
from monitor.cli import main
from monitor.integrity import verify
from monitor.store import Store
from tests.conftest import record_simulated

PLAN = "baseline:2,infusion:25,recovery:5"


@pytest.fixture
def recorded(db_path: Path) -> str:
    """A desaturation session with alarms, events, audit entries and readings; returns its id."""
    session_id = record_simulated(db_path, scenario="desaturation", plan=PLAN, alarms=AlarmEngine())
    with Store(db_path) as store:
        store.audit("set_limit", user="AD", session_id=session_id, rule="spo2_low_severe", limit=88)
    return session_id


def _verify(db_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["verify", "--db", str(db_path), "--all"], out=out)
    return code, out.getvalue()


def _tamper(db_path: Path, *statements: str) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


DROP = ("DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete")
RECREATE = (
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'append-only'); END",
)


def test_an_untouched_record_verifies(db_path: Path, recorded: str) -> None:
    code, text = _verify(db_path)
    assert code == 0, text
    assert "verified" in text and "NOT VERIFIED" not in text
    with Store(db_path, readonly=True) as store:
        report = verify(store.db.conn, store.keys)
        tables = {r[0] for r in store.db.execute("SELECT DISTINCT tbl FROM chain")}
        alarms = store.alarms(recorded)
    assert report.ok and report.session_verified(recorded)
    assert {"audit", "events", "alarms", "readings"} <= tables
    assert alarms, "the desaturation scenario raises alarms"


def test_the_rewritten_audit_log_of_the_issue_is_found(db_path: Path, recorded: str) -> None:
    """Drop both triggers, change a user, delete the set_limit row, recreate the triggers, VACUUM."""
    _tamper(
        db_path,
        *DROP,
        "UPDATE audit SET user = 'someone else' WHERE action = 'session_started'",
        "DELETE FROM audit WHERE action = 'set_limit'",
        *RECREATE,
        "VACUUM",
    )
    code, text = _verify(db_path)
    assert code == 1
    assert "database integrity check: ok" in text  # SQLite itself sees nothing wrong
    assert "changed after it was written" in text
    assert "deleted after it was written" in text
    with Store(db_path, readonly=True) as store:
        report = verify(store.db.conn, store.keys)
    assert not report.session_verified(recorded)


def test_dropping_the_triggers_alone_is_reported(db_path: Path, recorded: str) -> None:
    _tamper(db_path, *DROP)
    code, text = _verify(db_path)
    assert code == 1
    assert "trigger audit_no_update: missing" in text


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("UPDATE events SET user = 'X' WHERE id = (SELECT MIN(id) FROM events)", "changed after it was written"),
        ("DELETE FROM events WHERE kind = 'infusion_started'", "deleted after it was written"),
        ("UPDATE alarms SET priority = 'low'", "changed after it was written"),
        ("DELETE FROM alarms", "deleted after it was written"),
        ("UPDATE readings SET value = 97 WHERE parameter = 'spo2' AND value < 90", "changed after it was written"),
        ("DELETE FROM readings WHERE id = (SELECT MAX(id) FROM readings)", "deleted after it was written"),
        ("INSERT INTO events (session_id, t, kind, phase, user, detail) "
         "SELECT session_id, t, 'note', phase, 'X', '{}' FROM events LIMIT 1", "not in the chain"),
        ("INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
         "SELECT session_id, t, parameter, value, unit, status, source FROM readings LIMIT 1", "not in the chain"),
        # The session itself: moved to another patient, or its phases and status rewritten.
        ("UPDATE sessions SET patient_id = 'another-patient'", "changed after it was written"),
        ("UPDATE sessions SET status = 'closed', phases_reached = '[\"setup\"]'", "changed after it was written"),
        ("INSERT INTO sessions (id, started_at, status, phase, phases_reached, driver) "
         "VALUES ('forged', 1, 'complete', 'complete', '[]', 'simulated')", "not in the chain"),
    ],
)
def test_each_change_to_events_alarms_readings_and_sessions_is_found(
    db_path: Path, recorded: str, statement: str, expected: str
) -> None:
    _tamper(db_path, statement, "VACUUM")
    code, text = _verify(db_path)
    assert code == 1, text
    assert expected in text


def test_removing_chain_links_is_found(db_path: Path, recorded: str) -> None:
    _tamper(db_path, "DELETE FROM chain WHERE seq = 3")
    code, text = _verify(db_path)
    assert code == 1
    assert "first broken link: chain link 3: removed" in text


def test_cutting_the_end_of_the_chain_and_its_rows_is_found(db_path: Path, recorded: str) -> None:
    """The last audit row and its link go; the head's keyed hash still names the old end."""
    _tamper(
        db_path,
        *DROP,
        "DELETE FROM audit WHERE action = 'set_limit'",
        "DELETE FROM chain WHERE seq = (SELECT MAX(seq) FROM chain)",
        "UPDATE chain_head SET seq = seq - 1, mac = (SELECT mac FROM chain ORDER BY seq DESC LIMIT 1)",
        *RECREATE,
    )
    code, text = _verify(db_path)
    assert code == 1
    assert "chain head: altered" in text


def test_a_forged_link_without_the_key_is_found(db_path: Path, recorded: str) -> None:
    """Change a row and rewrite its link's content hash (but the keyed hash cannot be made)."""
    import hashlib

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM events ORDER BY id LIMIT 1").fetchone())
    row["user"] = "forger"
    content = hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    conn.execute("UPDATE events SET user = 'forger' WHERE id = ?", [row["id"]])
    conn.execute("UPDATE chain SET content = ? WHERE tbl = 'events' AND row_key = ?", [content, str(row["id"])])
    conn.close()
    code, text = _verify(db_path)
    assert code == 1
    assert "altered, forged or out of order" in text


def test_rows_added_while_the_program_was_not_running_are_flagged_at_the_next_start(
    db_path: Path, recorded: str
) -> None:
    _tamper(db_path, "INSERT INTO audit (at, user, action, session_id, detail) "
                     "VALUES (1, 'AD', 'set_limit', NULL, '{}')")
    with Store(db_path):  # the next start seals what it finds, marked as written from outside
        pass
    code, text = _verify(db_path)
    assert code == 1
    assert "written outside this program" in text


def test_verify_with_another_key_file_says_so(db_path: Path, recorded: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from monitor.keys import forget_cached_keys

    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(tmp_path / "other" / "monitor.key"))
    forget_cached_keys()
    from monitor.keys import load_keys

    load_keys()  # a different, fresh key file
    assert main(["verify", "--db", str(db_path)], out=io.StringIO()) == 1
    assert "written with another key file" in capsys.readouterr().err


def test_rows_slipped_in_while_the_program_writes_are_not_sealed_as_its_own(db_path: Path, recorded: str) -> None:
    with Store(db_path) as store:
        _tamper(db_path, "INSERT INTO events (session_id, t, kind, phase, user, detail) "
                         "VALUES ('x', 1, 'note', 'setup', 'forger', '{}')",
                "INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                "VALUES ('x', 1, 'spo2', 99, '%', '', 'forger')")
        store.audit("probe", user="RN")  # the program's next write
        from drivers.core.readings import Parameter, Reading

        store.write_batch("x", readings=[Reading(2.0, Parameter.SPO2, 98.0, "sim")])
    code, text = _verify(db_path)
    assert code == 1
    assert "events" in text and "readings" in text and text.count("written outside this program") >= 2
    with Store(db_path, readonly=True) as store:
        own = store.db.execute("SELECT origin FROM chain WHERE tbl = 'audit' ORDER BY seq DESC LIMIT 1").fetchone()
    assert own[0] == "write"


def test_a_sessions_check_names_its_own_unchained_readings_before_and_after_the_sealed_ids(
    db_path: Path, recorded: str
) -> None:
    """Readings slipped in with ids below and above every sealed range are found for their session;
    another session's are left to that session's check."""
    insert = ("INSERT INTO readings (id, session_id, t, parameter, value, unit, status, source) "
              "VALUES ({id}, {session}, 1, 'spo2', 99, '%', '', 'forger')")
    top = 10_000_000
    _tamper(db_path, insert.format(id=-5, session=f"'{recorded}'"), insert.format(id=top, session="'other'"),
            insert.format(id=top + 2, session=f"'{recorded}'"))
    conn = sqlite3.connect(db_path)
    try:
        with Store(db_path, readonly=True) as store:
            report = verify(conn, store.keys, session_id=recorded)
    finally:
        conn.close()
    unchained = [f.where for f in report.findings if "not in the chain" in f.what]
    assert unchained == ["readings -5", f"readings {top + 2}"]
    assert report.session_text(recorded) == "NOT VERIFIED: readings -5: not in the chain (added outside this program)"


def test_a_change_to_one_session_is_found_when_another_session_was_sealed_last(db_path: Path, recorded: str) -> None:
    """The chain's last link belongs to a later session: a check of the earlier one, and of the whole file,
    still compares the earlier session's rows."""
    later = record_simulated(db_path, scenario="normal", plan="baseline:2,infusion:5,recovery:2",
                             start_time=1_790_100_000.0)
    conn = sqlite3.connect(db_path)
    try:
        last_owner = conn.execute("SELECT session_id FROM chain ORDER BY seq DESC LIMIT 1").fetchone()[0]
        (reading_id,) = conn.execute("SELECT MIN(id) FROM readings WHERE session_id = ?", [recorded]).fetchone()
    finally:
        conn.close()
    assert last_owner == later, "the premise: the later session holds the chain's last link"
    _tamper(db_path, f"UPDATE readings SET value = value + 10 WHERE id = {reading_id}")
    with Store(db_path, readonly=True) as store:
        earlier_only = verify(store.db.conn, store.keys, session_id=recorded)
        later_only = verify(store.db.conn, store.keys, session_id=later)
        everything = verify(store.db.conn, store.keys)
    for report in (earlier_only, everything):
        assert [f.what for f in report.findings] == ["changed after it was written"], report.findings
        assert report.findings[0].session_id == recorded
    assert not earlier_only.session_verified(recorded)
    assert earlier_only.session_text(recorded).startswith("NOT VERIFIED: readings ")
    assert later_only.session_verified(later), later_only.findings


def test_who_holds_a_session_and_its_heartbeat_are_not_the_record(db_path: Path, recorded: str) -> None:
    """They change while a session records (and when another process takes it over): not sealed."""
    _tamper(db_path, "UPDATE sessions SET owner_pid = 4242, owner_host = 'other', heartbeat_at = 1")
    code, text = _verify(db_path)
    assert code == 0, text


def test_a_session_identified_and_completed_at_the_chair_verifies(db_path: Path) -> None:
    """Every change the program makes to a session (patient, phases, status) is sealed as it is written."""
    import math

    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder

    with Store(db_path) as store:
        recorder = Recorder.new_session(store, SimulatedSource(seed=5, speed=math.inf), driver="simulated",
                                        port=None, plan=SessionPlan(1, 2, 1), autopilot=True, nurse="RN")
        recorder.submit("identify_patient", "RN", mrn="MRN-SEAL-1", patient_name="Ida Sealed")
        recorder.run()
        links = store.db.execute("SELECT COUNT(*) FROM chain WHERE tbl = 'sessions'").fetchone()[0]
    assert links >= 3  # created, identified, phases, completed
    code, text = _verify(db_path)
    assert code == 0, text


@pytest.mark.parametrize("key_length", [1, 32, 64, 65, 200])
def test_the_chains_keyed_hash_is_hmac_sha256(key_length: int) -> None:
    """The links' keyed hash is computed from prepared SHA-256 states (it runs millions of times a year): it must
    stay exactly HMAC-SHA256 (RFC 2104), whatever the key's length, so any other tool can check a link."""
    import hashlib
    import hmac
    import random

    from monitor.integrity import _keyed_hash

    rng = random.Random(key_length)
    key = bytes(rng.randrange(256) for _ in range(key_length))
    for message in ("", "1\x1freadings\x1f1-40\x1fs1\x1fwrite\x1f1.5\x1fabc\x1f", "é" * 300):
        assert _keyed_hash(key, message) == hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
