"""Messages of the IntelliVue Data Export session: builders for both sides and strict parsers.

The host side (what :class:`drivers.intellivue.decoder.IntelliVueDecoder` sends) is checked byte for
byte against frames captured from a working host (``../shared/protocols/intellivue_vectors.txt``):
the association request, the first Extended Poll and the MDS Create Event Result. The monitor side
(association result, MDS Create Event Report, poll reply) is built from the structures of the
Philips "Data Export Interface Programming Guide" for the emulator and the tests; no capture of a
monitor's answers is public, so the exact nesting of a real poll reply (which attributes a monitor
adds, how it splits a long reply into linked parts) follows the public host VSCaptureMP, which
reads the reply by its counts at fixed offsets and relies on the FCS. The parser does the same:
counts drive it, every list is read within its own length, a list that promises more bytes than
the message holds is rejected (the decoder counts it), and outer length fields that disagree with
an FCS-good frame are noted, not fatal.

All integers are big-endian. Times are RelativeTime, 1/8 ms ticks.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

from drivers.intellivue.framing import Deframer, FrameError, check_fcs, header_length_agrees, split_header
from drivers.intellivue.values import decode_abs_time

# -- session layer ---------------------------------------------------------------------

SPDU_ASSOC_REQUEST: Final = 0x0D  # CN
SPDU_ASSOC_ACCEPT: Final = 0x0E  # AC
SPDU_ASSOC_REFUSE: Final = 0x0C  # RF
SPDU_RELEASE_REQUEST: Final = 0x09  # FN
SPDU_RELEASE_RESPONSE: Final = 0x0A  # DN
SPDU_ABORT: Final = 0x19  # AB

SESSION_ID_DATA_EXPORT: Final = 0xE100
PRESENTATION_CONTEXT: Final = 2

# -- remote operations -----------------------------------------------------------------

ROIV_APDU: Final = 1
RORS_APDU: Final = 2
ROER_APDU: Final = 3
ROLRS_APDU: Final = 5

CMD_EVENT_REPORT: Final = 0
CMD_CONFIRMED_EVENT_REPORT: Final = 1
CMD_GET: Final = 3
CMD_SET: Final = 4
CMD_CONFIRMED_SET: Final = 5
CMD_CONFIRMED_ACTION: Final = 7

RORLS_FIRST: Final = 1
RORLS_NOT_FIRST_NOT_LAST: Final = 2
RORLS_LAST: Final = 3

NOM_MOC_VMS_MDS: Final = 0x21
NOM_MOC_VMO_METRIC_NU: Final = 6
NOM_MOC_VMO_METRIC_SA_RT: Final = 9
NOM_MOC_PT_DEMOG: Final = 0x2A
NOM_MOC_VMO_AL_MON: Final = 0x36
NOM_PART_OBJ: Final = 1
NOM_PART_SCADA: Final = 2
NOM_NOTI_MDS_CREAT: Final = 0x0D06
NOM_ACT_POLL_MDIB_DATA_EXT: Final = 0xF13B
NOM_ACT_POLL_MDIB_DATA: Final = 0x0C16

NOM_ATTR_ID_HANDLE: Final = 0x0921
NOM_ATTR_ID_TYPE: Final = 0x092F
NOM_ATTR_NU_CMPD_VAL_OBS: Final = 0x094B
NOM_ATTR_NU_VAL_OBS: Final = 0x0950
NOM_ATTR_ID_LABEL: Final = 0x0924
NOM_ATTR_ID_LABEL_STRING: Final = 0x0927
NOM_ATTR_DISP_RES: Final = 0x092C
NOM_ATTR_COLOR: Final = 0x0911
NOM_ATTR_TIME_ABS: Final = 0x0987
NOM_ATTR_TIME_REL: Final = 0x098F
NOM_ATTR_SYS_TYPE: Final = 0x0986
NOM_ATTR_TIME_STAMP_ABS: Final = 0x0990
NOM_ATTR_TIME_STAMP_REL: Final = 0x0991
NOM_ATTR_TIME_PD_POLL: Final = 0xF13E
NOM_POLL_PROFILE_SUPPORT: Final = 0x0001
NOM_MDIB_OBJ_SUPPORT: Final = 0x0102
NOM_ATTR_POLL_PROFILE_EXT: Final = 0xF001

TICKS_PER_SECOND: Final = 8000

# Association user information (values of the captured request).
MDDL_VERSION_1: Final = 0x80000000
NOMENCLATURE_VERSION_1: Final = 0x40000000
SYST_CLIENT: Final = 0x80000000
SYST_SERVER: Final = 0x00800000
COLD_START: Final = 0x20000000
HOT_START: Final = 0x80000000
POLL_PROFILE_REV0: Final = 0x80000000
P_OPT_DYN_CREATE_OBJECTS: Final = 0x40000000
P_OPT_DYN_DELETE_OBJECTS: Final = 0x20000000
POLL_EXT_OPTIONS: Final = 0x8E000000  # period 1 s for numerics, 1 s for waves, dynamic objects
DEFAULT_MIN_POLL_PERIOD_TICKS: Final = 4000  # 0.5 s
DEFAULT_MTU: Final = 1456
# What the host says it can take: MDS, numerics, real-time waves, enumerations, demographics, alarms.
MDIB_OBJECT_SUPPORT: Final = (
    (NOM_MOC_VMS_MDS, 1),
    (NOM_MOC_VMO_METRIC_NU, 0xC9),
    (NOM_MOC_VMO_METRIC_SA_RT, 0x3C),
    (0x05, 0x10),
    (NOM_MOC_PT_DEMOG, 1),
    (NOM_MOC_VMO_AL_MON, 1),
)

# Session data and the presentation (ACSE) wrapper of the association request: ASN.1 BER with
# indefinite lengths, closed by TRAILER. Constant bytes, as in the captured request.
ASSOC_SESSION_DATA: Final = bytes.fromhex("0508130100160102800014020002")
ASSOC_PRESENTATION_HEADER: Final = bytes.fromhex(
    "3180a0808001010000a280a003000001a4803080020101060452010001308006"
    "025101000000003080020102060c2a8648ce14020100000001013080060c2a86"
    "48ce140201000000020100000000000061803080020101a0806080a180060c2a"
    "8648ce14020100000003010000be802880060c2a8648ce140201000000010102"
    "0102"
)
ASSOC_USER_INFO_TAG: Final = 0x81
ASSOC_PRESENTATION_TRAILER: Final = bytes(16)

# The release request of the guide: FN SPDU around an ACSE release request.
RELEASE_REQUEST: Final = bytes.fromhex("0918c11661803080020101a08062808001000000000000000000")
RELEASE_RESPONSE: Final = bytes.fromhex("0a18c11661803080020101a08063808001000000000000000000")
# Abort as sent by a monitor (AB SPDU); the host only looks at the first byte.
ABORT: Final = bytes.fromhex(
    "192e110103c129a080a0803080020101060251010000000061803080020101a080648080010100000000000000000000"
)


class MessageError(ValueError):
    """User data that does not have the structure its lengths and counts promise."""


# -- low-level helpers -------------------------------------------------------------------


class Reader:
    """Strict big-endian reader over a bytes view; every read checks the length."""

    def __init__(self, data: bytes | memoryview, what: str = "message") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self.data) - self.pos

    def take(self, count: int) -> memoryview:
        """The next ``count`` bytes."""
        if count < 0 or count > self.remaining:
            raise MessageError(f"{self.what}: needs {count} bytes, {self.remaining} left")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def u8(self) -> int:
        """One unsigned byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """An unsigned 16-bit integer."""
        return int(struct.unpack(">H", self.take(2))[0])

    def u32(self) -> int:
        """An unsigned 32-bit integer."""
        return int(struct.unpack(">I", self.take(4))[0])

    def sub(self, count: int, what: str) -> Reader:
        """A reader over the next ``count`` bytes."""
        return Reader(self.take(count), what)

    def end(self) -> None:
        """Insist that everything was read."""
        if self.remaining:
            raise MessageError(f"{self.what}: {self.remaining} unexpected bytes at the end")


