"""GE DINAMAP host communications: exact (sent, received) pairs shaped as the independent hosts say.

Commands are checked byte for byte against the strings two independent hosts send (TK-BP for the
PRO series, a C# Carescape V100 host for OA/RA/TC). Replies are written by hand in the layouts the
manual gives as quoted by the V100 host (no captured replies are public); the emulator is checked
only in its own conversation test.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.core.readings import Flag, Parameter, Reading, is_plausible
from drivers.dinamap.codec import (
    CANCEL_NIBP,
    READ_HR,
    READ_NIBP,
    READ_RATE_PRO,
    READ_RATE_V100,
    READ_SPO2,
    START_NIBP,
    DinamapDecoder,
    DinamapSettings,
    RateReply,
    ReplyError,
    Spo2Status,
    checksum,
    command,
    parse_nibp_status,
    parse_rate,
    parse_spo2,
)
from drivers.dinamap.driver import DinamapDriver
from drivers.dinamap.emulator import DinamapMonitor
from drivers.patient.vitals import CuffResult, PatientFeed
from drivers.settings import SettingsError
from tests.drivers.exchange import expected_protocol
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


# The V100 host (C#, Carescape V100) sends these strings literally; they must come out byte for byte.
V100_COMMANDS = {READ_SPO2: b" OA!3\r", READ_RATE_V100: b" RA!6\r", " TC": b" TC!:\r"}


@pytest.mark.parametrize("code", sorted(V100_COMMANDS))
def test_v100_commands_match_the_independent_host(code: str) -> None:
    assert command(code) == V100_COMMANDS[code]


def reply(text: str) -> bytes:
    return (text + checksum(text)).encode("ascii") + b"\r"


def v100(**settings: str) -> DinamapDecoder:
    return DinamapDecoder(DinamapSettings.from_mapping({"model": "v100", **settings}))


def exchange(decoder: DinamapDecoder, at: float, expect_sent: bytes, received: bytes) -> list[Reading]:
    """One (sent, received) pair: the decoder must send exactly ``expect_sent``, then reads ``received``."""
    with expected_protocol(decoder, [(at, expect_sent, received)], reply_after_s=REPLY_AFTER_S) as talk:
        return talk.play()


REPLY_AFTER_S = 0.2
OA = (b" OA!3\r", b" OA1097508\r")
RA = (b" RA!6\r", b" RA2072\r")


def na(at: float, reply: bytes) -> tuple[float, bytes, bytes]:
    """A read of the NIBP status at ``at`` and the monitor's reply."""
    return (at, b" NA!2\r", reply)


def ra(at: float, rate: bytes) -> tuple[float, bytes, bytes]:
    """A read of the pulse rate at ``at`` and the monitor's reply."""
    return (at, b" RA!6\r", b" RA" + rate + b"\r")


def nibp_cycles(*nibp: tuple[float, bytes]) -> list[tuple[float, bytes, bytes]]:
    """Poll cycles of a monitor without SpO2: each NA and its reply, RA (rate 70) 0.2 s later; the last NA alone."""
    script: list[tuple[float, bytes, bytes]] = []
    for at, reply in nibp:
        script += [na(at, reply), ra(at + 0.2, b"2070")]
    return script[:-1]


def values(readings: list[Reading]) -> list[tuple[Parameter, float | None]]:
    return [(r.parameter, r.value) for r in readings]


# Replies below are laid out as the manual's reply descriptions quoted by the independent V100 host:
# NA "uNAabcddddeeefffggg", OA "uOAabbbcdd", RA "uRAabbb"; the unit character u is a space as in the
# host's own parsing (it compares [0:3] with " NA"); no reply checksum (the host reads none).


