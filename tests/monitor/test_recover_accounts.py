"""A database rebuilt by ``recover`` keeps who may do what; a file that is no database is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.store import Store
from tests.monitor.first_admin import assert_no_first_admin


def test_a_database_rebuilt_by_recover_keeps_its_accounts_and_offers_no_first_admin(
    tmp_path: Path, accounts_in: Any
) -> None:
    from monitor.recover import recover

    damaged, rebuilt = tmp_path / "monitor.db", tmp_path / "rebuilt.db"
    accounts_in(damaged)  # the clinic's admin AD and nurse RN
    recover(damaged, rebuilt)
    with Store(rebuilt) as store:
        kept = [a.name for a in Accounts(store).listing()]
        assert kept == ["AD", "RN"], f"the rebuilt database holds the accounts {kept}, not AD and RN"
        assert_no_first_admin(store, "a database rebuilt by recover")


def test_recovered_accounts_sign_in_and_one_altered_by_hand_stays_behind(tmp_path: Path, accounts_in: Any) -> None:
    import sqlite3

    from monitor.recover import recover
    from tests.conftest import ADMIN_SECRET, NURSE_SECRET

    damaged, rebuilt = tmp_path / "monitor.db", tmp_path / "rebuilt.db"
    accounts_in(damaged)
    conn = sqlite3.connect(damaged)
    conn.execute("UPDATE users SET role = 'admin' WHERE name = 'RN'")  # a role written in by hand
    conn.commit()
    conn.close()
    report = recover(damaged, rebuilt)
    assert report.accounts == ("AD",) and report.accounts_left == ("RN",)
    with Store(rebuilt) as store:
        accounts = Accounts(store)
        assert accounts.authenticate("AD", ADMIN_SECRET).role == "admin"
        with pytest.raises(AuthError):
            accounts.authenticate("RN", NURSE_SECRET)


def test_recover_refuses_a_file_that_is_not_a_database_and_makes_nothing(tmp_path: Path) -> None:
    from monitor.recover import RecoverError, recover

    notes, rebuilt = tmp_path / "monitor.db", tmp_path / "rebuilt.db"
    notes.write_text("shift notes, saved over the database by mistake\n", encoding="utf-8")
    with pytest.raises(RecoverError, match="is not an SQLite database"):
        recover(notes, rebuilt)
    assert not rebuilt.exists()  # no empty database reported as "0 rows recovered"
