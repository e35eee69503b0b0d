"""``verify`` on a database file that was truncated to nothing (a fault while it was open, a copy that failed
half-way, a clean-up script): SQLite reads an empty file as an empty database.

``verify`` must tell the truth - NOT VERIFIED, exit 1, the record is gone - not end in a Python traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.store import Store
from tests.faults.helpers import REPO_ROOT


@pytest.mark.parametrize("size", [0], ids=["emptied"])
def test_verify_of_a_truncated_database_says_not_verified(db_path: Path, size: int) -> None:
    with Store(db_path) as store:
        session_id = store.create_session(started_at=1_790_000_000.0, patient_id=None, driver="simulated",
                                          port=None, plan="")
        store.audit("session_closed", user="RN", session_id=session_id)
    os.truncate(db_path, size)
    run = subprocess.run([sys.executable, "-m", "monitor.cli", "verify", "--db", str(db_path)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    said = run.stdout + run.stderr
    print(said)
    assert "Traceback" not in said, said
    assert run.returncode == 1 and "NOT VERIFIED" in said, said
