"""The course report gives the dose planned and the dose delivered in columns of their own, as the window does.

It had one "mg" column beside the planned mg/kg, holding the delivered mg where there was one and the planned mg
otherwise: an infusion slowed for dissociation read "0.50 mg/kg, 25.1 mg" for a patient of 81 kg (0.5 mg/kg is
40.5 mg), and a reader could not tell a planned dose from a delivered one.
"""

from __future__ import annotations

import io
from pathlib import Path

import pypdf

from monitor import course_export
from monitor.course import load_course_by_mrn
from monitor.store import Store
from tests.monitor.course.recording import MRN


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def test_each_row_gives_mg_per_kg_planned_mg_and_delivered_mg(course_db: Path) -> None:
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
        out = io.BytesIO()
        course_export.write(store, course, "pdf", out, user="RN")
    reader = pypdf.PdfReader(io.BytesIO(out.getvalue()))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    slowed = [r for r in course.rows if r.delivered_mg is not None and r.dose_mg is not None
              and abs(r.delivered_mg - r.dose_mg) >= 1]
    assert slowed, "the course needs a session whose delivered dose differs from its plan"
    assert "Planned mg" in text and "Delivered mg" in text
    for r in course.rows:
        cells = f"{r.which} {r.protocol} {_fmt(r.dose_mg_per_kg, 2)} {_fmt(r.dose_mg, 1)} {_fmt(r.delivered_mg, 1)} "
        assert cells + f"{r.baseline_sys:.0f}/" in text, (cells, text[text.find(r.which):][:80])
