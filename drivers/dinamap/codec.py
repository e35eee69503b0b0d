"""The ``ge-dinamap`` driver: GE / Critikon DINAMAP host communications (ProCare, PRO 100-400, V100).

The host polls in ASCII. Every command is its text, a two-character checksum and CR: the checksum
is s = sum(ord(c) - 0x20 + 1) over the command's characters, kept to 12 bits, sent as
``chr(0x20 + (s >> 6))`` and ``chr(0x20 + (s & 0x3F))``. ``" NC0"`` starts a NIBP determination,
``" ND"`` cancels it, ``" NA"`` reads the NIBP status and result, ``" OA"`` the pulse oximeter,
``" RA"`` (Carescape V100 class) and ``" RC"`` (PRO series) the heart/pulse rate.

Which commands are sent depends on the model family (``--set model=pro|v100``):

* ``pro`` (default; ProCare, PRO 100-400): ``NA``, ``RC``, and ``OA`` when ``spo2=on``.
* ``v100`` (Carescape V100/V150): ``NA``, ``OA`` (unless ``spo2=off``) and ``RA``.

Reply layouts, as the manual's reply descriptions are quoted by an independent Carescape V100 host
(0-based character offsets; the first character is the unit character, then the echoed code):

* ``NA`` ``uNAabcddddeeefffggg``: a status (0 busy, 1 done and valid, 2 not used, 3 failed,
  4 pump-up time-out, 6 total-time time-out, 7 one-pressure time-out, 8 over-pressure, 9 unknown;
  5 is not listed and read as a failure); b patient type; c mode; dddd the **seconds since the last
  determination** (0-5400, ``9999`` = none recent); eee systolic, fff diastolic, ggg mean.
* ``OA`` ``uOAabbbcdd``: a channel status (0 standby, 1 operating and valid, 3 no data / sensor
  off, 6 sensor unplugged); bbb SpO2; c signal strength; dd averaging interval.
* ``RA`` ``uRAabbb``: a source (2 pulse oximeter, 3 NIBP); bbb rate (``000`` or ``-99`` = none).
  The PRO host reads the ``RC`` rate at the same offset; this driver reads [3] of ``RC`` like
  ``RA`` (project assumption: no public source gives [3] of ``RC``).

What the driver makes of them:

* A reply is matched to the outstanding command by its echoed code ([1:3]); a line with another
  code (an unsolicited status, a late answer to a timed-out command) is rejected and counted in
  ``unmatched``, and the command keeps waiting up to ``reply_timeout`` (3 s, as the C# host).
* Only status 1 carries a value. A NIBP result is stamped with its measurement time, receive time
  minus the counter; a result measured before the driver's first poll (a reading held from the
  previous patient) is never stored. One determination is stored once: a result is new when its
  values changed, it was measured after a busy status was seen (allowing the counter's whole
  seconds), or its measurement time moved by more than :data:`SAME_DETERMINATION_S` (a busy
  status missed between polls).
* A failed determination (status 3-9) is stored once, as missing values flagged
  ``measurement_failed``, when a busy status was seen since the last failure or its time moved.
* SpO2 with status other than 1 is stored missing with the reason (standby: ``unavailable``,
  3: ``sensor_off``, 6: ``no_sensor``), never with the value field's number.
* A rate whose source is the oximeter is the pulse rate; a cuff rate (source 3) or a rate without
  a source is not stored as pulse rate (there is no cuff-pulse parameter) and is counted in
  ``cuff_rates``.
* A cuff start that could not be written, was cut off by a lost link or got no echo within
  ``reply_timeout`` is given up and reported (:meth:`DinamapDecoder.take_cuff_start_failures`), never
  held over a cut nor dropped in silence; a command that could not be written is not waited for.
* One poll cycle runs at a time; the next starts ``poll_interval`` after the previous began, or
  later, never two back to back after a time-out.

The parser is strict: a reply too short, with non-digits where digits belong, an impossible
pressure or a counter outside 0-5400/9999 is rejected and counted (``frames_rejected``). Replies are
read without a checksum unless ``--set reply_checksum=on`` says the site's monitor appends one like
a command (the public hosts do not check one). Port settings default to 9600 8N1 as in the
independent hosts (``--baud``/``--parity`` override them; the manual's appendix A lists the options).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from drivers.base import Decoder, PortSettings
from drivers.core.readings import NIBP_PARAMETERS, Flag, Parameter, Reading, is_plausible
from drivers.settings import check_known, choice, seconds, switch

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "ge-dinamap"
PORT_SETTINGS: Final = PortSettings(baudrate=9600)
CR: Final = b"\r"

START_NIBP: Final = " NC0"
CANCEL_NIBP: Final = " ND"
READ_NIBP: Final = " NA"
READ_SPO2: Final = " OA"
READ_RATE_V100: Final = " RA"
READ_RATE_PRO: Final = " RC"
#: Kept for callers of the PRO series' rate command.
READ_HR: Final = READ_RATE_PRO

MODEL_PRO: Final = "pro"
MODEL_V100: Final = "v100"
MODELS: Final = (MODEL_PRO, MODEL_V100)

# NA determination status ([3]).
NIBP_BUSY: Final = 0
NIBP_VALID: Final = 1
NIBP_NOT_USED: Final = 2
NIBP_FAILURES: Final = frozenset({3, 4, 5, 6, 7, 8, 9})
COUNTER_NONE: Final = 9999
COUNTER_MAX: Final = 5400

# OA channel status ([3]).
SPO2_VALID: Final = 1
SPO2_STATUS_FLAGS: Final[dict[int, Flag]] = {0: Flag.UNAVAILABLE, 3: Flag.SENSOR_OFF, 6: Flag.NO_SENSOR}

# Rate source ([3] of RA).
RATE_FROM_OXIMETER: Final = "2"
RATE_FROM_NIBP: Final = "3"

#: Two status replies with the same values whose measurement times (receive time - whole-second
#: counter) differ by no more than this describe the same determination: it absorbs the counter's
#: 1 s resolution and a reply delayed up to the time-out, while a new determination takes tens of
#: seconds of cuff inflation and deflation, so two cannot finish this close together.
SAME_DETERMINATION_S: Final = 10.0
#: A result measured no earlier than this before a busy status was read belongs to a determination
#: that ran after it (the counter is in whole seconds; replies take a moment).
AFTER_BUSY_SLACK_S: Final = 1.5

MAX_REPLY_CHARS: Final = 80
NIBP_REPLY_MIN: Final = 19
SPO2_REPLY_MIN: Final = 7
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


def code_of(text: str) -> str:
    """The two-letter code a reply echoes ([1:3]), e.g. ``NA`` for ``" NA"`` or ``NC`` for ``" NC0"``."""
    return text[1:3]


class ReplyError(ValueError):
    """A reply that does not have the manual's layout."""


