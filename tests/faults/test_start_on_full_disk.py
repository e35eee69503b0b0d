"""The chair's program started again (after a crash, a reboot) while the disk holding its database is still full
(a real tmpfs filled until ENOSPC).

It cannot record there; what it tells the nurse or the clinic's technician must name the cause - the full
disk - so that space is freed, not a "disk I/O error" that sends them after a failing disk or the
recovery of a damaged database.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.faults.helpers import REPO_ROOT, fill, small_disk


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small-disk", "3m") as folder:
        yield folder


@pytest.mark.parametrize("command", ["record", "sessions"])
def test_a_start_on_a_full_disk_says_the_disk_is_full(full_disk: Path, command: str) -> None:
    db_path = full_disk / "monitor.db"
    with Store(db_path) as store:
        store.create_session(started_at=1_790_000_000.0, patient_id=None, driver="simulated", port=None, plan="")
    fill(full_disk)
    args = ["record", "--duration", "2", "--nurse", "RN"] if command == "record" else ["sessions"]
    run = subprocess.run([sys.executable, "-m", "monitor.cli", *args, "--db", str(db_path)], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    said = (run.stdout + run.stderr).replace(str(db_path), "DB")
    print(said)
    assert run.returncode != 0
    assert "full" in said.lower(), f"the message does not name the full disk: {said.strip()}"
