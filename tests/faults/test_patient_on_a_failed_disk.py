"""The disk under a live window's database fails (a real ext4, shut down by the kernel) while a patient is in the
chair: who the patient is stays on the header, identifying the same MRN again is the same patient, a new patient
identified twice on the dead disk is filed once, the alarm log lists the alarms held since (the database has none
of them), and after the disk is back `write-held` leaves the session with its patient.

Before: the header read the patient back from the database and could say "not entered" after an identification;
an MRN identified again before its first identification reached the file made the writer fail at every commit
("FOREIGN KEY constraint failed"); the alarm log read the database alone and showed none of the alarms raised on the
failed disk, without a word."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.store import Store
from tests.faults.helpers import ext4_disk, fail_disk, written_back
from tests.faults.windows import WAIT_MS, recording_window
from ui.live_window import LiveWindow

MRN = "MRN-20417"
NAME = "Jana Nováková"
OTHER = "MRN-55555"
OTHER_NAME = "Tom Okafor"


def _identify(window: LiveWindow, qtbot: Any, mrn: str, name: str = "") -> str:
    """Identify through the window's forms (confirming a change of patient); what the command answered ("" or the
    refusal)."""
    window.identify_patient()
    if window.dialog is not None and not hasattr(window.dialog, "mrn_edit"):  # "This session already has a patient"
        window.dialog.accept()
    qtbot.waitUntil(lambda: window.dialog is not None and hasattr(window.dialog, "mrn_edit"), timeout=WAIT_MS)
    dialog: Any = window.dialog
    dialog.mrn_edit.setText(mrn)
    dialog.name_edit.setText(name)
    with qtbot.waitSignal(window.command_settled, timeout=WAIT_MS,
                          check_params_cb=lambda command, _error: command == "identify_patient") as settled:
        dialog.accept()
    return str(settled.args[1])


def test_the_patient_and_the_alarm_log_outlast_a_failed_disk(qtbot: Any, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    with ext4_disk(tmp_path / "disk", image) as disk:
        db_path = disk / "monitor.db"
        store, recorder, window = recording_window(qtbot, db_path, scenario="desaturation", speed=300.0, autopilot=True)
        session_id = recorder.session.id
        try:
            # The patient is identified while the disk still answers; then it fails.
            assert _identify(window, qtbot, MRN, NAME) == ""
            assert window.header.patient.text() == f"Patient: {NAME} · MRN {MRN}"
            fail_disk(disk)
            qtbot.waitUntil(lambda: not window.last_status.storage_ok, timeout=WAIT_MS)
            assert _identify(window, qtbot, MRN) == ""  # again, the MRN alone: the same patient
            assert window.header.patient.text() == f"Patient: {NAME} · MRN {MRN}"
            # The nurse finds the wristband says otherwise: another patient, new to the clinic. Whether the lookup of
            # that MRN can be made depends on what SQLite still holds of the dead file (both seen in runs here): it
            # answers from its cache, which nothing can have made stale, or the page must be read and it fails.
            refusal = _identify(window, qtbot, OTHER, OTHER_NAME)
            if refusal:
                assert "cannot be looked up" in refusal and "its file cannot be read" in refusal, refusal
                assert "storage alarm has ended" in refusal and refusal in window.messages
                expected = (MRN, NAME)
            else:
                expected = (OTHER, OTHER_NAME)
                # Once more, before anything of it could reach the file: the same new patient.
                assert _identify(window, qtbot, OTHER) == ""
            assert window.header.patient.text() == f"Patient: {expected[1]} · MRN {expected[0]}"
            # The desaturation's alarms come while the disk is dead: the log lists them, saying they are held.
            qtbot.waitUntil(lambda: window.last_snapshot is not None and any(
                a.parameter == "spo2" for a in window.last_snapshot.active), timeout=60_000)
            log = window.show_alarm_log()
            conditions = [log.table.item(i, 3).text() for i in range(log.table.rowCount())]
            assert any(c.startswith("spo2_low") for c in conditions), conditions
            assert "not stored yet" in log.note.text(), log.note.text()
            log.close()
        finally:
            window.force_close()
            store.close()
        recovery = recorder.recovery_file
        assert recovery is not None, "the held rows went nowhere"
    with written_back(image, tmp_path / "disk", recovery, db_path), Store(db_path, readonly=True) as reader:
        patient = reader.patient_row(reader.session_row(session_id)["patient_id"])
        assert (patient["mrn"], patient["name"]) == expected
        mrns = [reader.patient_row(row[0])["mrn"] for row in reader.db.execute("SELECT id FROM patients")]
        assert sorted(mrns) == sorted({MRN, expected[0]})  # each filed once
        assert any(a.parameter == "spo2" for a in reader.alarms(session_id))