@dataclass(frozen=True, slots=True)
class NibpStatus:
    """What an NA reply says; ``age_s`` is None when the counter says no recent determination."""

    status: int
    age_s: int | None
    sys: int | None
    dia: int | None
    mean: int | None

    @property
    def valid(self) -> bool:
        """Status 1 with a recent determination: the only case that carries values."""
        return self.status == NIBP_VALID and self.age_s is not None and self.sys is not None


@dataclass(frozen=True, slots=True)
class Spo2Status:
    """What an OA reply says: the channel status and the saturation (None unless status 1)."""

    status: int
    spo2: int | None


@dataclass(frozen=True, slots=True)
class RateReply:
    """What an RA (or RC) reply says: the rate's source character and the rate (None = no rate)."""

    source: str
    rate: int | None


def _digits(line: str, start: int, end: int, what: str) -> int:
    field = line[start:end]
    if len(field) != end - start or not field.isdigit() or not field.isascii():
        raise ReplyError(f"{what} at [{start}:{end}] is {field!r}, not {end - start} digits")
    return int(field)


def _counter(line: str) -> int | None:
    counter = _digits(line, 6, 10, "time counter")
    if counter == COUNTER_NONE:
        return None
    if counter > COUNTER_MAX:
        raise ReplyError(f"time counter {counter} outside 0-{COUNTER_MAX} and not {COUNTER_NONE}")
    return counter


def parse_nibp_status(line: str) -> NibpStatus:
    """Read an NA reply ``uNAabcddddeeefffggg``; pressures only with status 1 and a recent counter."""
    if len(line) < NIBP_REPLY_MIN:
        raise ReplyError(f"NIBP reply of {len(line)} characters, expected at least {NIBP_REPLY_MIN}")
    status = _digits(line, 3, 4, "status")
    age = _counter(line)
    if status != NIBP_VALID or age is None:
        return NibpStatus(status, age, None, None, None)
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
    return NibpStatus(status, age, sys_v, dia_v, mean_v)


