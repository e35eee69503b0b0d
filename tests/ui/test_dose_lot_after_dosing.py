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
