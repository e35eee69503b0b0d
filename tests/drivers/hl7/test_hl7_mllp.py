"""HL7 v2 ORU^R01 over MLLP: framing, codes, units, times, ACK/NACK, and the TCP listener on loopback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import LinkEvent, LinkEventKind
from drivers.core.readings import Flag, Parameter, is_plausible
from drivers.hl7.driver import Hl7MllpDriver
from drivers.hl7.listener import Hl7Decoder, Hl7MllpSource, Hl7Settings, parse_timezone
from drivers.hl7.sender import Hl7Sender, oru_message
from drivers.hl7.v2 import hl7_time, parse_hl7_time
from drivers.patient.vitals import CuffResult, PatientFeed, Vitals
from drivers.settings import SettingsError
from drivers.transport.mllp import MllpDeframer, frame, parse_address
from drivers.transport.tcp_listener import MAX_OUTBOX_BYTES
from tests.drivers.sockets import closed_by_peer, mllp_answer

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
            "OBX|5|NM|TEMPX^Skin temperature^99VND||36.5|Cel",
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
        (Parameter.RR, 14.0),
        (Parameter.NIBP_SYS, 120.0),  # 16.0 kPa
    ]
    # The SaO2 LOINC is a second SpO2 at the same time (the first is kept), the cuff's pulse is not a pulse
    # rate the session records: neither is a reading, neither is an unknown code.
    assert decoder.counters.unknown_items == 1
    assert decoder.counters.repeated_items == 1
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
    assert len(errors) == 4
    texts = [str(e.extract_field(1, 8)) for e in errors]
    # OBX #6 was stamped years before the receive time: stored at the receive time, the offset noted.
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
    for family in ("noninv", "cuff", "loinc", "mdil"):
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


def test_listener_acks_over_tcp_and_judges_the_link_by_messages() -> None:
    offset = [0.0]
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0), monotonic=lambda: time.monotonic() + offset[0])
    source.open()
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
        # The sender closed its connection: no lost link while its messages are recent.
        assert source.take_link_events() == []
        assert source.counters.state == "connected"
        assert source.counters.frames_decoded == 2
        assert source.counters.bytes_out > 0
        # Two messages close together teach no interval: a minute is assumed, and 150 s of silence is a loss.
        offset[0] = 150.0
        (lost,) = source.take_link_events()
        assert lost.kind is LinkEventKind.LINK_LOST
        assert source.counters.state == "lost"
        # A second sender, even with a message refused: the link is back.
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(b"\x0bgarbage\x1c\r")
            reply = raw.recv(65536)
            assert b"MSA|AR|" in reply
        assert [e.kind for e in _events(source)] == [LinkEventKind.LINK_RESTORED]
        assert source.counters.reconnects == 1
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


def test_listener_bound_wider_than_this_computer_needs_an_allow_list() -> None:
    with pytest.raises(SettingsError, match="allow_from="):
        Hl7Settings.from_options("0.0.0.0:2575", {})
    settings = Hl7Settings.from_options("0.0.0.0:2575", {"allow_from": "10.1.2.3"})
    assert settings.allow_from == frozenset({"10.1.2.3"})
    for loopback in ("127.0.0.1:2575", "[::1]:2575", "localhost:2575"):
        assert Hl7Settings.from_options(loopback, {}).allow_from == frozenset()  # this computer only


# -- one patient per listener, shapes of real gateways ------------------------------------------

PHILIPS_MSH = (
    "MSH|^~\\&|PIIC^0009FB0000000001^EUI-64|PHILIPS|||{stamp}||ORU^R01^ORU_R01|{control}|P|2.6|||{accept}|{app}"
    "||8859/1|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
)


def philips(
    control: str,
    spo2: float,
    *,
    mrn: str = "MRN123",
    app: str = "PIIC",
    accept: str = "",
    ack: str = "",
    nbp: tuple[str, int, int, int] | None = None,
    stamp: str = STAMP,
) -> str:
    """An ORU^R01 as an IntelliVue gateway shapes it: MDIL codes and units, one OBR group per kind of result.

    ``nbp`` is (OBR-7 of the cuff measurement, sys, dia, mean); its OBX carry no OBX-14.
    """
    segments = [
        PHILIPS_MSH.format(stamp=stamp, control=control, accept=accept, app=ack).replace("PIIC^", f"{app}^", 1),
        f"PID|||{mrn}^^^HOSP^MR||Doe^Jane",
        "PV1||I|ICU^^BED1",
        f"OBR|1|{control}^PIIC||182777000^monitoring of patient^SCT|||{stamp}",
        "OBX|1|NM|0002-4182^HR^MDIL||72|0004-0aa0^bpm^MDIL|||||R",
        f"OBX|2|NM|0002-4bb8^SpO2^MDIL||{spo2:g}|0004-0220^%^MDIL|||||R",
        "OBX|3|NM|0002-4822^Pulse^MDIL||71|0004-0aa0^bpm^MDIL|||||R",
    ]
    if nbp is not None:
        when, sys_, dia, mean = nbp
        segments += [
            f"OBR|2|{control}^PIIC||182777000^monitoring of patient^SCT|||{when}",
            f"OBX|4|NM|0002-4a05^NBPs^MDIL||{sys_}|0004-0f20^mmHg^MDIL|||||R",
            f"OBX|5|NM|0002-4a06^NBPd^MDIL||{dia}|0004-0f20^mmHg^MDIL|||||R",
            f"OBX|6|NM|0002-4a07^NBPm^MDIL||{mean}|0004-0f20^mmHg^MDIL|||||R",
        ]
    return "\r".join(segments) + "\r"


def acks_of(decoder: Hl7Decoder) -> list[hl7.Message]:
    return [hl7.parse(body.decode()) for body in MllpDeframer().feed(decoder.outgoing(T0))]


def msa(ack: hl7.Message) -> tuple[str, str, str]:
    return (
        str(ack.extract_field("MSA", 1, 1)),
        str(ack.extract_field("MSA", 1, 2)),
        str(ack.extract_field("MSA", 1, 3)),
    )


def test_philips_mdil_codes_and_units_are_read() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(frame(philips("P1", 97, nbp=("20231114221000+0000", 131, 84, 100))), T0)
    assert values(readings) == {
        Parameter.HR: 72.0,
        Parameter.SPO2: 97.0,
        Parameter.PR: 71.0,
        Parameter.NIBP_SYS: 131.0,
        Parameter.NIBP_DIA: 84.0,
        Parameter.NIBP_MEAN: 100.0,
    }
    assert decoder.counters.unknown_items == 0
    assert msa(acks_of(decoder)[0])[:2] == ("AA", "P1")


def test_time_comes_from_each_obr_group() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(frame(philips("P1", 97, nbp=("20231114221000+0000", 131, 84, 100))), T0)
    by = {r.parameter: r.t for r in readings}
    assert by[Parameter.SPO2] == T0  # first OBR-7
    assert by[Parameter.NIBP_SYS] == T0 - 200  # its own group's OBR-7, not the first OBR's


def test_repeated_cuff_result_and_repeated_control_id_are_stored_once() -> None:
    decoder = Hl7Decoder()
    cuff = ("20231114221000+0000", 131, 84, 100)
    first = decoder.feed(frame(philips("P1", 97, nbp=cuff)), T0)
    assert len([r for r in first if r.parameter is Parameter.NIBP_SYS]) == 1
    # The next periodic message repeats the newest cuff result: the numerics are new, the cuff is not.
    later = STAMP.replace("221320", "221325")
    second = decoder.feed(frame(philips("P2", 96, nbp=cuff, stamp=later)), T0 + 5)
    assert sorted(r.parameter for r in second) == sorted([Parameter.HR, Parameter.SPO2, Parameter.PR])
    # The same message again (its ACK was lost): answered AA, nothing stored twice.
    again = decoder.feed(frame(philips("P2", 96, nbp=cuff, stamp=later)), T0 + 6)
    assert again == []
    assert [msa(a)[:2] for a in acks_of(decoder)] == [("AA", "P1"), ("AA", "P2"), ("AA", "P2")]
    assert decoder.repeats == 1


def test_batch_is_acknowledged_message_by_message() -> None:
    bodies = [philips(f"B{n}", 95 + n) for n in range(3)]
    batch = (
        f"FHS|^~\\&|PIIC|PHILIPS|||{STAMP}\rBHS|^~\\&|PIIC|PHILIPS|||{STAMP}\r"
        + "".join(bodies)
        + "BTS|3\rFTS|1\r"
    )
    decoder = Hl7Decoder()
    readings = decoder.feed(frame(batch), T0)
    assert [r.value for r in readings if r.parameter is Parameter.SPO2] == [95.0, 96.0, 97.0]
    assert [msa(a)[:2] for a in acks_of(decoder)] == [("AA", "B0"), ("AA", "B1"), ("AA", "B2")]


@pytest.mark.parametrize(
    ("accept", "app", "expected"),
    [
        ("", "", ["AA"]),
        ("AL", "NE", ["CA"]),
        ("AL", "AL", ["CA", "AA"]),
        ("NE", "AL", ["AA"]),
        ("NE", "NE", []),
        ("ER", "ER", []),
        ("SU", "SU", ["CA", "AA"]),
    ],
)
def test_enhanced_mode_answered_as_asked(accept: str, app: str, expected: list[str]) -> None:
    decoder = Hl7Decoder()
    assert len(decoder.feed(frame(philips("E1", 97, accept=accept, ack=app)), T0)) == 3
    assert [msa(a)[0] for a in acks_of(decoder)] == expected


def test_enhanced_mode_error_is_committed_and_said_in_the_application_ack() -> None:
    decoder = Hl7Decoder()
    decoder.feed(frame(philips("E1", 97, accept="ER", ack="ER").replace("||72|", "||abc|")), T0)
    (ack,) = acks_of(decoder)  # kept (SpO2, pulse): no commit error to report; the application error is said
    assert msa(ack)[0] == "AE"
    assert "not a number" in msa(ack)[2]


def test_message_with_nothing_usable_gets_ae() -> None:
    decoder = Hl7Decoder()
    text = philips("U1", 97).replace("0002-4182", "0002-f001").replace("0002-4bb8", "0002-f002")
    text = text.replace("0002-4822", "0002-f003")
    assert decoder.feed(frame(text), T0) == []
    code, _, reason = msa(acks_of(decoder)[0])
    assert code == "AE"
    assert "nothing usable" in reason


def test_code_map_file_adds_vendor_codes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "codes.toml"
    path.write_text('[codes]\n"VND-SAT" = "spo2"\n"VND-RESP" = "rr"\n', encoding="utf-8")
    settings = Hl7Settings.from_options(None, {"codes": str(path)})
    decoder = Hl7Decoder(codes=settings.codes)
    readings = decoder.feed(
        message("OBX|1|NM|VND-SAT^Sat^99VND||93|%", "OBX|2|NM|VND-RESP^Resp^99VND||12|/min"), T0
    )
    assert values(readings) == {Parameter.SPO2: 93.0, Parameter.RR: 12.0}
    path.write_text('[codes]\n"X" = "temperature"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="temperature"):
        Hl7Settings.from_options(None, {"codes": str(path)})


def test_another_patient_is_refused_with_the_reason() -> None:
    decoder = Hl7Decoder()
    assert len(decoder.feed(frame(philips("A1", 85, mrn="MRN123")), T0)) == 3
    # The wrong chair's gateway, same kind of sender, another patient at 99 %.
    assert decoder.feed(frame(philips("B1", 99, mrn="MRN999")), T0 + 1) == []
    assert len(decoder.feed(frame(philips("A2", 84, mrn="MRN123")), T0 + 2)) == 3
    acks = acks_of(decoder)
    assert [msa(a)[0] for a in acks] == ["AA", "AR", "AA"]
    assert "MRN999" in msa(acks[1])[2]
    assert "patient" in msa(acks[1])[2]
    assert str(acks[1].extract_field("ERR", 1, 3, 1, 1)) == "204"
    (refused,) = decoder.take_refusals()
    assert refused.refusal is not None
    assert refused.refusal.condition == "hl7_other_patient"


def test_identified_patient_rules_over_the_first_sender() -> None:
    decoder = Hl7Decoder()
    decoder.gate.identify("MRN123")
    # The wrong gateway speaks first: refused, and it binds nothing.
    assert decoder.feed(frame(philips("B1", 99, mrn="MRN999", app="GW2")), T0) == []
    assert len(decoder.feed(frame(philips("A1", 85, mrn="MRN123")), T0 + 1)) == 3
    # A second device for the identified patient is taken (its PID-3 names them).
    assert len(decoder.feed(frame(philips("C1", 86, mrn="MRN123", app="OTHER")), T0 + 2)) == 3
    assert [msa(a)[0] for a in acks_of(decoder)] == ["AR", "AA", "AA"]


def test_second_sender_without_patient_id_is_refused() -> None:
    decoder = Hl7Decoder()
    assert len(decoder.feed(frame(philips("A1", 85, mrn="")), T0)) == 3
    assert decoder.feed(frame(philips("B1", 99, mrn="", app="GW2")), T0 + 1) == []
    acks = acks_of(decoder)
    assert [msa(a)[0] for a in acks] == ["AA", "AR"]
    assert "GW2" in msa(acks[1])[2]
    assert decoder.take_refusals()[0].refusal.condition == "hl7_other_sender"  # type: ignore[union-attr]


def test_sender_allow_list() -> None:
    decoder = Hl7MllpDriver().decoder({"allow_senders": "PIIC^PHILIPS, OTHERAPP"})
    assert isinstance(decoder, Hl7Decoder)
    assert decoder.feed(frame(philips("X1", 97, app="ROGUE")), T0) == []
    assert len(decoder.feed(frame(philips("A1", 97)), T0)) == 3
    assert [msa(a)[0] for a in acks_of(decoder)] == ["AR", "AA"]


# -- the listener under misbehaving senders, over real sockets --------------------------------


def _listener(**kwargs: object) -> Hl7MllpSource:
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0, **kwargs))  # type: ignore[arg-type]
    source.open()
    return source


def _exchange(sock: socket.socket, text: str) -> hl7.Message:
    return hl7.parse(mllp_answer(sock, frame(text)).decode())


def _events(source: Hl7MllpSource, wanted: int = 1, within: float = 5.0) -> list[LinkEvent]:
    found: list[LinkEvent] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and len(found) < wanted:
        found += source.take_link_events()
        time.sleep(0.02)
    return found


@contextlib.contextmanager
def _two_senders() -> Iterator[tuple[Hl7MllpSource, socket.socket, socket.socket]]:
    """A listener on loopback with two connections to it, all closed at the end."""
    source = _listener()
    try:
        with (
            socket.create_connection(source.address, timeout=5) as first,
            socket.create_connection(source.address, timeout=5) as second,
        ):
            yield source, first, second
    finally:
        source.close()


def _technical_events(source: Hl7MllpSource, wanted: int) -> list[LinkEvent]:
    """The timeline's technical events from ``source``, once ``wanted`` of them came (or after 10 s)."""
    technical: list[LinkEvent] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(technical) < wanted:
        technical += [e for e in _events(source, within=0.5) if e.kind is LinkEventKind.TECHNICAL]
    return technical