def test_v100_poll_cycle_is_exact_and_values_carry_their_measurement_time() -> None:
    decoder = v100()
    assert decoder.settings.poll_commands == (READ_NIBP, READ_SPO2, READ_RATE_V100)
    assert exchange(decoder, T0, b" NA!2\r", b" NA1109999000000000\r") == []  # no recent determination
    assert values(exchange(decoder, T0 + 0.2, b" OA!3\r", b" OA1097508\r")) == [(Parameter.SPO2, 97.0)]
    assert values(exchange(decoder, T0 + 0.4, b" RA!6\r", b" RA2072\r")) == [(Parameter.PR, 72.0)]
    assert decoder.outgoing(T0 + 1.0) == b""  # next cycle two seconds after this one began
    nibp = exchange(decoder, T0 + 30, b" NA!2\r", b" NA1100005128082097\r")  # valid, 5 s old
    assert values(nibp) == [(Parameter.NIBP_SYS, 128.0), (Parameter.NIBP_DIA, 82.0), (Parameter.NIBP_MEAN, 97.0)]
    assert {r.t for r in nibp} == {T0 + 30.2 - 5}
    decoder.outgoing(T0 + 30.2)
    decoder.feed(b" OA1097508\r", T0 + 30.3)
    decoder.outgoing(T0 + 30.3)
    decoder.feed(b" RA2072\r", T0 + 30.4)
    # The same determination read again (its counter has ticked on) is not a new one.
    assert exchange(decoder, T0 + 32.0, b" NA!2\r", b" NA1100007128082097\r") == []
    assert decoder.counters.frames_decoded == 7
    assert decoder.counters.frames_rejected == 0


def test_a_result_held_from_before_the_session_is_not_stored() -> None:
    decoder = v100()
    script = [
        na(T0, b" NA1102400142091108\r"), (T0 + 0.2, *OA), (T0 + 0.4, *RA),
        na(T0 + 2, b" NA1102402142091108\r"), (T0 + 2.2, *OA), (T0 + 2.4, *RA),
        na(T0 + 4, b" NA0102404142091108\r"), (T0 + 4.2, *OA), (T0 + 4.4, *RA),
        na(T0 + 40, b" NA1100003142091108\r"),
    ]
    with expected_protocol(decoder, script, reply_after_s=REPLY_AFTER_S) as talk:
        # The previous patient's result, 2400 s old, is what the monitor shows at session start.
        assert talk.step() == []
        assert decoder.held_results == 1
        talk.play(2)
        assert talk.step() == []  # still held
        talk.play(2)
        # A determination during the session: busy, then a result 3 s old.
        assert talk.step() == []
        talk.play(2)
        fresh = talk.step()  # same numbers, new time
    assert values(fresh) == [(Parameter.NIBP_SYS, 142.0), (Parameter.NIBP_DIA, 91.0), (Parameter.NIBP_MEAN, 108.0)]
    assert {r.t for r in fresh} == {T0 + 40.2 - 3}


def test_no_recent_determination_and_not_used_give_nothing() -> None:
    decoder = v100()
    assert exchange(decoder, T0, b" NA!2\r", b" NA1109999000000000\r") == []
    decoder = v100()
    assert exchange(decoder, T0, b" NA!2\r", b" NA2100000128082097\r") == []
    assert decoder.counters.frames_rejected == 0


def test_monitor_run_determination_identical_to_the_previous_one_is_stored() -> None:
    decoder = v100(spo2="off")
    assert decoder.settings.poll_commands == (READ_NIBP, READ_RATE_V100)
    script = [
        na(T0, b" NA0109999000000000\r"), ra(T0 + 0.2, b"2070"),
        na(T0 + 30, b" NA1100001120080093\r"), ra(T0 + 30.2, b"3070"),
        na(T0 + 300, b" NA1100002120080093\r"),
    ]
    with expected_protocol(decoder, script, reply_after_s=REPLY_AFTER_S) as talk:
        assert talk.step() == []  # busy
        talk.step()
        assert len(talk.step()) == 3
        talk.step()  # the cuff's rate is not a pulse-oximeter pulse
        assert decoder.cuff_rates == 1
        # Five minutes later the monitor's own cycle measured exactly the same numbers.
        again = talk.step()
    assert [r.value for r in again] == [120.0, 80.0, 93.0]
    assert {r.t for r in again} == {T0 + 300.2 - 2}


def test_a_determination_after_a_busy_status_is_new_even_seconds_later() -> None:
    decoder = v100(spo2="off")
    script = nibp_cycles(
        (T0, b" NA0109999000000000\r"),
        (T0 + 2, b" NA1100001120080093\r"),
        (T0 + 4, b" NA0100003120080093\r"),
        (T0 + 6, b" NA1100000120080093\r"),
        (T0 + 8, b" NA1100002120080093\r"),
    )
    with expected_protocol(decoder, script, reply_after_s=REPLY_AFTER_S) as talk:
        assert talk.step() == []  # busy
        talk.step()
        assert len(talk.step()) == 3
        talk.step()
        # A short determination started at once (a fast emulated cuff), same numbers, 5 s later.
        assert talk.step() == []  # busy
        talk.step()
        again = talk.step()
        assert [r.t for r in again] == [T0 + 6.2] * 3
        talk.step()
        assert talk.step() == []  # read again: same