def length_indicator(length: int) -> bytes:
    """Session-layer LI: one byte below 255, else FF and a 16-bit length."""
    return bytes([length]) if length < 0xFF else b"\xff" + struct.pack(">H", length)


def read_length_indicator(reader: Reader) -> int:
    """Inverse of :func:`length_indicator`."""
    first = reader.u8()
    return reader.u16() if first == 0xFF else first


def u16(value: int) -> bytes:
    """Big-endian 16 bits."""
    return struct.pack(">H", value & 0xFFFF)


def u32(value: int) -> bytes:
    """Big-endian 32 bits."""
    return struct.pack(">I", value & 0xFFFFFFFF)


def attribute(attr_id: int, value: bytes) -> bytes:
    """One AVA: id, length, value."""
    return u16(attr_id) + u16(len(value)) + value


def attribute_list(attributes: Sequence[bytes]) -> bytes:
    """An AttributeList: count, length, then the AVAs."""
    body = b"".join(attributes)
    return u16(len(attributes)) + u16(len(body)) + body


def managed_object(obj_class: int, context: int = 0, handle: int = 0) -> bytes:
    """A ManagedObjectId."""
    return u16(obj_class) + u16(context) + u16(handle)


def data_export(ro_type: int, body: bytes) -> bytes:
    """Session header (E1 00, presentation context 2) and ROapdus around ``body``."""
    return u16(SESSION_ID_DATA_EXPORT) + u16(PRESENTATION_CONTEXT) + u16(ro_type) + u16(len(body)) + body


