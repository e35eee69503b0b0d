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
#: workers): serial faults 160, clinic server 105, window off screen 57, station after crash 50, file watch 49,
#: server disk full 47, device unreadable 40, record guard 40, silent feed receiver 30-45, disk fails 34, write lock
#: held 34, killed export 30; then 20-30 s each. Files not named keep their place after these.
LONGEST_FIRST = (
    "test_serial_faults.py", "test_clinic_server.py", "test_window_off_screen.py", "test_station_after_crash.py",
    "test_database_file_watch.py", "test_server_disk_full.py", "test_device_unreadable.py", "test_record_guard.py",
    "test_silent_feed_receiver.py", "test_disk_fails.py", "test_write_lock_held.py", "test_killed_export.py",
    "test_real_signals.py", "test_terminal_takes_no_output.py",
    "test_kill_during_recording.py", "test_second_start.py", "test_two_starts_at_once.py",
    "test_database_truncated.py", "test_wal_deleted.py", "test_writer_hang.py",
)


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    """The longest files first (the sort keeps each file's own order of tests)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
