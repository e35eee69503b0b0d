"""Disk full during a session, with and without the pleth: monitoring goes on, everything is written after.

Where the machine allows it, the database lives on a real 3 MB tmpfs that the child process fills
with a filler file until the kernel answers ENOSPC; elsewhere (no permission to mount) the child
makes the disk "full" for itself with RLIMIT_FSIZE (see ``disk_full_child.py``). Either way: a
technical event and alarm, the acknowledge and a note made during the spell survive, the recorder
thread never stops, and once space returns every numeric, event and audit entry is written; the
waveform beyond what may be held (here one minute of signal) is given up first, and a
``storage_data_dropped`` event says how much.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import WAL_SIZE_LIMIT_BYTES, Store
from tests.faults.helpers import counts, integrity, run_child, tmpfs

TMPFS_SIZE = "3m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder on a real 3 MB filesystem and the mode ``fill``; else a plain folder and ``rlimit``."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    with tmpfs(mount_point, TMPFS_SIZE) as mounted:
        yield mount_point, "fill" if mounted else "rlimit"


@pytest.mark.parametrize("pleth", [True, False], ids=["with-pleth", "numerics-only"])
def test_disk_full_holds_everything_and_writes_it_when_space_returns(
    small_disk: tuple[Path, str], pleth: bool
) -> None:
    folder, mode = small_disk
    db_path = folder / "monitor.db"
    child = run_child(Path(__file__).with_name("disk_full_child.py"), str(db_path), mode, "1" if pleth else "0")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    session_id = report["session_id"]
    assert report["error"] is None and report["alive_before_stop"] and report["commands_ok"], report
    assert report["end_status"] == "closed", report
    # The disk really was full and the recorder said so while monitoring went on.
    assert report["stored_while_full"] - report["stored_before"] < 0.5 * report["max_pending_while_full"]
    assert report["storage_failing_updates"] > 0 and report["max_pending_while_full"] > 20
    assert any("storage" in c for c in report["alarm_conditions_while_full"]), report
    # Nothing silently dropped: every numeric the device produced is stored, once.
    assert integrity(db_path) == "ok"
    readings, samples = counts(db_path, session_id)
    assert readings == report["produced"]["numerics"]
    with Store(db_path, readonly=True) as store:
        events = store.events(session_id)
        technical = [e.detail for e in events if e.kind.value == "technical"]
        conditions = [d.get("condition") for d in technical]
        assert store.status_of(store.session_row(session_id)) == "closed"
        actions = [a["action"] for a in store.audit_log(session_id)]
    # The small disk was said at once (little room left), before it filled; then the failed writes and their end.
    assert conditions[0] == "storage_low"
    assert [c for c in conditions if c != "storage_low"][:2] == ["storage_write_failed", "storage_restored"]
    assert any(e.kind.value == "note" and "disk was full" in e.detail["text"] for e in events)
    assert "acknowledge" in actions and actions[-1] == "session_closed"  # the acknowledge made on the full disk
    dropped = sum(d.get("pleth_samples", 0) for d in technical if d.get("condition") == "storage_data_dropped")
    assert samples + dropped == report["produced"]["pleth"]
    if pleth:
        assert dropped > 0  # the spell was longer than the waveform the writer may hold
    assert report["wal_bytes_at_end"] <= WAL_SIZE_LIMIT_BYTES
    print(f"disk full ({mode}, pleth={pleth}): {report['max_pending_while_full']} rows held at most, "
          f"{readings} readings and {samples} pleth samples stored, {dropped} samples given up, "
          f"peak RSS {report['peak_rss_kb'] / 1024:.0f} MB")