# -- host side -------------------------------------------------------------------------


def poll_profile(min_poll_ticks: int = DEFAULT_MIN_POLL_PERIOD_TICKS, mtu: int = DEFAULT_MTU) -> bytes:
    """The PollProfileSupport attribute value of the association user information."""
    extension = attribute(NOM_ATTR_POLL_PROFILE_EXT, u32(POLL_EXT_OPTIONS) + attribute_list([]))
    return (
        u32(POLL_PROFILE_REV0)
        + u32(min_poll_ticks)
        + u32(mtu)
        + u32(mtu)
        + u32(0xFFFFFFFF)  # no bandwidth limit
        + u32(P_OPT_DYN_CREATE_OBJECTS | P_OPT_DYN_DELETE_OBJECTS)
        + attribute_list([extension])
    )


def _user_info(system_type: int, startup_mode: int) -> bytes:
    objects = b"".join(u16(NOM_PART_OBJ) + u16(code) + u32(count) for code, count in MDIB_OBJECT_SUPPORT)
    supported = attribute_list(
        [
            attribute(NOM_POLL_PROFILE_SUPPORT, poll_profile()),
            attribute(NOM_MDIB_OBJ_SUPPORT, u16(len(MDIB_OBJECT_SUPPORT)) + u16(len(objects)) + objects),
        ]
    )
    return (
        u32(MDDL_VERSION_1)
        + u32(NOMENCLATURE_VERSION_1)
        + u32(0)  # functional units
        + u32(system_type)
        + u32(startup_mode)
        + attribute_list([])  # option list
        + supported
    )


def _association(spdu: int, system_type: int, startup_mode: int) -> bytes:
    user_info = _user_info(system_type, startup_mode)
    presentation = (
        ASSOC_PRESENTATION_HEADER
        + bytes([ASSOC_USER_INFO_TAG, 0x82])
        + u16(len(user_info))
        + user_info
        + ASSOC_PRESENTATION_TRAILER
    )
    session = ASSOC_SESSION_DATA + b"\xc1" + length_indicator(len(presentation)) + presentation
    return bytes([spdu]) + length_indicator(len(session)) + session


def association_request() -> bytes:
    """User data of the association request a host sends (client, cold start)."""
    return _association(SPDU_ASSOC_REQUEST, SYST_CLIENT, COLD_START)


def mds_create_result(invoke_id: int, mds: bytes, current_time: int) -> bytes:
    """User data of the MDS Create Event Result answering a monitor's MDS Create Event Report."""
    result = mds + u32(current_time) + u16(NOM_NOTI_MDS_CREAT) + u16(0)
    return data_export(
        RORS_APDU, u16(invoke_id) + u16(CMD_CONFIRMED_EVENT_REPORT) + u16(len(result)) + result
    )


