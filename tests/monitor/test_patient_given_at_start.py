"""``record --patient MRN`` identifies the patient as **Identify…** does: the timeline notes that the patient was
identified and by whom, and the audit log has the identification. Before, the session was only given the patient's
key when it was made, and neither said who had identified the patient."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.session import EventKind
from monitor.store import Store
from tests.conftest import NURSE_SECRET

MRN = "MRN-5150"


def _record(db_path: Path, patient: str) -> int:
    return main(["record", "--db", str(db_path), "--speed", "max", "--patient", patient, "--user", "RN",
                 "--plan", "baseline:2,infusion:3,recovery:5", "--quiet", "--duration", "2"], out=io.StringIO())


def _identified(store: Store, session_id: str) -> tuple[list[tuple[str | None, str]], list[tuple[str, str]]]:
    """Who identified the session's patient under which key: on the timeline, and in the audit log."""
    timeline = [(e.user, str(e.detail.get("patient_key"))) for e in store.events(session_id)
                if e.kind is EventKind.PATIENT_IDENTIFIED]
    audit = [(str(a["user"]), str(json.loads(a["detail"] or "{}").get("patient_key")))
             for a in store.audit_log(session_id) if a["action"] == "identify_patient"]
    return timeline, audit


@pytest.mark.parametrize("returning", [False, True])
def test_the_patient_given_at_the_start_is_identified_by_the_nurse(
    db_path: Path, accounts_in: object, monkeypatch: pytest.MonkeyPatch, returning: bool
) -> None:
    accounts_in(db_path)  # type: ignore[operator]
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    if returning:
        with Store(db_path) as store:
            on_file = store.create_patient(MRN, "Bo Chan", "1960-01-01")
    assert _record(db_path, MRN) == 0
    with Store(db_path) as store:
        row = store.session_row("latest")
        key = str(row["patient_id"])
        assert store.patient_row(key)["mrn"] == MRN
        if returning:
            assert key == on_file  # the MRN alone finds the returning patient
        assert _identified(store, row["id"]) == ([("RN", key)], [("RN", key)])


def test_an_mrn_the_identification_refuses_starts_no_session(
    db_path: Path, accounts_in: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts_in(db_path)  # type: ignore[operator]
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    assert _record(db_path, "MRN-1\x1b[2J") == 1
    assert "--patient" in capsys.readouterr().err
    with Store(db_path) as store:
        assert store.sessions() == []