def test_a_second_patient_interleaved_cannot_mask_a_desaturation() -> None:
    with _two_senders() as (source, patient, wrong_chair):
        answers = []
        for n in range(5):
            answers.append(msa(_exchange(patient, philips(f"A{n}", 85, mrn="MRN123")))[0])
            answers.append(msa(_exchange(wrong_chair, philips(f"B{n}", 99, mrn="MRN999", app="GW2")))[0])
        assert answers == ["AA", "AR"] * 5
        readings = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(readings) < 15:
            readings += source.read(0.1)
        assert {r.value for r in readings if r.parameter is Parameter.SPO2} == {85.0}
        technical = [e for e in _events(source, 2) if e.kind is LinkEventKind.TECHNICAL]
        # One timeline entry for the refused sender, not one per message.
        assert [e.condition for e in technical] == ["hl7_other_patient"]
        # Not the other patient's PID-3: the timeline is kept readable in the database.
        assert "MRN999" not in technical[0].detail and "names another patient" in technical[0].detail


def test_a_refusal_tells_the_sender_neither_the_bound_patient_nor_the_bound_sender() -> None:
    # Bound by the monitor's first message; then anyone who can reach the listener (another user of this computer,
    # on loopback) guesses. Were the answers to name MRN123 and PIIC, the next message, naming both, would be taken.
    with _two_senders() as (source, monitor, guesser):
        assert msa(_exchange(monitor, philips("A1", 97, mrn="MRN123")))[0] == "AA"
        other_patient = msa(_exchange(guesser, philips("G1", 70, mrn="GUESS", app="PIIC")))
        other_sender = msa(_exchange(guesser, philips("G2", 70, mrn="MRN123", app="ROGUE")))
        assert other_patient[0] == other_sender[0] == "AR"
        assert "MRN123" not in other_patient[2] and "GUESS" in other_patient[2]
        assert "PIIC" not in other_sender[2] and "ROGUE" in other_sender[2]
        technical = _technical_events(source, 2)
    assert sorted(e.condition for e in technical) == ["hl7_other_patient", "hl7_other_sender"]
    # The timeline (kept readable in the database) holds no PID-3 of this session's patient; it names the sender
    # the session is bound to, for the staff.
    assert not any("MRN123" in e.detail for e in technical)
    assert any("PIIC" in e.detail and "ROGUE" in e.detail for e in technical)