def event_report_result(invoke_id: int, obj: bytes, current_time: int, event_type: int) -> bytes:
    """User data of the result of any confirmed event report."""
    result = obj + u32(current_time) + u16(event_type) + u16(0)
    return data_export(
        RORS_APDU, u16(invoke_id) + u16(CMD_CONFIRMED_EVENT_REPORT) + u16(len(result)) + result
    )


def extended_poll_request(
    invoke_id: int, poll_number: int, obj_code: int = NOM_MOC_VMO_METRIC_NU, period_ticks: int | None = None
) -> bytes:
    """User data of an Extended Poll (action 0xF13B) for one object class, e.g. numerics."""
    extra = [attribute(NOM_ATTR_TIME_PD_POLL, u32(period_ticks))] if period_ticks is not None else []
    request = u16(poll_number) + u16(NOM_PART_OBJ) + u16(obj_code) + u16(0) + attribute_list(extra)
    action = (
        managed_object(NOM_MOC_VMS_MDS)
        + u32(0)
        + u16(NOM_ACT_POLL_MDIB_DATA_EXT)
        + u16(len(request))
        + request
    )
    return data_export(ROIV_APDU, u16(invoke_id) + u16(CMD_CONFIRMED_ACTION) + u16(len(action)) + action)


def mds_poll_request(invoke_id: int, poll_number: int) -> bytes:
    """User data of a single poll (action 0x0C16) of the MDS object, as the public host sends to keep alive."""
    request = u16(poll_number) + u16(NOM_PART_OBJ) + u16(NOM_MOC_VMS_MDS) + u16(0)
    action = managed_object(NOM_MOC_VMS_MDS) + u32(0) + u16(NOM_ACT_POLL_MDIB_DATA) + u16(len(request)) + request
    return data_export(ROIV_APDU, u16(invoke_id) + u16(CMD_CONFIRMED_ACTION) + u16(len(action)) + action)


def abort_request() -> bytes:
    """User data of the abort a host sends before associating again (the monitor's abort shape)."""
    return ABORT


# -- monitor side (emulator, tests) ------------------------------------------------------


def association_result() -> bytes:
    """User data of an association accept as the emulator sends it (server, hot start).

    Modelled on the request's structure; a real monitor's accept differs in detail, and the host
    reads only its SPDU type and length.
    """
    return _association(SPDU_ASSOC_ACCEPT, SYST_SERVER, HOT_START)


def mds_create_event_report(
    invoke_id: int, event_time: int, mds_handle: int = 0, attrs: Sequence[bytes] = ()
) -> bytes:
    """User data of the MDS Create Event Report a monitor sends after accepting an association."""
    info = managed_object(NOM_MOC_VMS_MDS, 0, mds_handle) + attribute_list(attrs)
    argument = managed_object(NOM_MOC_VMS_MDS, 0, mds_handle) + u32(event_time) + u16(NOM_NOTI_MDS_CREAT)
    argument += u16(len(info)) + info
    return data_export(
        ROIV_APDU, u16(invoke_id) + u16(CMD_CONFIRMED_EVENT_REPORT) + u16(len(argument)) + argument
    )


@dataclass(frozen=True, slots=True)
class NumericValue:
    """One NuObsValue: physiological id, measurement state, unit code and raw FLOAT."""

    physio_id: int
    state: int
    unit: int
    raw: int

    def encode(self) -> bytes:
        """The 10-byte wire form."""
        return u16(self.physio_id) + u16(self.state) + u16(self.unit) + u32(self.raw)


