"""The ``hl7-mllp`` driver: a listener for HL7 v2 ORU^R01 results pushed over MLLP/TCP.

Most current monitors (Mindray, Comen, Edan, GE) and their gateways send observations as HL7 v2
ORU^R01 messages, each framed by MLLP (``0x0B`` message ``0x1C 0x0D``), and expect an ACK. This
driver listens on ``--port HOST:PORT`` (loopback ``127.0.0.1:2575`` by default; give the address of
the network card the monitor reaches, e.g. ``0.0.0.0:2575``, to accept it from the network). Each
message is parsed with the python-hl7 library and answered on the same connection: ``AA`` when
every value was taken, ``AE`` when some OBX could not be (the reason in MSA-3 and one ERR segment
per problem; the good values of the message are kept), ``AR`` when the message itself cannot be
used (not HL7, not ORU^R01).

OBX-3 is matched by IEEE 11073 MDC code or LOINC code, in the identifier or the alternate
identifier of any repetition: NIBP systolic/diastolic/mean as 150021-150023 (NONINV) or
150301-150303 (CUFF) or 8480-6 / 8462-4 / 8478-0; heart rate 147842 or 8867-4; pulse rate 149530
or 149546; SpO2 150456, 59408-5 or 2708-6 (the MDC reference names are accepted too). Other codes
are counted (``unknown_items``) and ignored. OBX-6 must be a unit of the parameter (UCUM, the
common spellings, or the MDC unit code); an empty unit means the usual one. The time of a value
is OBX-14, else OBR-7, else MSH-7, else the receive time; a time without a UTC offset is read in
the ``timezone`` setting (the computer's local zone unless ``--set timezone=+0100`` or ``UTC``).
Messages usually repeat the last NIBP: an NIBP value with the same time and number as the one
before it is not recorded twice.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import re
import selectors
import socket
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final

import hl7

from drivers.base import (
    Decoder,
    DecoderCounters,
    Driver,
    LinkEventKind,
    OpenOptions,
    Source,
)
from drivers.settings import SettingsError
from monitor.clock import device_time
from monitor.clock import now as anchored_now
from monitor.readings import Flag, Parameter, Reading, is_plausible

log = logging.getLogger(__name__)

SOURCE_NAME: Final = "hl7-mllp"
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 2575  # the port IANA assigned to HL7 over MLLP

MLLP_START: Final = 0x0B
MLLP_END: Final = b"\x1c\x0d"
MAX_MESSAGE_BYTES: Final = 1 << 20

APPLICATION: Final = "INFUSION-MONITOR"

_NIBP = (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN)

#: OBX-3 codes (MDC number, MDC reference name, LOINC) by parameter.
CODES: Final[dict[str, Parameter]] = {
    "150021": Parameter.NIBP_SYS,
    "150022": Parameter.NIBP_DIA,
    "150023": Parameter.NIBP_MEAN,
    "150301": Parameter.NIBP_SYS,
    "150302": Parameter.NIBP_DIA,
    "150303": Parameter.NIBP_MEAN,
    "MDC_PRESS_BLD_NONINV_SYS": Parameter.NIBP_SYS,
    "MDC_PRESS_BLD_NONINV_DIA": Parameter.NIBP_DIA,
    "MDC_PRESS_BLD_NONINV_MEAN": Parameter.NIBP_MEAN,
    "MDC_PRESS_CUFF_SYS": Parameter.NIBP_SYS,
    "MDC_PRESS_CUFF_DIA": Parameter.NIBP_DIA,
    "MDC_PRESS_CUFF_MEAN": Parameter.NIBP_MEAN,
    "8480-6": Parameter.NIBP_SYS,
    "8462-4": Parameter.NIBP_DIA,
    "8478-0": Parameter.NIBP_MEAN,
    "147842": Parameter.HR,
    "MDC_ECG_HEART_RATE": Parameter.HR,
    "8867-4": Parameter.HR,
    "149530": Parameter.PR,
    "149546": Parameter.PR,
    "MDC_PULS_OXIM_PULS_RATE": Parameter.PR,
    "MDC_PULS_RATE_NON_INV": Parameter.PR,
    "150456": Parameter.SPO2,
    "MDC_PULS_OXIM_SAT_O2": Parameter.SPO2,
    "59408-5": Parameter.SPO2,
    "2708-6": Parameter.SPO2,
}

_RATE_UNITS = {"/min": 1.0, "1/min": 1.0, "bpm": 1.0, "{beats}/min": 1.0, "{beat}/min": 1.0, "beats/min": 1.0}
_RATE_UNITS |= {"264864": 1.0, "mdc_dim_beat_per_min": 1.0}
_PRESSURE_UNITS = {"mm[hg]": 1.0, "mmhg": 1.0, "266016": 1.0, "mdc_dim_mm_hg": 1.0, "mdc_dim_mmhg": 1.0}
_PRESSURE_UNITS |= {"kpa": 7.500617, "265987": 7.500617, "mdc_dim_kilo_pascal": 7.500617}
_PERCENT_UNITS = {"%": 1.0, "262688": 1.0, "mdc_dim_percent": 1.0}

#: Accepted OBX-6 identifiers (lower case) and the factor to the parameter's UCUM unit.
UNITS: Final[dict[Parameter, dict[str, float]]] = {
    Parameter.HR: _RATE_UNITS,
    Parameter.PR: _RATE_UNITS,
    Parameter.SPO2: _PERCENT_UNITS,
    Parameter.NIBP_SYS: _PRESSURE_UNITS,
    Parameter.NIBP_DIA: _PRESSURE_UNITS,
    Parameter.NIBP_MEAN: _PRESSURE_UNITS,
}

# HL7 table 0357 (message error condition codes) used in ERR-3.
ERR_REQUIRED_FIELD_MISSING = ("101", "Required field missing")
ERR_DATA_TYPE = ("102", "Data type error")
ERR_TABLE_VALUE = ("103", "Table value not found")
ERR_UNSUPPORTED_TYPE = ("200", "Unsupported message type")
ERR_UNSUPPORTED_EVENT = ("201", "Unsupported event code")
ERR_APPLICATION = ("207", "Application internal error")


def parse_address(text: str | None) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[v6]:PORT`` to a (host, port) pair; loopback by default."""
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    text = text.strip()
    for prefix in ("tcp://", "mllp://"):
        text = text.removeprefix(prefix)
    match = re.fullmatch(r"\[(?P<v6>[0-9a-fA-F:.]+)\]:(?P<port>\d+)|(?P<host>[^:\s]*):?(?P<p2>\d*)", text)
    if match is None:
        raise SettingsError(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:2575)")
    if match["v6"] is not None:
        host, port_text = match["v6"], match["port"]
    else:
        host, port_text = match["host"], match["p2"]
        if host.isdigit() and not port_text:
            host, port_text = "", host
    if not port_text:
        raise SettingsError(f"'{text}' has no port; expected HOST:PORT (e.g. 127.0.0.1:2575)")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise SettingsError(f"port {port} is out of range 0-65535")
    return host or DEFAULT_HOST, port


