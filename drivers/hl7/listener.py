"""The ``hl7-mllp`` driver: a listener for HL7 v2 ORU^R01 results pushed over MLLP/TCP.

Most current monitors (Mindray, Comen, Edan, GE, Philips through its gateways) send observations
as HL7 v2 ORU^R01 messages, each framed by MLLP (``0x0B`` message ``0x1C 0x0D``), and expect an
ACK. This driver listens on ``--port HOST:PORT`` (loopback ``127.0.0.1:2575`` by default; give the
address of the network card the monitor reaches, e.g. ``0.0.0.0:2575``, with ``allow_from``, to
accept it from the network). Each message is parsed with the python-hl7 library and answered on the same connection:
``AA`` when every value was taken, ``AE`` when some OBX could not be, or when nothing in the
message was usable (the reason in MSA-3 and one ERR segment per problem; the good values of the
message are kept), ``AR`` when the message itself cannot be used (not HL7, not ORU^R01) or is not
for this session (another patient or sender, or no patient once one is identified: see
:mod:`drivers.hl7.gate`). A message that asks for enhanced mode (MSH-15/MSH-16) gets the commit ACK
(CA, or CR for a message refused) and the application ACK it asks for.
An FHS/BHS batch in one block is answered message by message.

OBX-3 is matched by IEEE 11073 MDC code, LOINC code or Philips MDIL code (see
:mod:`drivers.hl7.codemap`; ``--set codes=FILE`` adds a site's own), in the identifier or the
alternate identifier of any repetition. OBX-6 must be a unit of the parameter (UCUM, the common
spellings, or the MDC/MDIL unit code); an empty unit means the usual one. The time of a value is
OBX-14, else the OBR-7 of its own OBR group, else MSH-7, else the receive time; a time without a
UTC offset is read in the ``timezone`` setting (the computer's local zone unless
``--set timezone=+0100`` or ``UTC``). A message sent again with the same MSH-10 is stored once.

A parameter given twice with one time in one message (a GE B40 sends the respiration rate from
its airway module and from the ECG leads, both as MDC_RESP_RATE) is taken once: the first, in the
order the monitor lists them; the others are counted (``repeated_items``), never alternated with
it. The cuff's pulse (MDC_PULS_RATE_NON_INV, or a generic pulse whose OBX-17 names the cuff) is
not the oximeter's pulse and is skipped. OBX-2 ``SN`` (structured numeric) is read when it is one
plain number (``^97`` or ``=^97``); a range or a comparison is refused with AE.

A cuff result is one measurement, repeated in every periodic message of many gateways until the
next: the NIBP values of an OBR group without their own OBX-14 take the time of those that have one
(Philips sends OBX-14 with the systolic and diastolic, not the mean), pressures with different
times are different cuffs (a gateway sending its backlog), and a cuff whose values and time are
those of a cuff already stored (or, when no OBX-14 gives a time, whose values alone are those of
the untimed cuff stored last) is a repeat and stored once. A new cuff with exactly the previous
values and no time of its own is therefore taken as the old one: its age grows and "NIBP overdue"
says so, never the reverse.

A message over :data:`~drivers.transport.mllp.MAX_MESSAGE_BYTES` (1 MiB) is never held whole: it is
answered AR from the MSH at its start (ERR 207, its size and the limit), counted as rejected and put
on the timeline; without a readable MSH the connection is closed. The link is judged by the
messages' arrival, never by connections closing (:mod:`drivers.hl7.link_watch`).

Settings: ``timezone``, ``codes``, ``max_connections`` (4), ``idle_timeout`` (300 s),
``first_message_timeout`` (30 s), ``allow_from`` (sender addresses) and ``allow_senders`` (MSH-3 or MSH-3^MSH-4), both
comma-separated and open to all when not given; ``allow_from`` is required when the listener is
bound to anything but a loopback address. A connection from a program on this computer is taken only
when it runs as the recording's own user, root, or a user named in ``allow_users`` (Linux, where the
system tells whose socket it is: :mod:`drivers.transport.local_peer`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import queue
import re
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Final

import hl7

from drivers.base import (
    Decoder,
    DecoderCounters,
    LinkEventKind,
    Source,
)
from drivers.core.clock import DEVICE_TIME_PAST_S, SendClockWatch, device_time
from drivers.core.clock import now as anchored_now
from drivers.core.readings import Flag, Parameter, Reading, is_plausible
from drivers.hl7.codemap import CodeMap, unit_factor
from drivers.hl7.gate import Refusal, SessionGate, sender_key
from drivers.hl7.link_watch import MessageLinkWatch
from drivers.hl7.v2 import parse_hl7_time
from drivers.settings import SettingsError, check_known, seconds, whole_number
from drivers.transport import local_peer
from drivers.transport.mllp import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_MESSAGE_BYTES,
    MllpDeframer,
    OversizeMessage,
    frame,
    is_loopback,
    parse_address,
)
from drivers.transport.tcp_listener import STATE_CONNECTED, STATE_LOST, ListenerLimits, TcpListener

log = logging.getLogger(__name__)

# An observation time this far ahead of the receive time is a wrong field, not a value from the future.
MAX_FUTURE_S: Final = 300.0

SOURCE_NAME: Final = "hl7-mllp"

APPLICATION: Final = "INFUSION-MONITOR"

_NIBP = (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN)

#: OBX-8 (abnormal flags) values that mark a value as not the patient's: a Mindray monitor in demo mode
#: sends DEMO with every simulated value.
_SIMULATED_MARKS: Final = {"DEMO": Flag.DEMO_DATA}
#: MSH-11 processing IDs (HL7 table 0103) of messages whose values are no patient's: training and debugging.
_NOT_PATIENT_PROCESSING: Final = frozenset({"T", "D"})

#: Defaults of the listener's limits (``--set max_connections=``, ``idle_timeout=``, ``first_message_timeout=``).
MAX_CONNECTIONS_DEFAULT: Final = 4
IDLE_TIMEOUT_DEFAULT_S: Final = 300.0
FIRST_MESSAGE_DEFAULT_S: Final = 30.0
#: The same refusal of the same sender is put on the timeline at most this often.
TECHNICAL_EVENT_INTERVAL_S: Final = 60.0

# HL7 table 0357 (message error condition codes) used in ERR-3.
ERR_REQUIRED_FIELD_MISSING = ("101", "Required field missing")
ERR_DATA_TYPE = ("102", "Data type error")
ERR_TABLE_VALUE = ("103", "Table value not found")
ERR_UNSUPPORTED_TYPE = ("200", "Unsupported message type")
ERR_UNSUPPORTED_EVENT = ("201", "Unsupported event code")
ERR_UNKNOWN_KEY = ("204", "Unknown key identifier")
ERR_RECORD_LOCKED = ("206", "Application record locked")
ERR_APPLICATION = ("207", "Application internal error")


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


SETTING_NAMES: Final = (
    "timezone", "codes", "max_connections", "idle_timeout", "allow_from", "allow_senders", "first_message_timeout",
    "allow_users",
)


def _names(text: str | None) -> frozenset[str]:
    """A comma-separated list (allow-lists) as a set of upper-case names."""
    return frozenset(item.strip().upper() for item in (text or "").split(",") if item.strip())


def _address(text: str) -> str:
    """An ``allow_from`` entry as the listener sees a sender's address; a name or a mistyped address, which no
    connection would ever match, raises :class:`SettingsError`."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise SettingsError(f"setting allow_from: '{text.lower()}' is not an IP address (e.g. 10.0.4.17)") from None


