"""The real live window driven like a nurse would, with the simulated monitor on its own thread."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel

from drivers.core.readings import Parameter
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Priority
from monitor.app.device import DeviceSpec
from monitor.exports.data import load
from monitor.session import EventKind, Phase, minutes_ago
from monitor.store import Store
from tests.conftest import NURSE_SECRET
from tests.ui.conftest import NURSE, stored_events
from ui import theme
from ui.chair_dialogs import ChecklistDialog, DoseDialog
from ui.dialogs import CadssDialog, ConfirmDialog, LevelDialog, ReasonConfirmDialog, SignedInUser, TextDialog
from ui.settings_dialog import SettingsChoice, SettingsDialog

WAIT_MS = 15_000


def _confirm(window: Any) -> None:
    assert isinstance(window.dialog, ConfirmDialog), f"expected a confirmation, got {window.dialog!r}"
    window.dialog.yes_button.click()


def _checklist_and_dose(qtbot: Any, window: Any) -> None:
    """What the protocol asks before the infusion, entered through the window's own dialogs."""
    window.checklist_entry()
    assert isinstance(window.dialog, ChecklistDialog)
    window.dialog.entry.setText("f6 e t:partner c m:lisinopril w80")
    assert "all required items recorded" in window.dialog.preview.text()
    assert "FLAG antihypertensive: lisinopril" in window.dialog.preview.text()
    window.dialog.entry.returnPressed.emit()
    qtbot.waitUntil(lambda: any(e.kind is EventKind.CHECKLIST for e in window.events), timeout=WAIT_MS)
    window.dose_entry()
    assert isinstance(window.dialog, DoseDialog)
    assert window.dialog.weight.value() == 80
    assert window.dialog.summary.text() == "total 40 mg, rate 60 mg/h"
    assert window.dialog.concentration.text() == "not given"  # not "0.00 mg/mL"
    window.dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: any(e.kind is EventKind.DOSE_PLANNED for e in window.events), timeout=WAIT_MS)


