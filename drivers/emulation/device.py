"""A wire-level device emulator: the simulated patient played onto a serial port in a device's format.

For training, demos and tests: ``infusion-monitor emulate --protocol nonin --port /dev/ttyUSB1``
makes this computer behave like a Nonin oximeter on that port, so another computer (or another
program on this one) can record from it with the real driver.

Each device folder has its :class:`EmulatedDevice` (``drivers/<device>/emulator.py``), found by
name through :mod:`drivers.emulation.registry`. A device turns the patient into timed frames, and
may answer what the host sends (:meth:`EmulatedDevice.answer`), which is how host-driven protocols
(polling, cuff start) take part. :class:`Emulator` paces the frames by the wall clock times ``speed``.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TextIO

from drivers.base import PortSettings
from drivers.core.readings import Flag, Parameter, Reading
from drivers.patient.model import SimulatedPatient
from drivers.transport.device_ports import DevicePort

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
    #: Settings the reading driver must be given alike (``--set`` of both), e.g. a data format.
    reader_settings: ClassVar[tuple[str, ...]] = ()

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


class AnsweringMonitor(Protocol):
    """The monitor side of a host-driven protocol: bytes from the host in, the reply out."""

    def receive(self, data: bytes, t: float) -> bytes:
        """The reply to what the host sent at ``t`` (empty when there is none)."""
        ...


class HostDrivenDevice(EmulatedDevice):
    """A device that sends nothing unasked: its monitor answers the host, and is silent while the link is down."""

    monitor: AnsweringMonitor

    def frames_until(self, t: float) -> list[Frame]:
        """Nothing unsolicited: the monitor only answers the host."""
        return []

    def answer(self, data: bytes, t: float) -> bytes:
        """The monitor's reply to the host's bytes."""
        if self.patient.link_down(t):
            return b""
        return self.monitor.receive(data, t)


class EmulatorError(ValueError):
    """A protocol, scenario or setting the emulator cannot use."""


@dataclass(frozen=True, slots=True)
class EmulationRequest:
    """What ``infusion-monitor emulate`` was asked for."""

    protocol: str
    port: str
    scenario: str = "normal"
    seed: int = 1
    speed: float = 1.0
    duration_s: float | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    #: Port settings the user changed (``baudrate``, ``parity``, ``xonxoff``, ``rtscts``).
    port_overrides: Mapping[str, Any] = field(default_factory=dict)


#: A runner plays one request until its duration ends or ``stop`` is set, writing progress to ``out``.
Runner = Callable[[EmulationRequest, TextIO, threading.Event], None]


def oximetry(patient: SimulatedPatient, t: float, source: str) -> list[Reading]:
    """One second of what an oximeter measures (SpO2 and pulse rate; no ECG heart rate)."""
    return [r for r in patient.numerics(t, source) if r.parameter is not Parameter.HR]


class SecondlyDevice(EmulatedDevice):
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
            readings = oximetry(self.patient, now, self.protocol)
            self._count += 1
            if self.patient.link_down(now) or (self._count - 1) % self.every:
                continue
            frames.append(self.encode(now, readings))
        return frames

    @abstractmethod
    def encode(self, t: float, readings: list[Reading]) -> Frame:
        """The frame for one report."""


def reflag(readings: tuple[Reading, ...], flags: frozenset[Flag]) -> tuple[Reading, ...]:
    """The readings with the flags the wire format can carry (what a receiver will see)."""
    return tuple(Reading(r.t, r.parameter, r.value, r.source, flags) for r in readings)


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


