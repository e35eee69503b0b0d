"""An emulated Masimo Rad-8 in ASCII 1 mode, for ``infusion-monitor emulate`` and tests."""

from __future__ import annotations

from drivers.core.readings import Reading
from drivers.emulation.device import Frame, SecondlyDevice
from drivers.masimo import codec as masimo


class MasimoDevice(SecondlyDevice):
    """A Masimo Rad-8 in ASCII 1 mode: one line a second."""

    protocol = masimo.NAME
    port_settings = masimo.PORT_SETTINGS

    def encode(self, t: float, readings: list[Reading]) -> Frame:
        return Frame(t, masimo.encode_readings(t, readings), tuple(readings))