def _local_users(text: str | None) -> frozenset[int]:
    """The users (``allow_users``: account names of this computer) whose programs here may connect, with the
    recording's own and root; :class:`SettingsError` naming one that does not exist."""
    try:
        return local_peer.allowed_uids(name.strip() for name in (text or "").split(",") if name.strip())
    except ValueError as exc:
        raise SettingsError(f"setting allow_users: {exc}") from None


@dataclass(frozen=True, slots=True)
class Hl7Settings:
    """Listener address, how to read times without an offset, codes, limits and allow-lists."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tz: tzinfo | None = None
    codes: CodeMap = field(default_factory=CodeMap)
    max_connections: int = MAX_CONNECTIONS_DEFAULT
    idle_timeout_s: float = IDLE_TIMEOUT_DEFAULT_S
    #: Sender addresses allowed to connect (empty: any).
    allow_from: frozenset[str] = frozenset()
    #: MSH-3 or MSH-3^MSH-4 values allowed to send (empty: any).
    allow_senders: frozenset[str] = frozenset()
    #: A connection that brings no complete message this long after connecting is closed.
    first_message_s: float = FIRST_MESSAGE_DEFAULT_S
    #: The users of this computer whose programs may connect: the recording's own, root and ``allow_users``.
    local_uids: frozenset[int] = field(default_factory=lambda: local_peer.allowed_uids(()))

    @classmethod
    def from_options(cls, address: str | None, settings: Mapping[str, str] | None) -> Hl7Settings:
        """From ``--port`` and ``--set`` values."""
        given = dict(settings or {})
        check_known(given, SETTING_NAMES, SOURCE_NAME)
        host, port = parse_address(address)
        max_connections = whole_number(given, "max_connections", MAX_CONNECTIONS_DEFAULT, 1, 64)
        codes = CodeMap.from_file(given["codes"]) if given.get("codes") else CodeMap()
        allow_from = frozenset(_address(a) for a in _names(given.get("allow_from")))
        if not allow_from and not is_loopback(host):
            # Bound wider than this computer, the listener takes only the senders the clinic names.
            raise SettingsError(
                f"listening on {host} accepts other computers: name the monitors or gateway that may connect "
                "with --set allow_from=ADDRESS[,ADDRESS...]"
            )
        return cls(
            host,
            port,
            parse_timezone(given.get("timezone")),
            codes,
            max_connections,
            seconds(given, "idle_timeout", IDLE_TIMEOUT_DEFAULT_S, 5.0, 24 * 3600.0),
            allow_from,
            _names(given.get("allow_senders")),
            seconds(given, "first_message_timeout", FIRST_MESSAGE_DEFAULT_S, 5.0, 3600.0),
            _local_users(given.get("allow_users")),
        )


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
    """What one message gave: readings, problems, and the acknowledgments to send."""

    readings: list[Reading] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: The application-level answer (AA, AE, AR) whether or not it is sent.
    ack_code: str = "AA"
    #: Acknowledgments to send, in order: none, one, or a commit ACK and then an application ACK.
    acks: list[str] = field(default_factory=list)
    #: MSH-10 of the first acknowledgment this listener sends.
    control_id: str = ""
    #: MSH-10 of the message answered.
    message_id: str = ""
    #: Its MSH-7 as sent (with MSH-10, what makes a message sent again the same message).
    sent: str = ""
    #: A hash of its segments after MSH, and whether its observations carry their own times (OBX-14, OBR-7):
    #: with MSH-10, what tells a message sent again (:meth:`~drivers.hl7.gate.SessionGate.answered`).
    body: str = ""
    timed: bool = False
    #: Who sent it (MSH-3^MSH-4, or the address).
    sender: str = ""
    #: Set when the session refused the message (another patient or sender): a technical event.
    refusal: Refusal | None = None
    #: A message already taken (same sender, same MSH-10, and the same MSH-7 or segments after MSH): answered
    #: again, nothing stored.
    repeat: bool = False

    @property
    def ack(self) -> str:
        """The first acknowledgment sent ('' when the sender asked for none)."""
        return self.acks[0] if self.acks else ""


def _message_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # HL7's traditional 8-bit default
    # Segments end with CR; some senders use LF or CR LF.
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")


def _unusable_delimiters(text: str) -> str:
    """Why MSH-1/MSH-2 cannot delimit a message ('' when they can).

    A letter, digit, space or control character as a delimiter, or one used twice, would make the answer echoing
    them unreadable; such a message is refused and answered with the standard delimiters.
    """
    if not text.startswith("MSH") or len(text) < 5:
        return ""  # not a message header at all: the parser names the problem
    separator = text[3]
    end = text.find(separator, 4)
    encoding = text[4:end] if end >= 0 else text[4:]
    delimiters = separator + encoding
    if not 4 <= len(encoding) <= 5:
        return f"MSH-2 '{encoding}' does not hold the four encoding characters"
    if any(c.isalnum() or not c.isprintable() or c.isspace() for c in delimiters):
        return f"delimiters '{delimiters}' include a letter, digit, space or control character"
    if len(set(delimiters)) != len(delimiters):
        return f"delimiters '{delimiters}' repeat a character"
    return ""


def _header_segment(head: bytes) -> str:
    """The MSH segment among the complete segments at the start of a message ('' when none is there)."""
    complete = re.split(rb"\r\n|\r|\n", head)[:-1]  # the last piece may be cut off by the head's length
    for raw in complete:
        segment = _message_text(raw)
        if segment.startswith("MSH"):
            return segment
    return ""


def split_batch(text: str) -> list[str]:
    """The messages of an MLLP block: one, or every MSH... of an FHS/BHS batch (batch segments dropped) or of
    messages sent in one block."""
    segments = [s for s in text.split("\r") if s.strip()]
    batched = any(s[:3] in ("FHS", "BHS") for s in segments)
    if not batched and sum(s[:3] == "MSH" for s in segments) < 2:
        return [text]
    # A batch, or messages sent one after another in one block: each MSH starts a message of its own.
    messages: list[list[str]] = []
    for segment in segments:
        head = segment[:3]
        if head in ("FHS", "BHS", "BTS", "FTS"):
            continue
        if head == "MSH" or not messages:
            messages.append([])
        messages[-1].append(segment)
    return ["\r".join(m) for m in messages]


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
#: HL7 table 0155 (accept/application acknowledgment conditions).
_ACK_CONDITIONS = frozenset({"AL", "NE", "ER", "SU"})
#: The commit (accept) answer for an application answer.
#: A message whose values were kept (AA, AE) is committed (CA releases the sender from resending it; CE would ask
#: for it again, and the repeat would be answered CE again); what it lacks is said by the application ACK.
_COMMIT_CODE = {"AA": "CA", "AE": "CA", "AR": "CR"}


def acknowledgment_codes(accept_type: str, application_type: str, code: str) -> list[str]:
    """Which ACKs to send for an application answer ``code`` (AA/AE/AR), as MSH-15 and MSH-16 ask.

    Both empty (or either not a table 0155 value): original mode, the one answer. Otherwise
    enhanced mode: a commit ACK (CA, CR when refused) as MSH-15 asks, then the application ACK as MSH-16
    asks, both on this connection (the listener has no way back to the sender but this one).
    An empty one of the two, when the other is given, counts as AL.
    """
    accept, application = accept_type.strip().upper(), application_type.strip().upper()
    if not (accept or application) or not {accept or "AL", application or "AL"} <= _ACK_CONDITIONS:
        return [code]
    accept, application = accept or "AL", application or "AL"
    out = []
    commit = _COMMIT_CODE[code]
    if accept == "AL" or (accept == "ER" and commit != "CA") or (accept == "SU" and commit == "CA"):
        out.append(commit)
    if application == "AL" or (application == "ER" and code != "AA") or (application == "SU" and code == "AA"):
        out.append(code)
    return out


class Hl7Decoder(Decoder):
    """One MLLP connection: messages in, readings out, the acknowledgments each message asks for queued.

    ``gate`` is shared by every connection of a listener (one patient, one sender, repeats stored
    once); a decoder made alone has its own. ``peer`` is the sender's address.
    """

    def __init__(
        self,
        tz: tzinfo | None = None,
        source: str = SOURCE_NAME,
        *,
        codes: CodeMap | None = None,
        gate: SessionGate | None = None,
        peer: str = "",
    ) -> None:
        super().__init__(source)
        self.tz = tz
        self.codes = codes or CodeMap()
        self.gate = gate or SessionGate()
        self.peer = peer
        self._mllp = MllpDeframer()
        self._acks: list[bytes] = []
        self._acks_sent = 0
        self.results: list[MessageResult] = []
        #: (receive time, device time minus receive time) of every stamp refused as out of window, and of
        #: each steady error of a sender's clock (:class:`~drivers.core.clock.SendClockWatch`).
        self.clock_offsets: list[tuple[float, float]] = []
        self._send_clocks: dict[str, SendClockWatch] = {}
        #: Results refused by the session since the last call of :meth:`take_refusals`.
        self._refused: list[MessageResult] = []
        #: Why the connection should be closed rather than answered ('' while it is served).
        self.hang_up = ""
        #: Messages answered AE (values partly taken) and AR (nothing taken).
        self.errors = 0
        self.rejects = 0
        self.repeats = 0

    def reset(self) -> None:
        """Forget a partial message (the connection closed)."""
        self._mllp.reset()
        self._acks.clear()

    def outgoing(self, at: float) -> bytes:
        """ACKs for the messages received so far."""
        out = b"".join(self._acks)
        self._acks.clear()
        return out

    def take_refusals(self) -> list[MessageResult]:
        """Messages the session refused (another patient or sender) since the last call."""
        out, self._refused = self._refused, []
        return out

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Consume bytes of the connection; return the readings of every complete message.

        A message over :data:`~drivers.transport.mllp.MAX_MESSAGE_BYTES` is refused unread (AR); when not
        even its MSH can be read, :attr:`hang_up` says why the connection should be closed instead.
        """
        readings: list[Reading] = []
        for block in self._mllp.blocks(data):
            if isinstance(block, OversizeMessage):
                result = self.refuse_oversize(block, at)
                if self.hang_up:
                    break
                self._acks.extend(frame(ack) for ack in result.acks)
                continue
            for text in split_batch(_message_text(block)):
                result = self.process_text(text, at)
                readings.extend(result.readings)
                self._acks.extend(frame(ack) for ack in result.acks)
        # A message over the limit no longer loses the framing (it is skipped to its end), so it is no resync.
        self.counters.resyncs = self._mllp.stray
        return readings

    def refuse_oversize(self, block: OversizeMessage, at: float) -> MessageResult:
        """Answer a message over the size limit from the MSH at its start (AR, ERR 207, its size and the
        limit), counted as rejected and told to the session as a refusal; without a readable MSH nothing is
        answered and :attr:`hang_up` is set."""
        # Short enough for MSA-3 (80 characters) whole.
        reason = f"message of {block.size:,} bytes is over the limit of {MAX_MESSAGE_BYTES:,} bytes (1 MiB)"
        result = MessageResult(control_id=self._control_id(at), ack_code="AR")
        result.problems = [Problem(ERR_APPLICATION, reason)]
        result.refusal = Refusal("hl7_message_too_large", reason)
        peer_host = self.peer.rpartition(":")[0] if ":" in self.peer else self.peer
        msh_text = _header_segment(block.head)
        parsed = None
        if msh_text and not _unusable_delimiters(msh_text):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    parsed = hl7.parse(msh_text)
                except Exception:  # python-hl7 raises several kinds for broken text
                    parsed = None
        if parsed is None:
            result.sender = sender_key("", "", peer_host)
            self.hang_up = f"{reason}, and its start holds no readable MSH to answer"
            log.warning("HL7 %s from %s: closing the connection", self.hang_up, self.peer or "a sender")
            self._count_refused(result)
            return result
        msh = parsed.segment("MSH")
        result.sender = sender_key(_get(msh, 3), _get(msh, 4), peer_host)
        result.message_id = _get(msh, 10)
        return self._answer(result, parsed, msh, at)

    def process(self, raw: bytes, at: float) -> MessageResult:
        """Read one message (bytes without MLLP framing) and build its acknowledgments."""
        return self.process_text(_message_text(raw), at)

    def _control_id(self, at: float) -> str:
        self._acks_sent += 1
        return f"IM{int(at * 1000) % 10**12:012d}{self._acks_sent % 1000:03d}"

    def process_text(self, text: str, at: float) -> MessageResult:
        """Read one message (segments separated by CR) and build its acknowledgments."""
        with warnings.catch_warnings():
            # python-hl7 reports a broken escape sequence through a deprecated logger call.
            warnings.simplefilter("ignore", DeprecationWarning)
            return self._process_text(text, at)

    def _process_text(self, text: str, at: float) -> MessageResult:
        result = MessageResult(control_id=self._control_id(at))
        parsed: Any = None
        msh: Any = None
        try:
            try:
                unusable = _unusable_delimiters(text)
                if unusable:
                    raise ValueError(unusable)
                parsed = hl7.parse(text)
                if not isinstance(parsed, hl7.Message):
                    raise ValueError("a batch or file header, not a single message")
                msh = parsed.segment("MSH")
            except Exception as exc:  # python-hl7 raises several kinds for broken text
                parsed = msh = None
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
        return self._answer(result, parsed, msh, at)

    def _answer(self, result: MessageResult, parsed: Any, msh: Any, at: float) -> MessageResult:
        """Count a message read (or refused), build the acknowledgments its MSH asks for, and keep its result."""
        if result.repeat:
            self.repeats += 1
        if result.ack_code == "AR":
            self._count_refused(result)
        else:
            if result.ack_code == "AE":
                self.errors += 1
            self.counters.frames_decoded += 1
            if result.readings and not result.repeat:
                self.gate.remember(result.sender, result.message_id, result.ack_code, result.sent, result.body)
        codes = [result.ack_code]
        if msh is not None:
            codes = acknowledgment_codes(_get(msh, 15), _get(msh, 16), result.ack_code)
        source_msg = parsed if parsed is not None and _get(_first(parsed, "MSH"), 10) else None
        if source_msg is None:
            source_msg = hl7.parse(_EMPTY_MSH.format(id=""))
        for n, code in enumerate(codes):
            control_id = result.control_id if n == 0 else self._control_id(at)
            problems = result.problems if code not in ("AA", "CA") else []
            try:
                result.acks.append(_ack(source_msg, code, problems, control_id, at))
            except Exception:  # a message too broken for the library to answer: answer from a blank one
                blank = hl7.parse(_EMPTY_MSH.format(id=""))
                result.acks.append(_ack(blank, "AR", result.problems, control_id, at))
        if result.problems:
            log.warning(
                "HL7 message answered %s: %s", result.ack_code, "; ".join(p.text for p in result.problems)
            )
        self.results.append(result)
        del self.results[:-20]  # only the newest few, for diagnosis
        return result

    def _count_refused(self, result: MessageResult) -> None:
        """A message answered AR (or not answered at all): counted, and a refusal passed on to the session."""
        self.rejects += 1
        self.counters.frames_rejected += 1
        if result.refusal is not None:
            self._refused.append(result)

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
        peer_host = self.peer.rpartition(":")[0] if ":" in self.peer else self.peer
        result.sender = sender_key(_get(msh, 3), _get(msh, 4), peer_host)
        result.message_id = _get(msh, 10)
        result.sent = _get(msh, 7)
        after_msh = [segment for segment in message if str(segment[0]).upper() != "MSH"]
        result.body = hashlib.sha256("\r".join(map(str, after_msh)).encode("utf-8", "replace")).hexdigest()
        result.timed = any(_get(segment, {"OBX": 14, "OBR": 7}[name]) for segment in after_msh
                           if (name := str(segment[0]).upper()) in ("OBX", "OBR"))
        patient_ids = _patient_ids(message)
        others = _other_patients(message, patient_ids)
        if others:
            raise MessageRejected(
                Problem(
                    ERR_UNKNOWN_KEY,
                    f"the message names more than one patient (PID-3 {'/'.join(patient_ids) or 'empty'} and {others})",
                    ("PID", 2, 3),
                )
            )
        refusal = self.gate.admit(result.sender, patient_ids)
        if refusal is not None:
            result.refusal = refusal
            code = ERR_RECORD_LOCKED if refusal.condition == "hl7_other_sender" else ERR_UNKNOWN_KEY
            about_patient = refusal.condition in ("hl7_other_patient", "hl7_no_patient")
            location = ("PID", 1, 3) if about_patient else ("MSH", 1, 3)
            raise MessageRejected(Problem(code, refusal.reason, location))
        previous = self.gate.answered(result.sender, result.message_id, result.sent, result.body, result.timed)
        if previous is not None:
            # Sent again (its ACK was lost): answer as before; the values are already stored.
            result.repeat = True
            if previous == "AE":
                result.problems.append(
                    Problem(ERR_DATA_TYPE, f"message {result.message_id} repeated; answered AE before")
                )
            return
        self._watch_send_clock(result.sender, _get(msh, 7), at)
        fallback = self._stamped_time(msh, ("MSH", 1, 7), "MSH-7", at, at, result)
        group_time = fallback
        group_stamp: float | None = None  # the OBR-7 of the group as the device gave it
        obx_index = obr_index = 0
        unknown = used = 0
        cuff: list[list[tuple[Reading, str]]] = [[]]  # the pressures of each OBR group, with their OBX-14
        for segment in message:
            name = str(segment[0]).upper()
            if name == "OBR":
                # Every OBR starts a group: its OBX without OBX-14 take this OBR's OBR-7.
                obr_index += 1
                cuff.append([])
                group_time = self._stamped_time(
                    segment, ("OBR", obr_index, 7), f"OBR #{obr_index} OBR-7", fallback, at, result
                )
                group_stamp = self._device_stamp(_get(segment, 7), at)
            elif name == "OBX":
                obx_index += 1
                outcome = self._read_obx(segment, obx_index, group_time, at, result, cuff[-1], group_stamp)
                unknown += outcome == "unknown"
                used += outcome == "used"
        self._take_cuff(cuff, result)
        if _get(msh, 11).upper() in _NOT_PATIENT_PROCESSING:
            # A training or debugging message: its values are kept, marked as no patient's.
            result.readings = [replace(r, flags=r.flags | {Flag.TEST_DATA}) for r in result.readings]
        if obx_index == 0:
            raise MessageRejected(
                Problem(ERR_REQUIRED_FIELD_MISSING, "no OBX segment in the message", ("OBX", 1, 1))
            )
        if not used and not result.problems:
            # Only codes this listener does not know (or values the sender withdrew): say so, not AA.
            result.problems.append(
                Problem(
                    ERR_TABLE_VALUE,
                    f"nothing usable: none of the {obx_index} OBX carries a known code (add a code map)"
                    if unknown == obx_index
                    else "nothing usable in the message",
                    ("OBX", 1, 3),
                )
            )
            return
        if used:
            # Only a message whose values were taken binds the session to its sender and patient.
            self.gate.bind(result.sender, patient_ids)

    def _watch_send_clock(self, sender: str, sent: str, at: float) -> None:
        """A sender whose clock is steadily off is named on the timeline (its values look as old, or as
        new, as its clock makes them; see :class:`~drivers.core.clock.SendClockWatch`)."""
        if not sent:
            return
        try:
            stamp = parse_hl7_time(sent, self.tz, near=at)
        except ValueError:
            return  # MSH-7 itself is reported as a problem where it is read
        error = self._send_clocks.setdefault(sender, SendClockWatch()).observe(stamp, at)
        if error is not None:
            self.clock_offsets.append((at, error))

    def _checked_time(self, t: float, at: float, sender: str = "") -> float:
        # The device clock is trusted only near the receive time (drivers.core.clock.device_time); a
        # value stamped ahead of it is stored at its receive time and the offset reported.
        kept, offset = device_time(t, at)
        if offset is None:
            return kept
        self.clock_offsets.append((at, offset))
        if offset > MAX_FUTURE_S:
            # Far in the future is a wrong field, not only a wrong clock: the sender hears of it (AE).
            raise ValueError(f"time {datetime.fromtimestamp(t, UTC).isoformat()} is in the future")
        if offset < 0.0 and not self._clock_behind_by(sender, offset):
            # Measured long before it arrived (a gateway's queue sent on after an outage): an old value keeps
            # its own time, so it is never shown or judged as the current one, nor hides what came after it.
            return t
        return at

    def _clock_behind_by(self, sender: str, offset: float) -> bool:
        """Whether the sender's clock is known to be steadily behind by about ``offset`` (then its values are
        current, only stamped by a clock set wrong: they are stored at their receive time)."""
        watch = self._send_clocks.get(sender)
        error = None if watch is None else watch.error_s
        return error is not None and error - DEVICE_TIME_PAST_S <= offset

    def _stamped_time(
        self, segment: Any, location: tuple[str, int, int], label: str, fallback: float, at: float,
        result: MessageResult,
    ) -> float:
        """The checked time in the segment's field ``location[2]``, else ``fallback``; a bad stamp is
        reported as a problem at ``location`` and the fallback kept."""
        stamp = _get(segment, location[2])
        if not stamp:
            return fallback
        try:
            return self._checked_time(parse_hl7_time(stamp, self.tz, near=at), at, result.sender)
        except ValueError as exc:
            result.problems.append(Problem(ERR_DATA_TYPE, f"{label}: {exc}", location))
            return fallback

    def _device_stamp(self, stamp: str, at: float) -> float | None:
        """A time field as the device gave it (None: empty or not a time)."""
        if not stamp:
            return None
        try:
            return parse_hl7_time(stamp, self.tz, near=at)
        except ValueError:
            return None

    def _read_obx(self, obx: Any, index: int, fallback: float, at: float, result: MessageResult,
                  cuff: list[tuple[Reading, str]], group_stamp: float | None = None) -> str:
        """Read one OBX into ``result`` (a pressure into ``cuff``, with its own OBX-14 as sent, or ""): ``used``,
        ``unknown`` (a code this listener does not know), ``skipped`` (known and not recorded: the cuff's pulse,
        a parameter already given at that time), ``withdrawn`` or ``bad`` (a problem was added)."""
        where = f"OBX #{index}"
        parameter = self._parameter(obx)
        if parameter is None:
            if any(self.codes.skipped(code) for code in _codes(obx)):
                return "skipped"
            self.counters.unknown_items += 1
            return "unknown"
        if parameter is Parameter.PR and any(self.codes.lookup(code) in _NIBP for code in _codes(obx, 17)):
            return "skipped"  # a pulse whose source (OBX-17) is the cuff
        status = _get(obx, 11).upper()
        if status == "D":
            return "withdrawn"  # the sender withdrew this value
        value_type = _get(obx, 2).upper()
        raw_value = _get(obx, 5)
        unit = _get(obx, 6, 1, 1)
        unit_text = _get(obx, 6, 1, 2)
        sent_time = _get(obx, 14)
        t = self._stamped_time(obx, ("OBX", index, 14), f"{where} OBX-14", fallback, at, result)
        flags: frozenset[Flag] = frozenset()
        value: float | None = None
        if value_type == "SN":
            raw_value, why = _structured_number(obx)
            if why:
                result.problems.append(Problem(ERR_DATA_TYPE, f"{where}: {why}", ("OBX", index, 5)))
                return "bad"
        elif _repetitions(obx, 5) > 1 or _get(obx, 5, 1, 2):
            # An NM value is one number: a second repetition or component is not read as the first one's.
            result.problems.append(
                Problem(ERR_DATA_TYPE, f"{where}: OBX-5 holds more than one value", ("OBX", index, 5))
            )
            return "bad"
        if status in ("X", "W") or not raw_value:
            flags = frozenset({Flag.UNAVAILABLE if status != "W" else Flag.INVALID})
        elif value_type not in ("NM", "SN", ""):
            result.problems.append(
                Problem(ERR_DATA_TYPE, f"{where}: value type '{value_type}' is not NM", ("OBX", index, 2))
            )
            return "bad"
        else:
            try:
                if not _HL7_NUMBER.fullmatch(raw_value):
                    raise ValueError(raw_value)
                number = float(raw_value)
            except ValueError:
                result.problems.append(
                    Problem(ERR_DATA_TYPE, f"{where}: '{raw_value}' is not a number", ("OBX", index, 5))
                )
                return "bad"
            factor = unit_factor(parameter, unit)
            if factor is None and unit_text:
                factor = unit_factor(parameter, unit_text)  # a local unit code with the usual text
            if factor is None:
                result.problems.append(
                    Problem(
                        ERR_TABLE_VALUE,
                        f"{where}: unit '{unit}' is not a unit of {parameter}",
                        ("OBX", index, 6),
                    )
                )
                return "bad"
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
            measured = self._device_stamp(sent_time, at) if sent_time else group_stamp
            if measured is not None and measured < at - DEVICE_TIME_PAST_S:
                # A cuff is measured once: one stamped long before it arrived is an old cuff (repeated by a
                # gateway, or the previous patient's), kept at its own time, never a new one at the receive time.
                t = measured
        flags |= {_SIMULATED_MARKS[m] for m in _abnormal_flags(obx) if m in _SIMULATED_MARKS}
        reading = Reading(t, parameter, value, self.source, flags)
        if parameter in _NIBP:
            cuff.append((reading, sent_time))
            return "used"
        same = next((i for i, r in enumerate(result.readings) if r.parameter is parameter and r.t == t), None)
        if same is None:
            result.readings.append(reading)
            return "used"
        self.counters.repeated_items += 1
        if reading.reliable and not result.readings[same].reliable:
            result.readings[same] = reading  # a usable value from the second source, not the first's gap
        return "skipped"

    def _take_cuff(self, groups: list[list[tuple[Reading, str]]], result: MessageResult) -> None:
        """Store a message's cuff results once each: a group's pressures without their own time at the time of
        those with one, one cuff per time, each pressure once, unless it repeats a cuff already stored.

        A cuff is known by the time its sender gave it (OBX-14 as sent), not by the time stored: a time the
        listener does not trust is stored as the arrival, which differs with every periodic repeat."""
        for group in groups:
            own = next(((reading.t, sent) for reading, sent in group if sent), None)
            cuffs: dict[str, dict[Parameter, Reading]] = {}
            for reading, sent in group:
                if not sent and own is not None:
                    reading, sent = replace(reading, t=own[0]), own[1]
                taken = cuffs.setdefault(sent, {})
                if reading.parameter in taken:
                    self.counters.repeated_items += 1
                    continue
                taken[reading.parameter] = reading
            for sent in sorted(cuffs, key=lambda key: min(r.t for r in cuffs[key].values())):
                pressures = cuffs[sent].values()
                if self.gate.new_cuff(pressures, timed=own is not None, sent=sent):
                    result.readings.extend(pressures)

    def _parameter(self, obx: Any) -> Parameter | None:
        return next((found for code in _codes(obx) if (found := self.codes.lookup(code)) is not None), None)


