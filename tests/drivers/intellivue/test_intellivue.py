"""Philips IntelliVue Data Export: framing, FCS, FLOAT, host messages and the host state machine.

Byte-exact against ``../shared/protocols/intellivue_vectors.txt`` (FCS examples, FLOAT examples and
frames a working host sent to a real monitor, its abort included). The monitor's answers have no
public capture: the MDS Create Event Report and a poll reply are written out here by hand, field
by field, as the guide's structures and the public host VSCaptureMP's fixed offsets lay them out
(labels, an absolute time stamp only, kPa, respiration), and the driver must read those; the
emulator's conversations are checked separately.
"""

from __future__ import annotations

import calendar
import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.core.readings import UNRELIABLE, Flag, Parameter, Reading, is_plausible
from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import AssociationState, IntelliVueDecoder, IntelliVueSettings
from drivers.intellivue.emulator import IntelliVueMonitor
from drivers.intellivue.framing import (
    MAX_FRAME_BYTES,
    Deframer,
    check_fcs,
    encode_frame,
    fcs16,
    header_length_agrees,
    split_header,
    wrap,
)
from drivers.intellivue.values import (
    FLOAT_NAN,
    FLOAT_NEG_INF,
    FLOAT_NRES,
    FLOAT_POS_INF,
    NOM_DIM_MMHG,
    NOM_ECG_CARD_BEAT_RATE,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_SYS,
    decode_abs_time,
    decode_float,
    encode_abs_time,
    encode_float,
    state_flags,
)
from drivers.patient.vitals import PatientFeed
from drivers.settings import SettingsError
from tests.drivers.exchange import expected_protocol
from tests.drivers.vectors import hex_vector, raw_vectors

FILE = "intellivue_vectors.txt"
T0 = 1_700_000_000.0


def vec(name: str) -> bytes:
    return hex_vector(FILE, name)


# -- FCS and framing ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "payload"), [("fcs_3a71", b"\x3a\x71"), ("fcs_3a91_escaped", b"\x3a\x91")])
def test_fcs_vectors_decode_and_encode_byte_exact(name: str, payload: bytes) -> None:
    wire = vec(name)
    deframer = Deframer()
    frames = deframer.feed(wire)
    assert len(frames) == 1
    assert check_fcs(frames[0]) == payload
    assert wrap(payload) == wire
    assert deframer.counters.resyncs == 0


def test_fcs_is_crc16_x25() -> None:
    # The catalogue check value of CRC-16/X.25 over "123456789".
    assert fcs16(b"123456789") == 0x906E


def test_escaped_fcs_byte_is_unescaped_before_checking() -> None:
    # The second FCS byte of 3A 91 is C1 itself and travels as 7D E1.
    assert b"\x7d\xe1" in vec("fcs_3a91_escaped")


CAPTURED = [
    "assoc_request_frame_0",
    "ext_poll_request_frame_0001_1",
    "mds_create_event_result_frame_2",
    "get_or_set_rtsa_prio_frame_0003_3",
    "get_or_set_rtsa_prio_frame_0005_4",
]


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_host_frames_have_valid_fcs_and_parse(name: str) -> None:
    deframer = Deframer()
    frames = deframer.feed(vec(name))
    assert len(frames) == 1
    body = check_fcs(frames[0])
    assert body is not None
    message = msg.parse_user_data(split_header(body))
    assert isinstance(message, (msg.SessionMessage, msg.RemoteOperation))
    # Re-framing the content reproduces the wire bytes, escapes included.
    assert encode_frame(split_header(body)) == vec(name)


def test_host_messages_are_built_byte_exact() -> None:
    assert encode_frame(msg.association_request()) == vec("assoc_request_frame_0")
    assert encode_frame(msg.extended_poll_request(1, 1, period_ticks=30 * 8000)) == vec(
        "ext_poll_request_frame_0001_1"
    )
    assert encode_frame(msg.mds_create_result(1, msg.managed_object(0x21), 0x000ABD00)) == vec(
        "mds_create_event_result_frame_2"
    )


def test_resync_vector_drops_partial_abort_and_keeps_next_frame() -> None:
    deframer = Deframer()
    frames = deframer.feed(vec("resync_partial_abort_then_assoc_request"))
    assert len(frames) == 1
    assert check_fcs(frames[0]) is not None
    assert split_header(check_fcs(frames[0]) or b"") == msg.association_request()
    assert deframer.counters.restarted == 1


def test_resync_vector_byte_by_byte_gives_the_same() -> None:
    deframer = Deframer()
    frames = [f for b in vec("resync_partial_abort_then_assoc_request") for f in deframer.feed(bytes([b]))]
    assert len(frames) == 1
    assert split_header(check_fcs(frames[0]) or b"") == msg.association_request()


def test_abort_sequence_drops_the_frame() -> None:
    good = encode_frame(msg.RELEASE_REQUEST)
    deframer = Deframer()
    frames = deframer.feed(b"\xc0\x11\x01\x00\x05\x7d\xc1" + good)
    assert len(frames) == 1
    assert deframer.counters.aborted == 1


