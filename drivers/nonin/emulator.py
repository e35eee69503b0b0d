"""An emulated Nonin oximeter (data format 2, 7 or 8), for ``infusion-monitor emulate`` and tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from drivers.core.readings import PLETH_RATE_HZ, Flag, Parameter, Reading
from drivers.emulation.device import EmulatedDevice, Frame, oximetry, reflag
from drivers.nonin import codec as nonin
from drivers.patient.model import SimulatedPatient


class NoninDevice(EmulatedDevice):
    """A Nonin oximeter in format 2 or 7 (a packet every 1/3 s with 75 Hz pleth) or 8 (4 bytes a second)."""

    protocol = nonin.NAME
    port_settings = nonin.PORT_SETTINGS
    reader_settings = ("format",)
    #: Pleth arbitrary units (0-100) to the wire's scale.
    PLETH_SCALE: ClassVar[dict[int, float]] = {2: 2.5, 7: 600.0}

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        self.data_format = nonin.format_setting(settings)
        self._next_second = patient.start
        self._packets = 0
        self._next_packet = patient.start
        self._numerics: list[Reading] = []
        self._packet_s = nonin.FRAMES_PER_PACKET / PLETH_RATE_HZ

    def describe(self) -> str:
        return f"{self.protocol} (format {self.data_format})"

    def _second(self, t: float) -> None:
        while self._next_second <= t:
            now = self._next_second
            self._next_second += 1.0
            self._numerics = oximetry(self.patient, now, self.protocol)

    def frames_until(self, t: float) -> list[Frame]:
        frames: list[Frame] = []
        if self.data_format == 8:
            while self._next_second <= t:
                now = self._next_second
                self._second(now)
                if not self.patient.link_down(now):
                    frames.append(self._record(now))
            return frames
        while self._next_packet <= t:
            now = self._next_packet
            self._packets += 1
            self._next_packet = self.patient.start + self._packets * self._packet_s
            self._second(now)
            wave = list(self.patient.pleth(now, nonin.FRAMES_PER_PACKET, self.protocol))
            if self.patient.link_down(now):
                continue
            frames.append(self._packet(now, wave))
        return frames

    def _values(self) -> tuple[float | None, float | None, frozenset[Flag]]:
        by = {r.parameter: r for r in self._numerics}
        spo2, pr = by[Parameter.SPO2], by[Parameter.PR]
        flags = spo2.flags | pr.flags
        if Flag.SENSOR_OFF in flags:
            # A Nonin reports a finger out of the probe as a sensor alarm.
            flags = (flags - {Flag.SENSOR_OFF}) | {Flag.SENSOR_ALARM}
        return spo2.value, pr.value, flags

    def _carried(self, t: float) -> tuple[Reading, ...]:
        spo2, pr, flags = self._values()
        return (
            Reading(t, Parameter.SPO2, spo2, self.protocol, flags),
            Reading(t, Parameter.PR, pr, self.protocol, flags),
        )

    def _record(self, t: float) -> Frame:
        spo2, pr, flags = self._values()
        wire_flags = nonin.format8_flags(*nonin.format8_status(flags))
        return Frame(t, nonin.encode_format8(spo2, pr, flags), reflag(self._carried(t), wire_flags))

    def _packet(self, t: float, wave: list[Reading]) -> Frame:
        spo2, pr, flags = self._values()
        scale = self.PLETH_SCALE[self.data_format]
        samples = [0.0 if r.value is None else round(r.value * scale) for r in wave]
        data = nonin.encode_packet(spo2, pr, samples, flags, data_format=self.data_format)
        wire_flags = nonin.status_flags(nonin.flags_status(flags))
        pleth = tuple(
            Reading(r.t, Parameter.PLETH, float(s), self.protocol, wire_flags)
            for r, s in zip(wave, samples, strict=True)
        )
        return Frame(t, data, pleth + reflag(self._carried(t), wire_flags))