def _focus(qtbot: Any, window: Any) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def test_infusion_is_refused_without_a_baseline_then_a_whole_session_runs_to_discharge(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=120.0, first_status=True)

    w.phase_buttons["start_infusion"].click()
    # Refused at once, before any question, in a message that floats (the buttons stay where they are).
    assert w.dialog is None
    assert w.message.isVisible() and "take a baseline first" in w.message.text()
    assert w.message.parent() is w.centralWidget() and w.centralWidget().layout().indexOf(w.message) == -1
    assert w.last_status.phase is Phase.SETUP

    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not w.last_status.baseline_missing, timeout=WAIT_MS)
    # The badge says BASELINE: the line starts with what blocks the next step (it is cut at the right edge).
    assert w.header.timers.text().startswith(("Not ready: ", "Baseline done · ready to start infusion"))
    # Before the 3 min minimum the core says "not ready": no highlight, and starting asks for a reason.
    if not w.last_status.step_check.ready:
        assert w.phase_buttons["start_infusion"].objectName() != "primary"
        w.phase_buttons["start_infusion"].click()
        assert isinstance(w.dialog, TextDialog), "a start before the minimum asks for an override reason"
        w.dialog.reject()
    # The protocol's checklist and dose are entered; then the start is ready once the minimum is over.
    _checklist_and_dose(qtbot, w)
    qtbot.waitUntil(lambda: w.last_status.step_check.ready, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.phase_buttons["start_infusion"].objectName() == "primary", timeout=WAIT_MS)
    assert "ready to start infusion" in w.header.timers.text()
    w.phase_buttons["start_infusion"].click()
    assert isinstance(w.dialog, ConfirmDialog)
    shown = w.dialog.findChildren(type(w.message))[0].text()
    baseline = w.last_status.step_check.baseline
    # Whole mmHg, as the report and the discharge form write it (a median of two cuffs may hold a half).
    whole = f"NIBP {round(baseline.nibp_sys)}/{round(baseline.nibp_dia)} ({round(baseline.nibp_mean)}) mmHg."
    assert whole in shown, shown
    _confirm(w)
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.INFUSION, timeout=WAIT_MS)
    assert w.last_status.baseline is not None
    assert "INFUSION" in w.header.phase.text()
    # Early in the infusion nothing is drawn as the next step (recovery comes after the planned minutes).
    assert w.last_status.infusion_elapsed_s < w.last_status.infusion_plan_min * 60
    assert all(b.objectName() != "primary" for b in w.phase_buttons.values())

    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_P)  # pause
    qtbot.waitUntil(lambda: w.last_status.infusion_paused, timeout=WAIT_MS)
    assert "PAUSED" in w.header.phase.text()
    assert w.phase_buttons["pause_infusion"].text().startswith("Resume")
    w.phase_buttons["pause_infusion"].click()  # resume
    qtbot.waitUntil(lambda: not w.last_status.infusion_paused, timeout=WAIT_MS)

    # Stopping before the protocol's 40 min minimum is never refused; it asks why and is recorded as early.
    w.phase_buttons["stop_infusion"].click()
    assert isinstance(w.dialog, ReasonConfirmDialog)
    assert "before the protocol's 40 min minimum" in w.dialog.question.text()
    w.dialog.reject()  # changed her mind: nothing happens
    assert not w.last_status.infusion_stopped
    # Enter by habit, nothing typed: cancels, as in every question before a costly action.
    w.phase_buttons["stop_infusion"].click()
    dialog = w.dialog
    qtbot.keyClick(dialog.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=WAIT_MS)
    assert dialog.result() == QDialog.DialogCode.Rejected
    qtbot.wait(300)
    assert not w.last_status.infusion_stopped
    # A reason typed, then Ctrl+Enter: stops, with the reason (Enter alone cancels, whatever is typed).
    w.phase_buttons["stop_infusion"].click()
    qtbot.keyClicks(w.dialog.editor, "nausea; physician asked to stop")
    qtbot.keyClick(w.dialog.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.last_status.infusion_stopped, timeout=WAIT_MS)
    [stopped] = [e for e in w.events if e.kind is EventKind.INFUSION_STOPPED]
    assert stopped.detail["before_minimum_min"] == 40 and stopped.detail["reason"] == "nausea; physician asked to stop"
    w.phase_buttons["start_recovery"].click()  # the early stop's reason stands for the recovery start
    _confirm(w)
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.RECOVERY, timeout=WAIT_MS)
    assert "Recovery" in w.header.timers.text()

    # Discharge waits for the planned recovery: no highlight, and the form refuses without a reason.
    assert w.phase_buttons["complete"].objectName() != "primary"
    w.phase_buttons["complete"].click()
    dialog = w.dialog
    assert not dialog.complete_button.isEnabled()  # nothing scored yet
    for name in dialog.groups:
        dialog.set_item(name, 2)
    dialog.escort.setChecked(True)
    dialog.no_driving.setChecked(True)
    result = dialog.discharge()
    assert result is not None and result.aldrete.total >= 8
    assert "min old" in dialog.ages_label.text() or "no valid value" in dialog.ages_label.text()
    assert "Not ready" in dialog.ages_label.text() and "planned recovery" in dialog.ages_label.text()
    # The values and blockers are drawn, not shown as markup (the form's own text stays rich).
    assert dialog.ages_label.textFormat() is not Qt.TextFormat.PlainText and "<br>" in dialog.ages_label.text()
    assert not dialog.complete_button.isEnabled(), "not ready and no override reason"
    dialog.override.setText("patient's ride is here; physician reviewed")
    assert dialog.complete_button.isEnabled()
    dialog.complete_button.click()
    if not result.passed:  # the vital-sign items depend on the simulated patient's BP
        _confirm(w)
    qtbot.waitUntil(lambda: w.end_status == "complete", timeout=WAIT_MS)
    assert not w.phase_buttons["start_baseline"].isEnabled()
    # The screen no longer looks live: the header and the chart say monitoring has ended, and nothing that
    # records into the session is offered.
    assert w.header.link.text() == "NOT MONITORING · recording complete"
    assert w.chart.view_label.text() == "recording complete · nothing new is drawn"
    assert not any(b.isEnabled() for b in (w.checklist_button, w.questionnaire_button, w.header.patient_button))
    # Nothing newer can come: the values are grey at once (they looked live for the usual 10 s), no cuff is
    # promised, and the header's timer says the recording has ended.
    assert (w.hr_tile.state, w.spo2_tile.state, w.nibp_tile.state) == ("stale", "stale", "stale")
    assert w.hr_tile.status.text().startswith("recording complete · no new value for")
    assert w.nibp_tile.status.text().startswith("recording complete · "), "the cuff keeps its age"
    assert w.numerics.nibp_schedule.text() == "no cuff is started: the recording has ended"
    assert w.header.timers.text().endswith(" — recording complete")
    last = w.last_status
    assert last is not None and last.nibp_age_s is not None
    w.show_status(last, now=last.now + 300)  # the watchdog's ageing after the end
    assert w.header.link.text().startswith("NOT MONITORING")
    assert minutes_ago(last.nibp_age_s + 300) in w.nibp_tile.status.text(), "the cuff's age goes on growing"
    w.show_status(dataclasses.replace(last, scores_due=("CADSS6",)), now=last.now + 310)
    assert w.scores_due == () and w.cadss_button.text() == "CADSS-6 (C)", "nothing is due once it has ended"

    kinds = {e.kind for e in stored_events(db_path, "discharge_scored")}
    assert kinds == {EventKind.DISCHARGE_SCORED}
    with Store(db_path, readonly=True) as reader:
        [summary] = reader.sessions()
        events = reader.events(summary.id)
        audit = reader.audit_log(summary.id)
    by_kind = {e.kind: e for e in events}
    for kind in (EventKind.BASELINE_STARTED, EventKind.INFUSION_STARTED, EventKind.INFUSION_PAUSED,
                 EventKind.INFUSION_RESUMED, EventKind.INFUSION_STOPPED, EventKind.RECOVERY_STARTED,
                 EventKind.DISCHARGE_SCORED, EventKind.SESSION_COMPLETED):
        assert by_kind[kind].user == NURSE, kind
    assert by_kind[EventKind.SESSION_COMPLETED].detail["override_reason"].startswith("patient's ride")
    assert "recovery_too_short" in by_kind[EventKind.SESSION_COMPLETED].detail["overridden"]
    discharge = by_kind[EventKind.DISCHARGE_SCORED].detail
    assert discharge["aldrete"]["total"] == result.aldrete.total
    assert discharge["padss"]["total"] == result.padss.total
    assert summary.status == "complete"
    assert {"start_baseline", "start_infusion", "stop_infusion", "discharge_scored"} <= {a["action"] for a in audit}


def test_infusion_is_refused_while_the_baseline_lacks_a_cuff_value(qtbot: Any, make_window: Any) -> None:
    # The first cuff value takes 35 s, so the baseline is incomplete for a while.
    w = make_window(speed=1.0, first_status=True)
    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE, timeout=WAIT_MS)
    assert "blood pressure" in w.header.timers.text()
    w.phase_buttons["start_infusion"].click()  # no baseline cannot be overridden: told at once
    assert w.dialog is None  # refused before any question
    assert w.message.isVisible()
    assert "baseline incomplete" in w.message.text() and "blood pressure" in w.message.text()
    assert w.last_status.phase is Phase.BASELINE


