"""A de-identified course holds none of the patient's identifiers, in typed text either."""

from __future__ import annotations

import io
from pathlib import Path

from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase
from tests.monitor.course.recording import MRN, Script, record


def test_a_name_typed_into_an_intervention_is_removed_from_the_deidentified_course(tmp_path: Path) -> None:
    db = tmp_path / "monitor.db"
    # The patient is Tom Okafor; the nurse names him in what she types for an intervention.
    record(db, load_protocol("ketamine-iv"), start=1_722_000_000.0, plan=SessionPlan(2, 6, 4), script=Script([
        (Phase.RECOVERY, 60, "intervention", {"kind": "airway", "drug": "jaw thrust, Okafor snoring"}),
    ]))
    session = io.StringIO()
    assert main(["export", "latest", "--db", str(db), "--format", "json", "--deidentify", "--out", "-"],
                out=session) == 0
    assert "jaw thrust" in session.getvalue() and "Okafor" not in session.getvalue()  # the session export
    for fmt in ("json", "csv"):
        out = io.StringIO()
        assert main(["course", MRN, "--db", str(db), "--format", fmt, "--deidentify"], out=out) == 0
        text = out.getvalue()
        assert "jaw thrust" in text
        assert "Okafor" not in text, f"the de-identified course {fmt} names the patient: " + next(
            line.strip() for line in text.splitlines() if "Okafor" in line)