@pytest.mark.parametrize("status", [3, 4, 5, 6, 7, 8, 9])
def test_a_failed_determination_is_recorded_once(status: int) -> None:
    decoder = v100(spo2="off")
    # The counter ticks on every poll; from the second NA on it is the same failure.
    script = nibp_cycles(
        (T0, b" NA0100000000000000\r"),
        *((T0 + 2 * k, f" NA{status}10{k:04d}000000000\r".encode()) for k in range(1, 6)),
    )
    with expected_protocol(decoder, script, reply_after_s=REPLY_AFTER_S) as talk:
        assert talk.step() == []  # busy
        talk.step()
        failed = talk.step()
        assert len(failed) == 3
        assert all(r.value is None and Flag.MEASUREMENT_FAILED in r.flags for r in failed)
        for _ in range(2, 6):
            talk.step()
            assert talk.step() == []


def test_replies_are_matched_by_their_echoed_code() -> None:
    decoder = v100()
    exchange(decoder, T0, b" NA!2\r", b" NA1109999000000000\r")
    assert decoder.outgoing(T0 + 0.2) == b" OA!3\r"
    # An unsolicited NA line and a late RC line while OA is outstanding: neither becomes SpO2.
    assert decoder.feed(b" NA1100100100100100\r", T0 + 0.3) == []
    assert decoder.feed(b" RC2072\r", T0 + 0.35) == []
    assert decoder.unmatched == 2
    assert decoder.outgoing(T0 + 0.4) == b""  # OA still waits for its own reply
    assert values(decoder.feed(b" OA1095508\r", T0 + 0.5)) == [(Parameter.SPO2, 95.0)]
    assert decoder.outgoing(T0 + 0.5) == b" RA!6\r"


@pytest.mark.parametrize(
    ("line", "flag"),
    [(b" OA6093508\r", Flag.NO_SENSOR), (b" OA3093508\r", Flag.SENSOR_OFF), (b" OA0093508\r", Flag.UNAVAILABLE)],
)
def test_spo2_without_status_1_has_no_value_but_a_reason(line: bytes, flag: Flag) -> None:
    decoder = v100()
    exchange(decoder, T0, b" NA!2\r", b" NA1109999000000000\r")
    readings = exchange(decoder, T0 + 0.2, b" OA!3\r", line)
    assert [(r.parameter, r.value, r.flags) for r in readings] == [(Parameter.SPO2, None, frozenset({flag}))]


def test_rate_with_no_value_and_rate_sources() -> None:
    assert parse_rate(" RA2072") == RateReply("2", 72)
    assert parse_rate(" RA2-99") == RateReply("2", None)
    assert parse_rate(" RA3000") == RateReply("3", None)
    for bad in (" RA27", " RA2x72", " RA2999"):
        with pytest.raises(ReplyError):
            parse_rate(bad)
    assert parse_spo2(" OA1097508") == Spo2Status(1, 97)
    assert parse_spo2(" OA6093508") == Spo2Status(6, None)


def test_pro_family_sends_rc_and_reads_its_source() -> None:
    decoder = DinamapDecoder()
    assert decoder.settings.poll_commands == (READ_NIBP, READ_RATE_PRO)
    exchange(decoder, T0, b" NA!2\r", b" NA1109999000000000\r")
    assert values(exchange(decoder, T0 + 0.2, b" RC!8\r", b" RC2068\r")) == [(Parameter.PR, 68.0)]
    exchange(decoder, T0 + 2.0, b" NA!2\r", b" NA1109999000000000\r")
    assert exchange(decoder, T0 + 2.2, b" RC!8\r", b" RC3068\r") == []  # the cuff's pulse
    with_spo2 = DinamapDecoder(DinamapSettings.from_mapping({"spo2": "on"}))
    assert with_spo2.settings.poll_commands == (READ_NIBP, READ_RATE_PRO, READ_SPO2)


def test_start_and_cancel_are_acknowledged_by_their_echo() -> None:
    decoder = v100(spo2="off")
    assert decoder.request_nibp() is True
    assert exchange(decoder, T0, b" NC0!E\r", b" NC0\r") == []
    assert exchange(decoder, T0 + 0.2, b" NA!2\r", b" NA0100000000000000\r") == []
    decoder.cancel_nibp()
    assert exchange(decoder, T0 + 0.4, b" ND!5\r", b" ND\r") == []
    assert decoder.outgoing(T0 + 0.6) == b" RA!6\r"
    assert decoder.counters.frames_rejected == 0


