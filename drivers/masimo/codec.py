"""Masimo Rad-8 / Radical-7 / Rad-97 serial output in "ASCII 1" mode: SpO2 and pulse rate.

One text line a second, ending CR LF, no checksum::

    02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% ... ALARM=0000 EXC=000800

A date and time, then space-separated ``TAG=value`` fields. Which fields appear and how many
hex digits ``ALARM``/``EXC`` have differ by model and firmware, so fields are found by tag and
never by position. Dashes (``SPO2=---%``, ``BPM=---``) are missing values.

``EXC`` bits become status flags on both values (0x1 no sensor, 0x2 defective sensor, 0x4 low
perfusion, 0x8 pulse search, 0x10 interference, 0x20 sensor off, 0x40 ambient light, 0x80
unrecognised sensor, 0x400 low signal IQ; 0x800 is "SET mode", a normal state). ``ALARM`` bits
0x1/0x2 (SpO2 high/low) and 0x4/0x8 (PR high/low) mark the value as in alarm.

Strictness, since the line has no checksum: a line must start with a valid date and time, every
field must be ``TAG=value``, and both ``SPO2`` and ``BPM`` must be present with a number in
range or dashes; anything else is rejected whole. The trend-download output of the same devices
(``SpO2=097 PR=069 ... EXC=800:SET``, where 000 means invalid) is a different format and is
rejected, so its zeros never become values. *Unconfirmed*: the meaning of the ``EXC1`` field
some models add; it is accepted but not interpreted. The device's clock is not used: readings
carry the time their line arrived.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from drivers.base import PortSettings
from drivers.core.readings import Flag, Parameter, Reading, spo2_and_pr
from drivers.transport.framing import FrameRejected, LineDecoder

NAME = "masimo-ascii"
PORT_SETTINGS = PortSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)

#: Longer than any published line (about 200 characters) with room for new fields.
MAX_LINE = 400

EXC_FLAGS: dict[int, Flag] = {
    0x1: Flag.NO_SENSOR,
    0x2: Flag.SENSOR_DEFECT,
    0x4: Flag.LOW_PERFUSION,
    0x8: Flag.PULSE_SEARCH,
    0x10: Flag.INTERFERENCE,
    0x20: Flag.SENSOR_OFF,
    0x40: Flag.AMBIENT_LIGHT,
    0x80: Flag.UNRECOGNISED_SENSOR,
    0x400: Flag.LOW_SIGNAL_IQ,
}
EXC_SET_MODE = 0x800
ALARM_SPO2_HIGH = 0x1
ALARM_SPO2_LOW = 0x2
ALARM_PR_HIGH = 0x4
ALARM_PR_LOW = 0x8

KNOWN_TAGS = frozenset(
    {"SN", "SPO2", "BPM", "PI", "SPCO", "SPMET", "SPHB", "SPOC", "RESVD", "DESAT", "PIDELTA", "PVI",
     "ALARM", "EXC", "EXC1"}
)

_STAMP = re.compile(rb"(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)")
_FIELD = re.compile(r"([A-Z][A-Z0-9]*)=(\S*)")
_NUMBER = re.compile(r"(\d{1,3}|-{1,3})")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")


class LineRejected(FrameRejected):
    """A line that is not a valid ASCII 1 record."""


def _valid_stamp(m: re.Match[bytes]) -> bool:
    month, day, _year, hour, minute, second = (int(g) for g in m.groups())
    return 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60


def _number(text: str, suffix: str, high: int) -> int | None:
    """``098%`` -> 98, ``---%`` -> None; anything else raises."""
    if suffix:
        if not text.endswith(suffix):
            raise LineRejected(f"value '{text}' lacks '{suffix}'")
        text = text[: -len(suffix)]
    if not _NUMBER.fullmatch(text):
        raise LineRejected(f"'{text}' is neither a number nor dashes")
    if text.startswith("-"):
        return None
    value = int(text)
    if value > high:
        raise LineRejected(f"{value} is out of range")
    return value


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


def _hex(fields: Mapping[str, str], tag: str) -> int:
    text = fields.get(tag)
    if text is None:
        return 0
    if not _HEX.fullmatch(text):
        raise LineRejected(f"{tag}={text} is not hexadecimal")
    return int(text, 16)


def parse_fields(text: str) -> dict[str, str]:
    """The ``TAG=value`` fields after the time stamp; raises when any part is not such a field."""
    fields: dict[str, str] = {}
    for token in text.split():
        m = _FIELD.fullmatch(token)
        if m is None:
            raise LineRejected(f"'{token}' is not a TAG=value field")
        if m.group(1) in fields:
            raise LineRejected(f"{m.group(1)} appears twice")
        fields[m.group(1)] = m.group(2)
    return fields


def exc_flags(exc: int) -> frozenset[Flag]:
    """Status flags for an ``EXC`` value."""
    return frozenset(flag for bit, flag in EXC_FLAGS.items() if exc & bit)


class MasimoAsciiDecoder(LineDecoder):
    """Incremental decoder of ASCII 1 lines into ``spo2`` and ``pr`` readings."""

    def __init__(self, source: str = NAME) -> None:
        super().__init__(source, MAX_LINE)

    def read_line(self, line: bytes, at: float) -> list[Reading]:
        """The readings of one ASCII 1 record; a blank line is no record."""
        if not line.strip():
            return []
        m = _STAMP.search(line)
        if m is None:
            self.sync.bad()
            return []
        if m.start() > 0:
            # Noise (or half a line from before we connected) ahead of a record: reject the
            # noise, then try the record that starts at the time stamp.
            self.sync.bad()
            line = line[m.start():]
        return self.sync.judged(lambda: self._record(m, line[m.end() - m.start():], at))

    def _record(self, stamp: re.Match[bytes], rest: bytes, at: float) -> list[Reading]:
        if not _valid_stamp(stamp):
            raise LineRejected("invalid date or time")
        try:
            text = rest.decode("ascii")
        except UnicodeDecodeError:
            raise LineRejected("not ASCII") from None
        if text and not text[0].isspace():
            raise LineRejected("no space after the time stamp")
        if not text.isprintable():
            raise LineRejected("control characters in the line")
        fields = parse_fields(text)
        if "SPO2" not in fields or "BPM" not in fields:
            raise LineRejected("SPO2 or BPM missing (not an ASCII 1 line)")
        spo2 = _number(fields["SPO2"], "%", 100)
        pr = _number(fields["BPM"], "", 350)
        exc = _hex(fields, "EXC")
        alarm = _hex(fields, "ALARM")
        _hex(fields, "EXC1")  # validated only: its bits are not documented
        self.counters.unknown_items += sum(1 for tag in fields if tag not in KNOWN_TAGS)
        flags = exc_flags(exc)
        spo2_flags = flags | ({Flag.IN_ALARM} if alarm & (ALARM_SPO2_HIGH | ALARM_SPO2_LOW) else set())
        pr_flags = flags | ({Flag.IN_ALARM} if alarm & (ALARM_PR_HIGH | ALARM_PR_LOW) else set())
        return [
            Reading(at, Parameter.SPO2, _float(spo2), self.source, frozenset(spo2_flags)),
            Reading(at, Parameter.PR, _float(pr), self.source, frozenset(pr_flags)),
        ]


# -- encoder ---------------------------------------------------------------------------------


def encode_line(
    t: float,
    spo2: float | None,
    pr: float | None,
    *,
    exc: int = EXC_SET_MODE,
    alarm: int = 0,
    serial_number: str = "0000000000",
) -> bytes:
    """One ASCII 1 line as a Rad-8 sends it (device clock shown in UTC)."""
    stamp = datetime.fromtimestamp(t, tz=UTC).strftime("%m/%d/%y %H:%M:%S")
    spo2_text = "---" if spo2 is None else f"{round(spo2):03d}"
    pr_text = "---" if pr is None else f"{round(pr):03d}"
    return (
        f"{stamp} SN={serial_number} SPO2={spo2_text}% BPM={pr_text} PI=--.--% SPCO=--.-% SPMET=--.-% "
        f"DESAT=-- PIDELTA=+-- ALARM={alarm:04X} EXC={exc:06X}\r\n"
    ).encode("ascii")


def encode_readings(t: float, readings: Sequence[Reading]) -> bytes:
    """The line that carries these readings (``spo2`` and ``pr``; others are not in ASCII 1)."""
    spo2, pr, flags = spo2_and_pr(readings)
    exc = EXC_SET_MODE
    for bit, flag in EXC_FLAGS.items():
        if flag in flags:
            exc |= bit
    alarm = 0
    if spo2 is not None and Flag.IN_ALARM in spo2.flags:
        alarm |= ALARM_SPO2_LOW
    if pr is not None and Flag.IN_ALARM in pr.flags:
        alarm |= ALARM_PR_HIGH
    return encode_line(
        t,
        None if spo2 is None else spo2.value,
        None if pr is None else pr.value,
        exc=exc,
        alarm=alarm,
    )
