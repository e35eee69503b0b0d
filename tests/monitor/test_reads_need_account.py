"""Taking a patient's record out from the command line needs a signed-in account where the database has accounts.

A clinic's nurses share one operating-system login, so an export, a course, a session or REMS list, a worksheet or
a resend audited as ``os:NAME`` names nobody. With accounts each of them is refused without ``--user`` before
anything is read or written, and the refusal is audited; a database without accounts (a single-user chair) keeps
reading as the operating-system user."""

from __future__ import annotations

import getpass
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.exports import FORMATS
from monitor.store import Store
from tests.conftest import NURSE_SECRET
from tests.monitor.records.sessions import MRN, record_session

OS_USER = f"os:{getpass.getuser()}"


def _entries(db_path: Path, action: str) -> list[dict[str, Any]]:
    """The audit entries of ``action``, their detail read."""
    with Store(db_path, readonly=True) as store:
        return [{**a, "detail": json.loads(a["detail"] or "{}")} for a in store.audit_log() if a["action"] == action]


@pytest.fixture
def session_id(db_path: Path) -> str:
    """A finished session of the patient ``MRN`` in the test's database."""
    return record_session(db_path, plan="baseline:1,infusion:2,recovery:2").session_id


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the environment nor standard input holds a secret."""
    monkeypatch.delenv("INFUSION_MONITOR_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def _refused(db_path: Path, argv: list[str], action: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run ``argv``, which must be refused for want of a sign-in without writing or printing anything, nor being
    audited as ``action``; the audit entry of the refusal."""
    out = io.StringIO()
    assert main(argv, out=out) == 1
    assert "needs a signed-in account on this database: give --user NAME" in capsys.readouterr().err
    assert out.getvalue() == ""
    # No file beside the database, not even a temporary one.
    assert [p.name for p in db_path.parent.iterdir() if not p.name.startswith(db_path.name)] == []
    assert _entries(db_path, action) == []
    [refused] = _entries(db_path, action + "_refused")
    assert refused["user"] == OS_USER
    return refused


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_an_export_without_a_sign_in_is_refused_where_the_database_has_accounts(
    db_path: Path, tmp_path: Path, session_id: str, accounts_in: Any, no_secret: None,
    capsys: pytest.CaptureFixture[str], fmt: str,
) -> None:
    accounts_in(db_path)
    argv = ["export", session_id, "--db", str(db_path), "--format", fmt, "--out", str(tmp_path / "export.out")]
    refused = _refused(db_path, argv, "export", capsys)
    assert refused["detail"]["reason"] == "not signed in"
    assert refused["detail"]["session"] == session_id
    assert refused["detail"]["format"] == fmt