def test_stray_bytes_and_bad_escapes_are_counted_and_skipped() -> None:
    good = encode_frame(msg.RELEASE_REQUEST)
    deframer = Deframer()
    frames = deframer.feed(b"noise" + b"\xc0\x11\x7d\x41\x00" + good + b"\x00\x01")
    assert frames == [deframer_content(good)]
    assert deframer.counters.stray == 2  # the noise before the first BOF, and the bytes after the frame
    assert deframer.counters.bad_escape == 1


def deframer_content(wire: bytes) -> bytes:
    (content,) = Deframer().feed(wire)
    return content


def test_oversize_frame_is_dropped() -> None:
    deframer = Deframer()
    frames = deframer.feed(b"\xc0" + b"\x01" * (MAX_FRAME_BYTES + 10) + b"\xc1" + encode_frame(b"\x09\x00"))
    assert len(frames) == 1
    assert deframer.counters.oversize == 1


def test_header_length_is_noted_not_insisted_on() -> None:
    body = struct.pack(">BBH", 0x11, 0x01, 10) + b"\x00" * 3
    assert split_header(body) == b"\x00" * 3
    assert not header_length_agrees(body)
    assert header_length_agrees(struct.pack(">BBH", 0x11, 0x01, 3) + b"\x00" * 3)
    with pytest.raises(ValueError, match="unknown frame header"):
        split_header(struct.pack(">BBH", 0x12, 0x01, 3) + b"\x00" * 3)


# -- FLOAT and measurement state ---------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in raw_vectors(FILE) if n.startswith("float_")])
def test_float_vectors(name: str) -> None:
    raw = int(name.removeprefix("float_"), 16)
    assert decode_float(raw) == float(raw_vectors(FILE)[name])


@pytest.mark.parametrize("raw", [FLOAT_NAN, FLOAT_NRES, FLOAT_POS_INF, FLOAT_NEG_INF, 0xFF7FFFFF, 0x02800000])
def test_float_special_values_are_missing(raw: int) -> None:
    assert decode_float(raw) is None


def test_float_negative_mantissa_and_round_trip() -> None:
    assert decode_float(0xFFFFFFF6) == -1.0  # exponent -1, mantissa -10
    for value, decimals in [(98.0, 0), (36.6, 1), (120.0, 0), (0.0, 0), (-5.25, 2)]:
        assert decode_float(encode_float(value, decimals)) == pytest.approx(value)
    assert encode_float(None) == FLOAT_NAN


def test_state_bits_become_flags() -> None:
    assert state_flags(0x8000) == {Flag.INVALID}
    assert state_flags(0x4000) == {Flag.QUESTIONABLE}
    assert state_flags(0x2000) == {Flag.UNAVAILABLE}
    assert state_flags(0x1000) == {Flag.CALIBRATING}
    assert state_flags(0x0800) == {Flag.TEST_DATA}
    assert state_flags(0x0400) == {Flag.DEMO_DATA}
    assert state_flags(0x0000) == frozenset()
    assert Flag.DEMO_DATA in UNRELIABLE
    assert Flag.TEST_DATA in UNRELIABLE


# -- exact exchanges (what the host sends, what the monitor answers) ---------------------

# A public host (VSCaptureMP's capture) sends an abort right before an association request; the
# capture keeps the abort's first bytes up to the BOF that starts the request.
CAPTURED_ABORT_PREFIX = vec("resync_partial_abort_then_assoc_request").split(b"\xc0")[1]
START = encode_frame(msg.abort_request()) + vec("assoc_request_frame_0")


def test_the_host_abort_is_the_captured_one() -> None:
    assert encode_frame(msg.abort_request())[1:].startswith(CAPTURED_ABORT_PREFIX)
    assert msg.parse_user_data(msg.abort_request()) == msg.SessionMessage(msg.SPDU_ABORT)


def run_exchange(decoder: IntelliVueDecoder, pairs: list[tuple[float, bytes, bytes]]) -> list[Reading]:
    """At each time the host must send exactly ``sent``; then ``received`` arrives."""
    with expected_protocol(decoder, pairs) as talk:
        return talk.play()


def accept_and_report(event_time: int = 0x000ABD00, attrs: tuple[bytes, ...] = ()) -> bytes:
    report = msg.mds_create_event_report(1, event_time, attrs=attrs)
    return encode_frame(msg.association_result()) + encode_frame(report)


# An MDS Create Event Report laid out as the guide's structures and as VSCaptureMP reads it (it
# skips 34 bytes, then reads the MDS attribute list): invoke 1, event time 0x000ABD00, then
# TIME_ABS 2026-12-04 21:30:00.00 on a monitor set to UTC+1, and TIME_REL 0x000ABD00.
MDS_REPORT = bytes.fromhex(
    "E1000002 0001 0032"  # session header, ROIV, length 50
    "0001 0001 002C"  # invoke 1, confirmed event report, 44 bytes
    "0021 0000 0000 000ABD00 0D06 001E"  # MDS, event time, MDS create, 30 bytes of information
    "0021 0000 0000"  # the MDS object
    "0002 0014"  # two attributes, 20 bytes
    "0987 0008 2026120421300000"  # TIME_ABS (BCD, the monitor's local time)
    "098F 0004 000ABD00"  # TIME_REL
)
MDS_AT = float(calendar.timegm((2026, 12, 4, 20, 30, 0)))  # when it arrives (UTC): the clock is 1 h ahead

