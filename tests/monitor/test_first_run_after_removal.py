"""Becoming admin with write access to the database file but not the key file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.store import Store
from tests.monitor.first_admin import assert_no_first_admin


@pytest.mark.parametrize("removed", [
    ("DELETE FROM users",),
    ("DELETE FROM users", "DELETE FROM chain WHERE tbl = 'users'"),
    ("DELETE FROM users", "DELETE FROM chain", "DELETE FROM chain_head"),
], ids=["the accounts' rows", "their rows and links", "their rows and the whole chain"])
def test_removing_the_accounts_does_not_open_the_first_run_path_to_a_new_admin(
    db_path: Path, accounts_in: Any, removed: tuple[str, ...]
) -> None:
    accounts_in(db_path)  # the clinic's admin AD and nurse RN
    conn = sqlite3.connect(db_path)
    for statement in removed:  # no key file needed for any of these
        conn.execute(statement)
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        assert_no_first_admin(store, f"{'; '.join(removed)} by hand")


def test_with_its_accounts_removed_a_database_says_so_and_how_to_recover(
    db_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import sys

    from monitor.accounts import ACCOUNTS_REMOVED
    from monitor.cli import main

    accounts_in(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM users")
    conn.commit()
    conn.close()
    with Store(db_path) as store, pytest.raises(AuthError) as refused:
        Accounts(store).authenticate("AD", "admin-secret-1")
    assert str(refused.value) == ACCOUNTS_REMOVED and "restore the database from a backup" in ACCOUNTS_REMOVED
    monkeypatch.setattr(sys, "stdin", io.StringIO("mallory-secret-1\nmallory-secret-1\n"))
    assert main(["users", "add", "Mallory", "--role", "admin", "--db", str(db_path)]) != 0
    assert ACCOUNTS_REMOVED in capsys.readouterr().err
    out = io.StringIO()
    assert main(["users", "list", "--db", str(db_path)], out=out) == 0
    assert ACCOUNTS_REMOVED in out.getvalue() and "creates the first admin" not in out.getvalue()
