"""Who the audit log names for what is done from the command line: an account only once its secret was given; the
operating-system user only on a database without accounts (with accounts, a try without a sign-in is refused)."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.store import Store
from tests.conftest import ADMIN_SECRET


def _entries(db_path: Path, action: str) -> list[dict[str, Any]]:
    with Store(db_path, readonly=True) as store:
        return [a for a in store.audit_log() if a["action"] == action]


def _command(name: str, db_path: Path, session_id: str, out: Path) -> tuple[list[str], str]:
    if name == "export":
        return ["export", session_id, "--db", str(db_path), "--format", "json", "--out", str(out)], "export"
    if name == "course":
        return ["course", "MRN-AUDIT-1", "--db", str(db_path), "--out", str(out)], "course_export"
    if name == "worksheet":
        return ["rems", "--db", str(db_path), "--worksheet", session_id, "--out", str(out)], "export"
    # A recording without its form's answers: marked only with the reason (the rest filled in on the worksheet).
    return (["rems", "--db", str(db_path), "--submitted", session_id, "--reference", "X-1", "--incomplete-because",
             "filled in on the worksheet"], "rems_form_submitted")


@pytest.mark.parametrize("name", ["export", "course", "worksheet", "rems"])
def test_an_account_is_named_only_after_its_secret_was_given(
    db_path: Path, tmp_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    assert main(["record", "--db", str(db_path), "--protocol", "esketamine-nasal", "--speed", "max", "--patient",
                 "MRN-AUDIT-1", "--plan", "baseline:2,infusion:3,recovery:5", "--quiet", "--duration", "4"],
                out=io.StringIO()) == 0
    with Store(db_path) as store:
        session_id = store.session_row("latest")["id"]
    argv, action = _command(name, db_path, session_id, tmp_path / "out.file")
    if name != "rems":  # a submission needs a sign-in whatever the database
        assert main(argv, out=io.StringIO()) == 0  # no accounts yet: the operating-system user
        assert [e["user"] for e in _entries(db_path, action)] == [f"os:{getpass.getuser()}"]
    accounts_in(db_path)  # the admin AD
    monkeypatch.delenv("INFUSION_MONITOR_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # the secret is not given
    assert main([*argv, "--user", "AD"], out=io.StringIO()) != 0
    assert not [e for e in _entries(db_path, action) if e["user"] == "AD"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong-secret-9\n"))
    assert main([*argv, "--user", "AD"], out=io.StringIO()) != 0
    assert not [e for e in _entries(db_path, action) if e["user"] == "AD"]

    monkeypatch.setattr(sys, "stdin", io.StringIO(ADMIN_SECRET + "\n"))
    assert main([*argv, "--user", "AD"], out=io.StringIO()) == 0
    assert [e["user"] for e in _entries(db_path, action)][-1] == "AD"
    before = _entries(db_path, action)
    assert main(argv, out=io.StringIO()) == 1  # without --user, where the database has accounts: refused
    assert _entries(db_path, action) == before
    if name != "rems":  # its refusal is the sign-in's own, as before
        assert [e["user"] for e in _entries(db_path, action + "_refused")][-1] == f"os:{getpass.getuser()}"
