"""Accounts and profile approvals in the hash chain: an earlier version put back by hand is refused, not trusted.

Each row already carries a keyed hash, so a row written by hand is refused; but an earlier row, copied
before a change and put back after it, carries the keyed hash it had then. Sealing every version in the
chain is what makes a demoted admin's old row, or a revocation undone, show.
"""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor import approval, integrity
from monitor.accounts import Accounts, AuthError, Principal
from monitor.alarms.profile import default_profile, default_profile_text, load_profile
from monitor.cli import main
from monitor.store import Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET

ADMIN = Principal("AD", "admin")


def _sql(db_path: Path, *statements: tuple[str, list[Any]]) -> None:
    """Change the database file by hand, as someone with write access to it would."""
    conn = sqlite3.connect(db_path)
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


def _user_row(db_path: Path, name: str) -> list[Any]:
    conn = sqlite3.connect(db_path)
    row = list(conn.execute("SELECT role, secret_hash, disabled, changed_at, mac FROM users WHERE name = ?",
                            [name]).fetchone())
    conn.close()
    return row


def _put_back(db_path: Path, name: str, old: list[Any]) -> None:
    _sql(db_path, ("UPDATE users SET role = ?, secret_hash = ?, disabled = ?, changed_at = ?, mac = ? WHERE name = ?",
                   [*old, name]))


def _demoted(db_path: Path, accounts_in: Any) -> tuple[Principal, list[Any]]:
    """The admin ``AD``, and the row ``RN`` had while an admin, before ``AD`` made it a nurse again."""
    admin, _ = accounts_in(db_path)
    with Store(db_path) as store:
        Accounts(store).set_role("RN", "admin", by=admin)
    as_admin = _user_row(db_path, "RN")
    with Store(db_path) as store:
        Accounts(store).set_role("RN", "nurse", by=admin)
    return admin, as_admin


def _verify(db_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["verify", "--all", "--db", str(db_path)], out=out)
    return code, out.getvalue()


def test_an_admins_earlier_row_put_back_after_a_demotion_is_refused_and_found(
    db_path: Path, accounts_in: Any
) -> None:
    _, as_admin = _demoted(db_path, accounts_in)
    _put_back(db_path, "RN", as_admin)  # its keyed hash is the one this program wrote for it then

    with Store(db_path) as store, pytest.raises(AuthError, match="altered outside this program"):
        Accounts(store).authenticate("RN", NURSE_SECRET)
    with Store(db_path, readonly=True) as store:
        refused = [r for r in store.audit_log() if r["action"] == "sign_in_refused"]
    assert refused and "altered" in refused[-1]["detail"]
    code, text = _verify(db_path)
    assert code == 1 and "users RN" in text, text


def test_removing_the_link_of_the_newest_version_as_well_is_refused(db_path: Path, accounts_in: Any) -> None:
    _, as_admin = _demoted(db_path, accounts_in)
    conn = sqlite3.connect(db_path)
    [(newest,)] = conn.execute("SELECT max(seq) FROM chain WHERE tbl = 'users' AND row_key = 'RN'").fetchall()
    conn.close()
    # The old row back, and the link that sealed the demotion gone: the row now matches its latest link.
    _put_back(db_path, "RN", as_admin)
    _sql(db_path, ("DELETE FROM chain WHERE seq = ?", [newest]))

    with Store(db_path) as store, pytest.raises(AuthError, match="links were removed"):
        Accounts(store).authenticate("RN", NURSE_SECRET)
    code, text = _verify(db_path)
    assert code == 1 and "removed" in text, text


