"""``write-held`` killed (SIGKILL) after its transaction committed but before the recovery file was renamed
``….written``, then run again as the nurse or technician naturally would (the file is still there, not marked
written).

The README promises the held rows are written "once". Run again, they must not be written a second time:
every reading, event and acknowledge audit entry of the record would otherwise be there twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from drivers.core.readings import Parameter, Reading
from monitor.store import Store
from monitor.store.held_file import write_recovery_file
from monitor.store.operations import AuditEntry, Batch, Operation
from tests.conftest import leave_unfinished
from tests.faults.helpers import REPO_ROOT

T0 = 1_790_000_000.0

# A real write-held in its own process, SIGKILLed at the instant after its commit (at the rename).
KILLED_AT_RENAME = textwrap.dedent(
    """
    import os, signal, sys
    from monitor.store import held_file
    real_replace = os.replace
    def killed(src, dst):
        if str(src).endswith(".jsonl"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)
    held_file.os.replace = killed
    held_file.write_held(sys.argv[1], sys.argv[2])
    """
)


def _readings(db_path: Path, session_id: str) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM readings WHERE session_id = ?", [session_id]).fetchone()[0])
    finally:
        conn.close()


def test_write_held_run_again_after_a_kill_writes_nothing_twice(db_path: Path) -> None:
    with Store(db_path) as store:
        session_id = store.create_session(started_at=T0, patient_id=None, driver="simulated", port=None, plan="")
        keys = store.keys
    readings = tuple(Reading(T0 + i, Parameter.HR, 70.0 + i % 5, "bpm") for i in range(60))
    ops: list[Operation] = [Batch(readings=readings), AuditEntry(T0 + 30, "acknowledge", "RN", session_id)]
    recovery = write_recovery_file(db_path, session_id, ops, keys)
    assert recovery is not None
    leave_unfinished(db_path, session_id)  # the recording that held them ended

    child = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(db_path), recovery], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert _readings(db_path, session_id) == 60  # committed before the kill
    assert os.path.exists(recovery)  # not renamed: it looks as if never written

    again = subprocess.run([sys.executable, "-m", "monitor.cli", "write-held", recovery, "--db", str(db_path)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    print(again.stdout, again.stderr)
    assert _readings(db_path, session_id) == 60, f"{_readings(db_path, session_id)} readings: written twice"
    assert again.returncode == 0 and "nothing written again" in again.stdout, again.stdout + again.stderr
    verify = subprocess.run([sys.executable, "-m", "monitor.cli", "verify", "--db", str(db_path)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