def parse_timezone(text: str | None) -> tzinfo | None:
    """``local`` (None), ``UTC`` or a fixed offset such as ``+0100`` / ``-05:00``."""
    if text is None or text.strip().lower() in ("", "local"):
        return None
    value = text.strip().upper()
    if value in ("UTC", "Z"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", value)
    if match is None:
        raise SettingsError(f"setting timezone='{text}' must be local, UTC or an offset such as +0100")
    minutes = int(match[2]) * 60 + int(match[3])
    if minutes > 14 * 60:
        raise SettingsError(f"setting timezone='{text}' is beyond ±14:00")
    return timezone(timedelta(minutes=minutes if match[1] == "+" else -minutes))


@dataclass(frozen=True, slots=True)
class Hl7Settings:
    """Listener address and how to read times without an offset."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tz: tzinfo | None = None

    @classmethod
    def from_options(cls, address: str | None, settings: Mapping[str, str] | None) -> Hl7Settings:
        """From ``--port`` and ``--set`` values."""
        given = dict(settings or {})
        unknown = sorted(set(given) - {"timezone"})
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)} for hl7-mllp; known: timezone")
        host, port = parse_address(address)
        return cls(host, port, parse_timezone(given.get("timezone")))


class MllpDeframer:
    """Incremental MLLP receiver: ``0x0B`` message ``0x1C 0x0D``; anything between messages is skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._in_message = False
        self._in_stray = False
        self.stray = 0
        self.oversize = 0

    def reset(self) -> None:
        """Forget a partial message."""
        self._buf.clear()
        self._in_message = False
        self._in_stray = False

    def feed(self, data: bytes) -> list[bytes]:
        """Complete messages (without the framing bytes)."""
        out: list[bytes] = []
        buf = self._buf
        buf += data
        while buf:
            if not self._in_message:
                start = buf.find(MLLP_START)
                if start != 0 and not self._in_stray:
                    self.stray += 1  # bytes between messages (a stray LF, noise), counted once a run
                    self._in_stray = True
                if start < 0:
                    buf.clear()
                    break
                del buf[: start + 1]
                self._in_message = True
                self._in_stray = False
            end = buf.find(MLLP_END)
            restart = buf.find(MLLP_START, 0, end if end >= 0 else len(buf))
            if restart >= 0:
                # A new start block before the end: the sender gave up on the previous message.
                self.stray += 1
                del buf[: restart + 1]
                continue
            if end < 0:
                if len(buf) > MAX_MESSAGE_BYTES:
                    self.oversize += 1
                    self.reset()
                break
            out.append(bytes(buf[:end]))
            del buf[: end + len(MLLP_END)]
            self._in_message = False
        return out


def frame(message: str) -> bytes:
    """An HL7 message (segments separated by CR) in an MLLP block."""
    return bytes([MLLP_START]) + message.encode("utf-8") + MLLP_END


# -- reading a message -----------------------------------------------------------------


def _get(segment: Any, field_num: int, repeat: int = 1, component: int = 1) -> str:
    """One component of a python-hl7 segment, '' when absent."""
    try:
        return str(segment.extract_field(1, field_num, repeat, component, 1)).strip()
    except (IndexError, KeyError, ValueError, TypeError):
        return ""


def _repetitions(segment: Any, field_num: int) -> int:
    try:
        return len(segment(field_num))
    except (IndexError, KeyError, TypeError):
        return 0


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with a message, reported in the ACK."""

    code: tuple[str, str]
    text: str
    #: Segment id, its sequence in the message, and the field (ERR-2); empty when not known.
    location: tuple[str, int, int] | None = None


class MessageRejected(Exception):
    """The message as a whole cannot be used (answered with AR)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.text)
        self.problem = problem


