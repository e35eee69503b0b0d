"""The driver contract: a pure decoder, a source that owns the port, and the driver that makes both.

A *decoder* turns bytes into readings and never touches a port or a clock: the time of the
bytes is handed in. Host-driven protocols (polling, association) also say what they want to
send through :meth:`Decoder.outgoing`, still without doing any I/O themselves.

A *source* is a running connection: it reads from a link, feeds the decoder, and reports link
events (lost, restored) and counters. The recorder only ever talks to a source.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, ClassVar, Final, Protocol

from drivers.core.readings import Reading


@dataclass
class DecoderCounters:
    """What a decoder has seen; the link adds bytes and reconnects."""

    frames_decoded: int = 0
    frames_rejected: int = 0
    resyncs: int = 0
    unknown_items: int = 0
    #: Items skipped as a second value of a parameter already taken at that time (one message, two sources).
    repeated_items: int = 0


@dataclass
class LinkCounters(DecoderCounters):
    """Health of one connection, shown by the UI and by ``record``: its decoding plus the link's own counts."""

    bytes_in: int = 0
    bytes_out: int = 0
    reconnects: int = 0
    state: str = "connecting"

    def snapshot(self) -> LinkCounters:
        """A copy that later updates do not change."""
        return replace(self)

    def take_decoding(self, decoding: DecoderCounters) -> None:
        """Show the counts of the link's one decoder as the link's own."""
        for name in _DECODING_FIELDS:
            setattr(self, name, getattr(decoding, name))


_DECODING_FIELDS: Final = tuple(f.name for f in fields(DecoderCounters))


class LinkEventKind(StrEnum):
    """Technical events a connection reports."""

    LINK_LOST = "link_lost"
    LINK_RESTORED = "link_restored"
    #: Something about the link the staff must know of, the link itself being up (a refused message...).
    TECHNICAL = "technical"


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """A change in the connection to the device."""

    t: float
    kind: LinkEventKind
    detail: str = ""
    #: For TECHNICAL events: a short name of the condition (e.g. ``hl7_other_patient``).
    condition: str = ""


class CuffStartRefused(Exception):
    """The device can start a cuff, but not now (its link is lost); the message says why, in the nurse's words."""


#: The timeline condition of a cuff start that was refused, could not be sent or was not acknowledged.
NIBP_NOT_STARTED: Final = "nibp_not_started"


class Decoder(ABC):
    """Pure, incremental protocol parser: bytes in, readings out."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.counters = DecoderCounters()

    @abstractmethod
    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Consume bytes received at time ``at``; return every reading completed by them."""

    def reset(self) -> None:  # noqa: B027 - optional hook
        """Forget any partial frame (after a reconnect)."""

    def outgoing(self, at: float) -> bytes:
        """Bytes the host should send now (polls, handshakes); empty for talk-only devices."""
        return b""

    def quiet_by_design_s(self) -> float:
        """Longest time the device is silent by design between answers (a polled device: between requests).

        0 for a device that talks on its own. A link is not declared lost before this much more has passed.
        """
        return 0.0

    def request_nibp(self) -> bool:
        """Queue a command that starts a cuff measurement; False when the protocol cannot."""
        return False

    def not_sent(self, at: float) -> None:  # noqa: B027 - optional hook
        """The bytes :meth:`outgoing` gave last could not be written (the port is closed or failed)."""

    def take_cuff_start_failures(self) -> list[str]:
        """Why each cuff start queued since the last call did not reach the monitor or was not acknowledged."""
        return []


@dataclass(frozen=True, slots=True)
class PortSettings:
    """Serial line settings a driver declares and a user may override."""

    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: float = 1
    xonxoff: bool = False
    rtscts: bool = False

    def with_overrides(self, overrides: Mapping[str, Any]) -> PortSettings:
        """A copy with user-given values (already converted to the right types)."""
        return replace(self, **dict(overrides))

    def describe(self) -> str:
        """Short text such as ``9600 8N1, XON/XOFF``."""
        flow = "XON/XOFF" if self.xonxoff else "RTS/CTS" if self.rtscts else "no flow control"
        stop = f"{self.stopbits:g}"
        return f"{self.baudrate} {self.bytesize}{self.parity}{stop}, {flow}"


