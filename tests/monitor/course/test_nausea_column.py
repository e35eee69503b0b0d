"""What marks a session of the course as one with nausea or vomiting.

A prophylactic antiemetic (ondansetron before the drug, given to every patient in many clinics) once marked every
session of a course as nauseous, and a PADSS nausea item the nurse scored 1 at discharge marked none.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.course import shows_nausea
from monitor.discharge import LatestVitals, padss
from monitor.dose import Intervention, InterventionKind
from monitor.session import EventKind


def _antiemetic() -> dict[str, Any]:
    return Intervention(InterventionKind.ANTIEMETIC, "ondansetron", 4.0, "mg", "IV").as_dict()


def _discharge(nausea_item: int) -> dict[str, Any]:
    score = padss(LatestVitals(), None, activity=2, nausea_vomiting=nausea_item, pain=2, bleeding=2)
    return {"padss": score.as_dict()}


@pytest.mark.parametrize(("kind", "detail", "after_dosing", "nausea"), [
    (EventKind.INTERVENTION, _antiemetic(), False, False),  # prophylaxis before the drug
    (EventKind.INTERVENTION, _antiemetic(), True, True),  # treating nausea once the drug was given
    (EventKind.INTERVENTION, Intervention(InterventionKind.OXYGEN, "oxygen", 2.0, "L/min").as_dict(), True, False),
    (EventKind.QUICK_EVENT, {"event": "nausea_vomiting", "label": "Nausea/vomiting"}, True, True),
    (EventKind.QUICK_EVENT, {"event": "other", "text": "vomited once"}, False, True),
    (EventKind.QUICK_EVENT, {"event": "other", "text": "restless"}, True, False),
    (EventKind.DISCHARGE_SCORED, _discharge(2), True, False),  # minimal
    (EventKind.DISCHARGE_SCORED, _discharge(1), True, True),  # moderate
    (EventKind.DISCHARGE_SCORED, _discharge(0), True, True),  # severe
    (EventKind.DISCHARGE_SCORED, {"padss": {"items": "not a list"}}, True, False),
    (EventKind.NOTE, {"text": "nausea"}, True, False),  # free text is not read for it
])
def test_what_counts_as_nausea(kind: EventKind, detail: dict[str, Any], after_dosing: bool, nausea: bool) -> None:
    assert shows_nausea(kind, detail, after_dosing=after_dosing) is nausea