def parse_spo2(line: str) -> Spo2Status:
    """Read an OA reply ``uOAabbbcdd``; the saturation field is read only with status 1."""
    if len(line) < SPO2_REPLY_MIN:
        raise ReplyError(f"SpO2 reply of {len(line)} characters, expected at least {SPO2_REPLY_MIN}")
    status = _digits(line, 3, 4, "channel status")
    if status != SPO2_VALID:
        return Spo2Status(status, None)
    return Spo2Status(status, _value_field(line, Parameter.SPO2, "SpO2"))


def parse_rate(line: str) -> RateReply:
    """Read an RA/RC reply ``uRAabbb``: source character and rate (``000`` and ``-99`` mean none)."""
    if len(line) < VALUE_REPLY_MIN:
        raise ReplyError(f"rate reply of {len(line)} characters, expected at least {VALUE_REPLY_MIN}")
    source = line[3]
    if line[4:7] == "-99":
        return RateReply(source, None)
    return RateReply(source, _value_field(line, Parameter.PR, "rate"))


def _value_field(line: str, parameter: Parameter, name: str) -> int | None:
    """The three-digit value at characters 4-6 (``000`` means none); an implausible one raises."""
    value = _digits(line, 4, 7, name)
    if value == 0:
        return None
    if not is_plausible(parameter, value):
        raise ReplyError(f"impossible {name} {value}")
    return value


@dataclass(frozen=True, slots=True)
class DinamapSettings:
    """Polling of the monitor (seconds), its model family and the site-specific parts of the protocol."""

    poll_interval: float = 2.0
    reply_timeout: float = 3.0
    model: str = MODEL_PRO
    spo2: bool = False
    reply_checksum: bool = False

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str] | None) -> DinamapSettings:
        """Settings from ``--set key=value`` pairs, each checked with a message naming it."""
        given = dict(settings or {})
        check_known(given, ("poll_interval", "reply_timeout", "model", "spo2", "reply_checksum"), SOURCE_NAME)
        default = cls()
        values = {name: seconds(given, name, getattr(default, name), 0.1, 600)
                  for name in ("poll_interval", "reply_timeout")}
        model = choice(given, "model", MODELS, MODEL_PRO)
        return cls(
            values["poll_interval"],
            values["reply_timeout"],
            model,
            switch(given, "spo2", model == MODEL_V100),
            switch(given, "reply_checksum", False),
        )

    @property
    def poll_commands(self) -> tuple[str, ...]:
        """The commands of one poll cycle, in order, for the model family."""
        if self.model == MODEL_V100:
            return (READ_NIBP, READ_SPO2, READ_RATE_V100) if self.spo2 else (READ_NIBP, READ_RATE_V100)
        return (READ_NIBP, READ_RATE_PRO, READ_SPO2) if self.spo2 else (READ_NIBP, READ_RATE_PRO)


