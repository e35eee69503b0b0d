"""The review window's header names the treatment: the dose planned and the dose delivered, as the exports give it.

It showed neither: a physician signing off could not see that 49 mg went in where 35 mg was planned.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.exports import json_export
from monitor.exports.data import load
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from monitor.store import Store
from tests.monitor.course.recording import Script, record
from ui.dialogs import SignedInUser
from ui.review_window import ReviewWindow

REVIEWER = SignedInUser("Dr Mensah", "physician")
START = 1_726_000_000.0


@pytest.fixture(scope="module")
def dosed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """0.5 mg/kg for 70 kg over 40 min (35 mg at 52.5 mg/h), left running 56 min, then ondansetron in recovery."""
    path = tmp_path_factory.mktemp("dosed") / "monitor.db"
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:none w70"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 70, "dose_mg_per_kg": 0.5, "duration_min": 40}),
        (Phase.RECOVERY, 60, "intervention", {"kind": "antiemetic", "drug": "ondansetron", "dose": 4,
                                              "route": "IV"}),
    ])
    recorder = record(path, load_protocol("ketamine-iv"), start=START, plan=SessionPlan(2, 56, 4), script=script)
    return path, recorder.session.id


def _window(qtbot: Any, path: Path, session_id: str) -> ReviewWindow:
    window = ReviewWindow(path, session_id, REVIEWER)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def _json_treatment(path: Path, session_id: str) -> Any:
    with Store(path, readonly=True) as store:
        stream = io.StringIO()
        json_export.write(load(store, session_id), stream)
    return json.loads(stream.getvalue())["treatment"]


def test_the_header_shows_the_delivered_dose_the_json_export_gives(qtbot: Any, dosed: tuple[Path, str]) -> None:
    window = _window(qtbot, *dosed)
    dose = _json_treatment(*dosed)["dose"]
    assert (dose["total_mg"], dose["delivered_mg"], dose["delivered_mg_per_kg"]) == (35, 49, 0.7)
    line = window.treatment_label.text()
    assert line == (f"Treatment: ketamine IV · delivered {dose['delivered_mg']:g} mg "
                    f"({dose['delivered_mg_per_kg']:g} mg/kg) in 56 min · "
                    "planned 35 mg (0.5 mg/kg × 70 kg) at 52.5 mg/h · 0 rate changes · no pauses · 1 intervention")
    # Under the baseline, inside a header no wider than the screen.
    assert window.treatment_label.y() > window.baseline_label.y()
    # The baseline's values are the phase's medians, set when it ended ("Baseline (09:47:10)" read as one cuff then),
    # and its line is read whole in the header.
    assert window.baseline_label.text().startswith("Baseline (medians, set ")
    label = window.baseline_label
    widest = "Baseline (medians, set 20:29:41): PR 125 /min · SpO2 100 % · NIBP 188/110 (136) mmHg"
    assert label.fontMetrics().horizontalAdvance(widest) <= label.width(), label.width()
    assert window.width() <= 1280


def test_the_whole_treatment_line_is_read_at_1280_pixels(qtbot: Any, dosed: tuple[Path, str]) -> None:
    """At 1280 x 800 the header's text column is 733 px wide and the line needs 1205: it was cut after the plan's
    mg/kg, the rate and the counts only on hover. It now takes a second line, broken between its parts."""
    window = _window(qtbot, *dosed)
    label = window.treatment_label
    lines = label.lines()
    assert lines == ["Treatment: ketamine IV · delivered 49 mg (0.7 mg/kg) in 56 min ·",
                     "planned 35 mg (0.5 mg/kg × 70 kg) at 52.5 mg/h · 0 rate changes · no pauses · 1 intervention"]
    metrics = label.fontMetrics()
    assert max(metrics.horizontalAdvance(line) for line in lines) <= label.contentsRect().width()
    assert label.height() >= label.heightForWidth(label.width()), "every line is drawn in full height"
    # The lines stay inside the header, above the sign-off line, in a window no larger than the screen.
    assert label.geometry().bottom() < window.sign_off_label.y()
    assert (window.width(), window.height()) == (1280, 800)


def test_a_session_without_a_dose_plan_says_no_dose_was_recorded(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    recorder = record(path, load_protocol("ketamine-iv"), start=START, plan=SessionPlan(2, 3, 2))
    window = _window(qtbot, path, recorder.session.id)
    assert _json_treatment(path, recorder.session.id)["dose"] is None
    assert window.treatment_label.text() == "Treatment: no dose recorded"


def test_a_longer_treatment_takes_as_many_lines_as_it_needs_broken_between_parts(qtbot: Any) -> None:
    """Pauses, rate changes and interventions lengthen the line: it takes a third line rather than cutting any
    figure, and a dose is never parted from its unit."""
    from ui.labels import PART_SEPARATOR, PartsLabel

    parts = ["Treatment: ketamine IV", "delivered 61.25 mg (0.875 mg/kg) in 58 min",
             "planned 56 mg (0.8 mg/kg × 70 kg) at 84 mg/h", "3 rate changes", "2 pauses (11 min)",
             "2 interventions"]
    label = PartsLabel()
    qtbot.addWidget(label)
    label.set_parts(parts)
    label.resize(420, label.heightForWidth(420))
    label.show()
    lines = label.lines()
    assert len(lines) >= 3
    assert max(label.fontMetrics().horizontalAdvance(line) for line in lines) <= label.contentsRect().width()
    assert PART_SEPARATOR.join(line.removesuffix(" ·") for line in lines) == label.text() == PART_SEPARATOR.join(parts)
    assert all(line.removesuffix(" ·").split(PART_SEPARATOR)[0] in parts for line in lines), "broken between parts"
