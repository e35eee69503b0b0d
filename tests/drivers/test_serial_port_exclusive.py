"""Patient 2 at the same chair while patient 1's recording is still open: the second program does not share the
oximeter's port with the first (the two would split its lines between the two patients' records)."""

from __future__ import annotations

import os

import pytest

from monitor.app.device import DeviceSpec, open_device
from monitor.app.errors import AppError

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


def test_a_second_recording_on_a_port_in_use_is_refused() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    first = open_device(DeviceSpec(driver="masimo-ascii", port=path))  # patient 1's window, still recording
    try:
        first.source.open()
        try:
            second = open_device(DeviceSpec(driver="masimo-ascii", port=path))  # patient 2's window
            second.source.open()
        except (AppError, OSError):
            return
        second.source.close()
        pytest.fail(f"a second recording opened {path} while the first still reads it: each gets part of the "
                    "device's lines")
    finally:
        first.source.close()
        os.close(master)
        os.close(slave)
