"""Masimo ASCII 1 decoder and encoder against the published lines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from drivers.masimo.codec import MasimoAsciiDecoder, encode_line, encode_readings
from drivers.masimo.driver import MasimoAsciiDriver

Vectors = Callable[[str], dict[str, str]]


def decode_line(text: str) -> tuple[list[Reading], MasimoAsciiDecoder]:
    decoder = MasimoAsciiDecoder()
    return decoder.feed(text.encode("ascii") + b"\r\n", 100.0), decoder


def values(readings: list[Reading]) -> dict[Parameter, tuple[float | None, frozenset[Flag]]]:
    return {r.parameter: (r.value, r.flags) for r in readings}


# label -> (SpO2, PR, flags on both, SpO2 in alarm) as each line states it
EXPECTED = {
    "radical7_example": (98.0, 240.0, {Flag.SENSOR_OFF}),  # EXC 0x820 = SET mode + sensor off
    "radical5_example": (97.0, 64.0, set()),  # ALARM=20 is "silenced": no value in alarm
    "rad8_real_1": (98.0, 97.0, set()),
    "rad8_real_2": (98.0, 97.0, set()),
    "rad8_nosensor": (None, None, {Flag.NO_SENSOR}),
    "rad7_color": (98.0, 123.0, {Flag.LOW_SIGNAL_IQ}),  # EXC 0xC00 = low signal IQ + SET
    "rad7_blue_nosensor": (None, None, set()),
}


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_published_ascii1_lines_decode_to_their_values(vectors: Vectors, label: str) -> None:
    line = vectors("masimo_ascii1_lines.txt")[label]
    readings, decoder = decode_line(line)
    spo2, pr, flags = EXPECTED[label]
    assert values(readings) == {
        Parameter.SPO2: (spo2, frozenset(flags)),
        Parameter.PR: (pr, frozenset(flags)),
    }
    assert all(r.t == 100.0 and r.source == "masimo-ascii" for r in readings)
    assert decoder.counters.frames_decoded == 1
    assert decoder.counters.frames_rejected == 0


def test_every_ascii1_vector_is_covered(vectors: Vectors) -> None:
    labels = set(vectors("masimo_ascii1_lines.txt"))
    assert labels - set(EXPECTED) == {"rad8_trend_offpatient", "rad8_trend_ok", "rad8_trend_lowsiq"}


@pytest.mark.parametrize("label", ["rad8_trend_offpatient", "rad8_trend_ok", "rad8_trend_lowsiq"])
def test_trend_download_lines_are_rejected_never_read_as_zero(vectors: Vectors, label: str) -> None:
    readings, decoder = decode_line(vectors("masimo_ascii1_lines.txt")[label])
    assert readings == []
    assert decoder.counters.frames_rejected == 1


def test_dashes_are_missing_not_zero() -> None:
    readings, _ = decode_line("03/19/16 13:37:12 SPO2=---% BPM=--- PI=--.--% ALARM=0000 EXC=000000")
    assert [r.value for r in readings] == [None, None]


def test_alarm_bits_mark_the_value_in_alarm() -> None:
    readings, _ = decode_line("03/19/16 13:37:12 SPO2=085% BPM=130 ALARM=0006 EXC=000800")
    got = values(readings)
    assert got[Parameter.SPO2] == (85.0, frozenset({Flag.IN_ALARM}))
    assert got[Parameter.PR] == (130.0, frozenset({Flag.IN_ALARM}))


def test_all_exc_bits_map_to_flags() -> None:
    readings, _ = decode_line("03/19/16 13:37:12 SPO2=090% BPM=080 EXC=0000FFF")
    assert readings[0].flags == frozenset(
        {
            Flag.NO_SENSOR,
            Flag.SENSOR_DEFECT,
            Flag.LOW_PERFUSION,
            Flag.PULSE_SEARCH,
            Flag.INTERFERENCE,
            Flag.SENSOR_OFF,
            Flag.AMBIENT_LIGHT,
            Flag.UNRECOGNISED_SENSOR,
            Flag.LOW_SIGNAL_IQ,
        }
    )


def test_fields_are_found_by_tag_in_any_order() -> None:
    readings, _ = decode_line("03/19/16 13:37:12 EXC=000 BPM=061 NEWTAG=7 SPO2=099%")
    assert values(readings) == {Parameter.SPO2: (99.0, frozenset()), Parameter.PR: (61.0, frozenset())}


@pytest.mark.parametrize(
    "line",
    [
        "03/19/16 13:37:12 SPO2=101% BPM=070",  # SpO2 out of range
        "03/19/16 13:37:12 SPO2=098% BPM=999",  # pulse rate out of range
        "03/19/16 13:37:12 SPO2=098 BPM=070",  # SpO2 without its percent sign
        "03/19/16 13:37:12 SPO2=098%",  # no pulse rate
        "13/19/16 13:37:12 SPO2=098% BPM=070",  # month 13
        "03/19/16 13:37:12 SPO2=098% BPM=070 EXC=XYZ",  # not hexadecimal
        "03/19/16 13:37:12 SPO2=098% BPM=070 garbage",  # not a field
        "03/19/16 13:37:12 SPO2=098% SPO2=097% BPM=070",  # a tag twice
        "03/19/16 13:37:12SPO2=098% BPM=070",  # no separator after the time
    ],
)
def test_malformed_lines_are_rejected(line: str) -> None:
    readings, decoder = decode_line(line)
    assert readings == []
    assert decoder.counters.frames_rejected == 1


def test_noise_before_a_line_is_rejected_and_the_line_still_read() -> None:
    decoder = MasimoAsciiDecoder()
    readings = decoder.feed(b"\x00\xff#noise02/22/16 22:47:45 SPO2=098% BPM=097 EXC=000800\r\n", 5.0)
    assert [r.value for r in readings] == [98.0, 97.0]
    assert decoder.counters.frames_rejected == 1
    assert decoder.counters.resyncs == 1


def test_half_a_line_at_connect_then_resync() -> None:
    decoder = MasimoAsciiDecoder()
    assert decoder.feed(b"=097 PI=03.60% EXC=000800\r\n", 1.0) == []
    readings = decoder.feed(b"02/22/16 22:47:45 SPO2=098% BPM=097\r\n", 2.0)
    assert [r.value for r in readings] == [98.0, 97.0]
    assert (decoder.counters.frames_rejected, decoder.counters.resyncs, decoder.counters.frames_decoded) == (
        1,
        1,
        1,
    )


def test_reset_forgets_a_partial_line() -> None:
    decoder = MasimoAsciiDecoder()
    decoder.feed(b"02/22/16 22:47:45 SPO2=09", 1.0)
    decoder.reset()
    assert decoder.feed(b"02/22/16 22:47:46 SPO2=095% BPM=090\r\n", 2.0)[0].value == 95.0
    assert decoder.counters.frames_rejected == 0


def test_an_endless_line_is_rejected_once_a_second() -> None:
    decoder = MasimoAsciiDecoder()
    decoder.feed(b"A" * 5000, 1.0)
    decoder.feed(b"A" * 5000, 1.5)
    decoder.feed(b"B" * 5000 + b"\r\n02/22/16 22:47:45 SPO2=098% BPM=097\r\n", 2.0)
    assert decoder.counters.frames_rejected == 2  # at 1.0 and at 2.0 (it is counted again a second on)
    assert decoder.counters.frames_decoded == 1


def test_encoder_writes_a_line_the_published_way() -> None:
    line = encode_line(1456181265.0, 98, 97)
    assert line == (
        b"02/22/16 22:47:45 SN=0000000000 SPO2=098% BPM=097 PI=--.--% SPCO=--.-% SPMET=--.-% "
        b"DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800\r\n"
    )


@pytest.mark.parametrize(
    ("spo2", "pr", "flags"),
    [
        (97.0, 72.0, frozenset()),
        (None, None, frozenset({Flag.NO_SENSOR})),
        (88.0, 140.0, frozenset({Flag.LOW_PERFUSION, Flag.INTERFERENCE})),
        (100.0, 0.0, frozenset({Flag.SENSOR_OFF, Flag.PULSE_SEARCH, Flag.LOW_SIGNAL_IQ})),
    ],
)
def test_round_trip(spo2: float | None, pr: float | None, flags: frozenset[Flag]) -> None:
    sent = [Reading(50.0, Parameter.SPO2, spo2, "x", flags), Reading(50.0, Parameter.PR, pr, "x", flags)]
    decoder = MasimoAsciiDecoder()
    got = decoder.feed(encode_readings(50.0, sent), 60.0)
    assert values(got) == values(sent)


def test_driver_declares_9600_8n1_and_refuses_settings() -> None:
    assert MasimoAsciiDriver.port_settings is not None
    assert MasimoAsciiDriver.port_settings.describe() == "9600 8N1, no flow control"
    with pytest.raises(ValueError, match="no settings"):
        MasimoAsciiDriver().decoder({"format": "2"})
