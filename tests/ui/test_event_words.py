"""Every kind of timeline entry reads in words in the review's events table and the PDF: its label, and what it
holds, never the program's own names, Python's True/False or a dictionary as Python prints it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from monitor.exports import pdf_export
from monitor.labels import EVENT_LABELS, event_label, plain_detail, pressure_text
from monitor.session import EventKind, Phase, SessionEvent
from ui.review_window import event_detail

#: What a reader should never meet: dictionary text, quotes of a repr, Python's booleans, a code's underscore.
UNREADABLE = re.compile(r"[{}']|\bTrue\b|\bFalse\b|\w_\w")

#: Details as the recorder stores them (a session of the audit of 2026-12-07), and one that holds every shape a
#: detail can: nested tables, flags, empty values, codes, times.
STORED: tuple[dict[str, Any], ...] = (
    {"driver": "simulated", "port": "", "protocol": "ketamine-iv", "settings": {},
     "device_spec": {"driver": "simulated", "port": "", "settings": {}, "port_overrides": {}, "seed": 1,
                     "pleth": False, "link_lost_after_s": 5.0, "settings_by_driver": {}, "speed": 10.0}},
    {"patient_key": "fbbf68663c6e4353a017bc94ad89d131"},
    {"fasting_hours": 6.0, "escort_present": True, "transport": "partner", "consent_on_file": True,
     "medications": [], "pregnancy": "not_applicable", "weight_kg": 70.0, "notes": "", "flagged": {}, "problems": []},
    {"taken_at": 1796653250.8, "heart_rate": 70.0, "heart_rate_parameter": "hr", "spo2": 98.0, "nibp_sys": 122.5,
     "nibp_dia": 73.0, "nibp_mean": 89.5},
    {"infused_min": 22.9, "before_minimum_min": 40.0, "reason": "pump alarm"},
    {"aldrete": {"name": "Modified Aldrete", "total": 10, "maximum": 10, "threshold": 9, "passed": True,
                 "items": [{"name": "activity", "score": 2, "maximum": 2, "computed": False}]},
     "padss": {"name": "PADSS", "total": 10, "maximum": 10, "threshold": 9, "passed": True,
               "items": [{"name": "nausea_vomiting", "score": 2, "maximum": 2, "computed": False}]},
     "escort_present": True, "no_driving_acknowledged": True, "passed": True, "reasons": []},
    {"condition": "recorder_not_running", "check_missed": False, "flagged": {"maoi": ["phenelzine"]},
     "items": [{"name": "nausea_vomiting", "score": 2, "computed": True}], "t": 12.0, "due_at": 30.0},
)

#: A dose plan always holds its figures (the review reads them as they are).
DOSE_PLANNED: dict[str, Any] = {
    "drug": "ketamine", "route": "IV", "total_mg": 35.0, "weight_kg": 70.0, "dose_mg_per_kg": 0.5,
    "concentration_mg_per_ml": None, "duration_min": 40.0, "rate_mg_per_h": 52.5, "rate_ml_per_h": None, "lot": None,
    "confirmed_reason": "", "outside_range": None}


def _events() -> list[SessionEvent]:
    return [SessionEvent(100.0, kind, Phase.INFUSION, "RN", detail) for kind in EventKind
            for detail in ((DOSE_PLANNED,) if kind is EventKind.DOSE_PLANNED else STORED)]


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_of_entry_has_a_plain_label(kind: EventKind) -> None:
    label = EVENT_LABELS[kind]
    assert label[:1].isupper() and not UNREADABLE.search(label), label
    assert event_label(kind) != kind.value
    assert not UNREADABLE.search(event_label(kind, {Phase.INFUSION: "dosing"}))


def test_no_entry_reads_as_program_output_in_the_review_or_the_pdf() -> None:
    for event in _events():
        for shown in (event_detail(event), pdf_export._event_sentence(event), plain_detail(event.detail)):
            assert not UNREADABLE.search(shown), (event.kind, shown)


def test_details_read_as_words() -> None:
    session, identified, checklist = STORED[:3]
    assert plain_detail(session) == "driver: simulated; protocol: ketamine-iv"
    assert plain_detail(identified) == ""
    assert plain_detail(checklist) == ("fasting hours: 6; escort present: yes; transport: partner; consent on file: "
                                       "yes; pregnancy: not applicable; weight kg: 70")
    baseline = SessionEvent(100.0, EventKind.BASELINE_TAKEN, Phase.BASELINE, "RN", STORED[3])
    assert event_detail(baseline) == "HR 70 · SpO2 98 % · NIBP 122/73 (90)"


@pytest.mark.parametrize(
    ("sys", "dia", "mean", "text"),
    [(122.5, 73.0, 89.5, "122/73 (90)"), (123.5, 72.5, None, "124/72"), (121.0, 74.0, 90.0, "121/74 (90)")],
)
def test_a_blood_pressure_reads_in_whole_mmhg(sys: float, dia: float, mean: float | None, text: str) -> None:
    assert pressure_text(sys, dia, mean) == text