class DinamapDecoder(Decoder):
    """Host side of DINAMAP polling: one command at a time, each reply matched by its echoed code."""

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
        self._start_failures: list[str] = []
        #: When this driver first polled: determinations measured before belong to someone else.
        self.session_start: float | None = None
        self._last_result: tuple[float, tuple[int | None, int | None, int | None]] | None = None
        self._last_failure_at: float | None = None
        self._busy_since_failure = False
        self._busy_at: float | None = None
        #: Commands that got no reply within ``reply_timeout``.
        self.timeouts = 0
        self.commands_sent = 0
        #: Lines whose echoed code answered no outstanding command.
        self.unmatched = 0
        #: Results measured before the first poll, not stored.
        self.held_results = 0
        #: Rates from the cuff (or without a source), not stored as pulse rate.
        self.cuff_rates = 0

    # -- Decoder API -----------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the partial line and the outstanding command (after a reconnect).

        A cuff start not yet sent, or sent and not yet acknowledged, is given up and reported: it is not held
        over a cut, since nobody can say when the link returns or whether the start is still wanted then.
        """
        if self._start_pending:
            self._start_failures.append("the link to the monitor was lost before the start command was sent")
        elif self._outstanding == START_NIBP:
            self._start_failures.append("the link to the monitor was lost before it acknowledged the start")
        self._start_pending = False
        self._line.clear()
        self._overlong = False
        self._outstanding = None
        self._queue.clear()
        self._next_cycle = None

    def request_nibp(self) -> bool:
        """Start a determination with the next command slot."""
        self._start_pending = True
        return True

    def not_sent(self, at: float) -> None:
        """The last command never left: nothing is waited for (a cuff start among them is reported)."""
        if self._outstanding == START_NIBP:
            self._start_failures.append("the start command could not be sent: the port is closed or failed")
        self._outstanding = None

    def take_cuff_start_failures(self) -> list[str]:
        """Why each cuff start since the last call did not reach the monitor or was not acknowledged."""
        failures, self._start_failures = self._start_failures, []
        return failures

    def cancel_nibp(self) -> None:
        """Deflate the cuff with the next command slot."""
        self._cancel_pending = True

    def quiet_by_design_s(self) -> float:
        """The monitor only answers commands: silent between poll cycles."""
        return self.settings.poll_interval

    def outgoing(self, at: float) -> bytes:
        """The next command, when none is outstanding and one is due."""
        if self.session_start is None:
            self.session_start = at
        if self._outstanding is not None:
            if at - self._sent_at <= self.settings.reply_timeout:
                return b""
            log.info("DINAMAP: no reply to %r within %g s", self._outstanding, self.settings.reply_timeout)
            self.timeouts += 1
            if self._outstanding == START_NIBP:
                # The monitor may or may not have started: the nurse is told, the cuff's value still counts.
                self._start_failures.append(
                    f"the monitor did not acknowledge the start within {self.settings.reply_timeout:g} s"
                )
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
                self._queue = list(self.settings.poll_commands)
                # From the start of this cycle, however late it began: no catching up.
                self._next_cycle = at + self.settings.poll_interval
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
        try:
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError:
                raise ReplyError("reply is not ASCII") from None
            if not line.isprintable():
                raise ReplyError("reply has control characters")
            expected = self._outstanding
            if expected is None or code_of(line) != code_of(expected):
                # Not the answer we wait for: the command keeps waiting for its own.
                self.unmatched += 1
                raise ReplyError(f"reply code {code_of(line)!r} answers no outstanding command ({expected!r})")
            self._outstanding = None
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
        if expected == READ_SPO2:
            return self._spo2(parse_spo2(line), at)
        if expected in (READ_RATE_V100, READ_RATE_PRO):
            return self._rate(parse_rate(line), at)
        return []  # start and cancel are acknowledged; their text is not interpreted

    def _spo2(self, reply: Spo2Status, at: float) -> list[Reading]:
        if reply.status == SPO2_VALID:
            return [Reading(at, Parameter.SPO2, None if reply.spo2 is None else float(reply.spo2), self.source)]
        reason = SPO2_STATUS_FLAGS.get(reply.status, Flag.INVALID)
        return [Reading(at, Parameter.SPO2, None, self.source, frozenset({reason}))]

    def _rate(self, reply: RateReply, at: float) -> list[Reading]:
        if reply.source != RATE_FROM_OXIMETER:
            self.cuff_rates += 1
            return []
        return [Reading(at, Parameter.PR, None if reply.rate is None else float(reply.rate), self.source)]

    def _nibp(self, status: NibpStatus, at: float) -> list[Reading]:
        start = self.session_start if self.session_start is not None else at
        measured = None if status.age_s is None else at - status.age_s
        if status.status == NIBP_BUSY:
            self._busy_since_failure = True
            if self._busy_at is None:
                self._busy_at = at
            return []
        if status.status == NIBP_VALID:
            if not status.valid or measured is None:
                return []  # 9999: no recent determination
            values = (status.sys, status.dia, status.mean)
            last = self._last_result
            after_busy = self._busy_at is not None and measured >= self._busy_at - AFTER_BUSY_SLACK_S
            if (
                last is not None
                and values == last[1]
                and not after_busy
                and abs(measured - last[0]) <= SAME_DETERMINATION_S
            ):
                return []
            self._last_result = (measured, values)
            self._busy_at = None
            if measured < start:
                self.held_results += 1
                log.info("DINAMAP: result measured %d s ago, before this session began; not stored", status.age_s)
                return []
            return [
                Reading(measured, p, float(v or 0), self.source)
                for p, v in zip(NIBP_PARAMETERS, values, strict=True)
            ]
        if status.status not in NIBP_FAILURES:
            return []  # 2: not used
        moved = (
            measured is not None
            and measured >= start
            and (self._last_failure_at is None or abs(measured - self._last_failure_at) > SAME_DETERMINATION_S)
            and (self._last_result is None or abs(measured - self._last_result[0]) > SAME_DETERMINATION_S)
        )
        if not (self._busy_since_failure or moved):
            return []
        self._busy_since_failure = False
        self._busy_at = None
        when = measured if moved and measured is not None else at
        self._last_failure_at = when
        failed = frozenset({Flag.MEASUREMENT_FAILED})
        return [Reading(when, p, None, self.source, failed) for p in NIBP_PARAMETERS]
