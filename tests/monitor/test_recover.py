"""A database rebuilt by ``recover``: it keeps who may do what, its copied rows verify as recovered (not as written
outside the program), and a file that is no database is refused."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import Accounts, AuthError
from monitor.cli import main
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


def test_recover_tells_whoever_runs_it_how_many_accounts_it_carried_not_their_names(
    tmp_path: Path, accounts_in: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    damaged, rebuilt = tmp_path / "monitor.db", tmp_path / "rebuilt.db"
    accounts_in(damaged)  # AD and RN; RN then altered by hand, so it stays behind
    conn = sqlite3.connect(damaged)
    conn.execute("UPDATE users SET role = 'admin' WHERE name = 'RN'")
    conn.commit()
    conn.close()
    assert main(["recover", str(damaged), str(rebuilt)]) == 0  # no sign-in
    printed = capsys.readouterr().out
    assert "accounts: 1 carried over" in printed
    assert "accounts left behind (altered outside this program or unreadable): 1" in printed
    names = [word for line in printed.splitlines() if "account" in line for word in line.replace(",", " ").split()]
    assert "AD" not in names and "RN" not in names, printed


def test_recover_refuses_a_file_that_is_not_a_database_and_makes_nothing(tmp_path: Path) -> None:
    from monitor.recover import RecoverError, recover

    notes, rebuilt = tmp_path / "monitor.db", tmp_path / "rebuilt.db"
    notes.write_text("shift notes, saved over the database by mistake\n", encoding="utf-8")
    with pytest.raises(RecoverError, match="is not an SQLite database"):
        recover(notes, rebuilt)
    assert not rebuilt.exists()  # no empty database reported as "0 rows recovered"


def test_verify_of_a_recovered_file_does_not_report_its_rows_as_written_outside_the_program(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    assert main(["record", "--db", str(db), "--speed", "max", "--duration", "2",
                 "--plan", "baseline:3,infusion:5,recovery:30"], out=io.StringIO()) == 0
    out = io.StringIO()
    assert main(["verify", "--db", str(db)], out=out) == 0
    # A copy stands for the damaged file (every page readable: nothing is lost in the copy).
    damaged = tmp_path / "damaged.db"
    shutil.copy(db, damaged)
    said = io.StringIO()
    assert main(["recover", str(damaged), str(tmp_path / "new.db")], out=said) == 0
    assert "the damaged file's own record check: verified" in said.getvalue()
    out = io.StringIO()
    code = main(["verify", "--db", str(tmp_path / "new.db")], out=out)
    assert "written outside this program" not in out.getvalue(), out.getvalue().splitlines()[2]
    assert code == 0
    assert "copied by `recover` from a damaged file" in out.getvalue()
    with Store(tmp_path / "new.db", readonly=True) as store:
        [entry] = [a for a in store.audit_log() if a["action"] == "database_recovered"]
    assert json.loads(entry["detail"])["damaged_record_check"] == "verified"


def test_recover_says_when_the_damaged_files_record_did_not_verify(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "monitor.db"
    assert main(["record", "--db", str(db), "--speed", "max", "--duration", "2",
                 "--plan", "baseline:3,infusion:5,recovery:30"], out=io.StringIO()) == 0
    conn = sqlite3.connect(db)
    conn.execute("UPDATE readings SET value = value + 10 WHERE id = (SELECT MIN(id) FROM readings)")
    conn.commit()
    conn.close()
    said = io.StringIO()
    assert main(["recover", str(db), str(tmp_path / "new.db")], out=said) == 0
    assert "the damaged file's own record check: NOT VERIFIED: readings " in said.getvalue(), said.getvalue()
