"""The course report and the REMS worksheet print names in any script as the session report does.

Both went through Latin-1 in Helvetica: an Arabic name printed as "???? ?? ???", "Łucja" as "?ucja", a Cyrillic lot
number as "???-20", and the worksheet's submitter (not passed through Latin-1) as black boxes. Read back with pypdf.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import replace
from pathlib import Path

import pypdf

from monitor import course_export, rems
from monitor.course import load_course_by_mrn
from monitor.store import Store
from tests.monitor.course.recording import MRN

ARABIC_NOTE = "[Arabic text not printable here]"
#: Latin Extended, Greek and Cyrillic: all in the embedded font.
PRINTED = "Łucja Wójcik Σοφία Жанна"
NAME = f"محمد بن عبد الله {PRINTED}"
STAFF = "Élodie Ξανθή Łucja"


def _text(data: bytes) -> str:
    """The PDF's text as pypdf reads it, lines joined (a table cell wraps)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def _fonts(data: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return {str(font["/BaseFont"]) for page in reader.pages for font in page["/Resources"]["/Font"].values()}


def _right_to_left(text: str) -> str:
    """The right-to-left letters in ``text`` (printed one by one, left to right, they read as another name)."""
    return "".join(c for c in text if unicodedata.bidirectional(c) in ("R", "AL"))


def _course_pdf(course_db: Path) -> bytes:
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
        assert course.patient is not None
        first = replace(course.rows[0], interventions=("antiemetic ондансетрон أوندانسيترون 4 mg IV",))
        course = replace(course, patient={**course.patient, "name": NAME}, rows=(first, *course.rows[1:]))
        out = io.BytesIO()
        course_export.write(store, course, "pdf", out, user=STAFF)
    return out.getvalue()


def test_the_course_report_prints_every_script_the_font_has_and_names_the_rest(course_db: Path) -> None:
    data = _course_pdf(course_db)
    text = _text(data)
    assert f"{ARABIC_NOTE} {PRINTED} - MRN {MRN}" in text
    assert "antiemetic ондансетрон [Arabic text not printable here] 4 mg IV" in text
    assert f"Exported by {STAFF}." in text
    assert "?" not in text and "■" not in text
    assert _right_to_left(text) == ""
    fonts = _fonts(data)
    assert fonts and all("DejaVuSans" in f for f in fonts), fonts  # the session report's font, no Helvetica


def test_the_course_tables_headings_stand_apart_within_the_margins(course_db: Path) -> None:
    """The headings were on one line each in columns too narrow for them ("SpO2 minAlarms H/M/LMOAA/S min"), and
    the table was 307 mm wide on a 267 mm line, so it ran into both margins."""
    reader = pypdf.PdfReader(io.BytesIO(_course_pdf(course_db)))
    page = reader.pages[0]
    words = set(page.extract_text(extraction_mode="layout").split())
    headings = {"#", "Date", "Protocol", "mg/kg", "mg", "Base", "Peak", "Rise", "SpO2", "Alarms", "H/M/L", "MOAA/S",
                "CADSS", "N/V", "Interventions", "Rec.", "Aldrete", "PADSS", "PHQ-9", "GAD-7"}
    assert headings <= words, sorted(headings - words)
    starts: list[float] = []

    def where(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            starts.append(tm[4] * cm[0] + tm[5] * cm[2] + cm[4])

    page.extract_text(visitor_text=where)
    left_margin = 15 / 25.4 * 72
    assert min(starts) >= left_margin - 0.01, min(starts)


def test_the_rems_worksheet_prints_names_lot_and_site_in_any_script(course_db: Path) -> None:
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
        (form,) = course_export.rems_forms(store, course).values()
    typed = {"patient": NAME, "site": "مستشفى الشفاء Клиника Łódź", "lot": "ЛОТ-20 批号"}
    fields = tuple(replace(f, value=typed.get(f.key, f.value)) for f in form.fields)
    form = rems.RemsForm(form.session_id, fields, submitted_at=course.rows[-1].started_at + 86_400,
                         submitted_by=STAFF, notes=("Выписан раньше: Łucja",))
    out = io.BytesIO()
    course_export.write_rems_worksheet(form, out)
    text = _text(out.getvalue())
    assert f"Patient {ARABIC_NOTE} {PRINTED}" in text
    assert f"Treatment site {ARABIC_NOTE} Клиника Łódź" in text
    assert "Lot number ЛОТ-20 [CJK text not printable here]" in text
    assert f"by {STAFF}." in text
    assert "Выписан раньше: Łucja" in text
    assert "?" not in text and "■" not in text
    assert _right_to_left(text) == ""
    fonts = _fonts(out.getvalue())
    assert fonts and all("DejaVuSans" in f for f in fonts), fonts


def test_the_course_report_and_the_worksheet_say_who_made_them_and_when(course_db: Path) -> None:
    """Both were written with reportlab's "invariant" stamp: author "anonymous", made on 2000-01-01 at midnight,
    whoever exported them and whenever; the session report said who and when."""
    import time

    before = time.time()
    with Store(course_db) as store:
        course = load_course_by_mrn(store, MRN)
        named, plain = io.BytesIO(), io.BytesIO()
        course_export.write(store, course, "pdf", named, user=STAFF)
        course_export.write(store, course, "pdf", plain, deidentify=True, user=STAFF)
        (form,) = course_export.rems_forms(store, course).values()
    worksheet = io.BytesIO()
    course_export.write_rems_worksheet(form, worksheet, author=STAFF)
    after = time.time()
    for data, author in ((named, STAFF), (plain, ""), (worksheet, STAFF)):
        meta = pypdf.PdfReader(io.BytesIO(data.getvalue())).metadata
        assert meta is not None and meta.creation_date is not None
        assert int(before) - 1 <= meta.creation_date.timestamp() <= after + 1
        assert (meta.author or "") == author  # a de-identified course names nobody
    # Nor does its text: it said "Exported by" whoever made it, in the paragraph under the heading.
    assert f"Exported by {STAFF}." in _text(named.getvalue())
    assert "Exported by" not in _text(plain.getvalue())
