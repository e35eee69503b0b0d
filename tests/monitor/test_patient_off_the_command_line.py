"""A patient's MRN can be kept off the command line, which every user of the computer reads (``ps``)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store
from tests.conftest import NURSE_SECRET


def test_record_reads_the_mrn_given_as_a_dash_before_the_secret(
    db_path: Path, accounts_in: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts_in(db_path)  # type: ignore[operator]
    monkeypatch.delenv("INFUSION_MONITOR_SECRET", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"MRN-PS-4411\n{NURSE_SECRET}\n"))
    argv = ["record", "--db", str(db_path), "--speed", "max", "--patient", "-", "--user", "RN",
            "--plan", "baseline:2,infusion:3,recovery:5", "--quiet", "--duration", "2"]
    assert main(argv, out=io.StringIO()) == 0
    with Store(db_path) as store:
        row = store.session_row("latest")
        assert row["nurse"] == "RN"
    # Reading the patient out needs the sign-in too (the database has accounts): the MRN comes first here as well.
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"MRN-PS-4411\n{NURSE_SECRET}\n"))
    assert main(["course", "-", "--db", str(db_path), "--user", "RN"], out=out) == 0
    assert '"mrn": "MRN-PS-4411"' in out.getvalue() and row["id"] in out.getvalue()
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"MRN-PS-4411\n{NURSE_SECRET}\n"))
    assert main(["sessions", "--db", str(db_path), "--patient", "-", "--user", "RN"], out=out) == 0
    assert row["id"][:8] in out.getvalue()


def test_an_empty_answer_is_refused(db_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["course", "-", "--db", str(db_path)], out=io.StringIO()) == 1
    assert "no patient MRN given" in capsys.readouterr().err