def test_the_window_names_the_phases_as_the_sessions_protocol_does(qtbot: Any, make_window: Any) -> None:
    """A nasal-spray session: no phase step before the first status; then pre-dose, dosing and observation."""
    w = make_window(speed=60.0, protocol="esketamine-nasal")
    # The recorder runs, but no status has reached the window yet: it offers no step it cannot judge.
    assert w.last_status is None
    assert not any(button.isEnabled() for button in (*w.phase_buttons.values(), w.nibp_button))
    assert all(button.objectName() != "primary" for button in w.phase_buttons.values())
    qtbot.waitUntil(lambda: w.last_status is not None, timeout=WAIT_MS)
    assert w.phase_buttons["start_baseline"].isEnabled() and not w.phase_buttons["complete"].isEnabled()
    assert [w.phase_buttons[key].text() for key in ("start_baseline", "start_infusion", "pause_infusion",
                                                     "stop_infusion", "start_recovery")] == [
        "Start pre-dose", "Start dosing", "Pause dosing (P)", "Stop dosing", "Start observation"]
    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE, timeout=WAIT_MS)
    assert w.header.phase.text() == "PRE-DOSE"
    assert w.header.timers.text().startswith(("Pre-dose needs ", "Pre-dose done · ready to start dosing",
                                              "Not ready: "))
    qtbot.waitUntil(lambda: [n.toPlainText() for n in w.chart.phase_names] == ["PRE-DOSE"], timeout=WAIT_MS)
    # Its dosing and observation as the header shows them (statuses fed by hand: no need to dose for real).
    status = w.last_status
    w.show_status(dataclasses.replace(status, phase=Phase.INFUSION, phase_label="dosing", infusion_elapsed_s=185.0,
                                      infusion_plan_min=10.0))
    assert (w.header.phase.text(), w.header.timers.text()) == ("DOSING", "Dosing 03:05 of 10 min (at most 20 min)")
    w.show_status(dataclasses.replace(status, phase=Phase.RECOVERY, phase_label="observation",
                                      recovery_remaining_s=600.0, infusion_elapsed_s=600.0))
    assert w.header.phase.text() == "OBSERVATION"
    assert w.header.timers.text() == "Observation 10:00 left · dosing 10:00"
    # The questions before a step speak the same words.
    for step, question in ((w.stop_infusion, "Mark dosing as stopped? Dosing time stops counting."),
                           (w.start_recovery, "Start observation now? Dosing, if still running, is marked stopped.")):
        step()
        assert isinstance(w.dialog, ConfirmDialog)
        assert w.dialog.question.text() == question
        w.dialog.no_button.click()
        qtbot.waitUntil(lambda: w.dialog is None, timeout=WAIT_MS)


def test_recovery_before_the_minimum_infusion_asks_for_a_reason(qtbot: Any, make_window: Any, db_path: Path) -> None:
    w = make_window(speed=120.0, first_status=True)
    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.BASELINE and not w.last_status.baseline_missing,
                    timeout=WAIT_MS)
    w.send("start_infusion", override_reason="checklist on paper")
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.INFUSION, timeout=WAIT_MS)
    w.phase_buttons["start_recovery"].click()
    _confirm(w)
    # Refused by the core (40 min minimum), so the window asks for the reason to go ahead anyway.
    qtbot.waitUntil(lambda: isinstance(w.dialog, TextDialog), timeout=WAIT_MS)
    assert w.last_status.phase is Phase.INFUSION
    w.dialog.set_text("patient asked to stop; physician agreed")
    w.dialog.accept()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.RECOVERY, timeout=WAIT_MS)
    [started] = [e for e in w.events if e.kind is EventKind.RECOVERY_STARTED]
    assert started.detail["overridden"] == ["infusion_too_short"]
    assert started.detail["override_reason"] == "patient asked to stop; physician agreed"


