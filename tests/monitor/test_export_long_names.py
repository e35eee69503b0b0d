"""Names and free text of any length give a PDF report: a cell too tall for a page is cut short, saying so, and
the JSON export keeps the whole text. ``--nurse`` refuses a text longer than a name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pypdf
import pytest

from drivers.core.readings import Parameter, Reading
from monitor.cli import main
from monitor.exports import export_file
from monitor.exports.data import ExportOptions
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store

T0 = 1_790_000_000.0
CUT = re.compile(r"… \(([\d,]+) more characters; full text in the JSON/CSV export\)")


def _long(characters: int, word: str = "Wolfeschlegel") -> str:
    """A text of about ``characters`` characters, words separated by spaces (as the audit typed it)."""
    return " ".join([word] * (characters // (len(word) + 1)))


def _session(store: Store, nurse: str) -> str:
    """A finished session whose nurse, device, note author and override reason are ``nurse``-long texts."""
    patient = store.create_patient("MRN-LONG", _long(len(nurse), "Hubert"))
    session_id = store.create_session(started_at=T0, patient_id=patient, driver="simulated", port=None, plan="",
                                      nurse=nurse)
    readings = [Reading(T0 + k, p, 70.0, "sim") for k in range(0, 600, 5) for p in (Parameter.HR, Parameter.SPO2)]
    events = [
        SessionEvent(T0, EventKind.SESSION_STARTED, Phase.SETUP, nurse, {}),
        SessionEvent(T0 + 60, EventKind.NOTE, Phase.SETUP, nurse, {"text": "patient settled"}),
        SessionEvent(T0 + 120, EventKind.DEVICE_CHANGED, Phase.SETUP, nurse,
                     {"driver": "simulated", "device": _long(len(nurse), "Monitor"), "previous_device": "sim"}),
        SessionEvent(T0 + 180, EventKind.INFUSION_STARTED, Phase.INFUSION, nurse,
                     {"override_reason": _long(len(nurse), "because"), "overridden": ["baseline_short"]}),
    ]
    store.write_batch(session_id, readings=readings, events=events)
    store.end_session(session_id, "closed", T0 + 600)
    return session_id


@pytest.mark.parametrize("characters", [1200, 20_000])
def test_a_report_is_made_whatever_the_length_of_names_and_free_text(
    store: Store, tmp_path: Path, characters: int
) -> None:
    nurse = _long(characters)
    session_id = _session(store, nurse)
    target = tmp_path / "long.pdf"
    export_file(store, session_id, "pdf", target, ExportOptions())
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(target).pages).split())
    assert "patient settled" in text
    assert "Wolfeschlegel" in text and "Hubert" in text and "because" in text
    cut = [int(more.replace(",", "")) for more in CUT.findall(text)]
    assert cut, "a cell taller than a page must say it was cut short"
    assert all(0 < more < characters for more in cut)
    json_file = tmp_path / "long.json"
    export_file(store, session_id, "json", json_file, ExportOptions())
    assert json.loads(json_file.read_text(encoding="utf-8"))["session"]["nurse"] == nurse  # the whole text


def test_a_cell_is_cut_to_fit_a_page_and_says_how_much_was_left_out() -> None:
    from reportlab.lib.units import mm

    from monitor.exports import pdf_fonts

    style = pdf_fonts.styles()["BodyText"]
    text = _long(20_000)
    fitted = pdf_fonts.fit_cell(pdf_fonts.paragraph(text, style), 25 * mm)
    shown = fitted.getPlainText()
    said = CUT.search(shown)
    assert said is not None
    kept = shown[: said.start()].rstrip()
    assert text.startswith(kept) and len(kept) + int(said.group(1).replace(",", "")) == len(text)
    assert fitted.wrap(25 * mm - pdf_fonts.CELL_PADDING, 10_000)[1] <= pdf_fonts.TALLEST_CELL
    short = pdf_fonts.paragraph("RN", style)
    assert pdf_fonts.fit_cell(short, 25 * mm) is short


def test_a_nurse_text_longer_than_a_name_is_refused_before_recording(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["record", "--db", str(db_path), "--speed", "max", "--duration", "1", "--quiet",
                 "--nurse", "x" * 201]) == 1
    assert "--nurse: a name of at most 200 characters, not 201" in capsys.readouterr().err
    with Store(db_path) as store:
        assert store.sessions() == []
    assert main(["record", "--db", str(db_path), "--speed", "max", "--duration", "1", "--quiet",
                 "--nurse", "x" * 200]) == 0
