"""A wire-level device emulator: the simulated patient played onto a real serial port in a device's format.

For training, demos and tests: ``infusion-monitor emulate --protocol nonin --port /dev/ttyUSB1``
makes this computer behave like a Nonin oximeter on that port, so another computer (or another
program on this one) can record from it with the real driver.

Each protocol has an :class:`EmulatedDevice`, found by name in :data:`DEVICES` (add one with
:func:`register_device`). A device turns the patient into timed frames, and may answer what the
host sends (:meth:`EmulatedDevice.answer`), which is how host-driven protocols (polling, cuff
start) take part. :class:`Emulator` paces the frames by the wall clock times ``speed``.

The port is any pyserial URL, or ``pty`` for a new pseudo-terminal whose path is printed (POSIX).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from drivers import masimo, nellcor, nonin
from drivers.base import PortSettings
from drivers.core.readings import PLETH_RATE_HZ, Flag, Parameter, Reading
from drivers.link import open_port
from drivers.simulation import SimulatedPatient, check_scenario

#: The emulator never sleeps longer than this, so a stop request is seen quickly.
MAX_SLEEP_S = 0.05


@dataclass(frozen=True, slots=True)
class Frame:
    """Bytes a device sends at simulated time ``t``, with the readings they carry (as the wire has them)."""

    t: float
    data: bytes
    readings: tuple[Reading, ...] = ()


class EmulatedDevice(ABC):
    """The device side of one protocol, fed by a simulated patient."""

    #: Protocol name, the same as the driver that reads it.
    protocol: ClassVar[str]
    port_settings: ClassVar[PortSettings]

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        self.patient = patient
        self.settings = dict(settings or {})

    @abstractmethod
    def frames_until(self, t: float) -> list[Frame]:
        """Every frame due at or before simulated time ``t`` not yet returned, in order."""

    def answer(self, data: bytes, t: float) -> bytes:
        """Reply to bytes the host sent; talk-only devices ignore them."""
        return b""

    def describe(self) -> str:
        """Short text for the console."""
        return self.protocol


DEVICES: dict[str, type[EmulatedDevice]] = {}


def register_device(cls: type[EmulatedDevice]) -> type[EmulatedDevice]:
    """Class decorator: make a device available to ``emulate --protocol``."""
    DEVICES[cls.protocol] = cls
    return cls


class EmulatorError(ValueError):
    """A protocol, scenario or setting the emulator cannot use."""


def make_device(
    protocol: str, scenario: str = "normal", seed: int = 1, start: float | None = None,
    settings: Mapping[str, str] | None = None,
) -> EmulatedDevice:
    """A device for ``protocol`` playing a new simulated patient from ``start`` (default: now)."""
    if protocol not in DEVICES:
        raise EmulatorError(f"no emulated device for '{protocol}'; available: {', '.join(sorted(DEVICES))}")
    try:
        patient = SimulatedPatient(check_scenario(scenario), seed, time.time() if start is None else start)
        return DEVICES[protocol](patient, settings)
    except ValueError as exc:
        raise EmulatorError(str(exc)) from None


def _oximetry(patient: SimulatedPatient, t: float, source: str) -> list[Reading]:
    """One second of what an oximeter measures (SpO2 and pulse rate; no ECG heart rate)."""
    return [r for r in patient.numerics(t, source) if r.parameter is not Parameter.HR]


class _SecondlyDevice(EmulatedDevice):
    """A device that reports the patient's numerics once a second (or every ``every`` seconds)."""

    every: ClassVar[int] = 1

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        self._next = patient.start
        self._count = 0

    def frames_until(self, t: float) -> list[Frame]:
        frames: list[Frame] = []
        while self._next <= t:
            now = self._next
            self._next += 1.0
            # The patient model advances once a second whatever the device's output rate.
            readings = _oximetry(self.patient, now, self.protocol)
            self._count += 1
            if self.patient.link_down(now) or (self._count - 1) % self.every:
                continue
            frames.append(self.encode(now, readings))
        return frames

    @abstractmethod
    def encode(self, t: float, readings: list[Reading]) -> Frame:
        """The frame for one report."""


@register_device
class MasimoDevice(_SecondlyDevice):
    """A Masimo Rad-8 in ASCII 1 mode: one line a second."""

    protocol = masimo.NAME
    port_settings = masimo.PORT_SETTINGS

    def encode(self, t: float, readings: list[Reading]) -> Frame:
        return Frame(t, masimo.encode_readings(t, readings), tuple(readings))


@register_device
class NellcorDevice(_SecondlyDevice):
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


