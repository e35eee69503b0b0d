"""HL7 v2 ORU^R01 over MLLP: framing, codes, units, times, ACK/NACK, and the TCP listener on loopback."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta, timezone

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import LinkEventKind, OpenOptions
from drivers.hl7_mllp import (
    Hl7Decoder,
    Hl7MllpDriver,
    Hl7MllpSource,
    Hl7Settings,
    MllpDeframer,
    SettingsError,
    frame,
    parse_address,
    parse_hl7_time,
    parse_timezone,
)
from drivers.hl7_sender import Hl7Sender, hl7_time, oru_message
from drivers.patient_feed import CuffResult, PatientFeed, Vitals
from monitor.readings import Flag, Parameter, is_plausible

T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
STAMP = "20231114221320+0000"


def message(*obx: str, msh_type: str = "ORU^R01^ORU_R01", control: str = "MSG1", obr_time: str = "") -> bytes:
    segments = [
        f"MSH|^~\\&|MON|ICU|IM|CLINIC|{STAMP}||{msh_type}|{control}|P|2.6",
        "PID|||12345^^^H^MR",
        f"OBR|1|||x|||{obr_time}",
        *obx,
    ]
    return frame("\r".join(segments) + "\r")


def ack_of(decoder: Hl7Decoder) -> hl7.Message:
    """The newest acknowledgment the decoder has queued."""
    body = MllpDeframer().feed(decoder.outgoing(T0))[-1]
    return hl7.parse(body.decode())


def values(readings: list[object]) -> dict[Parameter, float | None]:
    return {r.parameter: r.value for r in readings}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("codes", "unit"),
    [
        (("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "150022^x^MDC", "150023^x^MDC"), "266016^MDC_DIM_MMHG^MDC"),
        (("150301^MDC_PRESS_CUFF_SYS^MDC", "150302^x^MDC", "150303^x^MDC"), "mm[Hg]^mm[Hg]^UCUM"),
        (("8480-6^SBP^LN", "8462-4^DBP^LN", "8478-0^MAP^LN"), "mmHg"),
        (("x^y^L^150021^z^MDC", "MDC_PRESS_CUFF_DIA", "a~8478-0^MAP^LN"), ""),
    ],
)
def test_nibp_by_every_code_family(codes: tuple[str, str, str], unit: str) -> None:
    decoder = Hl7Decoder()
    obx = [
        f"OBX|{i}|NM|{code}||{v}|{unit}|||||R|||20231114221000+0000"
        for i, (code, v) in enumerate(zip(codes, (131, 84, 100), strict=True), start=1)
    ]
    readings = decoder.feed(message(*obx), T0)
    assert values(readings) == {
        Parameter.NIBP_SYS: 131.0,
        Parameter.NIBP_DIA: 84.0,
        Parameter.NIBP_MEAN: 100.0,
    }
    assert all(r.t == T0 - 200 for r in readings)  # OBX-14, the time of the measurement
    ack = ack_of(decoder)
    assert str(ack.extract_field("MSA", 1, 1)) == "AA"
    assert str(ack.extract_field("MSA", 1, 2)) == "MSG1"
    assert str(ack.extract_field("MSH", 1, 9, 1, 1)) == "ACK"


def test_rates_spo2_units_and_unknown_codes() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(
        message(
            "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||72|264864^MDC_DIM_BEAT_PER_MIN^MDC",
            "OBX|2|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC||71|/min",
            "OBX|3|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|%",
            "OBX|4|NM|151562^MDC_RESP_RATE^MDC||14|/min",
            "OBX|5|NM|2708-6^SaO2^LN||96|262688^MDC_DIM_PERCENT^MDC",
            "OBX|6|NM|149546^MDC_PULS_RATE_NON_INV^MDC||70|bpm",
            "OBX|7|NM|150021^x^MDC||16.0|kPa",
        ),
        T0,
    )
    got = [(r.parameter, r.value) for r in readings]
    assert got == [
        (Parameter.HR, 72.0),
        (Parameter.PR, 71.0),
        (Parameter.SPO2, 97.0),
        (Parameter.SPO2, 96.0),
        (Parameter.PR, 70.0),
        (Parameter.NIBP_SYS, 120.0),  # 16.0 kPa
    ]
    assert decoder.counters.unknown_items == 1
    assert all(r.t == T0 for r in readings)  # no OBX-14, no OBR-7: MSH-7 (= T0 here)


def test_bad_values_give_ae_with_reasons_and_keep_the_rest() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(
        message(
            "OBX|1|NM|150021^x^MDC||abc|mmHg",
            "OBX|2|NM|150022^x^MDC||80|cmH2O",
            "OBX|3|ST|150023^x^MDC||93|mmHg",
            "OBX|4|NM|150456^x^MDC||150|%",
            "OBX|5|NM|147842^x^MDC||70|/min",
            "OBX|6|NM|149530^x^MDC||70|/min|||||R|||2023",
        ),
        T0,
    )
    assert values(readings) == {Parameter.SPO2: None, Parameter.HR: 70.0, Parameter.PR: 70.0}
    spo2 = next(r for r in readings if r.parameter is Parameter.SPO2)
    assert Flag.INVALID in spo2.flags
    ack = ack_of(decoder)
    assert str(ack.extract_field("MSA", 1, 1)) == "AE"
    assert "'abc' is not a number" in str(ack.extract_field("MSA", 1, 3))
    errors = ack.segments("ERR")
    # Four bad values, and OBX #6 stamped years before the receive time (stored at the receive time).
    assert len(errors) == 5
    texts = [str(e.extract_field(1, 8)) for e in errors]
    assert any("outside the trusted window" in t for t in texts)
    assert decoder.clock_offsets and decoder.clock_offsets[0][1] < -300 * 86400
    assert any("unit 'cmH2O'" in t for t in texts)
    assert any("value type 'ST'" in t for t in texts)
    assert any("spo2 150 is impossible" in t for t in texts)
    assert str(errors[0].extract_field(1, 3, 1, 1)) == "102"
    assert decoder.errors == 1
    assert decoder.counters.frames_decoded == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (frame("this is not HL7"), "not an HL7 v2 message"),
        (message("OBX|1|NM|150021^x^MDC||120|mmHg", msh_type="ADT^A01"), "message type 'ADT' is not ORU"),
        (message("OBX|1|NM|150021^x^MDC||120|mmHg", msh_type="ORU^R30"), "event 'R30' is not R01"),
        (message(), "no OBX segment"),
    ],
)
def test_unusable_messages_get_ar(raw: bytes, reason: str) -> None:
    decoder = Hl7Decoder()
    assert decoder.feed(raw, T0) == []
    ack = ack_of(decoder)
    assert str(ack.extract_field("MSA", 1, 1)) == "AR"
    assert reason in str(ack.extract_field("MSA", 1, 3))
    assert ack.segments("ERR")
    assert decoder.counters.frames_rejected == 1


def test_missing_and_withdrawn_values() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(
        message(
            "OBX|1|NM|150456^x^MDC|||%|||||X",
            "OBX|2|NM|147842^x^MDC||71|/min|||||D",
            "OBX|3|NM|149530^x^MDC||71|/min|||||W",
        ),
        T0,
    )
    assert [(r.parameter, r.value, r.flags) for r in readings] == [
        (Parameter.SPO2, None, frozenset({Flag.UNAVAILABLE})),
        (Parameter.PR, None, frozenset({Flag.INVALID})),
    ]


def test_repeated_nibp_is_recorded_once() -> None:
    decoder = Hl7Decoder()
    obx = "OBX|1|NM|150021^x^MDC||128|mmHg|||||R|||20231114221000+0000"
    assert len(decoder.feed(message(obx, control="A"), T0)) == 1
    assert decoder.feed(message(obx, control="B"), T0 + 5) == []
    newer = obx.replace("221000", "221500")
    assert len(decoder.feed(message(newer, control="C"), T0 + 10)) == 1


def test_times_offsets_and_fallbacks() -> None:
    assert parse_hl7_time("20231114221320+0000", None) == T0
    assert parse_hl7_time("20231114231320+0100", None) == T0
    assert parse_hl7_time("20231114221320.250+0000", None) == T0 + 0.25
    assert parse_hl7_time("20231114221320", UTC) == T0
    assert parse_hl7_time("20231114171320", parse_timezone("-0500")) == T0
    local = datetime(2023, 11, 14, 12, 0, 0).astimezone()
    assert parse_hl7_time("20231114120000", None) == local.timestamp()
    for bad in ("2023-11-14", "20231314221320", "now", ""):
        with pytest.raises(ValueError):  # noqa: PT011 - the message names the text
            parse_hl7_time(bad, None)
    decoder = Hl7Decoder(tz=timezone(timedelta(hours=1)))
    (reading,) = decoder.feed(message("OBX|1|NM|150456^x^MDC||97|%", obr_time="20231114231000"), T0)
    assert reading.t == T0 - 200  # OBR-7, read at +01:00
    future = "OBX|1|NM|150456^x^MDC||97|%|||||R|||20231115000000+0000"
    (reading,) = decoder.feed(message(future, control="F"), T0)
    assert reading.t == T0  # an observation "from the future" keeps the message time
    assert str(ack_of(decoder).extract_field("MSA", 1, 1)) == "AE"


def test_mllp_framing_split_anywhere_and_noise_between() -> None:
    one = message("OBX|1|NM|150456^x^MDC||97|%", control="A")
    two = message("OBX|1|NM|150456^x^MDC||96|%", control="B")
    stream = b"\n" + one + b"noise" + two
    for size in (1, 2, 3, 7, len(stream)):
        decoder = Hl7Decoder()
        readings = [r for i in range(0, len(stream), size) for r in decoder.feed(stream[i : i + size], T0)]
        assert [r.value for r in readings] == [97.0, 96.0]
        assert decoder.counters.resyncs == 2
    deframer = MllpDeframer()
    assert deframer.feed(b"\x0bMSH|half" + b"\x0bMSH|whole\x1c\r") == [b"MSH|whole"]


def test_addresses_and_settings() -> None:
    assert parse_address(None) == ("127.0.0.1", 2575)
    assert parse_address("2576") == ("127.0.0.1", 2576)
    assert parse_address(":2577") == ("127.0.0.1", 2577)
    assert parse_address("0.0.0.0:2575") == ("0.0.0.0", 2575)
    assert parse_address("[::1]:2575") == ("::1", 2575)
    assert parse_address("localhost:0") == ("localhost", 0)
    for bad in ("host:", "a:b:c", "1.2.3.4:99999"):
        with pytest.raises(SettingsError):
            parse_address(bad)
    with pytest.raises(SettingsError, match="unknown setting"):
        Hl7Settings.from_options(None, {"charset": "x"})
    with pytest.raises(SettingsError, match="timezone"):
        parse_timezone("Mars/Olympus")
    assert Hl7MllpDriver.needs_port is False


def test_sender_message_reads_back() -> None:
    vitals = Vitals(T0, 72.0, 71.0, 97.0)
    cuff = CuffResult(T0 - 30, 128.0, 82.0, 97.0)
    for family in ("noninv", "cuff", "loinc"):
        decoder = Hl7Decoder()
        readings = decoder.feed(frame(oru_message("X1", T0, vitals, cuff, family)), T0)
        assert values(readings) == {
            Parameter.HR: 72.0,
            Parameter.SPO2: 97.0,
            Parameter.PR: 71.0,
            Parameter.NIBP_SYS: 128.0,
            Parameter.NIBP_DIA: 82.0,
            Parameter.NIBP_MEAN: 97.0,
        }
        assert next(r for r in readings if r.parameter is Parameter.NIBP_SYS).t == pytest.approx(T0 - 30)
        assert decoder.counters.unknown_items == 0
    assert hl7_time(T0 + 0.5) == "20231114221320.500+0000"


# -- the listener on TCP loopback ---------------------------------------------------------


def test_listener_acks_over_tcp_and_reports_connections() -> None:
    source = Hl7MllpDriver().open(OpenOptions(port="127.0.0.1:0"))
    assert isinstance(source, Hl7MllpSource)
    try:
        host, port = source.address
        feed = PatientFeed(seed=2, start=time.time(), cuff_at_start=True)
        sender = Hl7Sender(feed, host, port, interval_s=0.0)
        try:
            assert sender.send_due(time.time()) == "AA"
            assert sender.send_due(time.time()) == "AA"
        finally:
            sender.close()
        readings = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(readings) < 9:
            readings += source.read(0.1)
        nibp = [r for r in readings if r.parameter is Parameter.NIBP_SYS]
        assert len(nibp) == 1  # sent once: the second message no longer carries it
        assert nibp[0].value == feed.cuffs[0].sys
        assert len([r for r in readings if r.parameter is Parameter.HR]) == 2
        deadline = time.monotonic() + 5
        events: list[object] = []
        while time.monotonic() < deadline and not events:
            events = source.take_link_events()
            time.sleep(0.02)
        assert [e.kind for e in events] == [LinkEventKind.LINK_LOST]  # type: ignore[attr-defined]
        assert source.counters.frames_decoded == 2
        assert source.counters.bytes_out > 0
        # A second sender: the link is back.
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(b"\x0bgarbage\x1c\r")
            reply = raw.recv(65536)
            assert b"MSA|AR|" in reply
        assert source.counters.frames_rejected == 1
    finally:
        source.close()
    assert source.counters.state == "closed"
    source.close()  # idempotent


def test_listener_refuses_a_taken_address() -> None:
    first = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))
    first.open()
    try:
        second = Hl7MllpSource(Hl7Settings("127.0.0.1", first.address[1]))
        with pytest.raises(OSError):  # noqa: PT011 - the OS names the reason
            second.open()
        second.close()
    finally:
        first.close()


# -- property-based ------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    decoder = Hl7Decoder()
    for r in decoder.feed(data, T0) + decoder.feed(b"\x0b" + data + b"\x1c\r", T0):
        assert is_plausible(r.parameter, r.value)
    acks = MllpDeframer().feed(decoder.outgoing(T0))
    assert len(acks) == decoder.counters.frames_decoded + decoder.counters.frames_rejected


GOOD = oru_message("G1", T0, Vitals(T0, 72.0, 71.0, 97.0), CuffResult(T0 - 30, 128.0, 82.0, 97.0), "noninv")


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 5000), st.sampled_from("|^~\\&\r0123456789.-+ AZ\x00é")), max_size=6)
)
def test_mutated_messages_always_get_an_answer(mutations: list[tuple[int, str]]) -> None:
    text = list(GOOD)
    for pos, char in mutations:
        text[pos % len(text)] = char
    decoder = Hl7Decoder()
    readings = decoder.feed(frame("".join(text)), T0)
    for r in readings:
        assert is_plausible(r.parameter, r.value)
    (ack,) = MllpDeframer().feed(decoder.outgoing(T0))
    assert hl7.parse(ack.decode()).extract_field("MSA", 1, 1) in ("AA", "AE", "AR")
    if not mutations:
        assert len(readings) == 6
