"""A database restored from its backup on the computer that wrote it: refused until an admin accepts the restore
(documented command, sign-in, what is accepted said and audited), then verified again; exports agree with
``verify`` meanwhile. Real files: the backup is the database and its write-ahead log copied while in use."""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.cli import main
from monitor.store import RESTORE_ACCEPTED_ACTION, ROLLED_BACK_ACTION, Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET, REPO_ROOT, record_simulated

ACCEPT = "verify --accept-restore"


def _files(db: Path) -> list[Path]:
    return [db, Path(f"{db}-wal")]


def _back_up_while_open(db: Path, backup: Path) -> None:
    """The clinic's backup: the database and its write-ahead log copied while a program has it open."""
    backup.mkdir()
    with Store(db) as store:
        store.audit("note", user="RN", text="written just before the backup")  # still in the -wal
        assert Path(f"{db}-wal").stat().st_size > 0
        for file in _files(db):
            shutil.copy(file, backup / file.name)


def _restore(backup: Path, db: Path) -> None:
    """Disk trouble: the database's files replaced by the backup's."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for file in _files(db):
        shutil.copy(backup / file.name, file)


def _run(*argv: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def _csv_verification(db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, admin: bool = False) -> str:
    """The export's verification line (``admin``: exported by the admin AD, once the database has accounts)."""
    target = tmp_path / "export.csv"
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the export's second process checks with this code too
    who = ("--user", "AD") if admin else ()
    code, _ = _run("export", "latest", "--format", "csv", "--out", str(target), "--db", str(db), *who,
                   stdin=f"{ADMIN_SECRET}\n" if admin else "", monkeypatch=monkeypatch)
    assert code == 0
    return target.read_text().splitlines()[0]


def test_a_restore_without_accounts_is_accepted_then_verifies_and_the_first_admin_can_be_made(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    record_simulated(db_path)
    _back_up_while_open(db_path, tmp_path / "backup")
    record_simulated(db_path, seed=2, start_time=1_790_010_000.0)  # recorded after the backup: lost by the restore
    _restore(tmp_path / "backup", db_path)

    code, _ = _run("users", "add", "AD", "--role", "admin", "--db", str(db_path), stdin=f"{ADMIN_SECRET}\n",
                   monkeypatch=monkeypatch)
    refusal = capsys.readouterr().err
    assert code == 1 and "put back to an older copy" in refusal and ACCEPT in refusal, refusal
    code, text = _run("verify", "--db", str(db_path), monkeypatch=monkeypatch)
    assert code == 1 and "NOT VERIFIED: records are missing" in text and ACCEPT in text, text
    assert "missing: " in text and " links written between " in text, text
    # Nobody reads it out until the restore is accepted: its record shows lost links, perhaps accounts among them.
    code, _ = _run("export", "latest", "--format", "csv", "--out", str(tmp_path / "early.csv"), "--db", str(db_path),
                   monkeypatch=monkeypatch)
    refusal = capsys.readouterr().err
    assert code == 1 and "its record shows accounts it no longer holds" in refusal, refusal
    assert not (tmp_path / "early.csv").exists()

    code, text = _run("verify", "--accept-restore", "--db", str(db_path), monkeypatch=monkeypatch)
    assert code == 0, text
    assert "accepted as a restore from a backup" in text and " links written between " in text, text
    assert "verified: nothing was changed" in text and "accepted as a restore by first run" in text, text
    with Store(db_path) as store:
        log = store.audit_log()
    (found,) = [row for row in log if row["action"] == ROLLED_BACK_ACTION]
    (accepted,) = [row for row in log if row["action"] == RESTORE_ACCEPTED_ACTION]
    detail = json.loads(accepted["detail"])
    assert detail["accepted"] == [found["id"]] and accepted["user"] == "first run"
    assert detail["missing"][0] == json.loads(found["detail"])["missing"]
    assert json.loads(found["detail"])["links_seen"] > json.loads(found["detail"])["links_held"]

    code, _ = _run("users", "add", "AD", "--role", "admin", "--db", str(db_path), stdin=f"{ADMIN_SECRET}\n",
                   monkeypatch=monkeypatch)
    assert code == 0, capsys.readouterr().err
    assert _run("verify", "--db", str(db_path), monkeypatch=monkeypatch)[0] == 0
    line = _csv_verification(db_path, tmp_path, monkeypatch, admin=True)
    assert "record intact" in line and "restored from a backup, accepted by first run" in line, line


def test_a_restore_of_a_database_with_accounts_is_accepted_by_an_admin_only(
        db_path: Path, tmp_path: Path, accounts_in: object, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_in(db_path)  # type: ignore[operator]  # admin AD, nurse RN
    _back_up_while_open(db_path, tmp_path / "backup")
    record_simulated(db_path)
    _restore(tmp_path / "backup", db_path)
    code, _ = _run("verify", "--accept-restore", "--db", str(db_path), monkeypatch=monkeypatch)
    assert code == 1
    code, _ = _run("verify", "--accept-restore", "--user", "RN", "--db", str(db_path), stdin=f"{NURSE_SECRET}\n",
                   monkeypatch=monkeypatch)
    assert code == 1
    assert _run("verify", "--db", str(db_path), monkeypatch=monkeypatch)[0] == 1
    code, text = _run("verify", "--accept-restore", "--user", "AD", "--db", str(db_path),
                      stdin=f"{ADMIN_SECRET}\n", monkeypatch=monkeypatch)
    assert code == 0 and "accepted as a restore by AD" in text, text
    with Store(db_path) as store:
        refused = [json.loads(r["detail"]) for r in store.audit_log() if r["action"] == "manage_users_refused"]
    assert refused and refused[-1]["attempted"] == "accept a restored database"


def _restore_from_before_the_accounts(db: Path, tmp_path: Path) -> None:
    """A backup taken before the first admin was made, restored after."""
    record_simulated(db)
    _back_up_while_open(db, tmp_path / "backup")
    with Store(db) as store:
        Accounts(store).add("AD", "admin", ADMIN_SECRET, by=None)
    _restore(tmp_path / "backup", db)


def test_a_restore_that_lost_the_accounts_is_not_accepted_without_an_admin(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy predates the accounts: accepting it without a sign-in would let anyone make the first admin."""
    _restore_from_before_the_accounts(db_path, tmp_path)
    code, _ = _run("verify", "--accept-restore", "--db", str(db_path), monkeypatch=monkeypatch)
    assert code == 1
    assert _run("verify", "--db", str(db_path), monkeypatch=monkeypatch)[0] == 1
    with Store(db_path) as store, pytest.raises(AuthError):
        Accounts(store).add("Mallory", "admin", "mallory-1", by=None)


def test_an_acceptance_written_by_hand_does_not_reopen_the_first_run(
        db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _restore_from_before_the_accounts(db_path, tmp_path)
    with Store(db_path) as store:
        (entry,) = [row["id"] for row in store.audit_log() if row["action"] == ROLLED_BACK_ACTION]
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO audit (at, user, action, detail) VALUES (1, 'AD', ?, ?)",
                 [RESTORE_ACCEPTED_ACTION, json.dumps({"accepted": [entry]})])
    conn.commit()
    conn.close()
    with Store(db_path) as store, pytest.raises(AuthError):
        Accounts(store).add("Mallory", "admin", "mallory-1", by=None)
    code, text = _run("verify", "--db", str(db_path), monkeypatch=monkeypatch)
    assert code == 1 and "NOT VERIFIED: records are missing" in text, text