@dataclass(frozen=True, slots=True)
class Observation:
    """One polled numeric object: its handle, values and (when sent) its relative time stamp."""

    handle: int
    values: tuple[NumericValue, ...]
    compound: bool = False
    rel_time: int | None = None
    type_code: int | None = None
    #: TIME_STAMP_ABS (0x0990) as sent: 8 BCD bytes.
    abs_time: bytes | None = None
    #: The MDS clock (TIME_ABS 0x0987 / TIME_REL 0x098F), on the MDS object of an MDS poll.
    clock_abs: bytes | None = None
    clock_rel: int | None = None
    #: Further attributes as sent before the value (labels, display resolution, colour...).
    extra: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        """An ObservationPoll: ID_TYPE, the extra attributes, time stamps, then the value attribute."""
        attrs = []
        if self.type_code is not None:
            attrs.append(attribute(NOM_ATTR_ID_TYPE, u16(NOM_PART_SCADA) + u16(self.type_code)))
        attrs.extend(self.extra)
        if self.clock_abs is not None:
            attrs.append(attribute(NOM_ATTR_TIME_ABS, self.clock_abs))
        if self.clock_rel is not None:
            attrs.append(attribute(NOM_ATTR_TIME_REL, u32(self.clock_rel)))
        if self.abs_time is not None:
            attrs.append(attribute(NOM_ATTR_TIME_STAMP_ABS, self.abs_time))
        if self.rel_time is not None:
            attrs.append(attribute(NOM_ATTR_TIME_STAMP_REL, u32(self.rel_time)))
        if self.compound:
            body = b"".join(v.encode() for v in self.values)
            attrs.append(attribute(NOM_ATTR_NU_CMPD_VAL_OBS, u16(len(self.values)) + u16(len(body)) + body))
        else:
            for v in self.values:
                attrs.append(attribute(NOM_ATTR_NU_VAL_OBS, v.encode()))
        return u16(self.handle) + attribute_list(attrs)


def poll_reply(
    invoke_id: int,
    poll_number: int,
    rel_time: int,
    observations: Iterable[Observation],
    *,
    sequence_no: int = 0,
    context_id: int = 0,
    linked: int | None = None,
    linked_count: int = 1,
    abs_time: bytes = bytes(8),
    obj_code: int = NOM_MOC_VMO_METRIC_NU,
    action: int = NOM_ACT_POLL_MDIB_DATA_EXT,
    contexts: Sequence[Sequence[Observation]] | None = None,
) -> bytes:
    """User data of an Extended Poll result carrying ``observations`` (one context).

    ``linked`` sends it as a linked result part (RORLS_FIRST / ..._NOT_FIRST_NOT_LAST / ..._LAST).
    Built from the guide's structures; the exact nesting a monitor uses is unconfirmed.
    """
    groups = [list(observations)] if contexts is None else [list(c) for c in contexts]
    context_bytes = []
    for index, group in enumerate(groups):
        obs = [o.encode() for o in group]
        obs_body = b"".join(obs)
        context_bytes.append(u16(context_id + index) + u16(len(obs)) + u16(len(obs_body)) + obs_body)
    info_body = b"".join(context_bytes)
    info_list = u16(len(context_bytes)) + u16(len(info_body)) + info_body
    # The single poll (0x0C16) has no sequence number; the extended poll does.
    sequence = u16(sequence_no) if action == NOM_ACT_POLL_MDIB_DATA_EXT else b""
    reply = (
        u16(poll_number)
        + sequence
        + u32(rel_time)
        + abs_time
        + u16(NOM_PART_OBJ)
        + u16(obj_code)
        + u16(0)
        + info_list
    )
    result = managed_object(NOM_MOC_VMS_MDS) + u16(action) + u16(len(reply)) + reply
    header = u16(invoke_id) + u16(CMD_CONFIRMED_ACTION) + u16(len(result))
    if linked is None:
        return data_export(RORS_APDU, header + result)
    return data_export(ROLRS_APDU, bytes([linked, linked_count & 0xFF]) + header + result)


# -- parsing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionMessage:
    """A session-layer message (association, release, abort); only its type matters to the host."""

    spdu: int
    lengths_agree: bool = True


@dataclass(frozen=True, slots=True)
class RemoteOperation:
    """A data-export message: remote-operation type, invoke id, command and body."""

    ro_type: int
    invoke_id: int
    command: int
    body: bytes
    linked_state: int | None = None
    #: False when an outer length field (session, ROapdus, operation body) disagreed with the bytes.
    lengths_agree: bool = True


@dataclass(frozen=True, slots=True)
class EventReport:
    """A (confirmed) event report's argument."""

    obj: bytes
    event_time: int
    event_type: int
    info: bytes


