"""The live chart's dose marker of a fixed dose (esketamine's 56 mg) has no mg/kg, as the course has none."""

from __future__ import annotations

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
