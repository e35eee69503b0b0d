"""`infusion-monitor audit`: the audit log read with filters by an admin or a physician, the reading audited.

Before it, the audit log could only be read with an SQLite shell (no filters, no verification, nobody's reading
recorded); a compliance officer asking "who switched the alarms off on the 3rd" had no answer in the product.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import os_user
from monitor.audit_trail import AuditQuery, AuditReadError, day_bound, read_audit
from monitor.cli import main
from monitor.store import Store
from tests.conftest import record_simulated, time_zone


def _run(*argv: str) -> tuple[int, str, str]:
    out = io.StringIO()
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        code = main(list(argv), out=out)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def audited_db(db_path: Path, signed_in_as: Any) -> tuple[Path, str]:
    """A recorded session exported twice (once de-identified) and a physician ``DR`` who may read the log."""
    session_id = record_simulated(db_path)
    signed_in_as(db_path, "DR", "physician")
    for extra in ((), ("--deidentify",)):
        code, _out, err = _run("export", session_id, "--db", str(db_path), "--format", "json",
                               "--out", str(db_path.parent / f"x{len(extra)}.json"), "--user", "DR", *extra)
        assert code == 0, err
    return db_path, session_id


def test_a_physician_reads_what_was_done_to_a_session_and_the_reading_is_audited(audited_db: tuple[Path, str]) -> None:
    db, session_id = audited_db
    code, out, err = _run("audit", "--db", str(db), "--session", session_id[:8], "--action", "export",
                          "--user", "DR")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("verified: audit log and session ")
    assert lines[-1] == "2 entries"
    assert [line.split()[2:4] for line in lines[1:-1]] == [["DR", "export"], ["DR", "export"]]
    assert '"deidentified": true' not in out and "deidentified=true" in lines[2]
    with Store(db, readonly=True) as store:
        read = [row for row in store.audit_log() if row["action"] == "audit_log_read"]
    assert len(read) == 1 and read[0]["user"] == "DR" and read[0]["session_id"] == session_id
    assert json.loads(read[0]["detail"]) == {"entries": 2, "of_action": "export", "format": "text",
                                             "destination": "standard output"}


def test_a_nurse_and_nobody_signed_in_are_refused(audited_db: tuple[Path, str], signed_in_as: Any) -> None:
    db, _ = audited_db
    code, out, err = _run("audit", "--db", str(db))
    assert code != 0 and out == ""
    assert "reading the audit log needs a signed-in admin or physician on this database: give --user NAME" in err
    signed_in_as(db, "RN2", "nurse")
    code, out, err = _run("audit", "--db", str(db), "--user", "RN2")
    assert code != 0 and out == ""
    assert "read by a signed-in admin or physician" in err and "RN2 (nurse)" in err
    with Store(db, readonly=True) as store:
        assert not [row for row in store.audit_log() if row["action"] == "audit_log_read"]
        # The nurse's try is on record (the OS user's, without --user, never reached the log: no sign-in).
        [refused] = [row for row in store.audit_log() if row["action"] == "audit_log_read_refused"]
    assert refused["user"] == "RN2" and json.loads(refused["detail"]) == {"role": "nurse"}


def test_a_database_without_accounts_is_read_by_the_operating_system_user(db_path: Path) -> None:
    """A chair that only runs `record` has no account anyone could give with --user: its operating-system user reads
    the audit log, as it closes a session there, and the reading is audited under that name."""
    session_id = record_simulated(db_path)
    code, out, err = _run("audit", "--db", str(db_path), "--session", session_id[:8])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"verified: audit log and session {session_id[:8]} intact") and len(lines) >= 3
    assert lines[-1].endswith(" entries") or lines[-1] == "1 entry"
    with Store(db_path, readonly=True) as store:
        [read] = [row for row in store.audit_log() if row["action"] == "audit_log_read"]
    assert read["user"] == os_user().name and read["session_id"] == session_id


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_carry_every_entry_with_the_verification(audited_db: tuple[Path, str], fmt: str) -> None:
    db, _ = audited_db
    code, out, err = _run("audit", "--db", str(db), "--by", "dr", "--format", fmt, "--user", "DR")
    assert code == 0, err
    with Store(db, readonly=True) as store:
        log = store.audit_log()
    # Everything DR did up to this reading (its own sign-in included), the reading itself written after it.
    assert log[-1]["action"] == "audit_log_read"
    expected = [(row["id"], row["action"]) for row in log[:-1] if row["user"] == "DR"]
    assert ("sign_in" in {action for _, action in expected}) and len(expected) >= 4
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))
        assert rows[0][0].startswith("# verified: audit log intact") and rows[1][:4] == ["id", "at", "user", "action"]
        assert [(int(r[0]), r[3]) for r in rows[2:]] == expected
    else:
        document = json.loads(out)
        assert document["verified"].startswith("verified: audit log intact")
        assert [(e["id"], e["action"]) for e in document["entries"]] == expected


def test_typed_text_in_a_detail_never_runs_as_a_formula(db_path: Path, signed_in_as: Any) -> None:
    signed_in_as(db_path, "DR", "physician")
    with Store(db_path) as store:
        store.audit("note_typed", user="=HYPERLINK(\"http://x\")", reason="=1+1")
    code, out, err = _run("audit", "--db", str(db_path), "--action", "note_typed", "--format", "csv", "--user", "DR")
    assert code == 0, err
    row = list(csv.reader(io.StringIO(out)))[2]
    assert row[2].startswith("'=") and not row[5].startswith(("=", "+", "-", "@"))


def test_a_day_is_taken_whole_and_a_bad_date_is_named() -> None:
    start, end = day_bound("2026-12-03"), day_bound("2026-12-03", end=True)
    assert end - start in (23 * 3600, 24 * 3600, 25 * 3600)  # a day, whatever the clock change
    assert day_bound("2026-12-03T10:30+00:00") == 1796293800.0
    with pytest.raises(AuditReadError, match=r"'3\.12\.2026' is not a date"):
        day_bound("3.12.2026")


def _utc(*fields: int) -> float:
    return dt.datetime(*fields, tzinfo=dt.UTC).timestamp()


@pytest.mark.parametrize(("zone", "typed", "readings"), [
    ("America/New_York", "2026-11-01T01:30",
     "'2026-11-01T01:30-04:00' (01:30 EDT) or '2026-11-01T01:30-05:00' (01:30 EST)"),
    ("Europe/Berlin", "2026-03-29T02:30",
     "'2026-03-29T02:30+01:00' (03:30 CEST) or '2026-03-29T02:30+02:00' (01:30 CET)"),
])
def test_a_local_time_the_clock_showed_twice_or_never_is_refused_naming_both_readings(
    zone: str, typed: str, readings: str
) -> None:
    """01:30 on the night the clocks went back was taken as 01:30 EDT alone (an entry at 01:30:01 EST was left
    out); 02:30 on the night they went forward became 01:30 CET, and an entry 45 minutes before it was shown."""
    with time_zone(zone), pytest.raises(AuditReadError) as refused:
        day_bound(typed)
    assert str(refused.value).endswith(f"add the UTC offset meant, {readings}")


def test_a_time_with_its_offset_and_whole_days_across_a_change_are_taken() -> None:
    with time_zone("America/New_York"):
        assert day_bound("2026-11-01T01:30-04:00") == _utc(2026, 11, 1, 5, 30)
        assert day_bound("2026-11-01T01:30-05:00") == _utc(2026, 11, 1, 6, 30)
        assert day_bound("2026-11-01T02:30") == _utc(2026, 11, 1, 7, 30)
        assert day_bound("2026-11-01", end=True) - day_bound("2026-11-01") == 25 * 3600
    with time_zone("Europe/Berlin"):
        assert day_bound("2026-03-29T03:30") == _utc(2026, 3, 29, 1, 30)
        assert day_bound("2026-03-29", end=True) - day_bound("2026-03-29") == 23 * 3600


def test_the_command_names_the_bound_it_refuses(audited_db: tuple[Path, str]) -> None:
    db, _ = audited_db
    with time_zone("America/New_York"):
        code, out, err = _run("audit", "--db", str(db), "--action", "export", "--since", "2026-11-01T01:30",
                              "--until", "2026-11-01T01:45", "--user", "DR")
    assert code != 0 and out == ""
    assert "--since: '2026-11-01T01:30' came twice on this computer's clock (the clocks went back)" in err


def test_filters_in_time_and_an_empty_span(audited_db: tuple[Path, str], signed_in_as: Any) -> None:
    db, _ = audited_db
    from monitor.accounts import Accounts

    with Store(db) as store:
        reader = Accounts(store).authenticate("DR", "physician-secret-1")
        everything = read_audit(store, AuditQuery(), reader).entries
        middle = everything[len(everything) // 2].at
        later = read_audit(store, AuditQuery(since=middle), reader).entries
        assert later and all(e.at >= middle for e in later) and len(later) < len(everything) + 1
        with pytest.raises(AuditReadError, match="not after --since"):
            read_audit(store, AuditQuery(since=middle, until=middle), reader)


def test_reading_the_audit_log_checks_the_log_not_the_whole_record(
    audited_db: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing two export entries ran SQLite's check of the whole file and hashed every stored reading again: 55 s
    on a chair's 1.63 GiB file. It checks what it shows, the audit log's entries against their links, and says so."""
    from monitor import integrity
    from monitor.store import chain

    db, _ = audited_db
    file_checks: list[bool] = []
    compared: list[str] = []
    original = integrity.row_content

    def counted(conn: Any, table: str, row_key: str) -> str | None:
        compared.append(table)
        return original(conn, table, row_key)

    monkeypatch.setattr(chain, "integrity_check", lambda conn, *, quick: file_checks.append(quick) or "ok")
    monkeypatch.setattr(integrity, "row_content", counted)
    code, out, err = _run("audit", "--db", str(db), "--action", "export", "--user", "DR")
    assert code == 0, err
    assert out.splitlines()[0].startswith("verified: audit log intact (")
    assert "the whole record: `infusion-monitor verify`" in out.splitlines()[0]
    assert file_checks == [], "reading the audit log ran SQLite's check of the whole file"
    assert compared and set(compared) == {"audit"}, set(compared)


def test_an_audit_entry_changed_behind_the_program_is_named_on_the_first_line(
    audited_db: tuple[Path, str]
) -> None:
    from monitor.store import chain

    db, _ = audited_db
    conn = sqlite3.connect(db)
    with conn:
        for name in chain.APPEND_ONLY_TRIGGERS:
            conn.execute(f"DROP TRIGGER {name}")
        changed = conn.execute("SELECT MIN(id) FROM audit WHERE action = 'export'").fetchone()[0]
        conn.execute("UPDATE audit SET user = 'someone' WHERE id = ?", [changed])
        for statement in chain.APPEND_ONLY_TRIGGERS.values():
            conn.execute(statement)
    conn.close()
    code, out, err = _run("audit", "--db", str(db), "--action", "export", "--user", "DR")
    assert code == 0, err
    assert out.splitlines()[0] == f"NOT VERIFIED: audit {changed}: changed after it was written"
