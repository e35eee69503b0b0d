"""A nurse changing "their own" PIN: which account's secret it is."""

from __future__ import annotations

from pathlib import Path

from monitor.accounts import Accounts, AuthError
from monitor.store import Store


def test_a_nurse_changes_only_her_own_secret_whatever_the_case_of_the_name(db_path: Path) -> None:
    with Store(db_path) as store:
        accounts = Accounts(store)
        admin = accounts.add("Éva", "admin", "admin-secret-1", by=None)
        accounts.add("éva", "nurse", "nurse-secret-1", by=admin)  # another person: the database tells them apart
        nurse = accounts.authenticate("éva", "nurse-secret-1")
        try:
            accounts.set_secret("Éva", "taken-over-1", by=nurse)
        except AuthError:
            return
        taken = accounts.authenticate("Éva", "taken-over-1")
    raise AssertionError(f"the nurse {nurse.label} set the admin's secret and signed in as {taken.label}")
