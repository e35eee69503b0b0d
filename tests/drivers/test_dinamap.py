"""GE DINAMAP host communications: checksums byte-exact against the public vectors, polling, strict replies.

The reply layout is *unconfirmed* (one open-source host, no manual, no captured replies): the reply
tests pin the layout the driver reads and its strictness, with replies made by the emulator.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.dinamap import (
    CANCEL_NIBP,
    READ_HR,
    READ_NIBP,
    START_NIBP,
    DinamapDecoder,
    DinamapDriver,
    DinamapSettings,
    ReplyError,
    checksum,
    command,
    parse_nibp_status,
    parse_value,
)
from drivers.dinamap_emulator import DinamapMonitor
from drivers.patient_feed import PatientFeed
from drivers.settings import SettingsError
from monitor.readings import Flag, Parameter, is_plausible
from tests.drivers.vectors import text_vectors

T0 = 1_700_000_000.0
VECTORS = text_vectors("dinamap_vectors.txt")
CODES = {
    "start_nibp_determination": START_NIBP,
    "cancel_nibp_determination": CANCEL_NIBP,
    "read_nibp_status": READ_NIBP,
    "read_heart_rate": READ_HR,
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_commands_are_byte_exact(name: str) -> None:
    assert command(CODES[name]) == VECTORS[name].encode("ascii")


def test_checksum_keeps_twelve_bits() -> None:
    long_text = "~" * 50  # 50 * 95 = 4750 > 0xFFF
    total = 50 * 95 - 0xFFF
    assert checksum(long_text) == chr(0x20 + (total >> 6)) + chr(0x20 + (total & 0x3F))
    with pytest.raises(ValueError, match="printable"):
        checksum("\x01")


def reply(text: str) -> bytes:
    return (text + checksum(text)).encode("ascii") + b"\r"


def test_polling_exchange_is_exact() -> None:
    decoder = DinamapDecoder(DinamapSettings(poll_interval=2.0, reply_checksum=True))
    nibp_reply = reply(" NA1  0007128082097")
    hr_reply = reply(" RC 072")
    assert decoder.outgoing(T0) == b" NA!2\r"
    assert decoder.outgoing(T0 + 0.1) == b""  # one command at a time
    readings = decoder.feed(nibp_reply, T0 + 0.2)
    assert [(r.parameter, r.value) for r in readings] == [
        (Parameter.NIBP_SYS, 128.0),
        (Parameter.NIBP_DIA, 82.0),
        (Parameter.NIBP_MEAN, 97.0),
    ]
    assert decoder.outgoing(T0 + 0.2) == b" RC!8\r"
    assert [(r.parameter, r.value) for r in decoder.feed(hr_reply, T0 + 0.3)] == [(Parameter.PR, 72.0)]
    assert decoder.outgoing(T0 + 1.0) == b""  # next cycle at T0 + 2
    assert decoder.outgoing(T0 + 2.0) == b" NA!2\r"
    # The same result again is not a new measurement.
    assert decoder.feed(nibp_reply, T0 + 2.1) == []
    assert decoder.counters.frames_decoded == 3
    assert decoder.counters.frames_rejected == 0


def test_start_cancel_and_a_new_determination() -> None:
    decoder = DinamapDecoder()
    assert decoder.request_nibp() is True
    assert decoder.outgoing(T0) == b" NC0!E\r"
    decoder.feed(b" NC0!E\r", T0 + 0.1)
    assert decoder.outgoing(T0 + 0.1) == b" NA!2\r"
    assert decoder.feed(b" NA2  0000000000000\r", T0 + 0.2) == []  # running
    decoder.cancel_nibp()
    assert decoder.outgoing(T0 + 0.2) == b" ND!5\r"
    decoder.feed(b" ND\r", T0 + 0.3)
    assert decoder.outgoing(T0 + 0.3) == b" RC!8\r"
    decoder.feed(b" RC 000\r", T0 + 0.4)
    assert decoder.outgoing(T0 + 2.2) == b" NA!2\r"
    first = decoder.feed(b" NA1  0001120080093\r", T0 + 2.3)
    assert [r.value for r in first] == [120.0, 80.0, 93.0]
    decoder.outgoing(T0 + 2.3)
    decoder.feed(b" RC 070\r", T0 + 2.4)
    decoder.outgoing(T0 + 4.2)
    decoder.feed(b" NA2  0001000000000\r", T0 + 4.3)  # a second determination runs...
    decoder.outgoing(T0 + 4.3)
    decoder.feed(b" RC 070\r", T0 + 4.4)
    decoder.outgoing(T0 + 6.2)
    again = decoder.feed(b" NA1  0002120080093\r", T0 + 6.3)  # ...and gives the same numbers
    assert [r.value for r in again] == [120.0, 80.0, 93.0]


def test_failed_determination_is_recorded_once() -> None:
    decoder = DinamapDecoder()
    decoder.outgoing(T0)
    failed = decoder.feed(b" NA3  0004000000000\r", T0 + 0.1)
    assert len(failed) == 3
    assert all(r.value is None and Flag.MEASUREMENT_FAILED in r.flags for r in failed)
    decoder.outgoing(T0 + 0.1)
    decoder.feed(b" RC 070\r", T0 + 0.2)
    decoder.outgoing(T0 + 2.0)
    assert decoder.feed(b" NA3  0004000000000\r", T0 + 2.1) == []


@pytest.mark.parametrize(
    "line",
    [
        " NA1  0007128082",  # too short
        " NA1  00071280820x7",  # not digits
        " NA1  0007082128097",  # diastolic above systolic
        " NA1  0007999082097",  # impossible systolic
        " NAx  0007128082097",  # status not a digit
    ],
)
def test_malformed_nibp_replies_are_rejected(line: str) -> None:
    with pytest.raises(ReplyError):
        parse_nibp_status(line)
    decoder = DinamapDecoder()
    decoder.outgoing(T0)
    assert decoder.feed(line.encode() + b"\r", T0 + 0.1) == []
    assert decoder.counters.frames_rejected == 1


def test_value_replies() -> None:
    assert parse_value(" RC 072", Parameter.PR) == 72.0
    assert parse_value(" RC 000", Parameter.PR) is None
    for bad in (" RC 7", " RC -72", " RC 999"):
        with pytest.raises(ReplyError):
            parse_value(bad, Parameter.PR)


def test_unexpected_lines_timeouts_and_checksums() -> None:
    decoder = DinamapDecoder(DinamapSettings(reply_timeout=2.0, reply_checksum=True))
    assert decoder.feed(b" RC 072\r", T0) == []  # nothing was asked
    assert decoder.counters.frames_rejected == 1
    assert decoder.outgoing(T0) == b" NA!2\r"
    assert decoder.outgoing(T0 + 2.5) == b" RC!8\r"  # the NA timed out
    assert decoder.timeouts == 1
    assert decoder.feed(b" RC 072!!\r", T0 + 2.6) == []  # wrong checksum
    assert decoder.counters.frames_rejected == 2
    decoder.outgoing(T0 + 4.6)
    assert decoder.feed(b"\x00\xff garbage\r\n", T0 + 4.7) == []
    assert decoder.counters.frames_rejected == 3
    assert decoder.feed(b"x" * 200 + b"\r", T0 + 4.8) == []
    assert decoder.counters.resyncs == 1


def test_spo2_only_when_configured() -> None:
    plain = DinamapDecoder()
    assert [plain.outgoing(T0 + k) for k in range(3)].count(b"") >= 1
    decoder = DinamapDecoder(DinamapSettings.from_mapping({"spo2_command": "rb"}))
    sent = []
    for k in range(3):
        out = decoder.outgoing(T0 + k * 0.1)
        sent.append(out)
        decoder.feed({0: b" NA0  0000000000000\r", 1: b" RC 070\r", 2: b" RB 097\r"}[k], T0 + k * 0.1)
    assert sent[2] == command(" RB")
    assert decoder.counters.frames_decoded == 3


def test_settings() -> None:
    s = DinamapSettings.from_mapping({"poll_interval": "5", "reply_checksum": "on"})
    assert s.poll_interval == 5.0
    assert s.reply_checksum is True
    with pytest.raises(SettingsError, match="poll_interval='soon'"):
        DinamapSettings.from_mapping({"poll_interval": "soon"})
    with pytest.raises(SettingsError, match="unknown setting"):
        DinamapSettings.from_mapping({"format": "2"})
    with pytest.raises(SettingsError, match="spo2_command"):
        DinamapSettings.from_mapping({"spo2_command": "R B!"})
    assert DinamapDriver.port_settings is not None
    assert DinamapDriver.port_settings.describe() == "9600 8N1, no flow control"
    assert DinamapDriver.can_start_nibp is True


def converse(decoder: DinamapDecoder, monitor: DinamapMonitor, at: float) -> list[object]:
    readings: list[object] = []
    sent = decoder.outgoing(at)
    while sent:
        readings.extend(decoder.feed(monitor.receive(sent, at), at))
        sent = decoder.outgoing(at)
    return readings


def test_emulator_conversation_starts_and_reads_the_cuff() -> None:
    feed = PatientFeed(seed=5, start=T0, cuff_duration_s=6.0)
    monitor = DinamapMonitor(feed)
    decoder = DinamapDecoder(DinamapSettings(poll_interval=1.0, reply_checksum=True))
    readings = [r for k in range(3) for r in converse(decoder, monitor, T0 + k)]
    assert not [r for r in readings if r.parameter is Parameter.NIBP_SYS]  # type: ignore[attr-defined]
    decoder.request_nibp()
    readings = [r for k in range(3, 15) for r in converse(decoder, monitor, T0 + k)]
    nibp = [r for r in readings if r.parameter is Parameter.NIBP_SYS]  # type: ignore[attr-defined]
    assert len(nibp) == 1
    assert nibp[0].value == feed.cuffs[0].sys  # type: ignore[attr-defined]
    assert monitor.counters.determinations_started == 1
    assert monitor.counters.rejected == 0
    assert decoder.counters.frames_rejected == 0


# -- property-based ------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(readings: list[object]) -> None:
    for r in readings:
        assert is_plausible(r.parameter, r.value)  # type: ignore[attr-defined]


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=12))
def test_random_replies_never_raise(chunks: list[bytes]) -> None:
    decoder = DinamapDecoder()
    for i, chunk in enumerate(chunks):
        decoder.outgoing(T0 + i)
        check(decoder.feed(chunk, T0 + i + 0.1))


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(b"0123456789 \r\nA-!x\x00")), max_size=5),
    st.booleans(),
)
def test_mutated_replies_never_raise(mutations: list[tuple[int, int]], with_checksum: bool) -> None:
    decoder = DinamapDecoder(DinamapSettings(reply_checksum=with_checksum))
    script = [reply(" NA1  0007128082097"), reply(" RC 072"), reply(" NA3  0008000000000")]
    stream = bytearray(b"".join(script))
    for pos, value in mutations:
        stream[pos % len(stream)] = value
    readings: list[object] = []
    data = bytes(stream)
    for i in range(0, len(data), 7):
        decoder.outgoing(T0 + i)
        readings.extend(decoder.feed(data[i : i + 7], T0 + i))
    check(readings)