def test_an_export_to_standard_output_without_a_sign_in_prints_nothing(
    db_path: Path, session_id: str, accounts_in: Any, no_secret: None, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts_in(db_path)
    out = io.StringIO()
    assert main(["export", session_id, "--db", str(db_path), "--format", "json", "--out", "-"], out=out) == 1
    assert out.getvalue() == ""
    assert capsys.readouterr().out == ""


def test_a_signed_in_account_exports_and_is_named_in_the_audit_log(
    db_path: Path, tmp_path: Path, session_id: str, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts_in(db_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    target = tmp_path / "export.json"
    assert main(["export", session_id, "--db", str(db_path), "--format", "json", "--out", str(target),
                 "--user", "RN"]) == 0
    assert target.stat().st_size > 0
    assert [e["user"] for e in _entries(db_path, "export")] == ["RN"]
    assert _entries(db_path, "export_refused") == []


def test_a_wrong_secret_is_refused_writes_nothing_and_is_audited(
    db_path: Path, tmp_path: Path, session_id: str, accounts_in: Any, no_secret: None,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    accounts_in(db_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO("wrong-secret-9\n"))
    target = tmp_path / "export.json"
    assert main(["export", session_id, "--db", str(db_path), "--format", "json", "--out", str(target),
                 "--user", "RN"]) == 1
    assert "sign-in as 'RN' refused" in capsys.readouterr().err
    assert not target.exists()
    assert _entries(db_path, "export") == []
    assert [(e["user"], e["detail"]["reason"]) for e in _entries(db_path, "sign_in_failed")] == [("RN", "wrong secret")]
    [refused] = _entries(db_path, "export_refused")
    assert (refused["user"], refused["detail"]["reason"], refused["detail"]["account"]) == (
        OS_USER, "sign-in refused", "RN")


def test_a_database_without_accounts_exports_as_the_operating_system_user(
    db_path: Path, tmp_path: Path, session_id: str, no_secret: None
) -> None:
    target = tmp_path / "export.csv"
    assert main(["export", session_id, "--db", str(db_path), "--format", "csv", "--out", str(target)]) == 0
    assert target.stat().st_size > 0
    assert [e["user"] for e in _entries(db_path, "export")] == [OS_USER]


def _reads(db_path: Path, session_id: str, out: Path) -> dict[str, tuple[list[str], str]]:
    """Every other command-line read of patient data: its arguments, and the audit action its refusal is named
    after."""
    db = ["--db", str(db_path)]
    # Refused before the server is asked: nothing listens here, and the refusal is not the connection's.
    server = ["--server", "postgresql://reader@127.0.0.1:9/im?connect_timeout=3"]
    return {
        "export from the server": (["export", session_id, *db, *server, "--out", str(out)], "export"),
        "course from the server": (["course", MRN, *db, *server, "--out", str(out)], "course_export"),
        "sessions from the server": (["sessions", *db, *server], "sessions_listed"),
        "rems from the server": (["rems", *db, *server], "rems_forms_listed"),
        "rems worksheet from the server": (["rems", *db, *server, "--worksheet", session_id, "--out", str(out)],
                                           "export"),
        "course": (["course", MRN, *db, "--out", str(out)], "course_export"),
        "course pdf": (["course", MRN, *db, "--format", "pdf", "--out", str(out)], "course_export"),
        "sessions": (["sessions", *db], "sessions_listed"),
        "sessions of a patient": (["sessions", *db, "--patient", MRN, "--json"], "sessions_listed"),
        "rems worksheet": (["rems", *db, "--worksheet", session_id, "--out", str(out)], "export"),
        "rems list": (["rems", *db], "rems_forms_listed"),
        "feed resend": (["feed", "resend", "all", *db], "feed_resend"),
    }


@pytest.mark.parametrize("name", ["course", "course pdf", "sessions", "sessions of a patient", "rems worksheet",
                                  "rems list", "feed resend", "export from the server", "course from the server",
                                  "sessions from the server", "rems from the server",
                                  "rems worksheet from the server"])
def test_every_read_of_patient_data_is_refused_without_a_sign_in_where_the_database_has_accounts(
    db_path: Path, tmp_path: Path, session_id: str, accounts_in: Any, no_secret: None,
    capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    accounts_in(db_path)
    argv, action = _reads(db_path, session_id, tmp_path / "read.out")[name]
    assert _refused(db_path, argv, action, capsys)["detail"]["reason"] == "not signed in"


@pytest.mark.parametrize("name", ["course", "sessions", "rems list", "feed resend"])
def test_a_signed_in_account_is_named_for_every_read(
    db_path: Path, tmp_path: Path, session_id: str, accounts_in: Any, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    accounts_in(db_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    argv, action = _reads(db_path, session_id, tmp_path / "read.out")[name]
    assert main([*argv, "--user", "RN"], out=io.StringIO()) == 0
    if name == "feed resend":
        return  # nothing was set aside: nothing to resend, and nothing to audit
    assert [e["user"] for e in _entries(db_path, action)] == ["RN"]


def test_a_database_without_accounts_lists_sessions_as_the_operating_system_user(
    db_path: Path, session_id: str, no_secret: None
) -> None:
    out = io.StringIO()
    assert main(["sessions", "--db", str(db_path)], out=out) == 0
    assert session_id[:8] in out.getvalue()
    assert [e["user"] for e in _entries(db_path, "sessions_listed")] == [OS_USER]