@dataclass
class MessageResult:
    """What one message gave: readings, problems, and the ACK to send."""

    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ack_code: str = "AA"
    ack: str = ""
    control_id: str = ""


def parse_hl7_time(text: str, tz: tzinfo | None) -> float:
    """HL7 DTM (YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]) to epoch seconds."""
    if not re.fullmatch(r"\d{4}(\d{2}){0,5}(\.\d{1,4})?([+-]\d{4})?", text):
        raise ValueError(f"'{text}' is not an HL7 date/time")
    moment = hl7.parse_datetime(text)
    if moment is None:
        raise ValueError(f"'{text}' is not an HL7 date/time")
    if moment.tzinfo is None:
        moment = moment.astimezone() if tz is None else moment.replace(tzinfo=tz)
    return float(moment.timestamp())


def _message_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # HL7's traditional 8-bit default
    # Segments end with CR; some senders use LF or CR LF.
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def _ack(source_msg: Any, code: str, problems: list[Problem], control_id: str, now: float) -> str:
    with warnings.catch_warnings():
        # python-hl7 stamps MSH-7 with datetime.utcnow(), deprecated on newer Pythons; it is replaced below.
        warnings.simplefilter("ignore", DeprecationWarning)
        ack = source_msg.create_ack(code, message_id=control_id, application=APPLICATION)
    ack.segment("MSH").assign_field(datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S+0000"), 7)
    if problems:
        msa = ack.segment("MSA")
        msa.assign_field(ack.escape(problems[0].text[:80]), 3)
        for problem in problems:
            err = ack.create_segment([ack.create_field(["ERR"])])
            if problem.location is not None:
                segment_id, sequence, field_num = problem.location
                err.assign_field(segment_id, 2, 1, 1)
                err.assign_field(str(sequence), 2, 1, 2)
                err.assign_field(str(field_num), 2, 1, 3)
            err.assign_field(problem.code[0], 3, 1, 1)
            err.assign_field(problem.code[1], 3, 1, 2)
            err.assign_field("HL70357", 3, 1, 3)
            err.assign_field("E", 4)
            err.assign_field(ack.escape(problem.text[:250]), 8)
            ack.append(err)
    return str(ack)


_EMPTY_MSH = "MSH|^~\\&|||||||ORU^R01|{id}|P|2.6"


class Hl7Decoder(Decoder):
    """One MLLP connection: messages in, readings out, an ACK queued for every message."""

    def __init__(self, tz: tzinfo | None = None, source: str = SOURCE_NAME) -> None:
        super().__init__(source)
        self.tz = tz
        self._mllp = MllpDeframer()
        self._acks: list[bytes] = []
        self._last_nibp: dict[Parameter, tuple[float, float | None]] = {}
        self._acks_sent = 0
        self.results: list[MessageResult] = []
        #: (receive time, device time minus receive time) of every stamp refused as out of window.
        self.clock_offsets: list[tuple[float, float]] = []
        #: Messages answered AE (values partly taken) and AR (nothing taken).
        self.errors = 0
        self.rejects = 0

    def reset(self) -> None:
        """Forget a partial message (the connection closed)."""
        self._mllp.reset()
        self._acks.clear()

    def outgoing(self, at: float) -> bytes:
        """ACKs for the messages received so far."""
        out = b"".join(self._acks)
        self._acks.clear()
        return out

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Consume bytes of the connection; return the readings of every complete message."""
        readings: list[Reading] = []
        for raw in self._mllp.feed(data):
            result = self.process(raw, at)
            readings.extend(result.readings)
            self._acks.append(frame(result.ack))
        self.counters.resyncs = self._mllp.stray + self._mllp.oversize
        return readings

    def process(self, raw: bytes, at: float) -> MessageResult:
        """Read one message and build its acknowledgment."""
        result = MessageResult(control_id=f"IM{int(at * 1000) % 10**12:012d}{self._acks_sent % 1000:03d}")
        self._acks_sent += 1
        text = _message_text(raw)
        parsed: Any = None
        try:
            try:
                parsed = hl7.parse(text)
                if not isinstance(parsed, hl7.Message):
                    raise ValueError("a batch or file header, not a single message")
                msh = parsed.segment("MSH")
            except Exception as exc:  # python-hl7 raises several kinds for broken text
                parsed = None
                raise MessageRejected(
                    Problem(ERR_REQUIRED_FIELD_MISSING, f"not an HL7 v2 message: {exc}", ("MSH", 1, 1))
                ) from None
            self._read_message(parsed, msh, at, result)
        except MessageRejected as rejected:
            result.readings = []
            result.problems = [rejected.problem]
            result.ack_code = "AR"
        else:
            result.ack_code = "AE" if result.problems else "AA"
        if result.ack_code == "AR":
            self.rejects += 1
            self.counters.frames_rejected += 1
        else:
            if result.ack_code == "AE":
                self.errors += 1
            self.counters.frames_decoded += 1
        source_msg = parsed if parsed is not None and _get(_first(parsed, "MSH"), 10) else None
        if source_msg is None:
            source_msg = hl7.parse(_EMPTY_MSH.format(id=""))
        try:
            result.ack = _ack(source_msg, result.ack_code, result.problems, result.control_id, at)
        except Exception:  # a message too broken for the library to answer: answer from a blank one
            result.ack = _ack(
                hl7.parse(_EMPTY_MSH.format(id="")), "AR", result.problems, result.control_id, at
            )
        if result.problems:
            log.warning(
                "HL7 message answered %s: %s", result.ack_code, "; ".join(p.text for p in result.problems)
            )
        self.results.append(result)
        del self.results[:-20]  # only the newest few, for diagnosis
        return result

    def _read_message(self, message: Any, msh: Any, at: float, result: MessageResult) -> None:
        kind, event = _get(msh, 9, 1, 1).upper(), _get(msh, 9, 1, 2).upper()
        if kind != "ORU":
            raise MessageRejected(
                Problem(ERR_UNSUPPORTED_TYPE, f"message type '{kind or '?'}' is not ORU", ("MSH", 1, 9))
            )
        if event != "R01":
            raise MessageRejected(
                Problem(ERR_UNSUPPORTED_EVENT, f"event '{event or '?'}' is not R01", ("MSH", 1, 9))
            )
        fallback = at
        for name, segment, num in (("MSH-7", msh, 7), ("OBR-7", _first(message, "OBR"), 7)):
            stamp = _get(segment, num) if segment is not None else ""
            if stamp:
                try:
                    fallback = self._checked_time(parse_hl7_time(stamp, self.tz), at)
                except ValueError as exc:
                    result.problems.append(Problem(ERR_DATA_TYPE, f"{name}: {exc}", (name[:3], 1, 7)))
        obx_segments = _all(message, "OBX")
        if not obx_segments:
            raise MessageRejected(
                Problem(ERR_REQUIRED_FIELD_MISSING, "no OBX segment in the message", ("OBX", 1, 1))
            )
        for index, obx in enumerate(obx_segments, start=1):
            self._read_obx(obx, index, fallback, at, result)

    def _checked_time(self, t: float, at: float) -> float:
        # The device clock is trusted only near the receive time (monitor.clock.device_time); a
        # value stamped hours or years away is stored at its receive time and the offset reported.
        kept, offset = device_time(t, at)
        if offset is not None:
            self.clock_offsets.append((at, offset))
            raise ValueError(
                f"time {datetime.fromtimestamp(t, UTC).isoformat()} is {offset:+.0f} s from the receive time "
                "(outside the trusted window); the receive time is used"
            )
        return kept

    def _read_obx(self, obx: Any, index: int, fallback: float, at: float, result: MessageResult) -> None:
        where = f"OBX #{index}"
        parameter = _parameter(obx)
        if parameter is None:
            self.counters.unknown_items += 1
            return
        status = _get(obx, 11).upper()
        if status == "D":
            return  # the sender withdrew this value
        value_type = _get(obx, 2).upper()
        raw_value = _get(obx, 5)
        unit = _get(obx, 6, 1, 1)
        t = fallback
        stamp = _get(obx, 14)
        if stamp:
            try:
                t = self._checked_time(parse_hl7_time(stamp, self.tz), at)
            except ValueError as exc:
                result.problems.append(Problem(ERR_DATA_TYPE, f"{where} OBX-14: {exc}", ("OBX", index, 14)))
        flags: frozenset[Flag] = frozenset()
        value: float | None = None
        if status in ("X", "W") or not raw_value:
            flags = frozenset({Flag.UNAVAILABLE if status != "W" else Flag.INVALID})
        elif value_type not in ("NM", ""):
            result.problems.append(
                Problem(ERR_DATA_TYPE, f"{where}: value type '{value_type}' is not NM", ("OBX", index, 2))
            )
            return
        else:
            try:
                number = float(raw_value)
            except ValueError:
                result.problems.append(
                    Problem(ERR_DATA_TYPE, f"{where}: '{raw_value}' is not a number", ("OBX", index, 5))
                )
                return
            factor = _unit_factor(parameter, unit)
            if factor is None:
                result.problems.append(
                    Problem(
                        ERR_TABLE_VALUE,
                        f"{where}: unit '{unit}' is not a unit of {parameter}",
                        ("OBX", index, 6),
                    )
                )
                return
            value = number * factor
            if factor != 1.0:
                value = round(value, 1)
            if not math.isfinite(value) or not is_plausible(parameter, value):
                result.problems.append(
                    Problem(
                        ERR_DATA_TYPE, f"{where}: {parameter} {raw_value} is impossible", ("OBX", index, 5)
                    )
                )
                value, flags = None, frozenset({Flag.INVALID})
        if parameter in _NIBP:
            key = (t, value)
            if self._last_nibp.get(parameter) == key:
                return  # the last measurement, repeated
            self._last_nibp[parameter] = key
        result.readings.append(Reading(t, parameter, value, self.source, flags))


def _first(message: Any, name: str) -> Any:
    segments = _all(message, name)
    return segments[0] if segments else None


def _all(message: Any, name: str) -> list[Any]:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _parameter(obx: Any) -> Parameter | None:
    for repeat in range(1, max(_repetitions(obx, 3), 1) + 1):
        for component in (1, 4):
            code = _get(obx, 3, repeat, component)
            if code and code.upper() in CODES:
                return CODES[code.upper()]
            if code in CODES:
                return CODES[code]
    return None


def _unit_factor(parameter: Parameter, unit: str) -> float | None:
    if not unit:
        return 1.0
    return UNITS[parameter].get(unit.lower())


# -- the listening source -----------------------------------------------------------------


@dataclass
class _Connection:
    sock: socket.socket
    peer: str
    decoder: Hl7Decoder
    outbox: bytearray = field(default_factory=bytearray)


class Hl7MllpSource(Source):
    """Listens for MLLP connections on one address; every connection gets its own decoder."""

    def __init__(self, settings: Hl7Settings, clock: Any = anchored_now) -> None:
        super().__init__(SOURCE_NAME, f"HL7 ORU^R01 listener on {settings.host}:{settings.port} (MLLP)")
        self.settings = settings
        self._clock = clock
        self._readings: queue.SimpleQueue[Reading] = queue.SimpleQueue()
        self._events_lock = threading.Lock()
        self._clock_offsets: list[tuple[float, float]] = []
        self._selector: selectors.BaseSelector | None = None
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        #: Monotonic time the listener thread last went round its loop (read by the watchdog).
        self.last_beat = time.monotonic()
        self._stop = threading.Event()
        self._connections: dict[int, _Connection] = {}
        self._ever_connected = False
        # Counts of connections already closed, so the totals never go down.
        self._closed_unknown = 0
        self._closed_resyncs = 0
        #: Totals over every connection's decoder (unknown codes, AE and AR answers...).
        self.decoder_counters = DecoderCounters()
        self.address: tuple[str, int] = (settings.host, settings.port)
        self.counters.state = "closed"

    def open(self) -> None:
        """Bind and start listening (raises OSError when the address is taken or not ours)."""
        if self._thread is not None:
            return
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.settings.host, self.settings.port))
            listener.listen(8)
        except OSError:
            listener.close()
            raise
        listener.setblocking(False)
        self._listener = listener
        self.address = listener.getsockname()[:2]
        self.device = f"HL7 ORU^R01 listener on {self.address[0]}:{self.address[1]} (MLLP)"
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stop.clear()
        self.counters.state = "listening"
        self._thread = threading.Thread(target=self._run, name=f"hl7-listener {self.address[1]}", daemon=True)
        self._thread.start()

    def now(self) -> float:
        """Anchored time (monitor.clock): wall time at start plus monotonic time since."""
        return float(self._clock())

    def read(self, timeout: float) -> list[Reading]:
        """Readings from every connection that arrived within ``timeout`` seconds."""
        out: list[Reading] = []
        try:
            out.append(self._readings.get(timeout=timeout) if timeout > 0 else self._readings.get_nowait())
        except queue.Empty:
            return out
        while True:
            try:
                out.append(self._readings.get_nowait())
            except queue.Empty:
                return out

    def drain(self) -> list[Reading]:
        """Readings of messages already acknowledged but not yet read (call after close)."""
        return self.read(0)

    def take_link_events(self) -> list[Any]:
        """Connection changes since the last call."""
        with self._events_lock:
            return super().take_link_events()

    def take_clock_offsets(self) -> list[tuple[float, float]]:
        """Device time stamps refused since the last call: (receive time, offset in seconds)."""
        with self._events_lock:
            offsets, self._clock_offsets = self._clock_offsets, []
        return offsets

    @property
    def thread(self) -> threading.Thread | None:
        """The listener thread (watched by the watchdog)."""
        return self._thread

    def close(self) -> None:
        """Stop listening, close every connection and join the listener thread; idempotent."""
        self._stop.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        for conn in list(self._connections.values()):
            self._drop(conn, "listener closed", report=False)
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self.counters.state = "closed"

    # -- listener thread -------------------------------------------------------------------

    def _run(self) -> None:
        selector = self._selector
        assert selector is not None
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            for key, mask in selector.select(timeout=0.5):
                if key.data == "wake":
                    return
                if key.data == "listen":
                    self._accept()
                else:
                    conn = self._connections.get(key.fd)
                    if conn is None:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._receive(conn)
                    if mask & selectors.EVENT_WRITE and key.fd in self._connections:
                        self._flush(conn)

    def _accept(self) -> None:
        assert self._listener is not None
        assert self._selector is not None
        try:
            sock, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(False)
        conn = _Connection(sock, f"{peer[0]}:{peer[1]}", Hl7Decoder(self.settings.tz))
        self._connections[sock.fileno()] = conn
        self._selector.register(sock, selectors.EVENT_READ, "conn")
        log.info("HL7 sender connected from %s", conn.peer)
        self.counters.state = "connected"
        if self._ever_connected and len(self._connections) == 1:
            self.counters.reconnects += 1
            with self._events_lock:
                self._link_event(
                    LinkEventKind.LINK_RESTORED, self.now(), f"sender connected from {conn.peer}"
                )
        self._ever_connected = True

    def _receive(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(conn, f"connection error: {exc}")
            return
        if not data:
            self._drop(conn, "sender closed the connection")
            return
        at = self.now()
        self.counters.bytes_in += len(data)
        before = (conn.decoder.counters.frames_decoded, conn.decoder.counters.frames_rejected)
        for reading in conn.decoder.feed(data, at):
            self._readings.put(reading)
        if conn.decoder.clock_offsets:
            with self._events_lock:
                self._clock_offsets += conn.decoder.clock_offsets
            conn.decoder.clock_offsets = []
        self._add_counts(conn.decoder, before)
        conn.outbox += conn.decoder.outgoing(at)
        self._flush(conn)

    def _add_counts(self, decoder: Hl7Decoder, before: tuple[int, int]) -> None:
        decoded = decoder.counters.frames_decoded - before[0]
        rejected = decoder.counters.frames_rejected - before[1]
        self.counters.frames_decoded += decoded
        self.counters.frames_rejected += rejected
        totals = self.decoder_counters
        totals.frames_decoded += decoded
        totals.frames_rejected += rejected
        live = self._connections.values()
        totals.unknown_items = self._closed_unknown + sum(c.decoder.counters.unknown_items for c in live)
        self.counters.resyncs = self._closed_resyncs + sum(c.decoder.counters.resyncs for c in live)

    def _flush(self, conn: _Connection) -> None:
        assert self._selector is not None
        if conn.outbox:
            try:
                sent = conn.sock.send(conn.outbox)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._drop(conn, f"cannot answer: {exc}")
                return
            del conn.outbox[:sent]
            self.counters.bytes_out += sent
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.outbox else 0)
        self._selector.modify(conn.sock, events, "conn")

    def _drop(self, conn: _Connection, why: str, report: bool = True) -> None:
        fd = conn.sock.fileno()
        if self._connections.pop(fd, None) is None:
            return
        self._closed_unknown += conn.decoder.counters.unknown_items
        self._closed_resyncs += conn.decoder.counters.resyncs
        if self._selector is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(conn.sock)
        conn.sock.close()
        log.info("HL7 sender %s: %s", conn.peer, why)
        if report and not self._connections:
            self.counters.state = "lost"
            with self._events_lock:
                self._link_event(LinkEventKind.LINK_LOST, self.now(), f"{conn.peer}: {why}")


class Hl7MllpDriver(Driver):
    """HL7 v2 ORU^R01 over MLLP from monitors and gateways (Mindray, Comen, Edan, GE...)."""

    name = "hl7-mllp"
    description = (
        "HL7 v2 ORU^R01 over MLLP/TCP listener (monitors and gateways); --port HOST:PORT, loopback default"
    )
    needs_port = False
    port_settings = None
    can_start_nibp = False

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        """A decoder for one connection (times read in the ``timezone`` setting)."""
        return Hl7Decoder(Hl7Settings.from_options(None, settings).tz)

    def open(self, options: OpenOptions) -> Source:
        """Start listening on the address given as ``--port``."""
        source = Hl7MllpSource(Hl7Settings.from_options(options.port, options.settings))
        source.open()
        return source
