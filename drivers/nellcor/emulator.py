"""An emulated Nellcor N-595 data port, for ``infusion-monitor emulate`` and tests."""

from __future__ import annotations

from collections.abc import Mapping

from drivers.core.readings import Reading
from drivers.emulation.device import Frame, SecondlyDevice
from drivers.nellcor import codec as nellcor
from drivers.patient.model import SimulatedPatient


class NellcorDevice(SecondlyDevice):
    """A Nellcor N-595 data port: a row every 2 s, column titles every 25 rows."""

    protocol = nellcor.NAME
    port_settings = nellcor.PORT_SETTINGS
    every = 2

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        self._rows = 0

    def encode(self, t: float, readings: list[Reading]) -> Frame:
        data = nellcor.encode_readings(t, readings)
        if self._rows % nellcor.HEADER_EVERY == 0:
            data = nellcor.header_lines() + data
        self._rows += 1
        return Frame(t, data, tuple(readings))
