"""The key file deleted (its whole folder, ``rm -r``) under a running ``record``.

The recording holds the keys its database is sealed with; without them the identifiers cannot be read, the
record cannot be verified, and the next start refuses the database. Within 5 s (it looks every second) the
recording writes the key file back from memory (owner-only) and says so, once (a technical alarm and a
``key_file`` event); the database then opens, verifies and shows the patient's MRN as before.
"""

from __future__ import annotations

import shutil
import stat
import time
from pathlib import Path

from monitor import integrity
from monitor.keys import create_keys, read_keys
from monitor.store import Store
from tests.faults.helpers import recording


def test_a_key_file_deleted_under_a_recording_is_written_back(own_key_file: Path, db_path: Path) -> None:
    key_file = own_key_file  # this test's and the recording's
    fingerprint = create_keys(key_file).fingerprint
    with recording("--db", str(db_path), "--speed", "30", "--nurse", "RN", "--duration", "8",
                   "--patient", "MRN-4711") as run:
        time.sleep(1.0)
        gone_at = time.monotonic()
        # The folder goes at once (moved away, then deleted): shutil.rmtree alone empties it entry by entry, and a
        # write-back that comes in the middle of that (0.04 s after the start, in one looped run) has its new
        # file taken by the same rmtree, which makes the run say two things where the test expects one.
        gone = key_file.parent.with_name(key_file.parent.name + ".gone")
        key_file.parent.rename(gone)
        shutil.rmtree(gone)
        alarm = run.wait_for("(key_file) started", timeout=6)
        noticed_s = time.monotonic() - gone_at
        print(f"key file written back after {noticed_s:.2f} s")
        assert noticed_s <= 5.0
        assert "was deleted; the keys in use were written back to it" in alarm
    assert run.finish() == 0, run.output()
    assert sum("(key_file) started" in line for line in run.output()) == 1, run.output()
    assert read_keys(key_file).fingerprint == fingerprint
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    with Store(db_path, readonly=True) as store:
        [summary] = store.sessions()
        assert integrity.verify(store.db.conn, store.keys).ok
        row = store.session_row(summary.id)
        assert store.patient_row(row["patient_id"])["mrn"] == "MRN-4711"
        events = [e.detail for e in store.events(summary.id) if e.detail.get("condition") == "key_file"]
        assert len(events) == 1 and "written back" in events[0]["detail"]
