"""Named accounts with a secret: argon2id hashes, lock-out with back-off, granted roles, `users` on the command line."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor import accounts as accounts_module
from monitor.accounts import Accounts, AuthError, LockedOut, break_glass, lock_seconds
from monitor.cli import main
from monitor.store import Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET, locked_out


def test_the_first_account_must_be_an_admin_and_later_ones_need_an_admin(store: Store) -> None:
    accounts = Accounts(store)
    with pytest.raises(AuthError, match="first account must be an admin"):
        accounts.add("RN", "nurse", NURSE_SECRET, by=None)
    admin = accounts.add("AD", "admin", ADMIN_SECRET, by=None)
    with pytest.raises(AuthError, match="only a signed-in admin"):
        accounts.add("X", "admin", "whatever-1", by=None)
    nurse = accounts.add("RN", "nurse", NURSE_SECRET, by=admin)
    with pytest.raises(AuthError, match="only a signed-in admin"):
        accounts.add("X", "admin", "whatever-1", by=nurse)  # a role is granted, never self-selected
    assert {a.name: a.role for a in accounts.listing()} == {"AD": "admin", "RN": "nurse"}


def test_secrets_are_stored_as_argon2id_hashes_only(store: Store) -> None:
    Accounts(store).add("AD", "admin", ADMIN_SECRET, by=None)
    stored = store.db.execute("SELECT secret_hash FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert ADMIN_SECRET not in stored
    # Production uses argon2-cffi's RFC 9106 parameters (tests use the cheapest for speed).
    from argon2 import PasswordHasher

    assert PasswordHasher().type.name == "ID"


def test_sign_in_checks_the_secret_and_returns_the_granted_role(store: Store) -> None:
    accounts = Accounts(store)
    admin = accounts.add("AD", "admin", ADMIN_SECRET, by=None)
    accounts.add("RN", "nurse", NURSE_SECRET, by=admin)
    signed = accounts.authenticate("rn", NURSE_SECRET)  # names are case-insensitive
    assert (signed.name, signed.role, signed.authenticated) == ("RN", "nurse", True)
    assert not signed.may("set_limit") and accounts.authenticate("AD", ADMIN_SECRET).may("set_limit")
    with pytest.raises(AuthError, match="not recognised"):
        accounts.authenticate("RN", "wrong-secret")
    with pytest.raises(AuthError, match="not recognised"):
        accounts.authenticate("nobody", NURSE_SECRET)
    actions = [r["action"] for r in store.audit_log()]
    assert actions.count("sign_in") == 2 and actions.count("sign_in_failed") == 2


def test_repeated_failures_lock_the_account_with_a_growing_back_off(store: Store) -> None:
    accounts = Accounts(store)
    accounts.add("AD", "admin", ADMIN_SECRET, by=None)
    now = 1_000_000.0
    assert locked_out(accounts, "AD", now).retry_after_s == accounts_module.FIRST_LOCK_S
    # While locked even the right secret is refused.
    with pytest.raises(LockedOut):
        accounts.authenticate("AD", ADMIN_SECRET, now=now + 1)
    with pytest.raises(LockedOut) as again:
        accounts.authenticate("AD", "bad-guess", now=now + 31)
    assert again.value.retry_after_s == 2 * accounts_module.FIRST_LOCK_S
    assert lock_seconds(50) == accounts_module.MAX_LOCK_S
    assert accounts.authenticate("AD", ADMIN_SECRET, now=now + 31 + 61).role == "admin"


def test_a_role_written_into_the_database_by_hand_is_refused(db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE users SET role = 'admin' WHERE name = 'RN'")
    conn.commit()
    conn.close()
    with Store(db_path) as store, pytest.raises(AuthError, match="altered outside this program"):
        Accounts(store).authenticate("RN", NURSE_SECRET)


def test_the_last_admin_cannot_be_demoted_or_disabled(store: Store) -> None:
    accounts = Accounts(store)
    admin = accounts.add("AD", "admin", ADMIN_SECRET, by=None)
    with pytest.raises(AuthError, match="only admin"):
        accounts.set_role("AD", "nurse", by=admin)
    with pytest.raises(AuthError, match="only admin"):
        accounts.set_disabled("AD", True, by=admin)


def test_break_glass_is_audited(store: Store) -> None:
    who = break_glass(store, "Dr Emergency", "patient desaturating, no account", session_id="s1")
    assert who.label.startswith("EMERGENCY") and not who.may("set_limit") and not who.authenticated
    [row] = [r for r in store.audit_log() if r["action"] == "break_glass"]
    assert "desaturating" in row["detail"]
    with pytest.raises(AuthError):
        break_glass(store, "Dr X", "  ")
    # The name goes into the audit log, the timeline and every export: printable, and no longer than an account's.
    for name, refused in (("Dr \x1b[2JX", r"holds a control character \(U\+001B ESCAPE\)"),
                          ("Dr " + "X" * 200, "printable characters")):
        with pytest.raises(AuthError, match=refused):
            break_glass(store, name, "patient desaturating, no account")
    assert sum(r["action"] == "break_glass" for r in store.audit_log()) == 1


def test_users_command_creates_the_first_admin_then_needs_an_admin(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The new secret comes on standard input (no echo on a terminal; never on the command line).
    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_SECRET + "\n"))
    assert main(["users", "add", "AD", "--role", "admin", "--db", str(db_path)], out=io.StringIO()) == 0
    # A nurse account needs the admin's secret first, then the new one.
    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_SECRET + "\n" + NURSE_SECRET + "\n"))
    assert main(["users", "add", "RN", "--role", "nurse", "--db", str(db_path), "--user", "AD"],
                out=io.StringIO()) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(NURSE_SECRET + "\nother-secret\n"))
    assert main(["users", "add", "X", "--role", "admin", "--db", str(db_path), "--user", "RN"],
                out=io.StringIO()) == 1
    assert "only a signed-in admin" in capsys.readouterr().err
    # Which accounts exist, and which are admins, is for an admin only: sign-in never tells it either.
    out = io.StringIO()
    assert main(["users", "list", "--db", str(db_path)], out=out) == 1
    assert out.getvalue() == "" and "give --user NAME" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(NURSE_SECRET + "\n"))
    assert main(["users", "list", "--db", str(db_path), "--user", "RN"], out=out) == 1
    assert out.getvalue() == "" and "only a signed-in admin may list the accounts" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(ADMIN_SECRET + "\n"))
    assert main(["users", "list", "--db", str(db_path), "--user", "AD"], out=out) == 0
    assert "AD" in out.getvalue() and "RN" in out.getvalue() and "X " not in out.getvalue()
    # There is no option that takes a secret on the command line.
    from monitor.cli import build_parser

    assert "--secret " not in build_parser().format_help() and "--pin" not in build_parser().format_help()


def test_guesses_made_at_the_same_time_all_count_towards_the_lock_out(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt read the count, checked the secret (slow on purpose), then wrote count + 1: twenty guesses at
    once were counted as one, and the account never locked."""
    import threading

    with Store(db_path) as store:
        Accounts(store).add("AD", "admin", ADMIN_SECRET, by=None)
    class SlowHasher:
        """The test hasher, as slow to verify as the production parameters are."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def verify(self, hashed: str, secret: str) -> bool:
            threading.Event().wait(0.2)
            return bool(self.inner.verify(hashed, secret))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    monkeypatch.setattr(accounts_module, "HASHER", SlowHasher(accounts_module.HASHER))
    outcomes: list[str] = []

    def guess(n: int) -> None:
        with Store(db_path) as own:
            try:
                Accounts(own).authenticate("AD", f"guess-{n}")
            except LockedOut:
                outcomes.append("locked")
            except AuthError:
                outcomes.append("refused")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 12 and "locked" in outcomes
    with Store(db_path) as store:
        with pytest.raises(LockedOut):
            Accounts(store).authenticate("AD", ADMIN_SECRET)
        [row] = [a for a in Accounts(store).listing() if a.name == "AD"]
        assert row.failures >= accounts_module.FREE_FAILURES


def test_two_first_run_dialogs_submitted_together_make_one_first_admin(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two windows started on a fresh install both offer to create the first admin. 'No accounts yet' was checked
    before the secret was hashed (0.25 s) and not again when the account was written, so both became admins.
    Here the other window's admin is made while this one's secret is being hashed."""
    with Store(db_path):
        pass
    real = accounts_module.HASHER
    other_window_done: list[str] = []

    class OtherWindowSubmitsMeanwhile:
        """Hashes as the test hasher does; the first hash lets the other window create its admin first."""

        def hash(self, secret: str) -> str:
            if not other_window_done:
                other_window_done.append("alice")
                with Store(db_path) as other:
                    Accounts(other).add("alice", "admin", "alice-secret", by=None)
            return str(real.hash(secret))

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(accounts_module, "HASHER", OtherWindowSubmitsMeanwhile())
    with Store(db_path) as store, pytest.raises(AuthError) as refused:
        Accounts(store).add("mallory", "admin", "mallory-secret", by=None)
    assert str(refused.value) == ("'mallory' was not created: 'alice' was made the first admin a moment ago (from "
                                  "another window or command on this database); sign in with 'alice', which can "
                                  "add this account")
    with Store(db_path) as store:
        assert [(a.name, a.role) for a in Accounts(store).listing()] == [("alice", "admin")]
        assert [e["detail"] for e in store.db.query("SELECT detail FROM audit WHERE action = 'user_added'")] == [
            '{"account": "alice", "role": "admin"}']