def test_a_simulated_desaturation_raises_a_flashing_high_alarm_that_is_acknowledged(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(scenario="desaturation", speed=600.0, plan="baseline:1,infusion:30,recovery:5")

    def spo2_alarm() -> AlarmRecord | None:
        snap = w.last_snapshot
        if snap is None:
            return None
        return next((a for a in snap.active if a.parameter == "spo2" and a.priority is Priority.HIGH), None)

    qtbot.waitUntil(lambda: spo2_alarm() is not None, timeout=30_000)
    row = next(r for r in w.alarm_bar.rows if r.isVisible() and "SpO2" in r.text())
    assert row.text().startswith("***")
    assert row.priority is Priority.HIGH
    # It flashes: lit and dark in turn, in the IEC high-priority red.
    qtbot.waitUntil(lambda: not row.lit, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: row.lit, timeout=WAIT_MS)
    assert "#e0201b" in row.styleSheet()
    assert w.sound is not None and w.sound.sounding == w.last_snapshot.sounding  # the player follows the engine
    # Under the offscreen platform there is no audio device: said on screen, permanently.
    if not w.sound.available:
        assert "NO SOUND" in w.alarm_bar.audio_label.text() and w.sound.detail in w.alarm_bar.audio_label.toolTip()
    # The SpO2 tile shows the alarm too: the value in the high-priority colour, the breached limit under it.
    qtbot.waitUntil(lambda: w.spo2_tile.alarm_priority is Priority.HIGH, timeout=WAIT_MS)
    assert w.spo2_tile.alarm.isVisible() and "SpO2 <" in w.spo2_tile.alarm.text()
    assert theme.ALARM_COLOURS[Priority.HIGH] in w.spo2_tile.alarm.styleSheet()
    qtbot.waitUntil(lambda: w.spo2_tile.value.fill == theme.ALARM_COLOURS[Priority.HIGH], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.spo2_tile.value.fill is None, timeout=WAIT_MS)  # flashing

    w.alarm_bar.ack_button.click()
    qtbot.waitUntil(lambda: spo2_alarm() is None or spo2_alarm().silenced, timeout=WAIT_MS)
    with Store(db_path, readonly=True) as reader:
        [summary] = reader.sessions()
        qtbot.waitUntil(
            lambda: any(a.acknowledged_by == NURSE and a.parameter == "spo2" for a in reader.alarms(summary.id)),
            timeout=WAIT_MS,
        )
    log = w.show_alarm_log()
    texts = [log.table.item(i, 3).text() for i in range(log.table.rowCount())]
    assert any("spo2" in t for t in texts)
    assert any(NURSE in (log.table.item(i, 7).text()) for i in range(log.table.rowCount()))


def test_the_alarm_log_shows_the_alarms_the_database_has_not_taken(
    qtbot: Any, make_window: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alarm log was read from the database alone: while the disk was full it showed none of the alarms since,
    and said nothing. Now the alarms the monitor holds are in it, and it says they are not stored yet."""
    import sqlite3

    def full(*_args: Any, **_kwargs: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    w = make_window(scenario="desaturation", speed=600.0, plan="baseline:1,infusion:30,recovery:5", first_status=True)
    monkeypatch.setattr(Store, "write_batch", full)
    qtbot.waitUntil(lambda: w.last_snapshot is not None and any(
        a.parameter == "spo2" and a.priority is Priority.HIGH for a in w.last_snapshot.active), timeout=30_000)
    qtbot.waitUntil(lambda: not w.last_status.storage_ok, timeout=WAIT_MS)  # the storage alarm is up
    with Store(db_path, readonly=True) as reader:
        assert not [a for a in reader.alarms(w.bridge.recorder.session.id) if a.parameter == "spo2"]
    log = w.show_alarm_log()
    rows = [[log.table.item(i, c).text() for c in (2, 3)] for i in range(log.table.rowCount())]
    assert ["high", "spo2_low_severe"] in [[p.lower(), c] for p, c in rows], rows
    assert "not stored yet" in log.note.text()
    log.close()
    monkeypatch.undo()  # the disk has room again: the log is the database's, and whole
    qtbot.waitUntil(lambda: w.last_status.storage_ok, timeout=WAIT_MS)
    log = w.show_alarm_log()
    assert "spo2_low_severe" in [log.table.item(i, 3).text() for i in range(log.table.rowCount())]
    assert "not stored yet" not in log.note.text()


def test_audio_pause_shows_a_countdown_and_ends(qtbot: Any, make_window: Any, db_path: Path) -> None:
    w = make_window(speed=30.0)  # the 2-minute pause lasts 4 s of wall time here
    qtbot.waitUntil(lambda: w.last_snapshot is not None, timeout=WAIT_MS)
    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: "AUDIO PAUSED" in w.alarm_bar.audio_label.text(), timeout=WAIT_MS)
    first = w.alarm_bar.audio_label.text()
    qtbot.waitUntil(lambda: w.alarm_bar.audio_label.text() != first, timeout=WAIT_MS)  # counting down
    assert "AUDIO PAUSED 1:" in first or "AUDIO PAUSED 2:00" in first
    qtbot.waitUntil(lambda: "AUDIO PAUSED" not in w.alarm_bar.audio_label.text(), timeout=WAIT_MS)
    with Store(db_path, readonly=True) as reader:
        assert any(a["action"] == "pause_audio" and a["user"] == NURSE for a in reader.audit_log())


def test_notes_quick_events_and_scores_in_one_or_two_keystrokes_reach_the_store_and_export(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    _focus(qtbot, w)

    qtbot.keyClick(w, Qt.Key.Key_V)  # one key: nausea/vomiting
    qtbot.keyClick(w, Qt.Key.Key_N)  # free note
    note = w.dialog
    assert isinstance(note, TextDialog)
    note.editor.setFocus()
    qtbot.keyClicks(note.editor, "patient asks")
    qtbot.keyClick(note.editor, Qt.Key.Key_Return)  # a new line, not the end
    assert note.isVisible()
    qtbot.keyClicks(note.editor, "for a blanket")
    qtbot.keyClick(note.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Ctrl+Enter saves
    assert note.result() == TextDialog.DialogCode.Accepted and note.text() == "patient asks\nfor a blanket"
    qtbot.keyClick(w, Qt.Key.Key_D)  # the dose plan: weight and mg/kg, the total and rate computed
    assert isinstance(w.dialog, DoseDialog)
    w.dialog.weight.setValue(70)
    assert w.dialog.summary.text() == "total 35 mg, rate 52.5 mg/h"
    w.dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    # The keys go where a person's keys go: to the list that has the focus, which must not swallow them.
    qtbot.keyClick(w, Qt.Key.Key_M)  # MOAA/S, then the digit: recorded at once, no Enter
    assert isinstance(w.dialog, LevelDialog)
    moaas = w.dialog
    qtbot.keyClick(moaas.list, Qt.Key.Key_3)
    assert moaas.result() == LevelDialog.DialogCode.Accepted and w.dialog is None
    qtbot.keyClick(w, Qt.Key.Key_R)  # RASS -2
    rass = w.dialog
    qtbot.keyClick(rass.list, Qt.Key.Key_Minus)
    qtbot.keyClick(rass.list, Qt.Key.Key_2)
    assert w.dialog is None
    qtbot.keyClick(w, Qt.Key.Key_C)
    assert isinstance(w.dialog, CadssDialog)
    cadss = w.dialog
    assert "slow motion" in cadss.findChildren(QLabel)[2].text() or any(
        "slow motion" in label.text() for label in cadss.findChildren(QLabel))
    boxes = list(cadss.items.values())
    boxes[0].setFocus()
    for box, digit in zip(boxes, "110000", strict=True):
        qtbot.keyClick(box, digit)  # each digit moves on to the next item
    assert [box.value() for box in boxes] == [1, 1, 0, 0, 0, 0]
    cadss.accept()

    qtbot.waitUntil(lambda: len(stored_events(db_path, "score")) == 3, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "quick_event")) == 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(stored_events(db_path, "dose_planned")) == 1, timeout=WAIT_MS)
    planned = stored_events(db_path, "dose_planned")[0].detail
    assert (planned["total_mg"], planned["rate_mg_per_h"], planned["weight_kg"]) == (35.0, 52.5, 70.0)
    notes = stored_events(db_path, "note")
    assert [n.detail["text"] for n in notes] == ["patient asks\nfor a blanket"]
    quick = {e.detail["what"]: e.detail["text"] for e in stored_events(db_path, "quick_event")}
    assert quick == {"nausea_vomiting": "Nausea/vomiting"}
    scores = {e.detail["scale"]: e.detail for e in stored_events(db_path, "score")}
    assert scores["MOAA/S"]["value"] == 3
    assert scores["RASS"]["value"] == -2
    assert scores["CADSS-6"]["value"] == 2 and scores["CADSS-6"]["items"]["1"] == 1
    assert all(e.user == NURSE for e in stored_events(db_path, "score"))
    qtbot.waitUntil(lambda: w.chart.marker_count >= 6, timeout=WAIT_MS)  # all on the chart's timeline
    with Store(db_path, readonly=True) as reader:
        record = load(reader, "latest")
    exported = {e.kind for e in record.events}
    assert {EventKind.NOTE, EventKind.QUICK_EVENT, EventKind.SCORE, EventKind.DOSE_PLANNED} <= exported


def test_changing_the_driver_continues_the_same_session_with_the_new_device(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=30.0)
    qtbot.waitUntil(lambda: w.last_status is not None and bool(w.last_status.latest), timeout=WAIT_MS)
    session_id = w.last_status.session_id
    w.settings_button.click()
    dialog = w.dialog
    assert isinstance(dialog, SettingsDialog)
    assert dialog.driver_name() == "simulated"
    assert not dialog.port_box.isEnabled()  # the simulator has no serial port
    dialog.scenario_box.setCurrentText("hypertension")
    assert dialog.device_changed()
    dialog._check()  # OK: the change is asked over the dialog
    assert isinstance(dialog.device_question, ConfirmDialog) and w.dialog is dialog
    dialog.device_question.yes_button.click()
    qtbot.waitUntil(lambda: "hypertension" in w.last_status.device, timeout=WAIT_MS)
    assert w.last_status.session_id == session_id
    assert w.device.scenario == "hypertension"
    # Written by the store's writer thread shortly after the recorder carried the change out.
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "device_changed")), timeout=WAIT_MS)
    [changed] = stored_events(db_path, "device_changed")
    assert changed.user == NURSE and "hypertension" in changed.detail["device"]
    before = w.last_status.stored_readings
    qtbot.waitUntil(lambda: w.last_status.stored_readings > before + 20, timeout=WAIT_MS)  # data keeps coming

    # A device that cannot be opened is refused with a message; the running one stays.
    w.change_device(DeviceSpec(driver="simulated", scenario="no_such_scenario"))
    qtbot.waitUntil(lambda: "cannot use simulated" in w.message.text(), timeout=WAIT_MS)
    assert "hypertension" in w.last_status.device


def test_nibp_interval_is_set_and_limit_changes_need_the_admin_role(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=30.0)
    qtbot.waitUntil(lambda: w.last_snapshot is not None and bool(w.last_snapshot.limits), timeout=WAIT_MS)
    w.settings_button.click()
    dialog = w.dialog
    table = dialog.limits_table
    assert table.rowCount() > 5
    # Styled as the window opened it, every column's header and values are read whole.
    header = table.horizontalHeader()
    for column in (0, 2, 3, 4):
        title = table.horizontalHeaderItem(column).text()
        assert header.sectionSize(column) >= header.fontMetrics().horizontalAdvance(title), title
    assert header.sectionSize(4) < header.sectionSize(1), "the delay column takes no more than it needs"
    assert not table.item(0, 3).flags() & Qt.ItemFlag.ItemIsEditable  # a nurse only sees the limits
    dialog.reject()

    w.apply_settings(SettingsChoice(w.device, {"infusion": 10.0}, {"hr_high": 130.0}), device_changed=False)
    qtbot.waitUntil(lambda: any("admin" in m for m in w.messages), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.bridge.recorder.session.nibp_schedule.infusion_s == 600.0, timeout=WAIT_MS)
    # Written by the store's writer thread shortly after the recorder carried the command out.
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "settings_changed")), timeout=WAIT_MS)
    [setting] = stored_events(db_path, "settings_changed")
    assert setting.detail["minutes"] == 10.0 and setting.user == NURSE

    w.set_user(SignedInUser("ZZ", "admin"))
    w.apply_settings(SettingsChoice(w.device, {}, {"hr_high": 130.0}), device_changed=False)
    qtbot.waitUntil(
        lambda: any(line.condition == "hr_high" and line.value == 130.0 for line in w.last_snapshot.limits),
        timeout=WAIT_MS,
    )
    def audit() -> list[Any]:
        with Store(db_path, readonly=True) as reader:
            return reader.audit_log()

    qtbot.waitUntil(lambda: any(a["action"] == "set_limit" and a["user"] == "ZZ" for a in audit()), timeout=WAIT_MS)
    changes = [a for a in audit() if a["action"] == "set_limit"]
    assert changes[-1]["user"] == "ZZ" and '"role": "admin"' in changes[-1]["detail"]
    assert any(a["action"] == "sign_in" and a["user"] == "ZZ" for a in audit())
    assert "ZZ (admin)" in w.header.user.text()


def test_locking_keeps_alarms_visible_and_sounding(qtbot: Any, make_window: Any, db_path: Path,
                                                    accounts_in: Any) -> None:
    w = make_window(speed=10.0, alarms=False)  # snapshots come from the test, not an engine
    accounts_in(db_path)
    alarm = AlarmRecord("a1", "spo2_low_severe", "spo2", Priority.HIGH, AlarmKind.PHYSIOLOGICAL,
                        "SpO2 86 < 90 %", 1_790_000_000.0, value=86.0, limit=90.0)
    w.show_alarms(AlarmSnapshot((alarm,), None, False, False, Priority.HIGH), 1_790_000_010.0)
    assert w.sound.sounding is Priority.HIGH
    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    # Locked: everything stays in view, the buttons that would not work look disabled.
    assert w.locked and w.lock_banner.isVisible() and w.controls.isVisible() and not w.controls.isEnabled()
    assert not w.alarm_bar.ack_button.isEnabled() and w.alarm_bar.pause_button.isEnabled()
    assert w.sound.sounding is Priority.HIGH  # locking never silences
    assert w.alarm_bar.rows[0].isVisible() and w.alarm_bar.rows[0].text().startswith("***")
    assert w.hr_tile.isVisible() and w.spo2_tile.isVisible() and w.chart.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_N)  # no note while locked
    assert w.dialog is None or not isinstance(w.dialog, TextDialog)
    w.acknowledge_alarms()
    assert "locked" in w.message.text()
    qtbot.keyClick(w, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # unlock asks for an account
    assert not hasattr(w.dialog, "role_box")  # a role is granted, never picked
    w.dialog.name_edit.setText("RN")
    w.dialog.secret_edit.setText("wrong-secret")
    w.dialog._check()
    assert w.locked and "not recognised" in w.dialog.message.text()
    w.dialog.secret_edit.setText(NURSE_SECRET)
    w.dialog._check()
    assert not w.locked and w.user.name == "RN" and w.user.role == "nurse"


def test_a_locked_screen_lets_anyone_pause_audio_and_records_it_as_such(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    w.set_locked(True)
    w.show_status(w.last_status)  # the next status leaves what is locked drawn disabled
    assert not w.header.patient_button.isEnabled() and not w.controls.isEnabled()
    w.alarm_bar.pause_button.click()
    qtbot.waitUntil(lambda: any(a["action"] == "pause_audio" for a in _audit(db_path)), timeout=WAIT_MS)
    [entry] = [a for a in _audit(db_path) if a["action"] == "pause_audio"]
    assert entry["user"] == "anyone at the locked screen"


def test_the_screen_locks_itself_after_the_idle_time(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=10.0)
    assert w.idle_lock.timer.interval() == 10 * 60_000  # the default: 10 minutes
    w.idle_lock.set_idle_ms(200)
    qtbot.waitUntil(lambda: w.locked, timeout=WAIT_MS)
    assert w.alarm_bar.pause_button.isEnabled() and not w.controls.isEnabled()


def test_the_dose_key_is_named_for_what_it_does_in_each_phase(qtbot: Any, make_window: Any) -> None:
    """Before the infusion the key plans the dose, during it a new rate is entered: the button said "Dose change"
    from the start, where a nurse looks for the dose plan the header asks for."""
    w = make_window(speed=120.0, plan="baseline:1,infusion:2,recovery:1", first_status=True)
    button = w.quick_buttons["dose_change"]
    width = button.width()
    seen: dict[Phase, str] = {}

    def through_recovery() -> bool:
        if w.last_status is not None:
            seen.setdefault(w.last_status.phase, button.text())
            assert button.width() == width  # a new name moves no button
        return Phase.RECOVERY in seen

    qtbot.waitUntil(through_recovery, timeout=WAIT_MS)
    assert seen[Phase.BASELINE] == "Dose plan (D)" and seen[Phase.RECOVERY] == "Dose plan (D)"
    assert seen[Phase.INFUSION] == "Dose change (D)"


def test_the_header_shows_the_patient_identified_while_the_store_has_not_taken_it(
    qtbot: Any, make_window: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header said "Patient: not entered" after a patient was identified when it read the database back before
    the writer's commit (seen at the first session of a new database); a store that refuses (a lock held by another
    process) kept it so for as long as it refused, inviting the nurse to identify the patient again."""
    import sqlite3

    def locked(*_args: Any, **_kwargs: Any) -> str:
        raise sqlite3.OperationalError("database is locked")

    w = make_window(speed=10.0, first_status=True)
    monkeypatch.setattr(Store, "attach_patient", locked)
    w.identify_patient()
    w.dialog.mrn_edit.setText("MRN-20417")
    w.dialog.name_edit.setText("Jana Nováková")
    w.dialog.accept()
    qtbot.waitUntil(lambda: "MRN-20417" in w.header.patient.text(), timeout=WAIT_MS)
    assert w.header.patient.text() == "Patient: Jana Nováková · MRN MRN-20417"
    with Store(db_path, readonly=True) as reader:
        assert reader.session_row(w.bridge.recorder.session.id)["patient_id"] is None  # not on file yet
    monkeypatch.undo()  # the lock goes: the writer puts the patient on file

    def on_file() -> bool:
        with Store(db_path, readonly=True) as reader:
            return reader.session_row(w.bridge.recorder.session.id)["patient_id"] == w.bridge.recorder.patient.key

    qtbot.waitUntil(on_file, timeout=WAIT_MS)


def test_break_glass_sign_in_is_audited_and_flagged_on_the_session(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    w = make_window(speed=10.0, first_status=True)
    w.sign_in()
    w.dialog.emergency_box.setChecked(True)
    w.dialog.name_edit.setText("Dr Cover")
    w.dialog._check()
    assert w.dialog is not None and "reason" in w.dialog.message.text()  # a reason is required
    w.dialog.reason_edit.setText("night cover, no account yet")
    w.dialog._check()
    assert w.user.name == "EMERGENCY: Dr Cover" and w.user.role == "nurse"
    qtbot.waitUntil(lambda: bool(stored_events(db_path, "note")), timeout=WAIT_MS)
    [note] = stored_events(db_path, "note")
    assert "Emergency sign-in" in note.detail["text"] and "night cover" in note.detail["text"]
    assert any(a["action"] == "break_glass" and "night cover" in a["detail"] for a in _audit(db_path))


def _audit(db_path: Path) -> list[Any]:
    with Store(db_path, readonly=True) as reader:
        return reader.audit_log()


def test_closing_during_a_session_asks_and_loses_nothing(qtbot: Any, make_window: Any, db_path: Path) -> None:
    w = make_window(speed=30.0)
    qtbot.waitUntil(lambda: w.last_status is not None and w.last_status.stored_readings > 30, timeout=WAIT_MS)
    w.close()
    assert isinstance(w.dialog, ConfirmDialog)
    w.dialog.no_button.click()
    assert w.bridge.running and w.isVisible()
    w.close()
    shown = w.last_status.stored_readings
    _confirm(w)
    assert not w.bridge.running and not w.isVisible()
    with Store(db_path, readonly=True) as reader:
        [summary] = reader.sessions()
        assert summary.status == "closed"
        assert reader.reading_count(summary.id) >= shown


def test_numerics_show_the_heart_rate_source_and_nibp_age_and_the_patient(qtbot: Any, make_window: Any) -> None:
    w = make_window(speed=60.0, pleth=True, patient="MRN-0042", first_status=True)
    w.phase_buttons["start_baseline"].click()
    qtbot.waitUntil(lambda: w.hr_tile.value.text().isdigit() and w.spo2_tile.value.text().isdigit(),
                    timeout=WAIT_MS)
    assert w.hr_tile.title.text().startswith("HR")  # the simulator has an ECG heart rate
    qtbot.waitUntil(lambda: "/" in w.nibp_tile.value.text() and "-" not in w.nibp_tile.value.text(),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "ago" in w.nibp_tile.status.text() or "now" in w.nibp_tile.status.text(),
                    timeout=WAIT_MS)
    assert "MRN-0042" in w.header.patient.text()
    qtbot.waitUntil(lambda: w.chart.pleth_widget.isVisible(), timeout=WAIT_MS)
    assert w.chart.pleth_samples().size <= 750
    assert w.chart.series[Parameter.SPO2].good.n > 10


def test_the_nurse_identifies_the_patient_and_the_next_step_is_highlighted(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    from ui.dialogs import PatientDialog

    w = make_window(speed=60.0, first_status=True)
    assert w.phase_buttons["start_baseline"].objectName() == "primary"
    assert w.phase_buttons["start_infusion"].objectName() == ""
    assert "not entered" in w.header.patient.text()

    w.header.patient_button.click()
    dialog = w.dialog
    assert isinstance(dialog, PatientDialog)
    dialog.mrn_edit.setText("MRN-5150")
    dialog.birth_edit.setText("1980-13-40")
    dialog._check()
    assert "YYYY-MM-DD" in dialog.message.text()  # a bad date is refused in the dialog
    dialog.birth_edit.setText("1980-02-29")
    dialog.name_edit.setText("Test Patient")
    dialog._check()
    qtbot.waitUntil(lambda: "MRN-5150" in w.header.patient.text(), timeout=WAIT_MS)

    w.phase_buttons["start_baseline"].click()
    _checklist_and_dose(qtbot, w)
    qtbot.waitUntil(lambda: w.phase_buttons["start_infusion"].objectName() == "primary", timeout=WAIT_MS)
    with Store(db_path, readonly=True) as reader:
        row = reader.session_row(w.bridge.recorder.session.id)
        assert reader.patient_row(row["patient_id"])["birth_date"] == "1980-02-29"
    assert len(stored_events(db_path, EventKind.PATIENT_IDENTIFIED.value)) == 1


def test_a_resumed_session_shows_its_whole_history_and_closing_says_what_happens(
    qtbot: Any, tmp_path: Path
) -> None:
    from drivers.simulated.driver import SimulatedSource
    from monitor.alarms.engine import AlarmEngine
    from monitor.recorder import Recorder
    from tests.conftest import leave_unfinished
    from tests.ui.review_sessions import record
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    path = tmp_path / "monitor.db"
    session_id = record(path, mrn="MRN-1", plan="baseline:2,infusion:40,recovery:20", stop_after_infusion_min=8)
    leave_unfinished(path, session_id)
    with Store(path, readonly=True) as reader:
        stored_hr = sum(1 for r in reader.readings(session_id) if r.parameter is Parameter.HR)
    store = Store(path)
    try:
        recorder = Recorder.resume_session(store, SimulatedSource(scenario="normal", seed=4, speed=1.0), session_id,
                                           nurse=NURSE, alarms=AlarmEngine())
        window = LiveWindow(RecorderBridge(recorder), SignedInUser(NURSE, "nurse"), sound=False)
        qtbot.addWidget(window)
        # Before any new data: the chart already holds the session up to the crash, with its phases.
        assert window.chart.series[Parameter.HR].good.n == stored_hr > 8 * 60
        assert [span.phase for span in window.chart._spans][:2] == [Phase.BASELINE, Phase.INFUSION]
        window.show()
        window.bridge.start()  # recording: closing asks first
        qtbot.waitUntil(lambda: window.bridge.running, timeout=WAIT_MS)
        window.close()
        assert isinstance(window.dialog, ConfirmDialog)
        text = window.dialog.findChildren(QLabel)[0].text()
        assert "cannot be resumed" in text and "can be resumed later" not in text
        window.dialog.reject()
        window.force_close()
    finally:
        store.close()


def test_a_button_with_the_keyboard_is_not_drawn_in_an_alarm_colour_or_as_due(qtbot: Any, make_window: Any) -> None:
    """The button last clicked keeps the keyboard: its ring was the amber of a score due (and near the medium
    alarm's yellow), so "Start baseline", once clicked, looked like something due. The ring's pixels are read."""
    from PySide6.QtGui import QColor

    w = make_window(first_status=True)
    _focus(qtbot, w)
    button = w.settings_button
    button.setFocus()
    qtbot.waitUntil(button.hasFocus, timeout=WAIT_MS)
    image = button.grab().toImage()
    ring = {image.pixelColor(x, 1).name() for x in range(4, image.width() - 4)}
    assert QColor(theme.TEXT).name() in ring  # the ring is drawn

    def near(colour: str, other: str) -> bool:
        a, b = QColor(colour), QColor(other)
        return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < 90

    warned = [(c, o) for c in ring for o in (theme.WARNING_TEXT, *theme.ALARM_COLOURS.values()) if near(c, o)]
    assert warned == []


def test_the_score_buttons_turn_due_when_the_protocol_asks_and_plain_once_scored(
    qtbot: Any, make_window: Any, db_path: Path
) -> None:
    # IV ketamine: PHQ-9 and GAD-7 before the infusion, MOAA/S with each cuff during it, CADSS-6 at its end and
    # again before discharge.
    w = make_window(speed=60.0, plan="baseline:3,infusion:8,recovery:30", first_status=True)
    assert w.last_status.phase in (Phase.SETUP, Phase.BASELINE)  # 3 s of wall time before the infusion
    assert w.questionnaire_button.text() == "PHQ/GAD due"
    assert theme.WARNING_TEXT in w.questionnaire_button.styleSheet()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.INFUSION, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.moaas_button.text() == "MOAA/S due", timeout=WAIT_MS)  # a cuff came
    assert theme.WARNING_TEXT in w.moaas_button.styleSheet()
    assert w.questionnaire_button.text() == "PHQ/GAD (Q)"  # its moment has passed
    assert w.cadss_button.text() == "CADSS-6 (C)"
    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_M)
    qtbot.keyClick(w.dialog.list, Qt.Key.Key_4)
    qtbot.waitUntil(lambda: w.moaas_button.text() == "MOAA/S (M)", timeout=WAIT_MS)
    assert theme.WARNING_TEXT not in w.moaas_button.styleSheet()
    qtbot.waitUntil(lambda: w.last_status.phase is Phase.RECOVERY, timeout=30_000)
    # The protocol asks CADSS-6 twice: the button's tip says which one is due.
    qtbot.waitUntil(lambda: w.cadss_button.text() == "CADSS-6 due", timeout=WAIT_MS)
    assert "end of infusion" in w.cadss_button.toolTip()
    assert w.moaas_button.text() == "MOAA/S (M)"  # no MOAA/S reminder after the infusion
    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_C)
    cadss = w.dialog
    assert isinstance(cadss, CadssDialog)
    # An item never asked is not a 0: nothing is recorded until all six are answered.
    boxes = list(cadss.items.values())
    assert cadss.unanswered() == list(cadss.items) and not cadss.ok_button.isEnabled()
    assert boxes[0].text() == "–" and "not answered yet: item 1, 2, 6, 7, 15, 22" in cadss.total_label.text()
    boxes[0].setFocus()
    for box, digit in zip(boxes[:5], "21000", strict=True):
        qtbot.keyClick(box, digit)
    cadss.accept()
    assert w.dialog is cadss and not cadss.ok_button.isEnabled() and "item 22" in cadss.total_label.text()
    qtbot.keyClick(boxes[5], "1")
    assert cadss.ok_button.isEnabled() and cadss.total_label.text() == "Total 4 / 24"
    cadss.accept()

    def cadss_scores() -> int:
        return sum(1 for e in w.events if e.kind is EventKind.SCORE and e.detail.get("scale") == "CADSS-6")

    # That one was the infusion's end; the protocol asks again before discharge, a separate assessment.
    # The window says so (before, the button stayed "CADSS-6 due" and the score just given looked lost).
    qtbot.waitUntil(lambda: cadss_scores() == 1 and w.last_status.scores_due == ("CADSS-6",), timeout=WAIT_MS)
    assert w.cadss_button.text() == "CADSS-6 due"
    qtbot.waitUntil(lambda: "before discharge" in w.cadss_button.toolTip(), timeout=WAIT_MS)
    assert "CADSS-6 recorded (end of infusion); the protocol asks for another before discharge." in w.messages
    _focus(qtbot, w)
    qtbot.keyClick(w, Qt.Key.Key_C)
    again = w.dialog
    assert isinstance(again, CadssDialog) and again is not cadss
    for box in again.items.values():
        qtbot.keyClick(box, "0")
    again.accept()
    qtbot.waitUntil(lambda: w.cadss_button.text() == "CADSS-6 (C)", timeout=WAIT_MS)
    assert w.scores_due == () and cadss_scores() == 2


def test_completing_against_failed_discharge_criteria_asks_for_the_reason(qtbot: Any, make_window: Any) -> None:
    """The window never sends a completion over failed criteria without a reason to record with it."""
    from monitor.discharge import NurseAssessment, assess_discharge

    w = make_window(speed=1.0, first_status=True)
    failing = assess_discharge([], None, NurseAssessment(2, 2, 2, False, 2, 2, 2, 2, False, True))
    assert not failing.passed
    sent: list[tuple[str, dict[str, Any]]] = []

    def send(name: str, on_success: Any = None, **args: Any) -> None:
        sent.append((name, args))
        if on_success is not None:
            on_success(None)  # as the recorder's answer would

    w.send = send

    class Entered:
        """What the discharge form hands back: failed criteria and (somehow) no reason typed."""

        def discharge(self) -> Any:
            return failing

        def override_reason(self) -> str:
            return ""

    w._discharge_entered(Entered())
    assert isinstance(w.dialog, TextDialog) and sent == []
    assert "no escort present" in w.dialog.findChildren(QLabel)[0].text()
    w.dialog.accept()  # no reason typed: nothing is recorded
    assert sent == []
    w._discharge_entered(Entered())
    w.dialog.editor.setText("escort on the phone, arriving in 5 min; physician agreed")
    w.dialog.accept()
    assert [name for name, _ in sent] == ["discharge_scored", "complete"]
    assert sent[0][1]["passed"] is False and sent[0][1]["reasons"] == list(failing.reasons)
    assert sent[1][1] == {"override_reason": "escort on the phone, arriving in 5 min; physician agreed"}


def test_oxygen_given_in_the_session_is_ticked_on_the_discharge_form(qtbot: Any, make_window: Any) -> None:
    """Oxygen recorded with **I** and the discharge form's "on oxygen" left unticked scored SpO2 as on room air
    (the modified Aldrete's 2 instead of 1): the form now ticks it, naming the flow and the time, for the nurse
    to untick when the patient is off oxygen."""
    from ui.discharge_dialog import DischargeDialog

    w = make_window(speed=1.0, first_status=True)
    w.discharge()
    assert isinstance(w.dialog, DischargeDialog) and not w.dialog.on_oxygen.isChecked()
    w.dialog.reject()
    w.bridge.recorder.submit("intervention", NURSE, kind="oxygen", dose=2)
    qtbot.waitUntil(lambda: any(e.kind is EventKind.INTERVENTION for e in w.events), timeout=WAIT_MS)
    w.discharge()
    assert isinstance(w.dialog, DischargeDialog)
    assert w.dialog.on_oxygen.isChecked()
    assert "2 L/min given at" in w.dialog.on_oxygen.text()
    w.dialog.on_oxygen.setChecked(False)  # off oxygen now: the nurse's word counts
    assert w.dialog.on_oxygen.isChecked() is False
