"""Fixtures for the fault tests: a null-modem cable whose ends the tests can unplug and replug; and their order.

The suite runs a file to a worker (``tasks.py faults``: ``--dist loadfile``), taking files in the order collected
(``--no-loadscope-reorder``). Most of its time is waited out in real time (a link counted lost, a guard's limit, a
server cut off), so a long file started last is the run's whole tail: the longest files go first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.drivers.ptys import NullModem


@pytest.fixture
def cable(tmp_path: Path) -> Iterator[NullModem]:
    """A virtual null-modem cable between a device played by the test and the recorder, closed afterwards."""
    modem = NullModem(tmp_path)
    yield modem
    modem.close()


#: The files that take longest, longest first, as measured on two cores (seconds per file, whole suite on six
#: workers, 2026-12-07): serial faults 154, clinic server 113, terminal takes no output 94, file watch 61, window off
#: screen 59, station after crash 55, server disk full 49, disk fails 43, WAL deleted 41, device unreadable 40, write
#: lock held 34, kill during recording 32, silent feed receiver 31, real signals 30; then 15-25 s each. Files not
#: named keep their place after these.
LONGEST_FIRST = (
    "test_serial_faults.py", "test_clinic_server.py", "test_terminal_takes_no_output.py",
    "test_database_file_watch.py", "test_window_off_screen.py", "test_station_after_crash.py",
    "test_server_disk_full.py", "test_disk_fails.py", "test_wal_deleted.py", "test_device_unreadable.py",
    "test_write_lock_held.py", "test_kill_during_recording.py", "test_silent_feed_receiver.py",
    "test_real_signals.py", "test_record_guard.py", "test_killed_export.py", "test_second_start.py",
    "test_two_starts_at_once.py", "test_database_truncated.py", "test_writer_hang.py",
)


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    """The longest files first (the sort keeps each file's own order of tests)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
