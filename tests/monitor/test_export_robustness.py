"""Every export can be made: 48-hour sessions, 100 kB notes, every accepted birth date; failures leave nothing."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from drivers.core.readings import Parameter, Reading
from monitor.birth_date import check_birth_date, stored_birth_date
from monitor.exports import ExportError, export_file
from monitor.exports.data import ExportOptions, load
from monitor.exports.files import ExportFileError, write_atomically
from monitor.exports.pdf_export import axis_tick_minutes, note_rows
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store

T0 = 1_790_000_000.0
HOURS_48 = 48 * 3600.0


def _session(store: Store, length_s: float, note: str = "", birth_date: str | None = None) -> str:
    patient = store.create_patient("MRN-1", "Doe, Jane", birth_date)
    session_id = store.create_session(started_at=T0, patient_id=patient, driver="simulated", port=None, plan="")
    readings = []
    for k in range(0, int(length_s), 600):  # a value every 10 minutes is enough to span the time
        readings += [Reading(T0 + k, Parameter.HR, 70.0, "sim"), Reading(T0 + k, Parameter.SPO2, 98.0, "sim")]
    events = [SessionEvent(T0, EventKind.SESSION_STARTED, Phase.SETUP, "RN", {})]
    if note:
        events.append(SessionEvent(T0 + 60, EventKind.NOTE, Phase.SETUP, "RN", {"text": note}))
    store.write_batch(session_id, readings=readings, events=events)
    store.end_session(session_id, "closed", T0 + length_s)
    return session_id


@pytest.mark.parametrize("fmt", ["pdf", "csv", "fhir", "hl7", "json"])
def test_a_48_hour_session_exports_in_every_format(store: Store, tmp_path: Path, fmt: str) -> None:
    session_id = _session(store, HOURS_48)
    target = tmp_path / f"long.{fmt}"
    export_file(store, session_id, fmt, target, ExportOptions())
    assert target.stat().st_size > 500


def test_the_time_axis_has_at_most_twelve_ticks_for_any_length() -> None:
    for minutes in (1, 90, 24 * 60, 48 * 60, 30 * 24 * 60):
        assert minutes / axis_tick_minutes(minutes) <= 12


@pytest.mark.parametrize("spaces", [True, False], ids=["prose", "one-long-word"])
def test_a_100_kb_note_is_wrapped_across_pages(store: Store, tmp_path: Path, spaces: bool) -> None:
    text = ("the patient said something worth writing down " * 2200)[:100_000] if spaces else "x" * 100_000
    session_id = _session(store, 3600, note=text)
    target = tmp_path / "note.pdf"
    export_file(store, session_id, "pdf", target, ExportOptions())
    assert target.read_bytes().count(b"/Type /Page\n") + target.read_bytes().count(b"/Type /Page ") >= 10
    pieces = note_rows(text)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")  # all of it, in order


@pytest.mark.parametrize("text", ["19700101", "1970-02-30", "70-01-01", "1970-1-1", "2999-01-01", "1850-05-05", "x"])
def test_birth_dates_the_exports_cannot_use_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is for the nurse
        check_birth_date(text, today=date(2026, 1, 1))


def test_every_accepted_birth_date_exports(store: Store) -> None:
    assert check_birth_date(" 1970-01-31 ") == "1970-01-31"
    assert stored_birth_date("19700101") == "1970-01-01"  # rows written before the shared rule
    assert stored_birth_date("garbage") is None
    for birth in ("1970-01-31", "19700101", "not a date"):
        session_id = _session(store, 600, birth_date=birth)
        record = load(store, session_id)
        out = io.StringIO()
        from monitor.exports import fhir_export, hl7_export

        fhir_export.write(record, out)
        patient = next(e["resource"] for e in json.loads(out.getvalue())["entry"]
                       if e["resource"]["resourceType"] == "Patient")
        assert patient.get("birthDate") == stored_birth_date(birth)
        hl7_out = io.StringIO()
        hl7_export.write(record, hl7_out)
        assert hl7_out.getvalue()
        # The next one is a new patient: MRNs are found by their keyed hash (the MRN itself is encrypted).
        store.db.execute("UPDATE patients SET mrn_lookup = NULL")


def test_a_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_bytes(b"the previous report")

    def broken(handle: object) -> None:
        raise StopIteration("chart ticks")

    with pytest.raises(ExportFileError, match="could not be made"):
        write_atomically(target, broken, binary=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]
    assert target.read_bytes() == b"the previous report"


def test_only_regular_files_are_written(store: Store, tmp_path: Path) -> None:
    session_id = _session(store, 600)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    folder = tmp_path / "folder"
    folder.mkdir()
    missing = tmp_path / "no" / "x.csv"
    for target, why in ((pipe, "not a regular file"), (folder, "a folder"), (missing, "does not exist")):
        with pytest.raises(ExportError, match=why):
            export_file(store, session_id, "csv", target, ExportOptions())
    assert stat.S_ISFIFO(os.stat(pipe).st_mode) and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "monitor.db", "monitor.db-shm", "monitor.db-wal",
                                                          "monitor.db.locks", "pipe"]


def test_the_command_line_refuses_an_empty_or_device_target_without_a_traceback(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    _session(store, 600)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    for out in ("", str(pipe)):
        result = subprocess.run([sys.executable, "-m", "monitor.cli", "export", "latest", "--db", str(db_path),
                                 "--format", "pdf", "--out", out], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "infusion-monitor: error:" in result.stderr
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
