"""Philips IntelliVue Data Export: framing, FCS, FLOAT, host messages and the host state machine.

Byte-exact against ``../shared/protocols/intellivue_vectors.txt`` (FCS examples, FLOAT examples and
frames a working host sent to a real monitor). The monitor's answers are built by the emulator from
the guide's structures: no capture of them is public, so those tests pin our reading of the
structures (unconfirmed against a real monitor), not a monitor's bytes.
"""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import AssociationState, IntelliVueDecoder, IntelliVueSettings
from drivers.intellivue.emulator import IntelliVueMonitor
from drivers.intellivue.framing import (
    MAX_FRAME_BYTES,
    Deframer,
    check_fcs,
    encode_frame,
    fcs16,
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
    decode_float,
    encode_float,
    state_flags,
)
from drivers.patient_feed import PatientFeed
from drivers.settings import SettingsError
from monitor.readings import UNRELIABLE, Flag, Parameter, is_plausible
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


def test_bad_header_length_is_rejected() -> None:
    body = struct.pack(">BBH", 0x11, 0x01, 10) + b"\x00" * 3
    with pytest.raises(ValueError, match="header says 10"):
        split_header(body)


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


def run_exchange(decoder: IntelliVueDecoder, pairs: list[tuple[float, bytes, bytes]]) -> list[object]:
    """pymeasure-style check: at each time the host must send exactly ``sent``; then ``received`` arrives."""
    readings: list[object] = []
    for at, sent, received in pairs:
        assert decoder.outgoing(at) == sent
        readings.extend(decoder.feed(received, at))
    return readings


def accept_and_report(event_time: int = 0x000ABD00) -> bytes:
    return encode_frame(msg.association_result()) + encode_frame(msg.mds_create_event_report(1, event_time))


def test_association_and_first_poll_exchange_is_byte_exact() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(poll_interval=1.0))
    reply = encode_frame(msg.poll_reply(1, 1, 0x000ABD00 + 8000, []))
    run_exchange(
        decoder,
        [
            (T0, vec("assoc_request_frame_0"), accept_and_report()),
            (T0 + 0.1, vec("mds_create_event_result_frame_2") + vec("ext_poll_request_frame_0001_1"), reply),
        ],
    )
    assert decoder.state is AssociationState.ASSOCIATED
    # The next poll waits for the interval, then counts invoke id and poll number up.
    assert decoder.outgoing(T0 + 0.5) == b""
    assert decoder.outgoing(T0 + 1.1) == encode_frame(msg.extended_poll_request(2, 2, period_ticks=240000))
    assert decoder.counters.frames_rejected == 0


def associated_pair(**monitor_options: object) -> tuple[IntelliVueDecoder, IntelliVueMonitor, PatientFeed]:
    feed = PatientFeed(seed=3, start=T0, cuff_at_start=True, cuff_duration_s=2.0, auto_cuff_every_s=60.0)
    monitor = IntelliVueMonitor(feed, clock_origin=T0 - 100.0, **monitor_options)  # type: ignore[arg-type]
    decoder = IntelliVueDecoder()
    return decoder, monitor, feed


def converse(decoder: IntelliVueDecoder, monitor: IntelliVueMonitor, at: float) -> list[object]:
    """One turn: the host sends what is due, the monitor answers, the host decodes."""
    readings: list[object] = []
    sent = decoder.outgoing(at)
    while sent:
        answer = monitor.receive(sent, at)
        readings.extend(decoder.feed(answer, at))
        sent = decoder.outgoing(at)
    return readings


def test_poll_replies_become_readings_with_nbp_once_per_measurement() -> None:
    decoder, monitor, feed = associated_pair()
    first = converse(decoder, monitor, T0 + 0.5)
    params = [r.parameter for r in first]  # type: ignore[attr-defined]
    assert params.count(Parameter.HR) == 1
    assert params.count(Parameter.SPO2) == 1
    nibp = {r.parameter: r for r in first if r.parameter.value.startswith("nibp")}  # type: ignore[attr-defined]
    cuff = feed.cuffs[0]
    assert nibp[Parameter.NIBP_SYS].value == cuff.sys
    assert nibp[Parameter.NIBP_DIA].value == cuff.dia
    assert nibp[Parameter.NIBP_MEAN].value == cuff.mean
    # The measurement's own time, from the relative time stamps, not the poll's.
    assert nibp[Parameter.NIBP_SYS].t == pytest.approx(cuff.t, abs=1e-3)
    second = converse(decoder, monitor, T0 + 1.5)
    assert not [r for r in second if r.parameter.value.startswith("nibp")]  # type: ignore[attr-defined]
    assert [r.parameter for r in second].count(Parameter.HR) == 1  # type: ignore[attr-defined]
    # The monitor's cycle measures again at 60 s (+2 s cuff): one new NIBP triple.
    later = [r for k in range(55, 70) for r in converse(decoder, monitor, T0 + k + 0.5)]
    later_nibp = [r for r in later if r.parameter is Parameter.NIBP_SYS]  # type: ignore[attr-defined]
    assert len(later_nibp) == 1
    assert later_nibp[0].value == feed.cuffs[1].sys
    assert decoder.counters.frames_rejected == 0
    assert decoder.counters.unknown_items == 0


