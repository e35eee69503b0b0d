"""Becoming admin with write access to the database file but not the key file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.store import Store


def test_removing_the_accounts_rows_and_their_links_does_not_make_a_new_first_admin(
    db_path: Path, accounts_in: Any
) -> None:
    accounts_in(db_path)  # the clinic's admin AD and nurse RN
    conn = sqlite3.connect(db_path)
    # No key file needed: the accounts' rows and their links in the chain.
    conn.execute("DELETE FROM users")
    conn.execute("DELETE FROM chain WHERE tbl = 'users'")
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        accounts = Accounts(store)
        try:
            accounts.add("Mallory", "admin", "mallory-1", by=None)
            signed = accounts.authenticate("Mallory", "mallory-1")
        except AuthError:
            return
    pytest.fail(f"anyone who can write the file became {signed.label}: may manage users "
                f"{signed.may('manage_users')}, approve profiles {signed.may('approve_profile')}")


def test_removing_the_accounts_and_the_whole_chain_does_not_make_a_new_first_admin(
    db_path: Path, accounts_in: Any
) -> None:
    accounts_in(db_path)  # the clinic's admin AD and nurse RN
    conn = sqlite3.connect(db_path)
    # No key file needed: the accounts' rows, the chain and its head.
    conn.execute("DELETE FROM users")
    conn.execute("DELETE FROM chain")
    conn.execute("DELETE FROM chain_head")
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        accounts = Accounts(store)
        try:
            accounts.add("Mallory", "admin", "mallory-1", by=None)
            signed = accounts.authenticate("Mallory", "mallory-1")
        except AuthError:
            return
    pytest.fail(f"anyone who can write the file became {signed.label}: may manage users "
                f"{signed.may('manage_users')}, approve profiles {signed.may('approve_profile')}")