# A poll reply laid out as VSCaptureMP reads it (action type at offset 20, poll info list at 46):
# one context with NBP in kPa stamped only with TIME_STAMP_ABS (21:29:30 monitor time), labelled
# "NBP"; RR 14/min labelled "RESP" without any stamp; etCO2 38 mmHg with TIME_STAMP_REL.
POLL_REPLY = bytes.fromhex(
    "E1000002 0002 00BA"  # session header, RORS, 186 bytes
    "0005 0007 00B4"  # invoke 5, confirmed action, 180 bytes
    "0021 0000 0000 F13B 00AA"  # MDS, Extended Poll result, 170 bytes
    "0005 0000 000B71B0 2026120421301000"  # poll 5, sequence 0, RelativeTime, AbsoluteTime 21:30:10
    "0001 0006 0000"  # numerics, attribute group 0
    "0001 0090 0000 0003 008A"  # one context (id 0) with 3 observations
    "0104 0004 0046"  # NBP, 4 attributes
    "092F 0004 0002 4A04"  # type: NBP
    "0927 0008 0006 004E00420050"  # label string "NBP"
    "0990 0008 2026120421293000"  # TIME_STAMP_ABS
    "094B 0022 0003 001E"  # compound value: 3 x 10 bytes
    "4A05 0000 0F03 FF0000A0"  # systolic 16.0 kPa
    "4A06 0000 0F03 FF00006B"  # diastolic 10.7 kPa
    "4A07 0000 0F03 FF000084"  # mean 13.2 kPa
    "0108 0002 001C"  # RESP
    "0927 000A 0008 0052004500530050"  # label string "RESP"
    "0950 000A 500A 0000 0AE0 0000000E"  # RR 14 /min
    "010A 0002 0016"  # etCO2
    "0950 000A 50B0 0000 0F20 00000026"  # etCO2 38 mmHg
    "0991 0004 000B71B0"  # TIME_STAMP_REL = the poll's
)


def test_as_the_public_host_reads_them() -> None:
    # VSCaptureMP's fixed offsets: the MDS attribute list at 34, the poll's action type at 20 and
    # its poll info list at 46; our builders and the hand-written frames agree with them.
    assert MDS_REPORT[34:38] == bytes.fromhex("00020014")
    assert POLL_REPLY[20:22] == bytes.fromhex("F13B")
    assert POLL_REPLY[46:48] == bytes.fromhex("0001")
    built = msg.mds_create_event_report(1, 0x000ABD00, attrs=[
        msg.attribute(msg.NOM_ATTR_TIME_ABS, bytes.fromhex("2026120421300000")),
        msg.attribute(msg.NOM_ATTR_TIME_REL, bytes.fromhex("000ABD00")),
    ])
    assert built == MDS_REPORT
    _, monitor, _ = associated_pair()
    report = monitor.receive(vec("assoc_request_frame_0"), T0)
    frames = [split_header(check_fcs(f) or b"") for f in Deframer().feed(report)]
    assert len(frames) == 2
    mds = frames[1]
    count = struct.unpack_from(">H", mds, 34)[0]
    assert count == 3  # system type, TIME_ABS, TIME_REL
    clock = msg.parse_mds_attributes(msg.parse_event_report(msg.parse_user_data(mds).body).info)  # type: ignore[union-attr]
    # A linked reply part: two more bytes (state, count) before the invoke id, so the action type
    # sits at 22 and the poll info list at 48, where VSCaptureMP reads them.
    linked = IntelliVueMonitor(PatientFeed(seed=3, start=T0), clock_origin=T0 - 100.0, linked_replies=True)
    linked.receive(vec("assoc_request_frame_0") + vec("mds_create_event_result_frame_2"), T0)
    answer = linked.receive(vec("ext_poll_request_frame_0001_1"), T0)
    parts = [split_header(check_fcs(f) or b"") for f in Deframer().feed(answer)]
    assert [p[4:6] for p in parts] == [b"\x00\x05", b"\x00\x05"]  # RORLS
    assert [p[8] for p in parts] == [msg.RORLS_FIRST, msg.RORLS_LAST]
    assert all(p[22:24] == bytes.fromhex("F13B") and p[48:50] == bytes.fromhex("0001") for p in parts)
    assert clock.abs_naive == pytest.approx(T0 + 3600, abs=0.01)  # the monitor's local clock
    assert clock.rel == monitor.ticks(T0)