def _codes(segment: Any, field_num: int = 3) -> list[str]:
    """The identifiers (and alternate identifiers) of every repetition of a coded field."""
    return [_get(segment, field_num, repeat, component)
            for repeat in range(1, max(_repetitions(segment, field_num), 1) + 1) for component in (1, 4)]


def _abnormal_flags(obx: Any) -> list[str]:
    """OBX-8 (abnormal flags), every repetition, upper case."""
    return [_get(obx, 8, repeat).upper() for repeat in range(1, max(_repetitions(obx, 8), 1) + 1)]


#: HL7 v2 data type NM: an optional sign, ASCII digits and an optional decimal point (no exponent, no other digits).
_HL7_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)", re.ASCII)


def _structured_number(obx: Any) -> tuple[str, str | None]:
    """OBX-5 of an SN value as one number's text (``^97``, ``=^97``), or why it is not one."""
    comparator, number = _get(obx, 5, 1, 1), _get(obx, 5, 1, 2)
    separator, second = _get(obx, 5, 1, 3), _get(obx, 5, 1, 4)
    if comparator not in ("", "=") or separator or second:
        shown = "^".join(part for part in (comparator, number, separator, second))
        return "", f"structured numeric '{shown.rstrip('^')}' is not one value (a range or a comparison)"
    return number, None


