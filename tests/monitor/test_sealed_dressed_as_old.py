"""A sealed database made to look like one from before the record chain, by someone who can write the file but has
not the key file: upgrading it would seal every row it holds, edited ones included, and its accounts would be gone,
so the first run would make anyone an admin. The computer that saw it sealed refuses it, and ``verify`` names it."""

from __future__ import annotations

import hashlib
import io
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.store import Store, StoreError, witness
from tests.conftest import record_simulated
from tests.monitor.first_admin import assert_no_first_admin
from tests.monitor.test_upgrade_reseal import _by_hand

#: The append-only guards, put back with the text this program gives them once the audit log was thinned.
GUARDS = [f"CREATE TRIGGER audit_no_{event.lower()} BEFORE {event} ON audit BEGIN SELECT RAISE(ABORT, "
          "'the audit log is append-only'); END" for event in ("UPDATE", "DELETE")]
#: A schema-8 database rebuilt in the shape of a schema-3 one: readings edited, the accounts and what shows them
#: removed, every table and column of the chained schemas dropped, identifiers replaced, the version set back.
DRESSED_AS_SCHEMA_3 = [
    "UPDATE readings SET value = 84 WHERE id IN (SELECT id FROM readings WHERE parameter = 'spo2' "
    "ORDER BY t DESC LIMIT 60)",
    "DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete",
    "DELETE FROM audit WHERE action IN ('user_added', 'sign_in', 'sign_in_failed')",
    *GUARDS,
    *(f"DROP TABLE {table}" for table in ("users", "profile_approvals", "chain", "chain_head", "security",
                                          "writer_runs")),
    "DROP INDEX patients_mrn_lookup", "ALTER TABLE patients DROP COLUMN mrn_lookup",
    "UPDATE patients SET mrn = 'MRN-FAKE', name = NULL, birth_date = NULL",
    "PRAGMA user_version = 3",
]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
         typed: str = "") -> tuple[int, str]:
    """One command through the command line's entry point, ``typed`` on its standard input; its exit status and
    everything it said."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue() + capsys.readouterr().err


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_sealed_database_rebuilt_as_a_schema_3_one_is_refused_and_named_not_sealed_again(
        db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture) -> None:
    db = str(db_path)
    assert _run(monkeypatch, capsys, "users", "add", "alice", "--role", "admin", "--db", db,
                typed="alice-secret-1\nalice-secret-1\n")[0] == 0
    code, said = _run(monkeypatch, capsys, "record", "--db", db, "--speed", "max", "--plan",
                      "baseline:1,infusion:1,recovery:1", "--patient", "-", "--quiet", typed="MRN-L3\n")
    assert code == 0, said
    assert _run(monkeypatch, capsys, "verify", "--db", db)[0] == 0
    _by_hand(db_path, *DRESSED_AS_SCHEMA_3)  # with SQLite alone, no key file
    before = _sha256(db_path)

    code, said = _run(monkeypatch, capsys, "verify", "--db", db)
    assert code == 1, said
    assert "NOT VERIFIED: this computer saw the database under this name sealed" in said
    assert "now says it predates the record chain (schema 3): it was replaced or tampered with" in said
    assert "nothing in it can show tampering" not in said

    with caplog.at_level(logging.WARNING):
        code, said = _run(monkeypatch, capsys, "users", "add", "mallory", "--role", "admin", "--db", db,
                          typed="mallory-1\nmallory-1\n")
    assert code != 0, said
    assert "replaced or tampered with. Nothing was changed in it and it is not upgraded" in said
    assert "account 'mallory'" not in said
    assert any("replaced or tampered with; refused" in record.getMessage() for record in caplog.records)
    code, said = _run(monkeypatch, capsys, "sessions", "--db", db)
    assert code != 0 and "replaced or tampered with" in said, said

    code, said = _run(monkeypatch, capsys, "verify", "--db", db)
    assert code == 1 and "replaced or tampered with" in said, said
    assert "verified: nothing was changed" not in said
    assert _sha256(db_path) == before, "the refused file was written into"
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'chain'").fetchone() is None
    finally:
        conn.close()


def test_a_sealed_database_whose_version_alone_was_set_back_names_the_changed_rows(db_path: Path) -> None:
    record_simulated(db_path, plan="baseline:1,infusion:1,recovery:1")
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    # Without the note too: the chain's own tables are what a schema-3 file cannot hold.
    witness.note_path(keys, db_path).unlink()
    _by_hand(db_path, "UPDATE readings SET value = 84 WHERE parameter = 'spo2'", "PRAGMA user_version = 3")

    out = io.StringIO()
    assert main(["verify", "--db", str(db_path), "--all"], out=out) == 1, out.getvalue()
    said = out.getvalue()
    assert "NOT VERIFIED: first broken link: database: it says schema 3, from before the record chain, but holds " \
           "chain, chain_head, security" in said
    assert "its version was set back outside this program" in said
    assert "changed after it was written" in said and "readings " in said
    assert "predates the record chain (schema 3); nothing in it can show tampering" not in said

    with pytest.raises(StoreError, match=r"its version was set back outside this program\. Nothing was changed"):
        Store(db_path)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    finally:
        conn.close()


def test_a_chain_emptied_with_the_accounts_and_their_audit_entries_is_found_behind_the_note(
        db_path: Path, accounts_in: Any) -> None:
    """The chain begun again at the next opening must not be taken for another database's: the note still says
    what this computer saw, so the first run stays closed and ``verify`` says records are missing."""
    accounts_in(db_path)  # the clinic's admin AD and nurse RN
    record_simulated(db_path, plan="baseline:1,infusion:1,recovery:1")  # rows the opening finds unsealed
    _by_hand(db_path, "DELETE FROM chain", "DELETE FROM chain_head", "DELETE FROM users",
             "DROP TRIGGER audit_no_delete", "DELETE FROM audit WHERE action IN ('user_added', 'sign_in')", GUARDS[1])
    with Store(db_path) as store:
        assert store.rolled_back is not None and "this computer saw link" in store.rolled_back
        assert_no_first_admin(store, "the chain, the accounts and their audit entries emptied by hand")
    out = io.StringIO()
    assert main(["verify", "--db", str(db_path)], out=out) == 1
    assert "NOT VERIFIED: records are missing: found at its opening" in out.getvalue()
