"""An infusion stopped before the protocol's minimum, with the nurse's reason: what the report says."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf

from monitor.store import Store
from tests.monitor.records.lifecycle import advance, export_text, new, run, to_infusion


def test_the_report_lists_an_early_stop_with_its_reason(db_path: Path) -> None:
    with Store(db_path) as store:
        rec = new(store, patient="MRN-EARLY")
        to_infusion(rec)
        advance(rec, 11 * 60)  # of the protocol's 40-min minimum
        run(rec, "stop_infusion", reason="patient asked to stop, dizzy")
        run(rec, "start_recovery")
        advance(rec, 60)
        rec.stop()
        rec.close()
        sid = rec.session.id
    pdf = export_text(db_path, sid, "pdf").encode("latin-1")
    text = " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages).split())
    assert "patient asked to stop, dizzy" in text
