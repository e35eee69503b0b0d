"""A file export checks its record in a second process while it writes: same statement, never a made-up one.

The byte-for-byte agreement with the whole-record writers (untouched records) is in
``test_export_streaming``; here the record is tampered with, the second process fails or lies,
and the export is cancelled while the check runs.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import pypdf
import pytest

from monitor import background_verify
from monitor.exports import ExportCancelled, export_file
from monitor.exports.data import ExportOptions, verification_text
from monitor.store import Store
from tests.monitor.records.sessions import RecordedSession

STREAMED = ("csv", "json", "hl7", "fhir", "pdf")


def _tamper_one_reading(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE readings SET value = value + 1 WHERE id = (SELECT MIN(id) FROM readings)")
    finally:
        conn.close()


def _text(path: Path, fmt: str) -> str:
    if fmt == "pdf":
        return " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages)
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("fmt", STREAMED)
def test_a_tampered_record_is_stated_by_the_checking_process(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, fmt: str
) -> None:
    _tamper_one_reading(recorded_copy)
    with caplog.at_level(logging.WARNING, logger="monitor.background_verify"), Store(recorded_copy) as store:
        expected = verification_text(store, recorded.session_id)
        record = export_file(store, recorded.session_id, fmt, tmp_path / f"out.{fmt}", ExportOptions())
    assert expected.startswith("NOT VERIFIED: readings ") and "changed after it was written" in expected
    assert record.verification == expected
    assert "checking here" not in caplog.text  # the second process answered
    written = _text(tmp_path / f"out.{fmt}", fmt)
    assert "NOT VERIFIED" in written and "record intact" not in written


def _fake_interpreter(tmp_path: Path, output: str, code: int) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\ncat > /dev/null\nprintf '%s\\n' '{output}'\nexit {code}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ("", 1),  # the process fails
        ('{{"session_id": "{other}", "text": "verified: record intact (1 chain links checked)"}}', 0),  # wrong one
        ("not json", 0),  # nonsense
    ],
    ids=["fails", "answers-for-another-session", "nonsense"],
)
def test_when_the_second_process_fails_the_record_is_checked_here(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, output: str, code: int,
) -> None:
    _tamper_one_reading(recorded_copy)
    monkeypatch.setattr(sys, "executable", _fake_interpreter(tmp_path, output.format(other="x" * 32), code))
    with caplog.at_level(logging.WARNING, logger="monitor.background_verify"), Store(recorded_copy) as store:
        record = export_file(store, recorded.session_id, "csv", tmp_path / "out.csv", ExportOptions())
        expected = verification_text(store, recorded.session_id)
    assert record.verification == expected and expected.startswith("NOT VERIFIED")
    assert f"record {expected}" in (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "checking here" in caplog.text


def test_a_cancelled_export_stops_the_check_and_writes_nothing(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[background_verify.BackgroundVerification] = []
    real_start = background_verify.start

    def start(*args: object, **kwargs: object) -> background_verify.BackgroundVerification | None:
        checking = real_start(*args, **kwargs)  # type: ignore[arg-type]
        assert checking is not None
        started.append(checking)
        return checking

    monkeypatch.setattr(background_verify, "start", start)

    def cancel(_count: int) -> None:
        raise ExportCancelled

    with Store(recorded_copy) as store:
        assert store.keys is not None
        key = store.keys.integrity.hex()
        with pytest.raises(ExportCancelled):
            export_file(store, recorded.session_id, "hl7", tmp_path / "out.hl7", ExportOptions(), on_block=cancel)
    assert len(started) == 1
    process = started[0].process
    assert process.returncode is not None  # stopped and reaped, not left running
    assert key not in " ".join(str(arg) for arg in process.args)  # type: ignore[union-attr]  # the key went by pipe
    assert not [p.name for p in tmp_path.iterdir() if "out.hl7" in p.name]  # no file, no part left behind


def test_a_monitor_package_in_the_working_folder_is_never_the_one_that_checks(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second process is handed the key: a planted ``monitor`` package beside the export must not run."""
    _tamper_one_reading(recorded_copy)
    planted = tmp_path / "work" / "monitor"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "background_verify.py").write_text(
        "import json, sys\nrequest = json.loads(sys.stdin.readline())\n"
        "print(json.dumps({'session_id': request['session_id'], 'text': 'verified: planted'}))\n"
    )
    monkeypatch.chdir(planted.parent)
    with Store(recorded_copy) as store:
        record = export_file(store, recorded.session_id, "csv", tmp_path / "out.csv", ExportOptions())
    assert record.verification.startswith("NOT VERIFIED") and "planted" not in record.verification
