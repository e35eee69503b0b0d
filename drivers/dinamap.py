"""The ``ge-dinamap`` driver: GE / Critikon DINAMAP host communications (ProCare, PRO 100-400, V100).

The host polls in ASCII. Every command is its text, a two-character checksum and CR: the checksum
is s = sum(ord(c) - 0x20 + 1) over the command's characters, kept to 12 bits, sent as
``chr(0x20 + (s >> 6))`` and ``chr(0x20 + (s & 0x3F))``. ``" NC0"`` starts a NIBP determination,
``" ND"`` cancels it, ``" NA"`` reads the NIBP status and result, ``" RC"`` reads the heart rate.
This driver can start the cuff, so the session's NIBP schedule and the nurse's "NIBP now" work.

*Unconfirmed reply layout.* The GE manual (Host Communications Reference Manual 2010566) is not
public; the layout below comes from one working open-source host, not from the manual:

* NIBP status reply: character 3 is the status (1 = valid result, 2 = determination running here,
  0 = none, above 2 = error); characters 6-9 a time counter; 10-12 systolic, 13-15 diastolic,
  16-18 mean (0-based offsets, three digits each).
* Heart-rate reply: characters 4-6, three digits (000 read as "no value"); recorded as pulse rate
  (a DINAMAP has no ECG).

The parser is strict: a reply that is too short, has non-digits where digits belong, gives an
impossible pressure, or arrives when no command is outstanding is rejected and counted
(``frames_rejected``); it never becomes a number. Replies are read without a checksum unless
``--set reply_checksum=on`` says the site's monitor appends one like a command. SpO2 is read only
when the site names the command from its manual (``--set spo2_command=XX``); its reply is read like
the heart-rate reply. A new NIBP result is recorded when its values differ from the last one or a
status reply showed a determination running since; the first result after connecting is recorded too, stamped
with the time it was read (the meaning of the time counter is not confirmed, so it is not used for
timing). Port settings default to 9600 8N1 (``--baud``/``--parity`` override them; see the
manual's appendix A for the monitor's setting).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final

from drivers.base import Decoder, OpenOptions, PortSettings, Source
from drivers.serial_source import SerialDriver
from drivers.settings import SettingsError, check_known, seconds
from monitor.readings import Flag, Parameter, Reading, is_plausible

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "ge-dinamap"
CR: Final = b"\r"

START_NIBP: Final = " NC0"
CANCEL_NIBP: Final = " ND"
READ_NIBP: Final = " NA"
READ_HR: Final = " RC"

STATUS_NONE: Final = 0
STATUS_VALID: Final = 1
STATUS_RUNNING: Final = 2

MAX_REPLY_CHARS: Final = 80
NIBP_REPLY_MIN: Final = 19
VALUE_REPLY_MIN: Final = 7


def checksum(text: str) -> str:
    """The two checksum characters of a command's text."""
    total = 0
    for char in text:
        code = ord(char)
        if not 0x20 <= code < 0x7F:
            raise ValueError(f"command character {char!r} is not printable ASCII")
        total += code - 0x20 + 1
        if total > 0xFFF:
            total -= 0xFFF  # kept to 12 bits, as the reference host does
    return chr(0x20 + (total >> 6)) + chr(0x20 + (total & 0x3F))


def command(text: str) -> bytes:
    """A complete command: text, checksum, CR."""
    return (text + checksum(text)).encode("ascii") + CR


class ReplyError(ValueError):
    """A reply that does not have the expected (unconfirmed) layout."""


@dataclass(frozen=True, slots=True)
class NibpStatus:
    """What an NA reply says."""

    status: int
    time_counter: str
    sys: int | None
    dia: int | None
    mean: int | None


def _digits(line: str, start: int, end: int, what: str) -> int:
    field = line[start:end]
    if len(field) != end - start or not field.isdigit() or not field.isascii():
        raise ReplyError(f"{what} at [{start}:{end}] is {field!r}, not {end - start} digits")
    return int(field)


