"""The check every test of a database that lost its accounts makes: nobody becomes its first admin."""

from __future__ import annotations

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.store import Store


def assert_no_first_admin(store: Store, how: str) -> None:
    """Creating an admin without anyone signed in (the first-run path) must be refused; ``how`` names the
    database's state for the failure message."""
    accounts = Accounts(store)
    try:
        accounts.add("Mallory", "admin", "mallory-1", by=None)
        signed = accounts.authenticate("Mallory", "mallory-1")
    except AuthError:
        return
    pytest.fail(f"{how}: anyone became {signed.label} (may manage users {signed.may('manage_users')}, "
                f"approve profiles {signed.may('approve_profile')})")
