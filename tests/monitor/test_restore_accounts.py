"""An older copy of the database put back brings its accounts back with a correct chain: an admin since demoted, an
account since disabled, a PIN since changed. Until an admin accepts the restore, each account is held to the
stricter of the copy and the accounts noted beside the key file, so nobody gains by the copy; the admin who
accepts must be one by that note too, and the acceptance names the accounts that differ. Everything through the
commands a clinic runs: `users`, `backup`, the file copied back, `verify --accept-restore`."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.accounts import break_glass
from monitor.cli import main
from monitor.store import RESTORE_ACCEPTED_ACTION, Store, witness

ALICE, BOB, CAROL = "alice-pin-1", "bob-pin-11", "carol-pin-1"


Run = Callable[..., tuple[int, str]]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """``run(db, *argv, stdin="")``: one command on ``db`` with ``stdin`` as what is typed; its exit code and
    everything it printed (standard output and error)."""

    def one(db: Path, *argv: str, stdin: str = "") -> tuple[int, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        out = io.StringIO()
        code = main([*argv, "--db", str(db)], out=out)
        return code, out.getvalue() + capsys.readouterr().err

    return one


def _ok(run: Run, db: Path, *argv: str, stdin: str = "") -> str:
    code, text = run(db, *argv, stdin=stdin)
    assert code == 0, text
    return text


def _clinic(run: Run, db: Path) -> None:
    """Admins alice and bob, nurse carol."""
    _ok(run, db, "users", "add", "alice", "--role", "admin", stdin=f"{ALICE}\n{ALICE}\n")
    _ok(run, db, "users", "add", "bob", "--role", "admin", "--user", "alice", stdin=f"{ALICE}\n{BOB}\n{BOB}\n")
    _ok(run, db, "users", "add", "carol", "--role", "nurse", "--user", "alice", stdin=f"{ALICE}\n{CAROL}\n{CAROL}\n")


def _put_back(backup: Path, db: Path) -> None:
    """The older copy written over the database (its -wal and -shm removed), as `cp` does it."""
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)


def _demoted_then_put_back(run: Run, db: Path, tmp_path: Path) -> None:
    """Bob, an admin when the backup was taken, demoted since; carol disabled since; the backup copied back."""
    _clinic(run, db)
    backup = tmp_path / "old.db"
    _ok(run, db, "backup", str(backup))
    _ok(run, db, "users", "set-role", "bob", "--role", "nurse", "--user", "alice", stdin=f"{ALICE}\n")
    _ok(run, db, "users", "disable", "carol", "--user", "alice", stdin=f"{ALICE}\n")
    _put_back(backup, db)


def test_a_demoted_admin_gains_nothing_by_putting_back_a_copy_from_when_he_was_admin(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    _demoted_then_put_back(run, db_path, tmp_path)
    code, text = run(db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")
    assert code == 1 and "only a signed-in admin may list the accounts ('bob' is a nurse)" in text, text
    code, text = run(db_path, "verify", "--accept-restore", "--user", "bob", stdin=f"{BOB}\n")
    assert code == 1 and "restore not accepted" in text and "'bob' is a nurse" in text, text
    code, text = run(db_path, "users", "set-role", "alice", "--role", "nurse", "--user", "bob", stdin=f"{BOB}\n")
    assert code == 1 and "only a signed-in admin" in text, text
    code, text = run(db_path, "verify")
    assert code == 1 and "NOT VERIFIED: records are missing" in text, text
    # alice is an admin in the copy and was one before: she still signs in as one, and is one still.
    listed = _ok(run, db_path, "users", "list", "--user", "alice", stdin=f"{ALICE}\n")
    assert [line.split()[:2] for line in listed.splitlines()] == [["alice", "admin"], ["bob", "admin"],
                                                                  ["carol", "nurse"]], listed
    with Store(db_path) as store:
        signed = [json.loads(row["detail"]) for row in store.audit_log()
                  if row["action"] == "sign_in" and row["user"] == "bob"]
    assert signed[-1] == {"role": "nurse", "role_in_restored_copy": "admin"}


def test_a_disabled_account_stays_disabled_in_the_copy_put_back_even_twice(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    """Once found, the note keeps the accounts it saw before; the copy put back again (without the finding the
    first opening recorded in it) does not teach the note the copy's accounts either."""
    _demoted_then_put_back(run, db_path, tmp_path)
    for _ in range(2):
        code, text = run(db_path, "users", "list", "--user", "carol", stdin=f"{CAROL}\n")
        assert code == 1 and "the account 'carol' is disabled" in text and "accepts the restore" in text, text
        code, text = run(db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")
        assert code == 1 and "('bob' is a nurse)" in text, text
        _put_back(tmp_path / "old.db", db_path)


def test_a_secret_changed_since_the_copy_is_the_one_that_signs_in(run: Run, db_path: Path, tmp_path: Path) -> None:
    """A PIN that leaked and was changed is not made good again by the copy; the new one (which the copy lacks)
    signs in."""
    _clinic(run, db_path)
    backup = tmp_path / "old.db"
    _ok(run, db_path, "backup", str(backup))
    _ok(run, db_path, "users", "set-secret", "bob", "--user", "alice", stdin=f"{ALICE}\nbob-new-11\nbob-new-11\n")
    _put_back(backup, db_path)
    code, text = run(db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")
    assert code == 1 and "not recognised" in text, text
    _ok(run, db_path, "users", "list", "--user", "bob", stdin="bob-new-11\n")


def test_the_admin_by_the_note_accepts_and_the_acceptance_names_the_accounts_that_differ(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    _demoted_then_put_back(run, db_path, tmp_path)
    text = _ok(run, db_path, "verify", "--accept-restore", "--user", "alice", stdin=f"{ALICE}\n")
    assert "accepted as a restore by alice" in text, text
    differing = ["bob: admin in the copy, nurse before", "carol: nurse in the copy, nurse, disabled before"]
    assert all(f"  {line}\n" in text for line in differing), text
    with Store(db_path) as store:
        (accepted,) = [row for row in store.audit_log() if row["action"] == RESTORE_ACCEPTED_ACTION]
    assert accepted["user"] == "alice"
    assert json.loads(accepted["detail"])["accounts_differing"] == differing
    # Accepted: the copy's accounts stand, and alice puts bob back where he was.
    assert run(db_path, "verify")[0] == 0
    _ok(run, db_path, "users", "set-role", "bob", "--role", "nurse", "--user", "alice", stdin=f"{ALICE}\n")
    assert "('bob' is a nurse)" in run(db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")[1]


def test_a_genuine_restore_after_a_lost_disk_is_accepted_by_the_admin_and_emergency_sign_in_works_meanwhile(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    _clinic(run, db_path)
    backup = tmp_path / "old.db"
    _ok(run, db_path, "backup", str(backup))
    with Store(db_path) as store:
        store.audit("note", user="carol", text="written after the backup: lost with the disk")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    _put_back(backup, db_path)
    with Store(db_path) as store:
        assert break_glass(store, "Dr Jane Doe", "restore in progress").label == "EMERGENCY: Dr Jane Doe"
    _ok(run, db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")  # admin in the copy and before
    text = _ok(run, db_path, "verify", "--accept-restore", "--user", "alice", stdin=f"{ALICE}\n")
    assert "accepted as a restore by alice" in text and "differ" not in text, text
    assert "verified: nothing was changed" in text, text


def test_an_account_the_note_never_saw_waits_for_the_acceptance(run: Run, db_path: Path, tmp_path: Path) -> None:
    """A copy written on under another name (its own note), with an account made there, then put back here."""
    _clinic(run, db_path)
    elsewhere = tmp_path / "elsewhere.db"
    _ok(run, db_path, "backup", str(elsewhere))
    _ok(run, elsewhere, "users", "add", "dave", "--role", "admin", "--user", "alice",
        stdin=f"{ALICE}\ndave-pin-1\ndave-pin-1\n")
    _ok(run, db_path, "users", "set-role", "bob", "--role", "nurse", "--user", "alice", stdin=f"{ALICE}\n")
    _put_back(elsewhere, db_path)  # not the link this computer saw after the backup: an older copy written on
    code, text = run(db_path, "verify", "--accept-restore", "--user", "dave", stdin="dave-pin-1\n")
    assert code == 1 and "never saw it in the database before" in text, text
    text = _ok(run, db_path, "verify", "--accept-restore", "--user", "alice", stdin=f"{ALICE}\n")
    assert "  bob: admin in the copy, nurse before\n  dave: only in the copy (admin)\n" in text, text
    _ok(run, db_path, "users", "list", "--user", "dave", stdin="dave-pin-1\n")


def test_a_note_from_before_the_accounts_were_kept_locks_nobody_out(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    """After an upgrade the first note has no accounts: the copy's are used as before, nobody is refused."""
    _demoted_then_put_back(run, db_path, tmp_path)
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    noted = witness.recall(keys, db_path)
    assert noted is not None and noted.users is not None
    raw = json.loads(witness.note_path(keys, db_path).read_text())
    witness.note(keys, db_path, dataclasses.replace(noted, users=None))  # as the earlier version wrote it
    old = json.loads(witness.note_path(keys, db_path).read_text())
    assert old.pop("users") is None and old.pop("hmac") != raw.pop("hmac") and {**raw, "users": None} == {
        **old, "users": None}
    _ok(run, db_path, "users", "list", "--user", "bob", stdin=f"{BOB}\n")
    _ok(run, db_path, "verify", "--accept-restore", "--user", "alice", stdin=f"{ALICE}\n")


def test_the_accounts_in_the_note_are_under_its_keyed_hash(run: Run, db_path: Path) -> None:
    _clinic(run, db_path)
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    path = witness.note_path(keys, db_path)
    raw = json.loads(path.read_text())
    assert {a["name"]: a["role"] for a in raw["users"]} == {"alice": "admin", "bob": "admin", "carol": "nurse"}
    for account in raw["users"]:
        account["role"] = "admin"
    path.write_text(json.dumps(raw))
    assert witness.recall(keys, db_path) is None