def parse_nibp_status(line: str) -> NibpStatus:
    """Read an NIBP status reply (layout unconfirmed; see the module docstring)."""
    if len(line) < NIBP_REPLY_MIN:
        raise ReplyError(f"NIBP reply of {len(line)} characters, expected at least {NIBP_REPLY_MIN}")
    status = _digits(line, 3, 4, "status")
    if status != STATUS_VALID:
        return NibpStatus(status, line[6:10], None, None, None)
    counter = line[6:10]
    _digits(line, 6, 10, "time counter")
    sys_v = _digits(line, 10, 13, "systolic")
    dia_v = _digits(line, 13, 16, "diastolic")
    mean_v = _digits(line, 16, 19, "mean")
    if not (
        is_plausible(Parameter.NIBP_SYS, sys_v)
        and is_plausible(Parameter.NIBP_DIA, dia_v)
        and is_plausible(Parameter.NIBP_MEAN, mean_v)
        and dia_v <= mean_v <= sys_v
        and sys_v > 0
    ):
        raise ReplyError(f"impossible pressure {sys_v}/{dia_v} ({mean_v})")
    return NibpStatus(status, counter, sys_v, dia_v, mean_v)


def parse_value(line: str, parameter: Parameter) -> float | None:
    """Read a heart-rate (or SpO2) reply: three digits at [4:7]; 000 means no value."""
    if len(line) < VALUE_REPLY_MIN:
        raise ReplyError(f"{parameter} reply of {len(line)} characters, expected at least {VALUE_REPLY_MIN}")
    value = _digits(line, 4, 7, str(parameter))
    if value == 0:
        return None
    if not is_plausible(parameter, value):
        raise ReplyError(f"impossible {parameter} {value}")
    return float(value)


@dataclass(frozen=True, slots=True)
class DinamapSettings:
    """Polling of the monitor (seconds) and the site-specific parts of the protocol."""

    poll_interval: float = 2.0
    reply_timeout: float = 2.0
    spo2_command: str | None = None
    reply_checksum: bool = False

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str] | None) -> DinamapSettings:
        """Settings from ``--set key=value`` pairs, each checked with a message naming it."""
        given = dict(settings or {})
        check_known(given, ("poll_interval", "reply_timeout", "spo2_command", "reply_checksum"), "ge-dinamap")
        default = cls()
        values = {name: seconds(given, name, getattr(default, name), 0.1, 600)
                  for name in ("poll_interval", "reply_timeout")}
        spo2 = given.get("spo2_command")
        if spo2 is not None:
            spo2 = spo2.strip()
            if not (1 <= len(spo2) <= 4 and spo2.isalnum() and spo2.isascii()):
                raise SettingsError(
                    f"setting spo2_command='{spo2}' must be 1-4 letters or digits, e.g. from the manual"
                )
            spo2 = " " + spo2.upper()
        flag = given.get("reply_checksum", "off").strip().lower()
        if flag not in ("on", "off", "yes", "no", "true", "false", "1", "0"):
            raise SettingsError(f"setting reply_checksum='{flag}' must be on or off")
        return cls(values["poll_interval"], values["reply_timeout"], spo2, flag in ("on", "yes", "true", "1"))


