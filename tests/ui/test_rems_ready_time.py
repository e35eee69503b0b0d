"""The REMS form's "time the patient would have been ready to leave" is the nurse's answer, never the clock's.

CLINICAL.md: the form records when the patient would have been ready to leave without the 2-hour minimum;
README: the F form asks for it. Opening the F form to enter only the site (e.g. at dosing) and pressing OK
recorded the time the dialog was opened as that answer, and the form then counted the field as filled.
"""

from __future__ import annotations

import time

from monitor import rems


def test_an_untouched_ready_time_is_not_recorded_as_an_answer(qtbot) -> None:
    from ui.chair_dialogs import RemsDialog

    session_start = time.time() - 15 * 60  # the form opened 15 min into the session, at dosing
    dialog = RemsDialog(None, session_start, {})
    qtbot.addWidget(dialog)
    dialog.site.setText("Clinic North")
    given = dialog.values()
    checked = {key: rems.check_answer(key, value) for key, value in given.items()}
    assert "ready_to_leave_at" not in checked, (
        f"ready_to_leave_at recorded as {time.strftime('%H:%M', time.localtime(checked['ready_to_leave_at']))}, "
        "which nobody entered"
    )


def test_a_blood_pressure_given_on_the_form_is_taken_only_as_systolic_over_diastolic(qtbot) -> None:
    from ui.chair_dialogs import RemsDialog

    dialog = RemsDialog(None, time.time() - 60 * 60, {})
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.texts["bp_40_min"], "128/82")
    qtbot.keyClicks(dialog.texts["bp_before_discharge"], "ok")  # letters are not typed in
    qtbot.keyClicks(dialog.texts["bp_before_dosing"], "130/")  # half a pressure is not an answer
    given = dialog.values()
    assert given.get("bp_40_min") == "128/82"
    assert dialog.texts["bp_before_discharge"].text() == ""
    assert "bp_before_discharge" not in given and "bp_before_dosing" not in given


def test_the_form_shows_what_the_record_holds_beside_the_question(qtbot) -> None:
    """The nurse saw an empty box for respiratory depression though a check (E) had recorded "no" an hour earlier."""
    from PySide6.QtWidgets import QFormLayout

    from ui.chair_dialogs import RemsDialog

    held = {"respiratory_depression": "record: no (E at 16:01, 14/min)", "benzodiazepines": "record: yes (checklist)"}
    dialog = RemsDialog(None, time.time() - 60 * 60, {}, recorded=held)
    qtbot.addWidget(dialog)
    layout = dialog.layout()
    assert isinstance(layout, QFormLayout)
    for key, text in held.items():
        label = layout.labelForField(dialog.answers[key])
        assert text in label.text()  # type: ignore[union-attr]
    assert "record:" not in layout.labelForField(dialog.answers["maois"]).text()  # type: ignore[union-attr]