def test_connection_limit_allow_list_and_idle_timeout() -> None:
    offset = [0.0]
    settings = Hl7Settings("127.0.0.1", 0, max_connections=2, idle_timeout_s=30.0)
    source = Hl7MllpSource(settings, monotonic=lambda: time.monotonic() + offset[0])
    source.open()
    try:
        first = socket.create_connection(source.address, timeout=5)
        second = socket.create_connection(source.address, timeout=5)
        assert msa(_exchange(first, philips("A1", 97)))[0] == "AA"
        assert msa(_exchange(second, philips("A2", 97)))[0] == "AA"
        # Both places hold connections that brought the patient's values: neither makes room for a third.
        third = socket.create_connection(source.address, timeout=5)
        assert closed_by_peer(third)
        events = _events(source)
        assert [e.condition for e in events] == ["hl7_connection_refused"]
        assert "max_connections" in events[0].detail
        offset[0] = 31.0  # both connections now idle beyond the time-out
        assert closed_by_peer(first)
        assert closed_by_peer(second)
        # Closing idle connections is housekeeping; 31 s without a message is not yet a lost link.
        assert source.take_link_events() == []
        for sock in (first, second, third):
            sock.close()
    finally:
        source.close()
    elsewhere = _listener(allow_from=frozenset({"10.9.9.9"}))
    try:
        with socket.create_connection(elsewhere.address, timeout=5) as sock:
            assert closed_by_peer(sock)
        assert elsewhere.refused_connections == 1
    finally:
        elsewhere.close()