def test_association_and_first_poll_exchange_is_byte_exact() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(poll_interval=1.0))
    reply = encode_frame(msg.poll_reply(1, 1, 0x000ABD00 + 8000, []))
    run_exchange(
        decoder,
        [
            (T0, START, accept_and_report()),
            (T0 + 0.1, vec("mds_create_event_result_frame_2") + vec("ext_poll_request_frame_0001_1"), reply),
        ],
    )
    assert decoder.state is AssociationState.ASSOCIATED
    # The next poll waits for the interval, then counts invoke id and poll number up.
    assert decoder.outgoing(T0 + 0.5) == b""
    assert decoder.outgoing(T0 + 1.1) == encode_frame(msg.extended_poll_request(2, 2, period_ticks=240000))
    assert decoder.counters.frames_rejected == 0


def test_hand_written_reply_kpa_absolute_stamp_and_breathing() -> None:
    decoder = IntelliVueDecoder()
    assert decoder.outgoing(MDS_AT) == START
    decoder.feed(encode_frame(msg.association_result()) + encode_frame(MDS_REPORT), MDS_AT)
    assert decoder.outgoing(MDS_AT) == vec("mds_create_event_result_frame_2") + vec("ext_poll_request_frame_0001_1")
    received = MDS_AT + 10.2
    readings = {r.parameter: r for r in decoder.feed(encode_frame(POLL_REPLY), received)}
    assert {p: r.value for p, r in readings.items()} == {
        Parameter.NIBP_SYS: 120.0,
        Parameter.NIBP_DIA: 80.3,
        Parameter.NIBP_MEAN: 99.0,
        Parameter.RR: 14.0,
        Parameter.ETCO2: 38.0,
    }
    # 21:29:30 on a clock one hour ahead is 20:29:30 UTC: 40.2 s before the reply arrived.
    assert readings[Parameter.NIBP_SYS].t == pytest.approx(MDS_AT - 30, abs=0.01)
    assert readings[Parameter.ETCO2].t == received  # TIME_STAMP_REL equal to the poll's: age 0
    assert readings[Parameter.RR].t == received  # no stamp: receive time
    assert readings[Parameter.RR].unit == "/min" and readings[Parameter.ETCO2].unit == "mm[Hg]"
    assert decoder.counters.frames_rejected == 0
    assert decoder.length_mismatches == 0


def test_absolute_stamp_without_the_monitor_clock_uses_the_poll_time() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)  # an MDS report without attributes: no clock
    readings = {r.parameter: r for r in decoder.feed(encode_frame(POLL_REPLY), T0 + 5)}
    # The poll says 21:30:10, the NBP 21:29:30: 40 s before the poll arrived.
    assert readings[Parameter.NIBP_SYS].t == pytest.approx(T0 + 5 - 40, abs=0.01)


def test_lengths_that_disagree_are_read_when_the_fcs_holds() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    sloppy = bytearray(POLL_REPLY)
    sloppy[6:8] = b"\x00\x00"  # ROapdus length 0
    sloppy[22:24] = b"\x12\x34"  # action result length wrong
    frame = encode_frame(bytes(sloppy))
    header_wrong = bytearray(Deframer().feed(frame)[0][:-2])
    header_wrong[2:4] = b"\x00\x01"  # frame header length wrong, FCS recomputed: as a monitor sent it
    readings = decoder.feed(wrap(bytes(header_wrong)), T0 + 1)
    assert {r.parameter for r in readings} >= {Parameter.NIBP_SYS, Parameter.RR, Parameter.ETCO2}
    assert decoder.length_mismatches == 1
    assert decoder.counters.frames_rejected == 0


def associated_pair(**monitor_options: object) -> tuple[IntelliVueDecoder, IntelliVueMonitor, PatientFeed]:
    feed = PatientFeed(seed=3, start=T0, cuff_at_start=True, cuff_duration_s=2.0, auto_cuff_every_s=60.0)
    monitor = IntelliVueMonitor(feed, clock_origin=T0 - 100.0, **monitor_options)  # type: ignore[arg-type]
    decoder = IntelliVueDecoder()
    return decoder, monitor, feed


def converse(decoder: IntelliVueDecoder, monitor: IntelliVueMonitor, at: float, link_up: bool = True) -> list[Reading]:
    """One turn: the host sends what is due, the monitor answers (when the link is up), the host decodes."""
    readings: list[Reading] = []
    sent = decoder.outgoing(at)
    while sent and link_up:
        answer = monitor.receive(sent, at)
        readings.extend(decoder.feed(answer, at))
        sent = decoder.outgoing(at)
    return readings