@dataclass(frozen=True, slots=True)
class PollResult:
    """The observations of one Extended Poll result (or one linked part of it)."""

    poll_number: int
    sequence_no: int
    rel_time: int
    obj_code: int
    observations: tuple[Observation, ...] = field(default_factory=tuple)
    #: The poll's AbsoluteTime (8 BCD bytes; all zero or FF when the monitor's clock is not set).
    abs_time: bytes = bytes(8)
    action: int = NOM_ACT_POLL_MDIB_DATA_EXT


def parse_user_data(data: bytes) -> SessionMessage | RemoteOperation:
    """Classify and strictly unpack one frame's user data."""
    if not data:
        raise MessageError("empty user data")
    first = data[0]
    if first in (
        SPDU_ASSOC_REQUEST,
        SPDU_ASSOC_ACCEPT,
        SPDU_ASSOC_REFUSE,
        SPDU_RELEASE_REQUEST,
        SPDU_RELEASE_RESPONSE,
        SPDU_ABORT,
    ):
        reader = Reader(data, "session message")
        reader.u8()
        length = read_length_indicator(reader)
        return SessionMessage(first, length == reader.remaining)
    reader = Reader(data, "data export message")
    session_id = reader.u16()
    if session_id != SESSION_ID_DATA_EXPORT:
        raise MessageError(f"unknown session id {session_id:04X}")
    reader.u16()  # presentation context
    ro_type = reader.u16()
    # Outer lengths are noted, not insisted on: the FCS vouches for the bytes and public hosts
    # read such messages by their structure.
    agree = reader.u16() == reader.remaining
    linked_state = None
    if ro_type == ROLRS_APDU:
        linked_state = reader.u8()
        reader.u8()  # count of the part
        if linked_state not in (RORLS_FIRST, RORLS_NOT_FIRST_NOT_LAST, RORLS_LAST):
            raise MessageError(f"unknown linked-result state {linked_state}")
    elif ro_type not in (ROIV_APDU, RORS_APDU, ROER_APDU):
        raise MessageError(f"unknown remote operation type {ro_type}")
    invoke_id = reader.u16()
    command = reader.u16()  # for ROER this is the error value
    agree = reader.u16() == reader.remaining and agree
    return RemoteOperation(ro_type, invoke_id, command, bytes(reader.take(reader.remaining)), linked_state, agree)


def parse_event_report(body: bytes) -> EventReport:
    """The argument of an event report (ROIV, command 0 or 1)."""
    reader = Reader(body, "event report")
    obj = bytes(reader.take(6))
    event_time = reader.u32()
    event_type = reader.u16()
    reader.u16()  # length of the information: the rest of the body, whatever it says
    return EventReport(obj, event_time, event_type, bytes(reader.take(reader.remaining)))


@dataclass(frozen=True, slots=True)
class MdsClock:
    """The monitor's clock from the MDS attributes: TIME_ABS read as naive seconds, and TIME_REL ticks."""

    abs_naive: float | None
    rel: int | None


def parse_mds_attributes(info: bytes) -> MdsClock:
    """The clock attributes of an MDS Create Event Report's information (MDS id + attribute list)."""
    reader = Reader(info, "MDS create information")
    reader.take(6)  # the MDS's managed object id
    if reader.remaining < 4:
        return MdsClock(None, None)
    count = reader.u16()
    attrs = reader.sub(min(reader.u16(), reader.remaining), "MDS attribute list")
    abs_naive: float | None = None
    rel: int | None = None
    for _ in range(count):
        attr_id = attrs.u16()
        value = attrs.sub(attrs.u16(), f"MDS attribute {attr_id:04X}")
        if attr_id == NOM_ATTR_TIME_ABS and value.remaining >= 8:
            abs_naive = decode_abs_time(bytes(value.take(8)))
        elif attr_id == NOM_ATTR_TIME_REL and value.remaining >= 4:
            rel = value.u32()
    return MdsClock(abs_naive, rel)


def _parse_numeric(reader: Reader) -> NumericValue:
    return NumericValue(reader.u16(), reader.u16(), reader.u16(), reader.u32())