def test_a_sender_that_never_reads_its_acks_delays_no_other() -> None:
    source = _listener()
    stop = threading.Event()
    flooded = [0]

    def flood() -> None:
        with socket.socket() as bad:
            bad.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            bad.connect(source.address)
            bad.settimeout(0.5)
            burst = b"".join(frame(philips(f"F{n}", 97)) for n in range(50))
            while not stop.is_set():
                try:
                    bad.sendall(burst)  # and never a recv()
                    flooded[0] += 50
                except TimeoutError:
                    pass  # the listener no longer reads it: TCP holds it back
            stop.wait()

    feed = PatientFeed(seed=3, start=time.time())
    good = Hl7Sender(feed, *source.address, interval_s=0.0, timeout_s=5.0)
    thread = threading.Thread(target=flood, daemon=True)
    try:
        codes = [good.send_due(time.time())]  # the chair's monitor, first: the session is its own
        thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(size > 0 for size in source.outbox_sizes()):
            time.sleep(0.05)
        codes += [good.send_due(time.time()) for _ in range(9)]
        # Every ACK of the real monitor came within its 5 s time-out while the other flooded.
        assert codes == ["AA"] * 10
        assert flooded[0] > 0
        # What the flooding sender is owed stays bounded: the listener stops reading it.
        assert max(source.outbox_sizes()) <= MAX_OUTBOX_BYTES + 64 * 1024
    finally:
        good.close()
        stop.set()
        if thread.is_alive():
            thread.join(5)
        source.close()