def test_poll_replies_become_readings_with_nbp_once_per_measurement() -> None:
    decoder, monitor, feed = associated_pair()
    first = converse(decoder, monitor, T0 + 0.5)
    params = [r.parameter for r in first]
    for p in (Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.RR, Parameter.ETCO2):
        assert params.count(p) == 1, p  # RR once, although impedance and airway RR are both sent
    nibp = {r.parameter: r for r in first if r.parameter.value.startswith("nibp")}
    cuff = feed.cuffs[0]
    assert nibp[Parameter.NIBP_SYS].value == cuff.sys
    assert nibp[Parameter.NIBP_DIA].value == cuff.dia
    assert nibp[Parameter.NIBP_MEAN].value == cuff.mean
    # The measurement's own time, from the relative time stamps, not the poll's.
    assert nibp[Parameter.NIBP_SYS].t == pytest.approx(cuff.t, abs=1e-3)
    second = converse(decoder, monitor, T0 + 1.5)
    assert not [r for r in second if r.parameter.value.startswith("nibp")]
    assert [r.parameter for r in second].count(Parameter.HR) == 1
    # The monitor's cycle measures again at 60 s (+2 s cuff): one new NIBP triple.
    later = [r for k in range(55, 70) for r in converse(decoder, monitor, T0 + k + 0.5)]
    later_nibp = [r for r in later if r.parameter is Parameter.NIBP_SYS]
    assert len(later_nibp) == 1
    assert later_nibp[0].value == feed.cuffs[1].sys
    assert decoder.counters.frames_rejected == 0
    # PVC, perfusion and temperature are shown by the monitor and not recorded.
    assert decoder.counters.unknown_items > 0


@pytest.mark.parametrize("stamps", ["abs", "both"])
def test_nbp_with_absolute_stamps_in_the_monitor_clock(stamps: str) -> None:
    decoder, monitor, feed = associated_pair(nbp_stamps=stamps, clock_offset_s=-5 * 3600.0)
    readings = converse(decoder, monitor, T0 + 40.5)  # the cuff value is 40 s old at association
    (sys,) = [r for r in readings if r.parameter is Parameter.NIBP_SYS]
    assert sys.t == pytest.approx(feed.cuffs[0].t, abs=0.011)  # BCD keeps hundredths


def test_nbp_in_kpa_is_converted() -> None:
    decoder, monitor, feed = associated_pair(nbp_kpa=True)
    readings = {r.parameter: r for r in converse(decoder, monitor, T0 + 0.5)}
    cuff = feed.cuffs[0]
    assert cuff.sys is not None and cuff.dia is not None
    assert readings[Parameter.NIBP_SYS].value == pytest.approx(cuff.sys, abs=0.5)
    assert readings[Parameter.NIBP_DIA].value == pytest.approx(cuff.dia, abs=0.5)


def test_demo_data_is_flagged_on_every_reading() -> None:
    decoder, monitor, _ = associated_pair(demo=True)
    readings = converse(decoder, monitor, T0 + 0.5) + converse(decoder, monitor, T0 + 1.5)
    assert readings
    assert all(Flag.DEMO_DATA in r.flags and not r.reliable for r in readings)


def test_linked_replies_are_read_part_by_part() -> None:
    decoder, monitor, _ = associated_pair(linked_replies=True)
    readings = converse(decoder, monitor, T0 + 0.5)
    assert {r.parameter for r in readings} == {
        Parameter.HR,
        Parameter.PR,
        Parameter.SPO2,
        Parameter.NIBP_SYS,
        Parameter.NIBP_DIA,
        Parameter.NIBP_MEAN,
        Parameter.RR,
        Parameter.ETCO2,
    }


def test_without_time_stamps_nbp_is_deduplicated_by_value() -> None:
    decoder, monitor, _ = associated_pair(nbp_stamps="none")
    first = converse(decoder, monitor, T0 + 0.5)
    again = converse(decoder, monitor, T0 + 1.5)
    assert len([r for r in first if r.parameter is Parameter.NIBP_SYS]) == 1
    assert not [r for r in again if r.parameter is Parameter.NIBP_SYS]


def associate(decoder: IntelliVueDecoder, at: float) -> None:
    assert decoder.outgoing(at) == START
    decoder.feed(accept_and_report(), at)
    decoder.outgoing(at)  # the MDS result and the first poll
    assert decoder.state is AssociationState.ASSOCIATED


def reply_with(values: list[msg.NumericValue], compound: bool = False, rel: int | None = None) -> bytes:
    obs = msg.Observation(7, tuple(values), compound=compound, rel_time=rel)
    return encode_frame(msg.poll_reply(1, 1, 10_000, [obs]))


def test_single_nbp_numerics_and_states() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    values = [
        msg.NumericValue(NOM_PRESS_BLD_NONINV_SYS, 0x4000, NOM_DIM_MMHG, encode_float(142)),
        msg.NumericValue(NOM_PRESS_BLD_NONINV_DIA, 0x0000, NOM_DIM_MMHG, encode_float(91)),
        msg.NumericValue(NOM_PRESS_BLD_NONINV_MEAN, 0x8000, NOM_DIM_MMHG, FLOAT_NAN),
    ]
    readings = {r.parameter: r for r in decoder.feed(reply_with(values), T0 + 1)}
    assert readings[Parameter.NIBP_SYS].value == 142
    assert readings[Parameter.NIBP_SYS].flags == {Flag.QUESTIONABLE}
    assert readings[Parameter.NIBP_DIA].value == 91
    assert readings[Parameter.NIBP_DIA].reliable
    assert readings[Parameter.NIBP_MEAN].value is None
    assert Flag.INVALID in readings[Parameter.NIBP_MEAN].flags
    assert all(r.t == T0 + 1 for r in readings.values())  # no time stamp: receive time