def test_an_admin_resets_an_altered_account_and_it_is_trusted_again(
    db_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin, as_admin = _demoted(db_path, accounts_in)
    _put_back(db_path, "RN", as_admin)
    with Store(db_path) as store:
        accounts = Accounts(store)
        with pytest.raises(AuthError, match="altered outside"):
            accounts.set_secret("RN", "another-secret", by=admin)  # a plain change does not launder the row
        with pytest.raises(AuthError, match="only a signed-in admin"):
            accounts.reset("RN", "admin", "another-secret", by=Principal("RN", "nurse"))

    # From the command line, as the README says: the admin's secret, then the new one.
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{ADMIN_SECRET}\nnew-nurse-secret\n"))
    out = io.StringIO()
    assert main(["users", "reset", "RN", "--role", "nurse", "--db", str(db_path), "--user", "AD"], out=out) == 0
    assert "written again" in out.getvalue()

    with Store(db_path) as store:
        signed = Accounts(store).authenticate("RN", "new-nurse-secret")
        assert (signed.role, signed.authenticated) == ("nurse", True)
        with pytest.raises(AuthError, match="not recognised"):
            Accounts(store).authenticate("RN", NURSE_SECRET)  # the secret of the row put back is gone
        [reset] = [r for r in store.audit_log() if r["action"] == "user_reset"]
    assert '"role": "nurse"' in reset["detail"] and "altered" in reset["detail"]
    # The chain still holds what happened (the row written from outside was sealed as such when found).
    code, text = _verify(db_path)
    assert code == 1 and "users RN: written outside this program" in text, text


def test_a_revocation_undone_by_hand_is_refused_and_found(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts_in(db_path)
    text = default_profile_text().replace("below = 92", "below = 93", 1)
    path = tmp_path / "north.toml"
    path.write_text(text)
    profile = load_profile(str(path))
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    command = ["--db", str(db_path), "--user", "AD"]
    assert main(["profiles", "approve", str(path), "--name", "North", *command], out=io.StringIO()) == 0
    with Store(db_path) as store:
        assert approval.approval_of(store, profile.sha256) is not None

    # Too short a hash is refused (a few characters could match every approval).
    assert main(["profiles", "revoke", profile.sha256[:3], *command], out=io.StringIO()) == 1
    out = io.StringIO()
    assert main(["profiles", "revoke", profile.sha256[:12], *command], out=out) == 0
    with Store(db_path) as store:
        assert approval.approval_of(store, profile.sha256) is None

    _sql(db_path, ("UPDATE profile_approvals SET revoked_at = NULL, revoked_by = NULL", []))
    with Store(db_path) as store:
        assert approval.approval_of(store, profile.sha256) is None
        assert approval.approvals(store) == []
        decision = approval.decide(store, profile, default_profile(), user=ADMIN)
        assert decision.approval is None and decision.problem is not None
    code, verified = _verify(db_path)
    assert code == 1 and f"profile_approvals {profile.sha256}" in verified, verified


def test_every_account_and_approval_change_is_sealed_and_verifies(db_path: Path, accounts_in: Any) -> None:
    admin, _ = accounts_in(db_path)
    with Store(db_path) as store:
        accounts = Accounts(store)
        accounts.set_secret("RN", "changed-secret", by=admin)
        accounts.set_disabled("RN", True, by=admin)
        accounts.set_disabled("RN", False, by=admin)
        for _ in range(3):
            with pytest.raises(AuthError):
                accounts.authenticate("RN", "wrong-guess")  # failures are not sealed: they change at every guess
        accounts.unlock("RN", by=admin)
        assert accounts.authenticate("RN", "changed-secret").role == "nurse"
        clinic = default_profile().sha256[::-1]
        approval_row = approval.ApprovalRow(clinic, "Other", "AD", 1.0, False, "x")
        with store.sealed_write("profile_approvals", [clinic]):
            approval.rows.save(store.db, approval_row, "# text")
        report = integrity.verify(store.db.conn, store.keys)
        assert report.ok, [f.text() for f in report.findings]
        links = store.db.execute("SELECT tbl, COUNT(*) FROM chain WHERE tbl IN ('users', 'profile_approvals') "
                                 "GROUP BY tbl ORDER BY tbl").fetchall()
    # AD and RN added; RN's secret, disabled, enabled, unlocked (a new change time each): 6 account versions.
    assert links == [("profile_approvals", 1), ("users", 6)]


def _newest(db_path: Path, table: str, key: str) -> int:
    conn = sqlite3.connect(db_path)
    [(newest,)] = conn.execute("SELECT max(seq) FROM chain WHERE tbl = ? AND row_key = ?", [table, key]).fetchall()
    conn.close()
    return int(newest)


def test_an_earlier_row_put_back_with_the_newest_link_moved_to_another_row_is_refused(
    db_path: Path, accounts_in: Any
) -> None:
    """The newest link kept (the chain's length and head unchanged) but naming another row, so that the older link
    looked like the newest: every link of accounts and approvals is checked, and a moved one no longer matches
    its keyed hash."""
    _, as_admin = _demoted(db_path, accounts_in)
    newest = _newest(db_path, "users", "RN")
    _put_back(db_path, "RN", as_admin)
    # Not removed (the chain keeps its length, the head stays valid): the newest link just names another row.
    _sql(db_path, ("UPDATE chain SET row_key = 'ZZ' WHERE seq = ?", [newest]))
    with Store(db_path) as store, pytest.raises(AuthError, match=r"link [0-9]+ is altered or forged"):
        Accounts(store).authenticate("RN", NURSE_SECRET)
    code, text = _verify(db_path)
    assert code == 1, text


def test_a_revocation_undone_with_its_link_moved_to_another_table_is_refused(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts_in(db_path)
    path = tmp_path / "north.toml"
    path.write_text(default_profile_text().replace("below = 92", "below = 93", 1))
    profile = load_profile(str(path))
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", ADMIN_SECRET)
    command = ["--db", str(db_path), "--user", "AD"]
    assert main(["profiles", "approve", str(path), "--name", "North", *command], out=io.StringIO()) == 0
    assert main(["profiles", "revoke", profile.sha256[:12], *command], out=io.StringIO()) == 0
    newest = _newest(db_path, "profile_approvals", profile.sha256)
    _sql(db_path, ("UPDATE profile_approvals SET revoked_at = NULL, revoked_by = NULL", []),
         ("UPDATE chain SET tbl = 'alarms' WHERE seq = ?", [newest]))
    with Store(db_path) as store:
        assert approval.approval_of(store, profile.sha256) is None, "a revocation undone by hand is in force again"


def test_a_link_of_an_account_replaced_by_a_link_of_another_kind_is_refused(db_path: Path, accounts_in: Any) -> None:
    """The demotion's link taken out of the accounts' order (its place kept, so the chain's length and head hold):
    the accounts' links then stop short of where the head says they end."""
    _, as_admin = _demoted(db_path, accounts_in)
    newest = _newest(db_path, "users", "RN")
    _put_back(db_path, "RN", as_admin)
    _sql(db_path, ("UPDATE chain SET account_seq = NULL, tbl = 'events' WHERE seq = ?", [newest]))
    with Store(db_path) as store, pytest.raises(AuthError, match="links of accounts and approvals are broken"):
        Accounts(store).authenticate("RN", NURSE_SECRET)