class DinamapDecoder(Decoder):
    """Host side of DINAMAP polling: one command at a time, each reply matched to its command."""

    def __init__(self, settings: DinamapSettings | None = None, source: str = SOURCE_NAME) -> None:
        super().__init__(source)
        self.settings = settings or DinamapSettings()
        self._line = bytearray()
        self._overlong = False
        self._outstanding: str | None = None
        self._sent_at = 0.0
        self._queue: list[str] = []
        self._next_cycle: float | None = None
        self._start_pending = False
        self._cancel_pending = False
        self._last_nibp: tuple[int | None, int | None, int | None] | None = None
        self._running_seen = False
        self._last_failure: tuple[int, str] | None = None
        #: Commands that got no reply within ``reply_timeout``.
        self.timeouts = 0
        self.commands_sent = 0

    # -- Decoder API -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the partial line and the outstanding command (after a reconnect)."""
        self._line.clear()
        self._overlong = False
        self._outstanding = None
        self._queue.clear()
        self._next_cycle = None

    def request_nibp(self) -> bool:
        """Start a determination with the next command slot."""
        self._start_pending = True
        return True

    def cancel_nibp(self) -> None:
        """Deflate the cuff with the next command slot."""
        self._cancel_pending = True

    def outgoing(self, at: float) -> bytes:
        """The next command, when none is outstanding and one is due."""
        if self._outstanding is not None:
            if at - self._sent_at <= self.settings.reply_timeout:
                return b""
            log.info("DINAMAP: no reply to %r within %g s", self._outstanding, self.settings.reply_timeout)
            self.timeouts += 1
            self._outstanding = None
        text: str | None = None
        if self._cancel_pending:
            self._cancel_pending = False
            text = CANCEL_NIBP
        elif self._start_pending:
            self._start_pending = False
            text = START_NIBP
        else:
            if not self._queue and (self._next_cycle is None or at >= self._next_cycle):
                self._queue = [READ_NIBP, READ_HR]
                if self.settings.spo2_command:
                    self._queue.append(self.settings.spo2_command)
                base = (
                    at
                    if self._next_cycle is None
                    else max(self._next_cycle, at - self.settings.poll_interval)
                )
                self._next_cycle = base + self.settings.poll_interval
            if self._queue:
                text = self._queue.pop(0)
        if text is None:
            return b""
        self._outstanding = text
        self._sent_at = at
        self.commands_sent += 1
        return command(text)

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Collect reply lines (ending CR) and read each against the command it answers."""
        readings: list[Reading] = []
        for byte in data:
            if byte == 0x0D:
                if self._overlong:
                    self._overlong = False
                    self.counters.frames_rejected += 1
                elif self._line:
                    readings.extend(self._on_line(bytes(self._line), at))
                self._line.clear()
            elif byte == 0x0A and not self._line:
                continue  # a CR LF ending: the LF belongs to the previous line
            elif not self._overlong:
                self._line.append(byte)
                if len(self._line) > MAX_REPLY_CHARS:
                    self._overlong = True
                    self.counters.resyncs += 1
                    self._line.clear()
        return readings

    # -- replies ---------------------------------------------------------------------------

    def _on_line(self, raw: bytes, at: float) -> list[Reading]:
        expected, self._outstanding = self._outstanding, None
        try:
            if expected is None:
                raise ReplyError("reply without an outstanding command")
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                raise ReplyError("reply is not ASCII") from None
            if not line.isprintable():
                raise ReplyError("reply has control characters")
            if self.settings.reply_checksum:
                if len(line) < 3 or checksum(line[:-2]) != line[-2:]:
                    raise ReplyError("reply checksum does not match")
                line = line[:-2]
            readings = self._read(expected, line, at)
        except ReplyError as exc:
            log.debug("DINAMAP reply %r rejected: %s", raw, exc)
            self.counters.frames_rejected += 1
            return []
        self.counters.frames_decoded += 1
        return readings

    def _read(self, expected: str, line: str, at: float) -> list[Reading]:
        if expected == READ_NIBP:
            return self._nibp(parse_nibp_status(line), at)
        if expected == READ_HR:
            return [Reading(at, Parameter.PR, parse_value(line, Parameter.PR), self.source)]
        if expected == self.settings.spo2_command:
            return [Reading(at, Parameter.SPO2, parse_value(line, Parameter.SPO2), self.source)]
        # Start and cancel are acknowledged; their text is not interpreted. A determination counts
        # as running only once a status reply says so, not because it was asked for.
        return []  # start and cancel are acknowledged; their text is not interpreted

    def _nibp(self, status: NibpStatus, at: float) -> list[Reading]:
        if status.status == STATUS_RUNNING:
            self._running_seen = True
            return []
        if status.status == STATUS_NONE:
            return []
        if status.status == STATUS_VALID:
            values = (status.sys, status.dia, status.mean)
            if values == self._last_nibp and not self._running_seen:
                return []
            self._last_nibp = values
            self._running_seen = False
            return [
                Reading(at, Parameter.NIBP_SYS, float(status.sys or 0), self.source),
                Reading(at, Parameter.NIBP_DIA, float(status.dia or 0), self.source),
                Reading(at, Parameter.NIBP_MEAN, float(status.mean or 0), self.source),
            ]
        failure = (status.status, status.time_counter)
        if failure == self._last_failure and not self._running_seen:
            return []
        self._last_failure = failure
        self._running_seen = False
        failed = frozenset({Flag.MEASUREMENT_FAILED})
        return [
            Reading(at, p, None, self.source, failed)
            for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN)
        ]


class DinamapDriver(SerialDriver):
    """GE / Critikon DINAMAP host communications: NIBP started by the host, pulse rate, SpO2 if set up."""

    name = "ge-dinamap"
    description = (
        "GE/Critikon DINAMAP host comms (NIBP started on schedule, pulse rate; reply layout unconfirmed)"
    )
    device_label = "GE DINAMAP (host communications)"
    port_settings: ClassVar[PortSettings | None] = PortSettings(baudrate=9600)
    can_start_nibp = True

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A polling decoder with the user's settings."""
        return DinamapDecoder(DinamapSettings.from_mapping(settings))

    def open(self, options: OpenOptions) -> Source:
        """Open the port; the source says it can start the cuff."""
        source = super().open(options)
        source.can_start_nibp = True
        return source