def _first(message: Any, name: str) -> Any:
    segments = _all(message, name)
    return segments[0] if segments else None


def _all(message: Any, name: str) -> list[Any]:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _pid_ids(pid: Any) -> list[str]:
    ids = [_get(pid, 3, repeat, 1) for repeat in range(1, max(_repetitions(pid, 3), 1) + 1)]
    return [i for i in ids if i]


def _patient_ids(message: Any) -> list[str]:
    """PID-3 identifiers (CX.1 of every repetition) of the message's first PID; empty without one."""
    pid = _first(message, "PID")
    return [] if pid is None else _pid_ids(pid)


def _other_patients(message: Any, first: list[str]) -> str:
    """The PID-3 of a later PID (a further PATIENT_RESULT group) naming none of ``first``'s identifiers, '' when
    every PID of the message is the same patient's: its OBX would otherwise be taken as the first patient's."""
    for pid in _all(message, "PID")[1:]:
        ids = _pid_ids(pid)
        if ids and not set(ids) & set(first):
            return "/".join(ids)
    return ""


# -- the listening source -----------------------------------------------------------------


class _Hl7Connection:
    """One sender's connection: its own decoder, its readings and refusals passed to the source."""

    def __init__(self, source: Hl7MllpSource, peer: str) -> None:
        self.source = source
        self.peer = peer
        settings = source.settings
        self.decoder = Hl7Decoder(settings.tz, codes=settings.codes, gate=source.gate, peer=peer)
        #: Values of this connection were taken by the session (the listener never closes it to make room).
        self.took_values = False

    def received(self, data: bytes) -> bytes:
        """Decode what arrived; returns the acknowledgments."""
        return self.source._received(self, data)

    def messages(self) -> int:
        """Messages read from this connection so far, answered or refused."""
        return self.decoder.counters.frames_decoded + self.decoder.counters.frames_rejected

    def carries_session(self) -> bool:
        """Whether this connection brought values the session took (its patient's, from an allowed sender)."""
        return self.took_values

    def closed(self, why: str) -> None:
        """Keep this connection's counts in the source's totals."""
        self.source._closed(self)

    def close_reason(self) -> str:
        """Why this connection is to be closed (a message over the limit whose MSH cannot be read)."""
        return self.decoder.hang_up