class ReaderThread(Protocol):
    """A thread that reads a device for its source, as the watchdog sees it."""

    #: Monotonic time the thread last went round its loop.
    last_beat: float

    @property
    def thread(self) -> threading.Thread | None:
        """The thread, once started."""
        ...


class Source(ABC):
    """A running connection to one device that yields readings."""

    #: The device can start a cuff measurement on request.
    can_start_nibp: bool = False
    #: The readings come from a simulated patient (a demonstration), never from a person.
    simulated: bool = False

    def __init__(self, name: str, device: str) -> None:
        self.name = name
        self.device = device
        self.counters = LinkCounters()
        self._link_events: list[LinkEvent] = []

    def open(self) -> None:  # noqa: B027 - optional hook
        """Start the connection (may return before the device answers)."""

    @abstractmethod
    def read(self, timeout: float) -> list[Reading]:
        """Wait up to ``timeout`` seconds and return the readings that arrived."""

    @abstractmethod
    def now(self) -> float:
        """The source's clock: wall time for devices, simulated time for the simulator."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the port; idempotent."""

    def drain(self) -> list[Reading]:
        """After :meth:`close`: readings that arrived (and may have been acknowledged) but were not read."""
        return []

    def request_nibp(self) -> bool:
        """Start a cuff measurement now; False when the device cannot be asked.

        Raises :class:`CuffStartRefused` when the device could start one but cannot be reached now: a start
        that cannot be sent is never taken as started. A start taken but then not sent or not acknowledged is
        reported afterwards as a technical link event with the condition :data:`NIBP_NOT_STARTED`.
        """
        return False

    def on_session_event(self, kind: str, at: float) -> None:  # noqa: B027 - optional hook
        """Told of timeline events such as ``infusion_started`` (the simulated patient reacts)."""

    def take_clock_offsets(self) -> list[tuple[float, float]]:
        """Device time stamps refused as out of window since the last call: (receive time, offset s)."""
        return []

    def take_link_events(self) -> list[LinkEvent]:
        """Link events since the last call."""
        events, self._link_events = self._link_events, []
        return events

    def reader(self) -> ReaderThread | None:
        """The thread reading the device, for the watchdog (None: the source reads on its caller's thread)."""
        return None

    def set_patient(self, mrn: str | None) -> None:  # noqa: B027 - optional hook
        """Told the session's identified patient (a listener that serves one patient checks messages against it)."""

    def _link_event(self, kind: LinkEventKind, at: float, detail: str = "", condition: str = "") -> None:
        self._link_events.append(LinkEvent(at, kind, detail, condition))


@dataclass(frozen=True)
class OpenOptions:
    """Everything a user may say about how to open a driver."""

    port: str | None = None
    scenario: str = "normal"
    speed: float = 1.0
    seed: int = 1
    pleth: bool = False
    start_time: float | None = None
    port_overrides: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    link_lost_after_s: float = 5.0


class Driver(ABC):
    """A device family: its description, port settings, decoder and how to open it."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Serial settings of the device; None for drivers that do not use a serial port.
    port_settings: ClassVar[PortSettings | None] = None
    #: Whether ``--port`` is required.
    needs_port: ClassVar[bool] = True
    #: Whether the device is reached through ``--port`` at all (a serial port, or an address to listen on).
    takes_port: ClassVar[bool] = True
    #: What an empty ``--port`` stands for, shown where the port is chosen (None: nothing).
    default_port: ClassVar[str | None] = None
    can_start_nibp: ClassVar[bool] = False

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A fresh pure decoder for this device."""
        raise NotImplementedError(f"{self.name} has no byte decoder")

    def held_port(self, port: str | None) -> str | None:
        """What this driver, opened on ``port``, holds for itself alone, named so that two names of one port
        compare equal (None: nothing, or nothing that a second open would be refused).

        A device changed to another setting on the port it is read from can be opened only once the running
        one has let go of it: this says when that is the case.
        """
        return None

    @abstractmethod
    def open(self, options: OpenOptions) -> Source:
        """A source connected according to the options."""