def test_listener_failures_become_rate_limited_technical_events() -> None:
    # The TCP side (tests/drivers/transport/test_tcp_listener.py) survives accept() failures and loop
    # errors; here: what the HL7 source puts on the timeline when told of them.
    source = Hl7MllpSource(Hl7Settings("127.0.0.1", 0))
    source.failed("accept_failed", "cannot accept a connection: [Errno 24] Too many open files")
    source.failed("accept_failed", "cannot accept a connection: [Errno 24] Too many open files")
    source.failed("listener_error", "listener error: boom")
    source.refused("10.1.1.1", "10.1.1.1:5000", "address 10.1.1.1 is not on the listener's allow_from list")
    events = source.take_link_events()
    assert [(e.kind, e.condition) for e in events] == [
        (LinkEventKind.TECHNICAL, "hl7_accept_failed"),
        (LinkEventKind.TECHNICAL, "hl7_listener_error"),
        (LinkEventKind.TECHNICAL, "hl7_connection_refused"),
    ]
    assert "Too many open files" in events[0].detail
    assert events[2].detail.startswith("connection from 10.1.1.1:5000 refused")


def test_the_session_tells_the_listener_its_patient_and_records_refusals(store) -> None:  # type: ignore[no-untyped-def]
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.session import EventKind

    source = _listener()
    recorder = Recorder.new_session(
        store, source, driver="hl7-mllp", port="127.0.0.1:0", plan=SessionPlan(1, 40, 30), nurse="AB"
    )
    try:
        future = recorder.submit("identify_patient", "AB", mrn="MRN123", patient_name="Doe, Jane")
        recorder.step()
        future.result(timeout=0)
        assert source.gate.patient == "MRN123"
        with socket.create_connection(source.address, timeout=5) as sock:
            assert msa(_exchange(sock, philips("W1", 99, mrn="MRN999", app="GW2")))[0] == "AR"
            assert msa(_exchange(sock, philips("A1", 85, mrn="MRN123", app="GW2")))[0] == "AA"
        deadline = time.monotonic() + 5
        technical: list[object] = []
        while time.monotonic() < deadline and not technical:
            technical = [e for e in recorder.step().events if e.kind is EventKind.TECHNICAL]
        assert technical
        detail = technical[0].detail  # type: ignore[attr-defined]
        assert detail["condition"] == "hl7_other_patient"
        assert "MRN999" not in detail["detail"] and "names another patient" in detail["detail"]
    finally:
        recorder.stop()
        recorder.close()
    # Neither patient's MRN is readable anywhere in the database's files (identifiers are kept encrypted).
    files = [p for p in store.path.parent.iterdir() if p.name.startswith(store.path.name) and p.is_file()]
    assert files and not any(b"MRN999" in f.read_bytes() or b"MRN123" in f.read_bytes() for f in files)