def test_timeouts_wait_three_seconds_and_never_run_two_cycles_back_to_back() -> None:
    decoder = v100(spo2="off")
    assert decoder.outgoing(T0) == b" NA!2\r"
    assert decoder.outgoing(T0 + 2.9) == b""  # the C# host waits 3 s
    assert decoder.outgoing(T0 + 3.1) == b" RA!6\r"  # NA timed out
    assert decoder.outgoing(T0 + 6.2) == b" NA!2\r"  # RA timed out; a new cycle starts now...
    decoder.feed(b" NA1109999000000000\r", T0 + 6.3)
    assert decoder.outgoing(T0 + 6.3) == b" RA!6\r"
    decoder.feed(b" RA2070\r", T0 + 6.4)
    assert decoder.outgoing(T0 + 6.5) == b""  # ...and the next one two seconds after it, not at once
    assert decoder.outgoing(T0 + 8.2) == b" NA!2\r"
    assert decoder.timeouts == 2


def test_a_start_that_could_not_be_written_is_reported_and_not_waited_for() -> None:
    decoder = v100(spo2="off")
    decoder.request_nibp()
    assert decoder.outgoing(T0) == b" NC0!E\r"
    decoder.not_sent(T0)  # the port was closed: the bytes never left
    assert decoder.take_cuff_start_failures() == ["the start command could not be sent: the port is closed or failed"]
    assert decoder.outgoing(T0 + 0.1) == b" NA!2\r"  # no reply is waited for
    decoder.not_sent(T0 + 0.1)  # a poll that never left is not a cuff start
    assert decoder.take_cuff_start_failures() == []
    assert decoder.timeouts == 0


def test_a_start_the_monitor_does_not_acknowledge_is_reported() -> None:
    decoder = v100(spo2="off")
    decoder.request_nibp()
    with expected_protocol(decoder, [(T0, b" NC0!E\r", b""), (T0 + 2.9, b"", b""), (T0 + 3.1, b" NA!2\r", b"")],
                           reply_after_s=REPLY_AFTER_S) as talk:
        talk.play(2)
        assert decoder.take_cuff_start_failures() == []
        talk.play()
    assert decoder.take_cuff_start_failures() == ["the monitor did not acknowledge the start within 3 s"]
    assert decoder.take_cuff_start_failures() == []  # reported once
    assert decoder.timeouts == 1


def test_a_start_acknowledged_is_no_failure() -> None:
    decoder = v100(spo2="off")
    decoder.request_nibp()
    assert exchange(decoder, T0, b" NC0!E\r", b" NC0\r") == []
    assert exchange(decoder, T0 + 3.5, b" NA!2\r", b" NA0100000000000000\r") == []
    assert decoder.take_cuff_start_failures() == []


@pytest.mark.parametrize(
    ("sent_before_cut", "reason"),
    [
        (False, "the link to the monitor was lost before the start command was sent"),
        (True, "the link to the monitor was lost before it acknowledged the start"),
    ],
)
def test_a_start_caught_by_a_link_cut_is_given_up_and_reported(sent_before_cut: bool, reason: str) -> None:
    decoder = v100(spo2="off")
    decoder.request_nibp()
    if sent_before_cut:
        assert decoder.outgoing(T0) == b" NC0!E\r"
    decoder.reset()  # the link was lost
    assert decoder.take_cuff_start_failures() == [reason]
    # Not held over the cut: polling starts afresh, with no start in it.
    assert decoder.outgoing(T0 + 10) == b" NA!2\r"


@pytest.mark.parametrize(
    "line",
    [
        " NA1100007128082",  # too short
        " NA11000071280820x7",  # not digits
        " NA1100007082128097",  # diastolic above systolic
        " NA1100007999082097",  # impossible systolic
        " NAx100007128082097",  # status not a digit
        " NA1106000128082097",  # counter beyond 5400 and not 9999
    ],
)
def test_malformed_nibp_replies_are_rejected(line: str) -> None:
    with pytest.raises(ReplyError):
        parse_nibp_status(line)
    decoder = DinamapDecoder()
    decoder.outgoing(T0)
    assert decoder.feed(line.encode() + b"\r", T0 + 0.1) == []
    assert decoder.counters.frames_rejected == 1


