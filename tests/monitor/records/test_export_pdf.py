"""PDF report: text extracted with pypdf shows the header, NIBP values, alarms, notes and scoring."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from monitor.cli import main
from monitor.exports.data import load
from monitor.review import nibp_table
from monitor.store import Store
from tests.conftest import time_zone
from tests.monitor.records.sessions import DEVICE, MRN, NURSE, PATIENT_NAME, RecordedSession


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_report_contents(recorded: RecordedSession, tmp_path: Path, store_of: Callable[..., Store]) -> None:
    out = tmp_path / "report.pdf"
    assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", "pdf", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in (
        PATIENT_NAME,
        MRN,
        "1984-03-17",
        DEVICE,
        NURSE,
        recorded.session_id,
        "NIBP measurements",
        "Statistics by phase",
        "Alarm log",
        "Discharge scoring",
    ):
        assert expected in text
    record = load(store_of(recorded), recorded.session_id)
    lines = text.splitlines()
    for m in nibp_table(record):
        assert m.systolic is not None
        assert m.diastolic is not None
        # Each cuff measurement's row: phase, systolic, diastolic and mean in that order.
        row = [m.phase.value, f"{m.systolic:.0f}", f"{m.diastolic:.0f}", f"{m.mean:.0f}"]
        assert any(lines[i : i + 4] == row for i in range(len(lines))), row
    assert "SpO2 86 < 90" in text
    assert f"{NURSE} at" in text  # who acknowledged the SpO2 alarm
    assert "NIBP SYS 168 >= 165" in text
    assert "Patient calm, reports mild dissociation" in text
    assert "MOAA/S 5" in text and "scale:" not in text  # sentences, not field dumps
    assert "['" not in text and "phases reached: baseline → infusion" in " ".join(text.split())  # no Python list
    assert "circulation" in text
    # The baseline's values are the phase's medians, set when it ended: not one cuff measured at that time.
    assert "mmHg: medians of the baseline phase, set at" in " ".join(text.split())


def test_pdf_refuses_a_terminal_and_writes_to_a_pipe_with_out_dash(recorded: RecordedSession) -> None:
    command = [
        sys.executable,
        "-m",
        "monitor.cli",
        "export",
        recorded.session_id,
        "--db",
        str(recorded.path),
        "--format",
        "pdf",
    ]
    env = {**os.environ, "INFUSION_MONITOR_CONFIG": str(recorded.path.with_name("none.toml"))}
    controller, terminal = os.openpty()
    try:
        done = subprocess.run(command, stdout=terminal, stderr=subprocess.PIPE, env=env, timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(controller)
    assert done.returncode == 1
    assert b"standard output is a terminal" in done.stderr
    assert b"--out" in done.stderr
    piped = subprocess.run([*command, "--out", "-"], capture_output=True, env=env, timeout=60, check=True)
    assert piped.stdout.startswith(b"%PDF-")
    assert MRN in pdf_text(piped.stdout)


def test_alarms_raised_by_the_alarm_engine_reach_the_report(tmp_path: Path) -> None:
    from monitor.alarms.engine import AlarmEngine
    from tests.monitor.records.sessions import record_session

    session = record_session(
        tmp_path / "m.db", plan="baseline:2,infusion:22,recovery:2", scenario="desaturation", alarms=AlarmEngine()
    )
    with Store(session.path) as store:
        alarms = store.alarms(session.session_id)
    desaturation = [a for a in alarms if a.parameter == "spo2" and a.priority.label == "high"]
    assert desaturation, [a.condition for a in alarms]
    out = tmp_path / "report.pdf"
    assert main(["export", session.session_id, "--db", str(session.path), "--format", "pdf", "--out", str(out)]) == 0
    text = pdf_text(out.read_bytes())
    for alarm in desaturation:
        assert alarm.message in text


def test_names_and_symbols_print_in_an_embedded_unicode_font(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path, signed_in_as: Callable[..., str]
) -> None:
    import time

    path = recorded_copy
    name = "Σοφία Ζερβού-Жанна Лебедева (שרה כהן)"
    with Store(path) as store, store.transaction():
        from monitor import identifiers

        assert store.keys is not None
        for (pid,) in store.db.execute("SELECT id FROM patients").fetchall():
            # Identifiers are stored encrypted: a name set by hand goes through the same encryption.
            store.db.execute("UPDATE patients SET name = ? WHERE id = ?",
                             [identifiers.encrypt(store.keys, pid, "name", name), pid])
        store.db.execute("UPDATE alarms SET message = 'SBP 168 ≥ 165 (Δ +18 % от базы)' WHERE parameter = 'nibp_sys'")
    out = tmp_path / "unicode.pdf"
    before = time.time()
    assert main(["export", recorded.session_id, "--db", str(path), "--format", "pdf", "--out", str(out),
                 "--user", signed_in_as(path, "Élodie Ξανθή")]) == 0
    data = out.read_bytes()
    text = " ".join(pdf_text(data).split())  # lines re-joined: table cells wrap
    assert "Σοφία Ζερβού-Жанна Лебедева" in text
    assert "SBP 168 ≥ 165 (Δ +18 % от базы)" in text
    assert "[Hebrew text not printable here]" in text  # right-to-left text is named, not garbled
    assert "?" not in text.replace("?)", "")  # nothing became a question mark
    reader = pypdf.PdfReader(io.BytesIO(data))
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("DejaVuSans" in f for f in fonts) and not any("Helvetica" in f for f in fonts), fonts
    descriptor_files = [
        font.get_object()["/FontDescriptor"].get("/FontFile2")
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
        if "/FontDescriptor" in font.get_object()
    ]
    assert descriptor_files and all(f is not None for f in descriptor_files)  # embedded, not referenced
    meta = reader.metadata
    assert meta is not None and meta.author == "Élodie Ξανθή"  # the exporter, not the nurse
    created = meta.creation_date
    assert created is not None and abs(created.timestamp() - before) < 600  # the real time, not 2000-01-01


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "Europe/Berlin"])
def test_the_creation_date_is_the_moment_of_export_in_every_time_zone(
    recorded: RecordedSession, tmp_path: Path, zone: str
) -> None:
    """Read by pypdf: the creation date's UTC offset keeps its minutes (India +05'30', Newfoundland -03'30',
    Nepal +05'45'), so the moment it names is the export's, not half an hour off."""
    out = tmp_path / "report.pdf"
    with time_zone(zone):
        before = time.time()
        assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", "pdf",
                     "--out", str(out)]) == 0
        after = time.time()
    meta = pypdf.PdfReader(io.BytesIO(out.read_bytes())).metadata
    assert meta is not None and meta.creation_date is not None
    assert int(before) - 1 <= meta.creation_date.timestamp() <= after + 1, (zone, meta["/CreationDate"])


def test_a_right_to_left_staff_name_is_named_in_the_timeline_as_everywhere_else(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path
) -> None:
    """The Timeline's "By" column printed an Arabic name letter by letter, left to right (another name to a
    reader), while the other tables printed the note."""
    with Store(recorded_copy) as store, store.transaction():
        store.db.execute("UPDATE events SET user = ?", ["محمد Haddad"])
    out = tmp_path / "staff.pdf"
    assert main(["export", recorded.session_id, "--db", str(recorded_copy), "--format", "pdf", "--out", str(out)]) == 0
    text = " ".join(pdf_text(out.read_bytes()).split())
    timeline = text[text.rindex("Timeline"):]
    assert timeline.count("[Arabic text not printable here] Haddad") == timeline.count("Haddad") > 0, timeline
    assert not [c for c in text if unicodedata.bidirectional(c) in ("R", "AL")]
