"""F at the chair during esketamine dosing: the REMS form's pre-dose blood pressure says what the record holds."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFormLayout

from monitor.session import Phase
from ui.chair_dialogs import RemsDialog


def test_the_rems_form_at_the_chair_shows_the_records_pre_dose_pressure(qtbot: Any, make_window: Any) -> None:
    # Dosing lasts 20 s of wall time at 60x, and the 40-minute pressure comes 40 s after it starts: room for a
    # loaded machine to draw the window in the dosing phase.
    window = make_window(speed=60.0, plan="baseline:3,infusion:20,recovery:120", first_status=True,
                         protocol="esketamine-nasal")
    window.send("checklist", quick="f2 e t:partner c m- p:na w54")
    window.send("plan_dose", total_mg=56, weight_kg=54)
    qtbot.waitUntil(lambda: window.last_status.phase is Phase.INFUSION, timeout=60_000)
    assert window.form_readings.cuffs, "the baseline's cuff came to the window"
    window.rems_entry()
    dialog = window.dialog
    assert isinstance(dialog, RemsDialog)
    form = dialog.findChild(QFormLayout)
    assert isinstance(form, QFormLayout)
    label = form.labelForField(dialog.texts["bp_before_dosing"]).text()
    systolic = next(r for r in reversed(window.form_readings.cuffs) if r.parameter.value == "nibp_sys")
    assert f"record: {systolic.value:.0f}/" in label and "(cuff at " in label, label
    later = form.labelForField(dialog.texts["bp_40_min"]).text()
    assert "record:" not in later, later  # not yet taken: nothing is claimed
    dialog.reject()
