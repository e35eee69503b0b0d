"""How many times one command reads the whole database file (``PRAGMA quick_check``) before it answers.

Each such read costs about 1 s per GiB on a two-core machine (1.04 s for a 988 MiB database of 313
sessions, `benchmarks/clinic_year_measure.py`), and a chair's year of sessions is several GiB: a command
that reads the file whole twice pays that twice before it does what was asked.
"""

from __future__ import annotations

import io
from pathlib import Path

from monitor import cli
from tests.conftest import record_simulated


def test_an_export_reads_the_whole_file_once_in_its_own_process(
    db_path: Path, tmp_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    session_id = record_simulated(db_path)
    file_checks.clear()
    code = cli.main(["export", session_id, "--db", str(db_path), "--format", "csv", "--out",
                     str(tmp_path / "out.csv")], out=io.StringIO())
    assert code == 0
    assert len(file_checks) <= 1, f"the export read the whole database file {len(file_checks)} times"


def test_a_course_export_reads_the_whole_file_once(
    db_path: Path, tmp_path: Path, file_checks: list[tuple[str, bool]]
) -> None:
    from monitor.store import Store as Writer

    with Writer(db_path) as store:
        patient = store.create_patient("MRN-77", "Course Patient", "1970-01-01")
    record_simulated(db_path)
    with Writer(db_path) as store:
        session_id = store.sessions()[0].id
        store.assign_patient(session_id, patient)
    file_checks.clear()
    code = cli.main(["course", "MRN-77", "--db", str(db_path), "--format", "pdf", "--out", str(tmp_path / "c.pdf")],
                    out=io.StringIO())
    assert code == 0
    assert len(file_checks) <= 1, f"the course export read the whole database file {len(file_checks)} times"
