"""Nellcor (Covidien) N-595 / NPB-290 / NPB-295 "data port" real-time ASCII output: SpO2 and pulse rate.

9600 baud 8N1 with XON/XOFF. A row every 2 s under a column header that is repeated every 25
rows, preceded by a line naming the instrument::

    NPB-290 VERSION 1.0.0.1 CRC: XXXX SpO2 Limit: 30-100% PR Limit: 100-180BPM
    TIME                %SPO2 BPM PA  Status
    12-NOV-97 14:00:05   100 120 50
    12-NOV-97 14:00:07   ---  --- --- SD

``---`` is a missing value, a trailing ``*`` marks a value in alarm (``Flag.IN_ALARM``), and the
status column holds up to a few two-letter codes:

====  ==================================  =====================================
code  meaning                              flags
====  ==================================  =====================================
AO    alarms off                           (device state, none)
AS    alarm silenced                       (device state, none)
LB    low battery                          (device state, none)
LM    loss of pulse with interference      pulse_search, motion (both values)
LP    loss of pulse (*see below*)          pulse_search, low_perfusion (both)
MO    interference / motion                motion (both values)
PH    pulse rate upper limit alarm         in_alarm (pr)
PL    pulse rate lower limit alarm         in_alarm (pr)
PS    pulse search                         pulse_search (both values)
SH    saturation upper limit alarm         in_alarm (spo2)
SL    saturation lower limit alarm         in_alarm (spo2)
SD    sensor disconnect                    no_sensor (both values)
SO    sensor off                           sensor_off (both values)
====  ==================================  =====================================

*Unconfirmed*: LP is described as "loss of pulse" in one public parser and as low perfusion in
other notes; both mean the pulse signal is not good enough, so it carries both flags. An
unknown two-letter code is counted (``unknown_items``) and marks the values questionable.

Strictness: a row must have a valid date and time and exactly three value columns (SpO2 0-100,
pulse rate 0-350, pulse amplitude) each a number or ``---``, optionally starred; header,
column-title and blank lines are skipped; any other line is rejected. The PA column is checked
but not reported. The device clock is not used: readings carry the time their row arrived.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from drivers.base import PortSettings
from drivers.core.readings import Flag, Parameter, Reading, spo2_and_pr
from drivers.transport.framing import FrameRejected, LineDecoder

NAME = "nellcor-ascii"
PORT_SETTINGS = PortSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1, xonxoff=True)
MAX_LINE = 200
HEADER_EVERY = 25
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

_BOTH: dict[str, frozenset[Flag]] = {
    "LM": frozenset({Flag.PULSE_SEARCH, Flag.MOTION}),
    "LP": frozenset({Flag.PULSE_SEARCH, Flag.LOW_PERFUSION}),
    "MO": frozenset({Flag.MOTION}),
    "PS": frozenset({Flag.PULSE_SEARCH}),
    "SD": frozenset({Flag.NO_SENSOR}),
    "SO": frozenset({Flag.SENSOR_OFF}),
}
_PR_ALARM = frozenset({"PH", "PL"})
_SPO2_ALARM = frozenset({"SH", "SL"})
_DEVICE_STATE = frozenset({"AO", "AS", "LB"})

_ROW = re.compile(
    r"(\d\d)-([A-Z]{3})-(\d\d) (\d\d):(\d\d):(\d\d)"
    r" +(\d{1,3}\*?|---\*?) +(\d{1,3}\*?|---\*?) +(\d{1,3}\*?|---\*?)"
    r"((?: +[A-Z]{2})*) *"
)
_COLUMNS = re.compile(r"\s*TIME\s+%SPO2\s+BPM\s+PA\s+Status\s*")
_HEADER = re.compile(r"\S+ +VERSION +[0-9.]+ .*|\s+\w+\s+\d+SAT-S\s+SPO2 RESP MODE: \w+.*")


def _value(text: str, high: int) -> tuple[int | None, bool]:
    starred = text.endswith("*")
    text = text.rstrip("*")
    if text == "---":
        return None, starred
    value = int(text)
    if value > high:
        raise FrameRejected(f"{value} out of range")
    return value, starred


class NellcorAsciiDecoder(LineDecoder):
    """Incremental decoder of data-port rows into ``spo2`` and ``pr`` readings."""

    def __init__(self, source: str = NAME) -> None:
        super().__init__(source, MAX_LINE)
        self.instrument: str | None = None

    def read_line(self, line: bytes, at: float) -> list[Reading]:
        """The readings of one data-port row; headers, column titles and blank lines give none."""
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self.sync.bad()
            return []
        return self._row_line(text, at)

    def _row_line(self, line: str, at: float) -> list[Reading]:
        if not line.strip() or _COLUMNS.fullmatch(line):
            return []
        if _HEADER.fullmatch(line) and line.isprintable():
            if "VERSION" in line:
                self.instrument = line.split()[0]
            return []
        m = _ROW.fullmatch(line)
        if m is None:
            self.sync.bad()
            return []
        return self.sync.judged(lambda: self._row(m, at))

    def _row(self, m: re.Match[str], at: float) -> list[Reading]:
        day, month, _year, hour, minute, second = m.group(1, 2, 3, 4, 5, 6)
        clock_ok = int(hour) < 24 and int(minute) < 60 and int(second) < 60
        if month not in MONTHS or not 1 <= int(day) <= 31 or not clock_ok:
            raise FrameRejected("invalid date or time")
        spo2, spo2_star = _value(m.group(7), 100)
        pr, pr_star = _value(m.group(8), 350)
        _value(m.group(9), 999)  # pulse amplitude: checked, not reported
        both: set[Flag] = set()
        spo2_flags: set[Flag] = {Flag.IN_ALARM} if spo2_star else set()
        pr_flags: set[Flag] = {Flag.IN_ALARM} if pr_star else set()
        for code in m.group(10).split():
            if code in _BOTH:
                both |= _BOTH[code]
            elif code in _PR_ALARM:
                pr_flags.add(Flag.IN_ALARM)
            elif code in _SPO2_ALARM:
                spo2_flags.add(Flag.IN_ALARM)
            elif code not in _DEVICE_STATE:
                self.counters.unknown_items += 1
                both.add(Flag.QUESTIONABLE)
        spo2_value = None if spo2 is None else float(spo2)
        pr_value = None if pr is None else float(pr)
        return [
            Reading(at, Parameter.SPO2, spo2_value, self.source, frozenset(both | spo2_flags)),
            Reading(at, Parameter.PR, pr_value, self.source, frozenset(both | pr_flags)),
        ]


# -- encoder ---------------------------------------------------------------------------------


def header_lines(instrument: str = "N-595", version: str = "1.0.0.1") -> bytes:
    """The instrument line and the column titles that precede every 25 rows."""
    return (
        f"{instrument} VERSION {version} CRC: XXXX SpO2 Limit: 85-100% PR Limit: 40-170BPM\r\n"
        "\r\n"
        "TIME                %SPO2 BPM PA  Status\r\n"
    ).encode("ascii")


def _column(value: float | None, in_alarm: bool) -> str:
    text = "---" if value is None else f"{round(value)}"
    return text + ("*" if in_alarm else "")


def encode_row(
    t: float,
    spo2: float | None,
    pr: float | None,
    *,
    pulse_amplitude: int | None = 50,
    spo2_alarm: bool = False,
    pr_alarm: bool = False,
    codes: Sequence[str] = (),
) -> bytes:
    """One data-port row (device clock shown in UTC)."""
    stamp = datetime.fromtimestamp(t, tz=UTC).strftime("%d-%b-%y %H:%M:%S").upper()
    amplitude = "---" if pulse_amplitude is None else str(pulse_amplitude)
    values = f"{_column(spo2, spo2_alarm):>4} {_column(pr, pr_alarm):>4} {amplitude:>3}"
    row = f"{stamp}   {values}  {' '.join(codes)}"
    return (row.rstrip() + "\r\n").encode("ascii")


_FLAG_CODES: tuple[tuple[Flag, str], ...] = (
    (Flag.NO_SENSOR, "SD"),
    (Flag.SENSOR_OFF, "SO"),
)


def encode_readings(t: float, readings: Sequence[Reading]) -> bytes:
    """The row that carries these readings (``spo2`` and ``pr``); flags become status codes."""
    spo2, pr, flags = spo2_and_pr(readings)
    codes = [code for flag, code in _FLAG_CODES if flag in flags]
    if Flag.PULSE_SEARCH in flags:
        if Flag.LOW_PERFUSION in flags:
            codes.append("LP")
        elif Flag.MOTION in flags:
            codes.append("LM")
        else:
            codes.append("PS")
    elif Flag.MOTION in flags:
        codes.append("MO")
    return encode_row(
        t,
        None if spo2 is None else spo2.value,
        None if pr is None else pr.value,
        pulse_amplitude=None if spo2 is None or spo2.value is None else 50,
        spo2_alarm=spo2 is not None and Flag.IN_ALARM in spo2.flags,
        pr_alarm=pr is not None and Flag.IN_ALARM in pr.flags,
        codes=codes,
    )