class Hl7MllpSource(Source):
    """Listens for MLLP connections on one address; every connection gets its own decoder.

    The TCP side (one thread for every connection, limits, back-pressure on a sender that does not
    read its ACKs, surviving accept() failures) is :class:`drivers.transport.tcp_listener.TcpListener`
    with ``max_connections``, ``idle_timeout`` and ``allow_from`` from the settings. This source
    decodes what each connection sends, answers it, and turns refused messages, refused
    connections and accept failures into technical events. The link is judged by the messages'
    arrival (:class:`~drivers.hl7.link_watch.MessageLinkWatch`), never by connections closing.
    """

    def __init__(
        self,
        settings: Hl7Settings,
        clock: Any = anchored_now,
        monotonic: Any = time.monotonic,
        *,
        link_lost_after_s: float = 5.0,
    ) -> None:
        super().__init__(SOURCE_NAME, f"HL7 ORU^R01 listener on {settings.host}:{settings.port} (MLLP)")
        self.settings = settings
        self._clock = clock
        self._monotonic = monotonic
        self.gate = SessionGate(settings.allow_senders)
        self._readings: queue.SimpleQueue[Reading] = queue.SimpleQueue()
        self._events_lock = threading.Lock()
        self._clock_offsets: list[tuple[float, float]] = []
        self._last_technical: dict[tuple[str, str], float] = {}
        # Counts of connections already closed, so the totals never go down.
        self._closed_unknown = 0
        self._closed_resyncs = 0
        #: Totals over every connection's decoder (unknown codes, AE and AR answers...).
        self.decoder_counters = DecoderCounters()
        self.link_watch = MessageLinkWatch(link_lost_after_s)
        limits = ListenerLimits(settings.max_connections, settings.idle_timeout_s, settings.allow_from,
                                first_message_s=settings.first_message_s, local_uids=settings.local_uids)
        self.listener = TcpListener(
            settings.host, settings.port, self, limits, counters=self.counters, name="hl7-listener", monotonic=monotonic
        )

    @property
    def address(self) -> tuple[str, int]:
        """The address listened on (the port the system chose when asked for port 0)."""
        return self.listener.address

    def open(self) -> None:
        """Bind and start listening (raises OSError when the address is taken or not ours)."""
        self.listener.open()
        self.device = f"HL7 ORU^R01 listener on {self.address[0]}:{self.address[1]} (MLLP)"

    def now(self) -> float:
        """Anchored time (drivers.core.clock): wall time at start plus monotonic time since."""
        return float(self._clock())

    def set_patient(self, mrn: str | None) -> None:
        """The session's identified patient: from now on PID-3 must name them."""
        self.gate.identify(mrn)

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
        """The link judged lost (silence beyond the allowed time, checked now), restored, and technical events
        since the last call."""
        with self._events_lock:
            why = self.link_watch.check(self._monotonic())
            if why:
                self.counters.state = STATE_LOST
                log.warning("HL7 listener: link lost (%s)", why)
                self._link_event(LinkEventKind.LINK_LOST, self.now(), why)
            return super().take_link_events()

    def take_clock_offsets(self) -> list[tuple[float, float]]:
        """Device time stamps refused since the last call: (receive time, offset in seconds)."""
        with self._events_lock:
            offsets, self._clock_offsets = self._clock_offsets, []
        return offsets

    def reader(self) -> TcpListener:
        """The listener thread (watched by the watchdog)."""
        return self.listener

    @property
    def refused_connections(self) -> int:
        """Connections closed at once by ``max_connections`` or ``allow_from``."""
        return self.listener.refused_connections

    @property
    def accept_errors(self) -> int:
        """Times accept() failed (out of file descriptors...)."""
        return self.listener.accept_errors

    def connection_count(self) -> int:
        """Connections open now."""
        return self.listener.connection_count()

    def outbox_sizes(self) -> list[int]:
        """Bytes of ACKs each open connection still owes (for diagnosis and tests)."""
        return self.listener.outbox_sizes()

    def close(self) -> None:
        """Stop listening, close every connection and join the listener thread; idempotent."""
        self.listener.close()

    # -- what the TCP listener tells this source (on its thread) ------------------------------

    def accepted(self, peer: str) -> _Hl7Connection:
        """A sender connected: a fresh decoder for its connection."""
        return _Hl7Connection(self, peer)

    def refused(self, host: str, peer: str, why: str) -> None:
        """A connection closed at once by the listener's limits."""
        self._technical("hl7_connection_refused", host, f"connection from {peer} refused: {why}")

    def failed(self, condition: str, detail: str) -> None:
        """An accept() failure or an error in the listener's loop."""
        self._technical(f"hl7_{condition}", "listener", detail)

    def _received(self, conn: _Hl7Connection, data: bytes) -> bytes:
        decoder = conn.decoder
        at = self.now()
        before = (decoder.counters.frames_decoded, decoder.counters.frames_rejected)
        for reading in decoder.feed(data, at):
            self._readings.put(reading)
            conn.took_values = True
        if decoder.clock_offsets:
            with self._events_lock:
                self._clock_offsets += decoder.clock_offsets
            decoder.clock_offsets = []
        self._add_counts(decoder, before)
        if (decoder.counters.frames_decoded, decoder.counters.frames_rejected) != before:
            self._message_arrived(conn)
        for refused in decoder.take_refusals():
            assert refused.refusal is not None
            self._technical(
                refused.refusal.condition,
                refused.sender,
                f"HL7 message {refused.message_id or '?'} from {refused.sender} ({conn.peer}) refused: "
                f"{refused.refusal.for_timeline}",
            )
        return decoder.outgoing(at)

    def _message_arrived(self, conn: _Hl7Connection) -> None:
        """A message came (answered or refused: the sender reaches this computer): the link is up."""
        with self._events_lock:
            restored = self.link_watch.message(self._monotonic())
            self.counters.state = STATE_CONNECTED
            if restored:
                self.counters.reconnects += 1
                log.warning("HL7 listener: link restored (%s)", conn.peer)
                detail = f"HL7 messages arriving again from {conn.peer}"
                self._link_event(LinkEventKind.LINK_RESTORED, self.now(), detail)

    def _closed(self, conn: _Hl7Connection) -> None:
        self._closed_unknown += conn.decoder.counters.unknown_items
        self._closed_resyncs += conn.decoder.counters.resyncs

    def _technical(self, condition: str, who: str, detail: str) -> None:
        """A technical event on the timeline, at most once a ``TECHNICAL_EVENT_INTERVAL_S`` per condition and sender."""
        now = self._monotonic()
        key = (condition, who)
        last = self._last_technical.get(key)
        if last is not None and now - last < TECHNICAL_EVENT_INTERVAL_S:
            return
        self._last_technical[key] = now
        with self._events_lock:
            self._link_event(LinkEventKind.TECHNICAL, self.now(), detail, condition)

    def _add_counts(self, decoder: Hl7Decoder, before: tuple[int, int]) -> None:
        decoded = decoder.counters.frames_decoded - before[0]
        rejected = decoder.counters.frames_rejected - before[1]
        self.counters.frames_decoded += decoded
        self.counters.frames_rejected += rejected
        totals = self.decoder_counters
        totals.frames_decoded += decoded
        totals.frames_rejected += rejected
        live = [h.decoder for h in self.listener.handlers() if isinstance(h, _Hl7Connection)]
        totals.unknown_items = self._closed_unknown + sum(d.counters.unknown_items for d in live)
        self.counters.resyncs = self._closed_resyncs + sum(d.counters.resyncs for d in live)