def test_ventilation_from_a_simulated_capnograph_and_from_mdil_codes() -> None:
    feed = PatientFeed(scenario="capnography", seed=5, start=T0)
    vitals = feed.vitals(T0 + 10)
    assert vitals.rr is not None and vitals.etco2 is not None
    decoder = Hl7Decoder()
    readings = decoder.feed(frame(oru_message("V1", T0 + 10, vitals, None)), T0 + 10)
    got = values(readings)
    assert got[Parameter.RR] == vitals.rr
    assert got[Parameter.ETCO2] == vitals.etco2
    # A gateway's MDIL codes: 0002-500a (MDC 151562) and 0002-509c (MDC 151708), kPa converted.
    text = philips("V2", 97) + (
        "OBX|4|NM|0002-500a^RR^MDIL||14|0004-0ae0^rpm^MDIL|||||R\r"
        "OBX|5|NM|0002-509c^etCO2^MDIL||5.1|0004-0f03^kPa^MDIL|||||R\r"
    )
    got = values(Hl7Decoder().feed(frame(text), T0))
    assert got[Parameter.RR] == 14.0
    assert got[Parameter.ETCO2] == pytest.approx(38.3)  # 5.1 kPa


def test_a_message_with_nothing_taken_binds_nothing() -> None:
    decoder = Hl7Decoder()
    bad = philips("X1", 97, mrn="MRN999", app="GW2")
    for code in ("||72|", "||97|", "||71|"):
        bad = bad.replace(code, "||abc|")
    assert decoder.feed(frame(bad), T0) == []
    assert len(decoder.feed(frame(philips("A1", 97)), T0 + 1)) == 3
    assert [msa(a)[0] for a in acks_of(decoder)] == ["AE", "AA"]


