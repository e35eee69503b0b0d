"""The live chart's dose marker of a fixed dose (esketamine's 56 mg) has no mg/kg, as the course has none, and
neither has the review window's event list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase, SessionEvent
from ui.trend_chart import marker_text

PLANNED = SessionEvent(1_722_000_000.0, EventKind.DOSE_PLANNED, Phase.BASELINE, "RN",
                       {"drug": "esketamine", "route": "intranasal", "total_mg": 56.0, "weight_kg": 70.0,
                        "dose_mg_per_kg": 0.8, "lot": "L1"})


def test_the_chart_marker_of_a_fixed_dose_has_no_mg_per_kg() -> None:
    """It read "dose 56 mg (0.8 mg/kg)", a weight-based dose, though the protocol gives 56 mg to everyone."""
    assert marker_text(PLANNED, dose=load_protocol("esketamine-nasal").dose) == "dose 56 mg lot L1"
    assert marker_text(PLANNED, dose=load_protocol("ketamine-iv").dose) == "dose 56 mg (0.8 mg/kg) lot …"


def test_the_review_event_list_of_a_fixed_dose_has_no_mg_per_kg(qtbot: Any, tmp_path: Path) -> None:
    """The review's events read "dose 56 mg (1.037 mg/kg) lot L1" for a 54 kg patient, where the chart, the course
    and the exports give 56 mg alone: the list follows the same rule (IV ketamine keeps its mg/kg)."""
    from tests.monitor.course.recording import Script, record
    from ui.dialogs import SignedInUser
    from ui.review_window import ReviewWindow, event_detail

    path = tmp_path / "monitor.db"
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f2 e t:partner c m- p:na w54"}),
        (Phase.BASELINE, 30, "plan_dose", {"total_mg": 56, "lot": "L1", "weight_kg": 54}),
    ])
    recorder = record(path, load_protocol("esketamine-nasal"), start=1_726_000_000.0, plan=SessionPlan(2, 5, 10),
                      script=script, stop_after_s=20 * 60)
    window = ReviewWindow(path, recorder.session.id, SignedInUser("Dr Mensah", "physician"))
    qtbot.addWidget(window)
    table = window.event_table
    rows = [[table.item(row, column).text() for column in (2, 3)] for row in range(table.rowCount())]
    assert ["Dose planned", "dose 56 mg lot L1"] in rows, rows
    assert not any("mg/kg" in detail for _, detail in rows)
    assert event_detail(PLANNED, dose=load_protocol("ketamine-iv").dose) == "dose 56 mg (0.8 mg/kg) lot L1"


def test_the_review_of_a_nasal_spray_names_its_phases_and_stop_as_its_protocol_does(
    qtbot: Any, tmp_path: Path
) -> None:
    """The header read "baseline → infusion → recovery" and the stop "after 5 min of infusion" for an esketamine
    session, whose protocol calls them pre-dose, dosing and observation."""
    from tests.monitor.course.recording import Script, record
    from ui.dialogs import SignedInUser
    from ui.review_window import ReviewWindow

    path = tmp_path / "monitor.db"
    script = Script([(Phase.BASELINE, 20, "checklist", {"quick": "f2 e t:partner c m- p:na w54"})])
    recorder = record(path, load_protocol("esketamine-nasal"), start=1_726_000_000.0, plan=SessionPlan(2, 5, 10),
                      script=script, stop_after_s=20 * 60)
    window = ReviewWindow(path, recorder.session.id, SignedInUser("Dr Mensah", "physician"))
    qtbot.addWidget(window)
    assert " · pre-dose → dosing → observation" in window.session_label.text(), window.session_label.text()
    table = window.event_table
    details = [table.item(row, 3).text() for row in range(table.rowCount())]
    assert "after 5 min of dosing" in details, details
    assert not any("infusion" in detail for detail in details), details