def _parse_observation(reader: Reader) -> Observation:
    handle = reader.u16()
    count = reader.u16()
    length = reader.u16()
    attrs = reader.sub(length, "attribute list")
    values: list[NumericValue] = []
    compound = False
    rel_time: int | None = None
    type_code: int | None = None
    abs_time: bytes | None = None
    clock_abs: bytes | None = None
    clock_rel: int | None = None
    # Each attribute is read within its own length; bytes an attribute does not use are skipped,
    # as the public hosts do (they rely on the FCS, not on every length agreeing).
    for _ in range(count):
        attr_id = attrs.u16()
        value = attrs.sub(attrs.u16(), f"attribute {attr_id:04X}")
        if attr_id == NOM_ATTR_NU_VAL_OBS:
            values.append(_parse_numeric(value))
        elif attr_id == NOM_ATTR_NU_CMPD_VAL_OBS:
            compound = True
            n = value.u16()
            body = value.sub(min(value.u16(), value.remaining), "compound value")
            for _ in range(n):
                values.append(_parse_numeric(body))
        elif attr_id == NOM_ATTR_TIME_STAMP_REL:
            rel_time = value.u32()
        elif attr_id == NOM_ATTR_TIME_STAMP_ABS:
            abs_time = bytes(value.take(8))
        elif attr_id == NOM_ATTR_TIME_ABS:
            clock_abs = bytes(value.take(8))
        elif attr_id == NOM_ATTR_TIME_REL:
            clock_rel = value.u32()
        elif attr_id == NOM_ATTR_ID_TYPE:
            value.u16()
            type_code = value.u16()
        # Every other attribute (labels, handles, display...) is skipped whole.
    return Observation(handle, tuple(values), compound, rel_time, type_code, abs_time, clock_abs, clock_rel)


def parse_poll_result(body: bytes) -> PollResult:
    """A poll result body (ActionResult of an Extended Poll 0xF13B or a single poll 0x0C16).

    Counts drive the reading; each list is read within its own length, and a length that
    promises more than the message holds is an error. Outer length fields are not insisted on.
    """
    reader = Reader(body, "poll result")
    reader.take(6)  # managed object (the MDS)
    action = reader.u16()
    if action not in (NOM_ACT_POLL_MDIB_DATA_EXT, NOM_ACT_POLL_MDIB_DATA):
        raise MessageError(f"action result {action:04X} is not a poll")
    reader.u16()  # length of the rest
    poll_number = reader.u16()
    sequence_no = reader.u16() if action == NOM_ACT_POLL_MDIB_DATA_EXT else 0
    rel_time = reader.u32()
    abs_time = bytes(reader.take(8))
    reader.u16()  # partition
    obj_code = reader.u16()
    reader.u16()  # attribute group
    contexts = reader.u16()
    info = reader.sub(min(reader.u16(), reader.remaining), "poll info list")
    observations: list[Observation] = []
    for _ in range(contexts):
        info.u16()  # context id
        count = info.u16()
        polls = info.sub(info.u16(), "single context poll")
        for _ in range(count):
            observations.append(_parse_observation(polls))
    return PollResult(poll_number, sequence_no, rel_time, obj_code, tuple(observations), abs_time, action)


def read_messages(
    deframer: Deframer,
    data: bytes,
    reject: Callable[[str], None],
    tolerate: Callable[[str], None] | None = None,
) -> Iterator[SessionMessage | RemoteOperation]:
    """Messages completed by ``data``; a frame with a bad FCS or content goes to ``reject`` and is skipped.

    A frame whose FCS holds but whose length fields disagree with its bytes is read all the same
    (as public hosts do) and reported to ``tolerate``. Used by both ends of the link.
    """
    for content in deframer.feed(data):
        body = check_fcs(content)
        if body is None:
            reject("FCS mismatch")
            continue
        try:
            message = parse_user_data(split_header(body))
        except (FrameError, MessageError) as exc:
            reject(str(exc))
            continue
        if tolerate is not None and not (header_length_agrees(body) and message.lengths_agree):
            tolerate("length fields disagree with the frame (FCS good)")
        yield message