def test_python_hl7s_own_mllp_client_gets_its_answers() -> None:
    """An independent MLLP client (python-hl7's) talks to the listener: framing and ACKs as it expects them."""
    from hl7.client import MLLPClient

    source = _listener()
    try:
        with MLLPClient(*source.address) as client:
            first = hl7.parse(client.send_message(philips("C1", 95, accept="AL", ack="NE")).decode())
            assert msa(first)[:2] == ("CA", "C1")
            second = hl7.parse(client.send_message(philips("C2", 96)).decode())
            assert msa(second)[:2] == ("AA", "C2")
            third = hl7.parse(client.send_message(philips("C3", 94, mrn="OTHER")).decode())
            assert msa(third)[:2] == ("AR", "C3")
        readings: list[object] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(readings) < 6:
            readings += source.read(0.1)
        assert sorted(r.value for r in readings if r.parameter is Parameter.SPO2) == [95.0, 96.0]  # type: ignore[attr-defined]
    finally:
        source.close()


def test_medplums_hl7_client_gets_its_answers() -> None:
    """Medplum's HL7 client (Node, tests/node) sends to the listener and matches every ACK to its message."""
    import subprocess

    from tests.independent import node_script

    command = node_script("hl7_send.js")
    source = _listener()
    try:
        texts = [philips("M1", 97), philips("M2", 96, accept="AL", ack="NE"), philips("M3", 95, mrn="OTHER")]
        done = subprocess.run(
            [*command, str(source.address[1]), *texts], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split("\n")[:3] == ["AA M1", "CA M2", "AR M3"]
    finally:
        source.close()


@pytest.mark.parametrize("delimiters", ["^A\\&", "^~A&", "^~\\A", "^^\\&", "^~ &", "^~"])
def test_unusable_delimiters_are_refused_with_a_readable_answer(delimiters: str) -> None:
    # An answer echoing a letter or a repeated character as a delimiter could not be read by the sender.
    text = GOOD.replace("^~\\&", delimiters, 1)
    decoder = Hl7Decoder()
    assert decoder.feed(frame(text), T0) == []
    (ack,) = MllpDeframer().feed(decoder.outgoing(T0))
    answer = hl7.parse(ack.decode())
    assert str(answer.segment("MSH")[2]) == "^~\\&"
    assert answer.extract_field("MSA", 1, 1) == "AR"
    assert "delimiters" in answer.extract_field("MSA", 1, 3) or "MSH-2" in answer.extract_field("MSA", 1, 3)


def test_a_truncation_character_in_msh2_is_still_accepted() -> None:
    decoder = Hl7Decoder()
    readings = decoder.feed(frame(GOOD.replace("^~\\&", "^~\\&#", 1)), T0)
    (ack,) = MllpDeframer().feed(decoder.outgoing(T0))
    assert hl7.parse(ack.decode()).extract_field("MSA", 1, 1) == "AA"
    assert len(readings) == 6
