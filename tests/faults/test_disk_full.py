"""Disk full during a session: a technical event (and alarm), rows held in memory, all written once space returns.

The disk is made "full" for the recording process alone with RLIMIT_FSIZE (see
``disk_full_child.py``); a subprocess, because the limit applies to the whole process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from monitor.store import Store
from tests.faults.helpers import REPO_ROOT, counts, integrity


def test_disk_full_holds_every_reading_and_writes_it_when_space_returns(db_path: Path) -> None:
    child = subprocess.run([sys.executable, str(Path(__file__).with_name("disk_full_child.py")), str(db_path)],
                           capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.strip().splitlines()[-1])
    session_id = report["session_id"]
    assert report["error"] is None
    # The disk really was full: nothing reached it during the spell, and the recorder said so.
    assert report["stored_while_full"] == report["stored_before"] > 0
    assert report["storage_failing_updates"] >= report["updates_while_full"] - 2 > 0
    assert report["max_pending_while_full"] > 100
    if report["alarm_engine"]:
        assert any("storage" in c for c in report["alarm_conditions_while_full"]), report
    # Nothing silently dropped: every value the device produced is stored, once.
    assert integrity(db_path) == "ok"
    readings, samples = counts(db_path, session_id)
    assert readings == report["produced"]["numerics"]
    assert samples == report["produced"]["pleth"]
    with Store(db_path, readonly=True) as store:
        technical = [e.detail.get("condition") for e in store.events(session_id) if e.kind.value == "technical"]
        assert store.status_of(store.session_row(session_id)) == "closed"
    assert technical == ["storage_write_failed", "storage_restored"]
    assert "storage write failed" in child.stderr