@pytest.mark.parametrize("raw", [FLOAT_NAN, FLOAT_NRES, FLOAT_POS_INF])
def test_every_missing_value_has_a_reason(raw: int) -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    (reading,) = decoder.feed(reply_with([msg.NumericValue(NOM_ECG_CARD_BEAT_RATE, 0, 0x0AA0, raw)]), T0 + 1)
    assert reading.value is None
    assert reading.flags == {Flag.UNAVAILABLE}


def test_unknown_ids_wrong_units_and_impossible_values() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    values = [
        msg.NumericValue(0x5000, 0, 0x0AA0, encode_float(12)),  # an id we do not record
        msg.NumericValue(0x50B0, 0, 0x0220, encode_float(5)),  # etCO2 in %: needs the air pressure
        msg.NumericValue(NOM_ECG_CARD_BEAT_RATE, 0, 0x0AA0, encode_float(9000)),  # impossible
    ]
    readings = decoder.feed(reply_with(values), T0 + 1)
    assert decoder.counters.unknown_items == 2
    assert len(readings) == 1
    assert readings[0].value is None
    assert Flag.INVALID in readings[0].flags


def test_inconsistent_lengths_are_rejected_and_counted() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    good = msg.poll_reply(1, 1, 10_000, [msg.Observation(7, (msg.NumericValue(0x4182, 0, 0x0AA0, 70),))])
    bad = bytearray(good)
    bad[-12] ^= 0x01  # the numeric attribute now claims more bytes than its list holds
    assert decoder.feed(encode_frame(bytes(bad)), T0 + 1) == []
    assert decoder.counters.frames_rejected == 1
    corrupt = bytearray(encode_frame(good))
    corrupt[20] ^= 0x40  # FCS no longer matches
    assert decoder.feed(bytes(corrupt), T0 + 1) == []
    assert decoder.counters.frames_rejected == 2


# -- association life cycle --------------------------------------------------------------


def test_no_answer_means_abort_then_a_new_association_request() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(answer_timeout=5.0, retry_delay=2.0))
    assert decoder.outgoing(T0) == START
    assert decoder.outgoing(T0 + 4.9) == b""
    assert decoder.outgoing(T0 + 5.1) == encode_frame(msg.abort_request())
    assert decoder.outgoing(T0 + 6.0) == b""
    assert decoder.outgoing(T0 + 7.2) == vec("assoc_request_frame_0")
    assert decoder.association_attempts == 2
    assert decoder.aborts_sent == 2


def test_silence_while_associated_aborts_and_starts_over() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(poll_interval=1.0, silence_timeout=10.0))
    associate(decoder, T0)
    for k in range(1, 10):
        decoder.outgoing(T0 + k)  # polls, never answered
    assert decoder.state is AssociationState.ASSOCIATED
    assert decoder.outgoing(T0 + 10.5) == encode_frame(msg.abort_request())
    assert decoder.outgoing(T0 + 12.6) == vec("assoc_request_frame_0")
    assert decoder.associations_lost == 1


def test_refusal_aborts_first_and_a_monitor_abort_waits() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(retry_delay=2.0))
    decoder.outgoing(T0)
    refuse = bytes([msg.SPDU_ASSOC_REFUSE, 2, 0, 0])
    decoder.feed(encode_frame(refuse), T0 + 0.1)
    assert decoder.state is AssociationState.IDLE
    assert decoder.outgoing(T0 + 1.0) == b""
    assert decoder.outgoing(T0 + 2.2) == vec("assoc_request_frame_0")
    decoder2 = IntelliVueDecoder(IntelliVueSettings(retry_delay=2.0))
    associate(decoder2, T0)
    decoder2.feed(encode_frame(msg.ABORT), T0 + 1)
    assert decoder2.state is AssociationState.IDLE
    assert decoder2.associations_lost == 1
    assert decoder2.outgoing(T0 + 2.0) == b""
    assert decoder2.outgoing(T0 + 3.1) == vec("assoc_request_frame_0")  # the monitor ended it: no abort


def test_monitor_release_is_answered() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    decoder.feed(encode_frame(msg.RELEASE_REQUEST), T0 + 1)
    assert decoder.outgoing(T0 + 1) == encode_frame(msg.RELEASE_RESPONSE)
    assert decoder.state is AssociationState.IDLE


def test_an_accept_arriving_as_the_link_comes_back_is_kept() -> None:
    decoder = IntelliVueDecoder()
    assert decoder.outgoing(T0) == START
    decoder.feed(b"\xc0\x11\x01", T0 + 0.1)  # half a frame, then the link is cut and restored
    decoder.reset()
    decoder.reset()
    decoder.feed(accept_and_report(), T0 + 0.3)  # the accept arrives with the restored link
    assert decoder.state is AssociationState.ASSOCIATED
    assert decoder.outgoing(T0 + 0.3).startswith(vec("mds_create_event_result_frame_2"))
    assert decoder.association_attempts == 1


