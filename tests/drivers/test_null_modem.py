"""The tests' null-modem cable: while unplugged, its host name must not lead to somebody else's pty.

Pty numbers are shared by the whole computer and the kernel hands out the lowest free one. Before, an unplugged
cable left its host name pointing at the number of the pty it had closed; the next pty made anywhere took that
number, and a link reconnecting through the name (the recorder does, every few seconds) opened that other test's
pty and locked it. A recording started there was then refused as "another program already reads /dev/pts/N",
that program being the pytest worker whose link was reconnecting.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import serial

from drivers.base import PortSettings
from drivers.transport.serial_link import open_port
from tests.drivers.ptys import NullModem, PtyEnd

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


def _number(path: str) -> int:
    """The number of the pty at ``/dev/pts/<number>``."""
    return int(Path(path).name)


def test_an_unplugged_cable_does_not_lead_to_the_pty_that_took_its_number(null_modem: NullModem) -> None:
    unplugged = os.path.realpath(null_modem.host_link)
    null_modem.unplug()
    made: list[PtyEnd] = []
    try:
        # The lowest free numbers, in turn, until the unplugged one (or a higher one: somebody else got it).
        while not made or _number(made[-1].path) < _number(unplugged):
            made.append(PtyEnd())
        with pytest.raises(serial.SerialException, match="No such file or directory"):
            open_port(str(null_modem.host_link), PortSettings()).close()
    finally:
        for end in made:
            end.close()