def test_demo_data_is_flagged_on_every_reading() -> None:
    decoder, monitor, _ = associated_pair(demo=True)
    readings = converse(decoder, monitor, T0 + 0.5) + converse(decoder, monitor, T0 + 1.5)
    assert readings
    assert all(Flag.DEMO_DATA in r.flags and not r.reliable for r in readings)  # type: ignore[attr-defined]


def test_linked_replies_are_read_part_by_part() -> None:
    decoder, monitor, _ = associated_pair(linked_replies=True)
    readings = converse(decoder, monitor, T0 + 0.5)
    assert {r.parameter for r in readings} == {  # type: ignore[attr-defined]
        Parameter.HR,
        Parameter.PR,
        Parameter.SPO2,
        Parameter.NIBP_SYS,
        Parameter.NIBP_DIA,
        Parameter.NIBP_MEAN,
    }


def test_without_time_stamps_nbp_is_deduplicated_by_value() -> None:
    decoder, monitor, _ = associated_pair(nbp_time_stamps=False)
    first = converse(decoder, monitor, T0 + 0.5)
    again = converse(decoder, monitor, T0 + 1.5)
    assert len([r for r in first if r.parameter is Parameter.NIBP_SYS]) == 1  # type: ignore[attr-defined]
    assert not [r for r in again if r.parameter is Parameter.NIBP_SYS]  # type: ignore[attr-defined]


def associate(decoder: IntelliVueDecoder, at: float) -> None:
    assert decoder.outgoing(at) == vec("assoc_request_frame_0")
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


def test_unknown_ids_wrong_units_and_impossible_values() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    values = [
        msg.NumericValue(0x5000, 0, 0x0AA0, encode_float(12)),  # respiration or whatever: not ours
        msg.NumericValue(NOM_PRESS_BLD_NONINV_SYS, 0, 0x0F03, encode_float(16)),  # kPa: not converted
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
    bad[-12] ^= 0x01  # the numeric attribute's length no longer fits
    assert decoder.feed(encode_frame(bytes(bad)), T0 + 1) == []
    assert decoder.counters.frames_rejected == 1
    corrupt = bytearray(encode_frame(good))
    corrupt[20] ^= 0x40  # FCS no longer matches
    assert decoder.feed(bytes(corrupt), T0 + 1) == []
    assert decoder.counters.frames_rejected == 2


# -- association life cycle --------------------------------------------------------------


def test_no_answer_means_a_new_association_request() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(answer_timeout=5.0))
    assert decoder.outgoing(T0) == vec("assoc_request_frame_0")
    assert decoder.outgoing(T0 + 4.9) == b""
    assert decoder.outgoing(T0 + 5.1) == vec("assoc_request_frame_0")
    assert decoder.association_attempts == 2


def test_silence_while_associated_starts_over() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(poll_interval=1.0, silence_timeout=10.0))
    associate(decoder, T0)
    for k in range(1, 10):
        decoder.outgoing(T0 + k)  # polls, never answered
    assert decoder.state is AssociationState.ASSOCIATED
    assert decoder.outgoing(T0 + 10.5) == vec("assoc_request_frame_0")
    assert decoder.associations_lost == 1


def test_refusal_and_abort_wait_before_trying_again() -> None:
    decoder = IntelliVueDecoder(IntelliVueSettings(retry_delay=2.0))
    decoder.outgoing(T0)
    refuse = bytes([msg.SPDU_ASSOC_REFUSE, 2, 0, 0])
    decoder.feed(encode_frame(refuse), T0 + 0.1)
    assert decoder.state is AssociationState.IDLE
    assert decoder.outgoing(T0 + 1.0) == b""
    assert decoder.outgoing(T0 + 2.2) == vec("assoc_request_frame_0")
    associate(IntelliVueDecoder(), T0)
    decoder2 = IntelliVueDecoder(IntelliVueSettings(retry_delay=2.0))
    associate(decoder2, T0)
    decoder2.feed(encode_frame(msg.ABORT), T0 + 1)
    assert decoder2.state is AssociationState.IDLE
    assert decoder2.associations_lost == 1
    assert decoder2.outgoing(T0 + 3.1) == vec("assoc_request_frame_0")


def test_monitor_release_is_answered() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    decoder.feed(encode_frame(msg.RELEASE_REQUEST), T0 + 1)
    assert decoder.outgoing(T0 + 1) == encode_frame(msg.RELEASE_RESPONSE)
    assert decoder.state is AssociationState.IDLE


def test_reset_restarts_the_association_at_once() -> None:
    decoder = IntelliVueDecoder()
    associate(decoder, T0)
    decoder.feed(b"\xc0\x11\x01", T0 + 1)  # half a frame, then the cable is pulled
    decoder.reset()
    assert decoder.state is AssociationState.IDLE
    assert decoder.outgoing(T0 + 1.2) == vec("assoc_request_frame_0")


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
    with pytest.raises(SettingsError, match="poll_interval='fast'"):
        IntelliVueSettings.from_mapping({"poll_interval": "fast"})
    with pytest.raises(SettingsError, match="unknown setting"):
        IntelliVueSettings.from_mapping({"baud": "9600"})
    with pytest.raises(SettingsError, match="between 0 and 3600"):
        IntelliVueSettings.from_mapping({"poll_interval": "-1"})


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
    st.sampled_from([0x4182, 0x4822, 0x4BB8, 0x4A05, 0x4A06, 0x4A07]),
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