def test_reassociates_with_a_monitor_that_still_holds_the_association() -> None:
    decoder, monitor, _ = associated_pair()
    assert converse(decoder, monitor, T0 + 0.5)
    # The link is down for 20 s: polls go unanswered, the host gives the association up.
    for k in range(1, 21):
        converse(decoder, monitor, T0 + k, link_up=False)
    assert decoder.state is not AssociationState.ASSOCIATED
    assert monitor.state.value == "associated"  # the monitor still holds the old one
    # A host that only asked again would be ignored for good; this one aborts first.
    readings = [r for k in range(21, 30) for r in converse(decoder, monitor, T0 + k)]
    assert monitor.counters.aborts >= 1
    assert monitor.counters.associations == 2
    assert decoder.state is AssociationState.ASSOCIATED
    assert [r for r in readings if r.parameter is Parameter.HR]


def test_emulator_ignores_a_second_association_while_holding_one() -> None:
    decoder, monitor, _ = associated_pair()
    converse(decoder, monitor, T0 + 0.5)
    assert monitor.receive(vec("assoc_request_frame_0"), T0 + 1) == b""
    assert monitor.counters.refused_while_held == 1
    assert monitor.receive(encode_frame(msg.abort_request()), T0 + 1.1) == b""
    assert monitor.receive(vec("assoc_request_frame_0"), T0 + 1.2) != b""


def test_emulator_accepts_the_mds_result_with_any_invoke_id() -> None:
    _, monitor, _ = associated_pair()
    monitor.receive(vec("assoc_request_frame_0"), T0)
    monitor.receive(encode_frame(msg.mds_create_result(7, msg.managed_object(0x21), 0)), T0)
    assert monitor.state.value == "associated"


def test_repeated_remote_errors_lead_to_a_new_association() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(retry_delay=1.0))
    associate(decoder, T0)
    error = encode_frame(msg.data_export(msg.ROER_APDU, msg.u16(1) + msg.u16(3) + msg.u16(0)))
    for k in range(1, 3):
        decoder.feed(error, T0 + k)
        assert decoder.state is AssociationState.ASSOCIATED
    decoder.feed(error, T0 + 3)
    assert decoder.state is AssociationState.IDLE
    assert decoder.outgoing(T0 + 3) == encode_frame(msg.abort_request())
    assert decoder.outgoing(T0 + 4.1) == vec("assoc_request_frame_0")


def test_slow_polling_is_kept_alive() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings.from_mapping({"poll_interval": "30"}))
    feed = PatientFeed(seed=3, start=T0, cuff_at_start=True)
    monitor = IntelliVueMonitor(feed, clock_origin=T0 - 100.0, inactivity_s=10.0)
    hr = [r for k in range(0, 181) for r in converse(decoder, monitor, T0 + k) if r.parameter is Parameter.HR]
    assert monitor.counters.timed_out == 0
    assert monitor.counters.associations == 1
    assert decoder.keep_alives_sent >= 20
    assert monitor.counters.keep_alives_answered == decoder.keep_alives_sent
    assert len(hr) == 7  # polls at 0, 30, ..., 180 s
    # The keep-alive is the MDS single poll (action 0x0C16 on the MDS) as the public host sends it.
    assert msg.mds_poll_request(0, 1) == bytes.fromhex(
        "E1000002 0001 001C 0000 0007 0016 0021 0000 0000 00000000 0C16 0008 0001 0001 0021 0000"
    )


def test_release_on_close() -> None:
    decoder = IntelliVueDecoder()
    assert decoder.release() == b""  # nothing to release before associating
    associate(decoder, T0)
    assert decoder.release() == encode_frame(msg.RELEASE_REQUEST)
    assert decoder.state is AssociationState.IDLE


def test_emulator_answers_release() -> None:
    _, monitor, _ = associated_pair()
    assert monitor.receive(encode_frame(msg.RELEASE_REQUEST), T0) == encode_frame(msg.RELEASE_RESPONSE)


# -- settings ------------------------------------------------------------------------------


def test_settings_from_set_options() -> None:
    s = IntelliVueSettings.from_mapping({"poll_interval": "2"})
    assert s.poll_interval == 2.0
    assert s.silence_timeout == 10.0
    assert IntelliVueSettings.from_mapping({"poll_interval": "5"}).silence_timeout == 15.0
    assert IntelliVueSettings.from_mapping({"poll_interval": "60"}).silence_timeout == 18.0  # keep-alives answer
    with pytest.raises(SettingsError, match="poll_interval='fast'"):
        IntelliVueSettings.from_mapping({"poll_interval": "fast"})
    with pytest.raises(SettingsError, match="unknown setting"):
        IntelliVueSettings.from_mapping({"baud": "9600"})
    with pytest.raises(SettingsError, match=r"between 0\.5 and 60"):
        IntelliVueSettings.from_mapping({"poll_interval": "3600"})
    with pytest.raises(SettingsError, match=r"between 0\.5 and 60"):
        IntelliVueSettings.from_mapping({"poll_interval": "-1"})


