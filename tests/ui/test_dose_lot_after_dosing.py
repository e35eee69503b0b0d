"""The dose form opened after dosing started shows the plan recorded, so that its missing lot alone can be added."""

from __future__ import annotations

from typing import Any

from monitor import chair
from monitor.dose import DosePlan
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase, Session, SessionEvent
from ui.chair_dialogs import DoseDialog

T0 = 1_790_000_000.0


def test_the_plan_given_is_shown_and_the_lot_typed_into_it_is_taken(qtbot: Any) -> None:
    """Opened with the protocol's default dose (56 mg) over an 84 mg plan, the lot typed in read as another dose
    and was refused; an esketamine session without its lot could then never be discharged."""
    nasal = load_protocol("esketamine-nasal")
    given = DosePlan("esketamine", "intranasal", 84.0, weight_kg=81.0)
    dialog = DoseDialog(None, nasal, 81.0, given)
    qtbot.addWidget(dialog)
    dialog.lot.setText("LOT-20")
    session = Session("s", T0, SessionPlan(5, 40, 30))
    session.phase = Phase.RECOVERY  # observation: the sprays were given
    planned = [SessionEvent(T0 + 30, EventKind.DOSE_PLANNED, Phase.BASELINE, "RN", given.as_dict())]
    found = chair.entry("plan_dose", dialog.args(), nasal, session, planned)
    assert found.detail["total_mg"] == 84.0 and found.detail["lot"] == "LOT-20" and found.detail["lot_added"]


def test_the_form_to_add_the_lot_opens_on_the_lot(qtbot: Any, make_window: Any) -> None:
    """It opened on Weight: the nurse who came to add the lot the REMS form asked for had to find its field."""
    import dataclasses

    from PySide6.QtWidgets import QApplication

    from monitor.dose import dose_record

    window = make_window(protocol="esketamine-nasal", first_status=True)
    window.send("plan_dose", total_mg=84.0, weight_kg=81.0, lot="", confirm_reason="")
    qtbot.waitUntil(lambda: dose_record(window.events).plan is not None, timeout=30_000)
    # Observation, as the recorder would say two hours later (fed at once: the window reads it as it opens the form).
    window.last_status = dataclasses.replace(window.last_status, phase=Phase.RECOVERY, phase_label="observation")
    window.dose_entry()
    dialog = window.dialog
    assert isinstance(dialog, DoseDialog) and dialog.isVisible()
    QApplication.processEvents()
    assert dialog.focusWidget() is dialog.lot
    assert dialog.lot_note.isVisible() and "REMS" in dialog.lot_note.text()


def test_a_plan_without_its_lot_is_taken_with_a_note_that_the_rems_form_needs_it(qtbot: Any) -> None:
    """A plan without a lot was taken without a word, and the REMS form and the discharge refused it over two hours
    later ("REMS Patient Monitoring Form is incomplete: … Lot number")."""
    from ui import theme

    dialog = DoseDialog(None, load_protocol("esketamine-nasal"), 81.0)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.lot_note.isVisible() and dialog.lot_note.text().startswith(
        "The REMS Patient Monitoring Form needs the lot number")
    assert dialog.lot_missing() and theme.WARNING_TEXT in dialog.lot_note.styleSheet()
    assert dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()  # a warning, not a refusal
    assert dialog.focusWidget() is not dialog.lot  # a new plan starts at its weight
    dialog.lot.setText("LOT-20")
    assert not dialog.lot_missing() and theme.WARNING_TEXT not in dialog.lot_note.styleSheet()
    # IV ketamine has no REMS form: no note.
    iv = DoseDialog(None, load_protocol("ketamine-iv"), 81.0)
    qtbot.addWidget(iv)
    iv.show()
    assert not iv.lot_note.isVisible() and not iv.lot_missing()
