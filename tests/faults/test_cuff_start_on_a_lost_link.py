"""A cuff start asked for while the DINAMAP's link is down, through real ptys and the emulated monitor.

The real ``ge-dinamap`` source polls the emulated DINAMAP across a virtual null-modem cable. With the cable
pulled, a cuff start is refused with the reason (never taken and then lost); once the cable is back, the
same start goes out and the monitor measures. A start taken just before the cable is pulled is reported as
not started, not timed out in silence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drivers import registry
from drivers.base import NIBP_NOT_STARTED, CuffStartRefused, LinkEvent, LinkEventKind, OpenOptions
from drivers.core.readings import Parameter, Reading
from drivers.dinamap.emulator import DinamapDevice
from drivers.transport.serial_source import SerialSource
from tests.drivers.ptys import NullModem

SPEED = 4.0  # the emulated monitor runs its cuff four times faster than real time
WAIT_S = 20.0  # the longest any step may take before the test fails


class Bedside:
    """The emulated DINAMAP on the device end of the cable and the real source on the host end."""

    def __init__(self, cable: NullModem) -> None:
        from drivers.emulation.device import Emulator
        from drivers.emulation.registry import make_device
        from drivers.transport.device_ports import SerialDevicePort

        device = make_device("ge-dinamap", seed=3, settings={"cuff_s": "20"})
        assert isinstance(device, DinamapDevice)
        self.device = device
        self.port = SerialDevicePort(cable.device_path, device.port_settings)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=Emulator(device, SPEED).run, args=(self.port, None, self._stop),
                                        name="emulated-dinamap", daemon=True)
        self._thread.start()
        source = registry.get("ge-dinamap")().open(OpenOptions(port=str(cable.host_link), link_lost_after_s=2.5))
        assert isinstance(source, SerialSource)
        self.source = source
        self.readings: list[Reading] = []
        self.events: list[LinkEvent] = []

    def until(self, what: str, done: Callable[[], bool]) -> None:
        """Read the source (as the recorder does) until ``done``; fails after :data:`WAIT_S`."""
        deadline = time.monotonic() + WAIT_S
        while not done():
            assert time.monotonic() < deadline, f"{what}: not within {WAIT_S:g} s; events {self.events}"
            self.readings += self.source.read(0.1)
            self.events += self.source.take_link_events()

    def not_started(self) -> list[str]:
        """The reasons of every cuff start reported as not started."""
        return [e.detail for e in self.events if e.kind is LinkEventKind.TECHNICAL and e.condition == NIBP_NOT_STARTED]

    def determinations(self) -> int:
        """Cuff measurements the monitor has started."""
        return self.device.monitor.counters.determinations_started

    def close(self) -> None:
        """Stop the monitor and release both ends."""
        self.source.close()
        self._stop.set()
        self._thread.join(5)
        self.port.close()


@pytest.fixture
def bedside(cable: NullModem) -> Iterator[Bedside]:
    """The emulated monitor and the source, polling already."""
    side = Bedside(cable)
    try:
        side.until("data from the monitor", lambda: any(r.parameter is Parameter.PR for r in side.readings))
        yield side
    finally:
        side.close()


def test_a_cuff_asked_for_with_the_cable_out_is_refused_then_runs_once_it_is_back(
    bedside: Bedside, cable: NullModem
) -> None:
    cable.unplug()
    bedside.until("the link lost", lambda: any(e.kind is LinkEventKind.LINK_LOST for e in bedside.events))
    with pytest.raises(CuffStartRefused, match=r"^the link to the monitor is lost$"):
        bedside.source.request_nibp()
    cable.replug()
    bedside.until("the link back", lambda: any(e.kind is LinkEventKind.LINK_RESTORED for e in bedside.events))
    assert bedside.determinations() == 0  # nothing was held over the cut
    assert bedside.source.request_nibp() is True
    bedside.until("the cuff's value", lambda: any(r.parameter is Parameter.NIBP_SYS for r in bedside.readings))
    assert bedside.determinations() == 1
    assert bedside.not_started() == []


def test_a_cuff_taken_just_before_the_cable_is_pulled_is_reported_not_started(
    bedside: Bedside, cable: NullModem
) -> None:
    assert bedside.source.request_nibp() is True  # the link is up: taken, to go with the next read
    cable.unplug()
    # The source's reader thread notices the hang-up and closes the port before the command is written.
    bedside.until("the port closed", lambda: bedside.source.link.state == "lost")
    bedside.until("the start reported", lambda: bool(bedside.not_started()))
    assert bedside.not_started() == ["the start command could not be sent: the port is closed or failed"]
    assert bedside.determinations() == 0
