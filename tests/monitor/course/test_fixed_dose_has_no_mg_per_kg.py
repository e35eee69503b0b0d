"""A fixed dose (esketamine's 56 or 84 mg) has no mg/kg: the course left it out, while the session's chart marker
("dose 84 mg (1.037 mg/kg)"), its PDF ("planned 84 mg (1.037 mg/kg x 81 kg)") and its JSON (``dose_mg_per_kg``,
``delivered_mg_per_kg``) showed a weight-based figure. All follow :func:`monitor.dose.weighed`."""

from __future__ import annotations

import json
from pathlib import Path

from pypdf import PdfReader

from monitor.cli import main
from tests.monitor.course.test_treatment_exports import _sessions


def test_the_json_and_pdf_of_a_fixed_dose_have_no_mg_per_kg(
    course_db: Path, course_reader: list[str], tmp_path: Path
) -> None:
    nasal = _sessions(course_db)[3]
    out = tmp_path / "n.json"
    assert main(["export", nasal, "--db", str(course_db), *course_reader, "--format", "json", "--out", str(out)]) == 0
    dose = json.loads(out.read_text())["treatment"]["dose"]
    assert dose["total_mg"] == 84 and dose["weight_kg"]  # the weight is known: mg/kg could be derived
    assert (dose["dose_mg_per_kg"], dose["delivered_mg_per_kg"]) == (None, None)
    pdf = tmp_path / "n.pdf"
    assert main(["export", nasal, "--db", str(course_db), *course_reader, "--format", "pdf", "--out", str(pdf)]) == 0
    words = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "planned 84 mg" in words and "mg/kg" not in words