def test_absolute_time_bcd() -> None:
    t = float(calendar.timegm((2026, 12, 4, 21, 30, 0))) + 0.25
    assert encode_abs_time(t) == bytes.fromhex("2026120421300025")
    assert decode_abs_time(encode_abs_time(t)) == t
    assert decode_abs_time(bytes(8)) is None  # clock not set
    assert decode_abs_time(b"\xff" * 8) is None
    assert decode_abs_time(bytes.fromhex("2026130421300000")) is None  # month 13


# -- property-based: random and mutated input --------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_readings(readings: list[object]) -> None:
    for r in readings:
        assert is_plausible(r.parameter, r.value)  # type: ignore[attr-defined]
        assert r.source == "philips-intellivue"  # type: ignore[attr-defined]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@FUZZ
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=8))
def test_random_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    for i, chunk in enumerate(chunked(data, cuts)):
        check_readings(decoder.feed(chunk, T0 + 1 + i))
        decoder.outgoing(T0 + 1 + i)


def monitor_stream(polls: int = 3) -> bytes:
    _, monitor, _ = associated_pair()
    decoder = IntelliVueDecoder()
    wire = bytearray()
    for k in range(polls):
        sent = decoder.outgoing(T0 + k)
        while sent:
            answer = monitor.receive(sent, T0 + k)
            wire += answer
            decoder.feed(answer, T0 + k)
            sent = decoder.outgoing(T0 + k)
    return bytes(wire)


STREAM = monitor_stream()


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "insert", "delete", "repeat"]),
            st.integers(0, 10_000),
            st.integers(0, 255),
        ),
        max_size=6,
    ),
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_mutated_conversations_never_raise(mutations: list[tuple[str, int, int]], cuts: list[int]) -> None:
    data = bytearray(STREAM)
    for kind, pos, value in mutations:
        i = pos % len(data)
        if kind == "flip":
            data[i] ^= value or 1
        elif kind == "insert":
            data.insert(i, value)
        elif kind == "delete":
            del data[i]
        else:
            data[i:i] = data[i : i + value % 40]
    decoder = IntelliVueDecoder()
    decoder.outgoing(T0)
    readings: list[object] = []
    for chunk in chunked(bytes(data), cuts):
        readings.extend(decoder.feed(chunk, T0 + 1))
        decoder.outgoing(T0 + 1)
    check_readings(readings)
    if not mutations:
        assert decoder.counters.frames_rejected == 0
        assert readings


@FUZZ
@given(
    st.sampled_from([0x4182, 0x4822, 0x4BB8, 0x4A05, 0x4A06, 0x4A07, 0x500A, 0x5012, 0x50B0, 0x509C]),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
)
def test_any_numeric_value_decodes_in_range_with_its_flags(physio: int, state: int, raw: int) -> None:
    from drivers.intellivue.values import EXPECTED_UNIT, PHYSIO_PARAMETER

    parameter = PHYSIO_PARAMETER[physio]
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    value = msg.NumericValue(physio, state, EXPECTED_UNIT[parameter], raw)
    (reading,) = decoder.feed(reply_with([value]), T0 + 1)
    check_readings([reading])
    assert state_flags(state) <= reading.flags
    expected = decode_float(raw)
    if expected is not None and is_plausible(parameter, expected):
        assert reading.value == expected
    else:
        assert reading.value is None


@pytest.mark.parametrize(
    ("given", "stamps"),
    [("rel", "rel"), ("BOTH", "both"), ("abs", "abs"), ("on", "rel"), ("yes", "rel"), ("off", "none"), ("0", "none")],
)
def test_the_emulated_monitors_time_stamps_setting_takes_the_on_off_words(given: str, stamps: str) -> None:
    from drivers.emulation.registry import EmulatorError, make_device

    device = make_device("philips-intellivue", start=T0, settings={"time_stamps": given})
    assert device.monitor.nbp_stamps == stamps  # type: ignore[attr-defined]
    with pytest.raises(EmulatorError, match="time_stamps"):
        make_device("philips-intellivue", start=T0, settings={"time_stamps": "sometimes"})


def test_intellivue_unavailable_impedance_rr_does_not_hide_the_airway_rr() -> None:
    """Impedance RR NaN (leads off, Resp off) and the capnograph's airway RR 6: the preferred id is the first with a
    usable value (it was the first present, so the NaN was the RR and the 6 never judged)."""
    from drivers.intellivue import messages as msg
    from drivers.intellivue.decoder import IntelliVueDecoder
    from drivers.intellivue.emulator import NOM_DIM_RESP_PER_MIN
    from drivers.intellivue.values import NOM_AWAY_RESP_RATE, NOM_RESP_RATE, encode_float

    obs = (msg.Observation(1, (msg.NumericValue(NOM_RESP_RATE, 0, NOM_DIM_RESP_PER_MIN, encode_float(None)),),
                           rel_time=100),
           msg.Observation(2, (msg.NumericValue(NOM_AWAY_RESP_RATE, 0, NOM_DIM_RESP_PER_MIN, encode_float(6)),),
                           rel_time=100))
    readings = IntelliVueDecoder()._readings(msg.PollResult(1, 1, 100, 0, obs), T0)
    assert [(r.parameter, r.value) for r in readings] == [(Parameter.RR, 6.0)], readings