def test_checksums_on_replies_when_configured() -> None:
    decoder = DinamapDecoder(DinamapSettings(reply_checksum=True))
    assert decoder.feed(b" RC2072\r", T0) == []  # nothing was asked
    assert decoder.counters.frames_rejected == 1
    assert decoder.outgoing(T0) == b" NA!2\r"
    assert decoder.feed(b" NA1109999000000000!!\r", T0 + 0.1) == []  # wrong checksum
    assert decoder.counters.frames_rejected == 2
    assert decoder.outgoing(T0 + 3.2) == b" RC!8\r"
    assert values(decoder.feed(reply(" RC2072"), T0 + 3.3)) == [(Parameter.PR, 72.0)]
    decoder.outgoing(T0 + 5.2)
    assert decoder.feed(b"\x00\xff garbage\r\n", T0 + 5.3) == []
    assert decoder.feed(b"x" * 200 + b"\r", T0 + 5.4) == []
    assert decoder.counters.resyncs == 1


def test_settings() -> None:
    s = DinamapSettings.from_mapping({"poll_interval": "5", "reply_checksum": "on"})
    assert (s.poll_interval, s.reply_timeout, s.model, s.spo2, s.reply_checksum) == (5.0, 3.0, "pro", False, True)
    assert DinamapSettings.from_mapping({"model": "V100"}).spo2 is True
    with pytest.raises(SettingsError, match="poll_interval='soon'"):
        DinamapSettings.from_mapping({"poll_interval": "soon"})
    with pytest.raises(SettingsError, match="unknown setting"):
        DinamapSettings.from_mapping({"spo2_command": "RB"})
    with pytest.raises(SettingsError, match="model='v200'"):
        DinamapSettings.from_mapping({"model": "v200"})
    with pytest.raises(SettingsError, match="spo2='maybe'"):
        DinamapSettings.from_mapping({"spo2": "maybe"})
    assert DinamapDriver.port_settings is not None
    assert DinamapDriver.port_settings.describe() == "9600 8N1, no flow control"
    assert DinamapDriver.can_start_nibp is True


def converse(decoder: DinamapDecoder, monitor: DinamapMonitor, at: float) -> list[Reading]:
    readings: list[Reading] = []
    sent = decoder.outgoing(at)
    while sent:
        readings.extend(decoder.feed(monitor.receive(b"\r" + sent, at), at))  # CR first, as the C# host
        sent = decoder.outgoing(at)
    return readings


@pytest.mark.parametrize("model", ["pro", "v100"])
def test_emulator_conversation_starts_and_reads_the_cuff(model: str) -> None:
    feed = PatientFeed(seed=5, start=T0, cuff_duration_s=6.0)
    held = CuffResult(T0 - 2400, 142.0, 91.0, 108.0)
    monitor = DinamapMonitor(feed, model=model, held=held)
    decoder = DinamapDecoder(DinamapSettings.from_mapping({"model": model, "spo2": "on", "poll_interval": "1",
                                                           "reply_checksum": "on"}))
    readings = [r for k in range(3) for r in converse(decoder, monitor, T0 + k)]
    assert not [r for r in readings if r.parameter is Parameter.NIBP_SYS]
    assert decoder.held_results == 1
    assert [r.value for r in readings if r.parameter is Parameter.SPO2]
    decoder.request_nibp()
    readings = [r for k in range(3, 15) for r in converse(decoder, monitor, T0 + k + 0.5)]
    nibp = [r for r in readings if r.parameter is Parameter.NIBP_SYS]
    assert len(nibp) == 1
    assert nibp[0].value == feed.cuffs[0].sys
    assert abs(nibp[0].t - feed.cuffs[0].t) <= 1.0  # measurement time, not poll time
    assert monitor.counters.determinations_started == 1
    assert monitor.counters.rejected == 0
    assert decoder.counters.frames_rejected == 0
    assert decoder.unmatched == 0


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
    script = [reply(" NA1100007128082097"), reply(" RC2072"), reply(" NA3100008000000000")]
    stream = bytearray(b"".join(script))
    for pos, value in mutations:
        stream[pos % len(stream)] = value
    readings: list[object] = []
    data = bytes(stream)
    for i in range(0, len(data), 7):
        decoder.outgoing(T0 + i)
        readings.extend(decoder.feed(data[i : i + 7], T0 + i))
    check(readings)