@register_device
class NoninDevice(EmulatedDevice):
    """A Nonin oximeter in format 2 or 7 (a packet every 1/3 s with 75 Hz pleth) or 8 (4 bytes a second)."""

    protocol = nonin.NAME
    port_settings = nonin.PORT_SETTINGS
    #: Pleth arbitrary units (0-100) to the wire's scale.
    PLETH_SCALE: ClassVar[dict[int, float]] = {2: 2.5, 7: 600.0}

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        self.data_format = nonin._format_setting(settings)
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
            self._numerics = _oximetry(self.patient, now, self.protocol)

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
        wire_flags = nonin.status_flags(nonin.flags_status(flags, perfusion=False), perfusion=False)
        return Frame(t, nonin.encode_format8(spo2, pr, flags), _reflag(self._carried(t), wire_flags))

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
        return Frame(t, data, pleth + _reflag(self._carried(t), wire_flags))


def _reflag(readings: tuple[Reading, ...], flags: frozenset[Flag]) -> tuple[Reading, ...]:
    """The readings with the flags the wire format can carry (what a receiver will see)."""
    return tuple(Reading(r.t, r.parameter, r.value, r.source, flags) for r in readings)


# -- ports -------------------------------------------------------------------------------------


class DevicePort(Protocol):
    """What the emulator needs of a port."""

    def write(self, data: bytes) -> int | None: ...

    def read_available(self) -> bytes: ...

    def close(self) -> None: ...


class SerialDevicePort:
    """A pyserial port (any URL pyserial understands) seen from the device side."""

    def __init__(self, url: str, settings: PortSettings) -> None:
        self.port = open_port(url, settings, timeout=0)
        self.name = url

    def write(self, data: bytes) -> int | None:
        """Send bytes (blocks while flow control holds them back, up to the write timeout)."""
        return int(self.port.write(data) or 0)

    def read_available(self) -> bytes:
        """Whatever the host has sent."""
        waiting = self.port.in_waiting
        return bytes(self.port.read(waiting)) if waiting else b""

    def close(self) -> None:
        """Release the port."""
        self.port.close()


class PtyDevicePort:
    """A new pseudo-terminal: the emulator holds the master, the recorder opens :attr:`name`.

    Bytes that do not fit (nobody is reading the other side) are dropped, as a device with no
    cable attached would lose them.
    """

    def __init__(self) -> None:
        import tty

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.name = os.ttyname(slave)
        # Keeping the slave open keeps the path alive while no program has it open.
        self._slave = slave
        os.set_blocking(self.master, False)
        self.dropped = 0

    def write(self, data: bytes) -> int | None:
        """Write what fits."""
        try:
            written = os.write(self.master, data)
        except BlockingIOError:
            written = 0
        self.dropped += len(data) - written
        return written

    def read_available(self) -> bytes:
        """What the host wrote."""
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def close(self) -> None:
        """Hang up."""
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def open_device_port(url: str, settings: PortSettings) -> SerialDevicePort | PtyDevicePort:
    """``pty`` makes a new pseudo-terminal; anything else is opened with pyserial."""
    if url == "pty":
        if not hasattr(os, "openpty"):
            raise EmulatorError("--port pty needs a POSIX system; give a serial port or socket:// URL")
        return PtyDevicePort()
    return SerialDevicePort(url, settings)


# -- the runner --------------------------------------------------------------------------------


@dataclass
class EmulatorReport:
    """What an emulator run sent."""

    frames: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    sent: list[Frame] = field(default_factory=list)

    @property
    def readings(self) -> list[Reading]:
        """Every reading carried by the frames sent, in order."""
        return [r for f in self.sent for r in f.readings]


class Emulator:
    """Plays a device's frames onto a port, ``speed`` simulated seconds per wall-clock second."""

    def __init__(
        self,
        device: EmulatedDevice,
        speed: float = 1.0,
        *,
        keep_frames: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (speed > 0 and math.isfinite(speed)):
            raise EmulatorError("the emulator needs a finite speed greater than 0")
        self.device = device
        self.speed = speed
        self.keep_frames = keep_frames
        self._monotonic = monotonic
        self.report = EmulatorReport()

    def run(
        self, port: DevicePort, duration_s: float | None = None, stop: threading.Event | None = None
    ) -> EmulatorReport:
        """Send until ``duration_s`` wall-clock seconds have passed or ``stop`` is set."""
        stop = stop or threading.Event()
        wall0 = self._monotonic()
        start = self.device.patient.start
        while not stop.is_set():
            elapsed = self._monotonic() - wall0
            if duration_s is not None and elapsed >= duration_s:
                break
            sim_now = start + elapsed * self.speed
            for frame in self.device.frames_until(sim_now):
                port.write(frame.data)
                self.report.frames += 1
                self.report.bytes_out += len(frame.data)
                if self.keep_frames:
                    self.report.sent.append(frame)
            request = port.read_available()
            if request:
                self.report.bytes_in += len(request)
                reply = self.device.answer(request, sim_now)
                if reply:
                    port.write(reply)
                    self.report.bytes_out += len(reply)
            stop.wait(MAX_SLEEP_S / max(1.0, self.speed / 10))
        return self.report


# Host-driven blood-pressure monitors register themselves from their own module (imported last:
# it builds on the classes above).
import drivers.bp_devices  # noqa: E402, F401
