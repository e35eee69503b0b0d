"""HL7 v2 message text, shared by the listener, the emulated sender, the exports and the clinic feed.

Times (DTM) written with milliseconds and an explicit UTC offset and read in any precision, the
escape sequences for the delimiter characters, and reading an acknowledgment's MSA segment. MLLP
framing is in :mod:`drivers.transport.mllp`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

import hl7


def hl7_time(t: float) -> str:
    """Epoch seconds as HL7 DTM in UTC with milliseconds and an explicit offset: ``20240610061320.000+0000``."""
    moment = datetime.fromtimestamp(t, tz=UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f".{moment.microsecond // 1000:03d}+0000"


def parse_hl7_time(text: str, tz: tzinfo | None, near: float | None = None) -> float:
    """HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) to epoch seconds.

    A time without a UTC offset read in this computer's zone (``tz`` None) can name two moments in the
    hour the clocks go back (and none in the hour they skip): the one nearer ``near`` (the receive
    time) is taken.
    """
    if not re.fullmatch(r"\d{4}(\d{2}){0,5}(\.\d{1,4})?([+-]\d{4})?", text):
        raise ValueError(f"'{text}' is not an HL7 date/time")
    moment = hl7.parse_datetime(text)
    if moment is None:
        raise ValueError(f"'{text}' is not an HL7 date/time")
    if moment.tzinfo is not None:
        return float(moment.timestamp())
    if tz is not None:
        return float(moment.replace(tzinfo=tz).timestamp())
    first = moment.replace(fold=0).timestamp()
    second = moment.replace(fold=1).timestamp()
    if near is None or first == second:
        return float(first)
    return float(min((first, second), key=lambda t: abs(t - near)))


_ESCAPES = (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\"))


def escape(text: str) -> str:
    """HL7 escape sequences for the delimiter characters (and no control characters)."""
    for raw, esc in _ESCAPES:
        text = text.replace(raw, esc)
    return "".join(ch if ch >= " " else " " for ch in text)


class AckUnreadable(ValueError):
    """An answer that holds no MSA segment."""


@dataclass(frozen=True, slots=True)
class Ack:
    """An acknowledgment's MSA segment: the code (MSA-1, upper case), the control id it answers, its text."""

    code: str
    answered: str
    text: str


def read_ack(reply: str) -> Ack:
    """The first MSA segment of an answer (segments end in CR or LF); AckUnreadable when there is none."""
    for segment in reply.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            fields = segment.split(segment[3] if len(segment) > 3 else "|")
            code = fields[1].strip().upper() if len(fields) > 1 else ""
            return Ack(code, fields[2] if len(fields) > 2 else "", fields[3] if len(fields) > 3 else "")
    raise AckUnreadable("answer without an MSA segment")
