"""The course window on the clinic's server, for an MRN two chairs hold as two different people: its header names
no one person but both records, each with its own count, and each row says its record, chair and session. Before,
the header read "Ann Lee  MRN 4711  -  ketamine series 2 of 6 …" with the warning below it, and no row said whose it
was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.app.stores import RecordSource
from monitor.replication import server_store
from tests.conftest import Clinic
from tests.monitor.replication.test_identity_conflicts import FIRST, OTHER_BIRTH, _two_chairs
from ui.course_window import COLUMNS, CourseWindow
from ui.dialogs import SignedInUser

REVIEWER = SignedInUser("Dr Mensah", "physician")


def test_the_header_lists_both_records_and_each_row_its_chair(qtbot: Any, clinic: Clinic, tmp_path: Path) -> None:
    first, second, _ = _two_chairs(clinic, tmp_path, {"name": "Ann Lee", "birth_date": OTHER_BIRTH})
    reader = clinic.role("reader")
    with server_store.ServerStore(reader) as store:
        found = store.patient_key_for_mrn("4711")
    assert found is not None
    window = CourseWindow(RecordSource(tmp_path / "office.db", server=reader), found[0], REVIEWER)
    qtbot.addWidget(window)
    header = window.header.text().splitlines()
    assert header[0] == "MRN 4711: NOT ONE PERSON - 2 records with different identities, each counted on its own"
    assert header[1].startswith(f"Record 1: Ann Lee, born {FIRST['birth_date']} - Chair 1 (session {first[:8]}) - ")
    assert header[2].startswith(f"Record 2: Ann Lee, born {OTHER_BIRTH} - Chair 2 (session {second[:8]}) - ")
    assert all(" series 1 of " in line and "next session due 20" in line for line in header[1:])
    session = [title for title, _key in COLUMNS].index("Session")
    assert [window.table.item(row, session).text() for row in range(window.table.rowCount())] == [
        f"record 1: Chair 1, {first[:8]}", f"record 2: Chair 2, {second[:8]}"]
    assert "IDENTITY CONFLICT" in window.message.text()
