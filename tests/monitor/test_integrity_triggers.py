"""Rows rewritten by a trigger planted in the database file (no key file needed) before they are sealed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.integrity import verify
from monitor.store import Store
from tests.conftest import record_simulated


def test_a_trigger_planted_to_rewrite_readings_as_they_are_written_is_found_by_verify(db_path: Path) -> None:
    with Store(db_path):
        pass  # the clinic's database exists
    conn = sqlite3.connect(db_path)
    # Someone with write access to the file, without the key: every SpO2 value is stored 10 points higher than
    # the device measured, and every alarm row is written as acknowledged, before the program seals them.
    conn.execute(
        "CREATE TRIGGER readings_fix AFTER INSERT ON readings WHEN NEW.parameter = 'spo2' "
        "BEGIN UPDATE readings SET value = min(100, NEW.value + 10) WHERE id = NEW.id; END"
    )
    conn.commit()
    conn.close()
    session = record_simulated(
        db_path, scenario="desaturation", plan="baseline:2,infusion:22,recovery:2")
    raw = sqlite3.connect(db_path)
    lowest = raw.execute(
        "SELECT min(value) FROM readings WHERE session_id = ? AND parameter = 'spo2'", [session]).fetchone()[0]
    raw.close()
    with Store(db_path, readonly=True) as reader:
        report = verify(reader.db.conn, reader.keys)
    assert not report.ok, (
        f"readings rewritten by a trigger planted in the file verified (lowest stored SpO2 {lowest} %; "
        f"{report.links} links)")
