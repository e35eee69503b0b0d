"""Nonin formats #2, #7 and #8: the published packet and commands, framing, status bits, round trips."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from drivers.nonin.codec import (
    NoninDecoder,
    NoninPacket,
    encode_format8,
    encode_packet,
    get_time_command,
    set_format_command,
    set_time_command,
)
from drivers.nonin.driver import NoninDriver

Vectors = Callable[[str], dict[str, str]]


def hexbytes(vectors: Vectors, label: str) -> bytes:
    return bytes.fromhex(vectors("nonin_vectors.txt")[label])


def numerics(readings: list[Reading]) -> list[tuple[Parameter, float | None, frozenset[Flag]]]:
    return [(r.parameter, r.value, r.flags) for r in readings if r.parameter is not Parameter.PLETH]


def pleth(readings: list[Reading]) -> list[float | None]:
    return [r.value for r in readings if r.parameter is Parameter.PLETH]


def test_published_format2_packet(vectors: Vectors) -> None:
    decoder = NoninDecoder()
    readings = decoder.feed(hexbytes(vectors, "fmt2_packet_hr72_spo97"), 10.0)
    assert numerics(readings) == [(Parameter.SPO2, 97.0, frozenset()), (Parameter.PR, 72.0, frozenset())]
    # Every value the provenance lists for this packet.
    assert decoder.last_packet == NoninPacket(
        hr=72,
        spo2=97,
        firmware=48,
        spo2_d=97,
        spo2_fast=97,
        spo2_beat=97,
        e_hr=72,
        e_spo2=97,
        e_spo2_d=97,
        hr_d=72,
        e_hr_d=72,
    )
    # The first frame waits for the second to confirm the alignment, then all 25 pleth samples come.
    assert pleth(readings) == [1.0] * 25
    assert decoder.counters.frames_decoded == 1
    assert decoder.counters.frames_rejected == 0


@pytest.mark.parametrize("label", ["fmt2_bad_checksum", "fmt2_bad_status_bit7"])
def test_published_bad_frames_are_rejected(vectors: Vectors, label: str) -> None:
    good = hexbytes(vectors, "fmt2_packet_hr72_spo97")
    bad = hexbytes(vectors, label)
    decoder = NoninDecoder()
    readings = decoder.feed(good + bad + good, 10.0)
    # The two good packets are read; the cut-off one in between is not.
    assert [v for _, v, _ in numerics(readings)] == [97.0, 72.0, 97.0, 72.0]
    assert decoder.counters.frames_decoded == 2
    assert decoder.counters.frames_rejected >= 1
    assert decoder.counters.resyncs == 1
    # The valid first frame of the bad pair still gave its pleth sample.
    assert len(pleth(readings)) == 51


@pytest.mark.parametrize(
    ("label", "fmt"),
    [
        ("set_data_format_13", 13),
        ("set_data_format_2", 2),
        ("set_data_format_7", 7),
        ("set_data_format_8", 8),
    ],
)
def test_set_format_commands_match_the_specification(vectors: Vectors, label: str, fmt: int) -> None:
    assert set_format_command(fmt) == hexbytes(vectors, label)


def test_time_commands_match_the_specification(vectors: Vectors) -> None:
    assert set_time_command(datetime(2050, 12, 31, 14, 30, 15)) == hexbytes(vectors, "set_time_2050_12_31_14_30_15")
    assert get_time_command() == hexbytes(vectors, "get_time")


def test_every_nonin_vector_is_covered(vectors: Vectors) -> None:
    assert set(vectors("nonin_vectors.txt")) == {
        "fmt2_packet_hr72_spo97",
        "fmt2_bad_checksum",
        "fmt2_bad_status_bit7",
        "set_data_format_13",
        "set_data_format_2",
        "set_data_format_7",
        "set_data_format_8",
        "set_time_2050_12_31_14_30_15",
        "get_time",
    }


def test_missing_markers_are_none_not_511_or_127() -> None:
    stream = encode_packet(None, None, [128] * 25, frozenset({Flag.NO_SENSOR})) * 2
    off = frozenset({Flag.NO_SENSOR})
    readings = NoninDecoder().feed(stream, 1.0)
    assert numerics(readings) == [(Parameter.SPO2, None, off), (Parameter.PR, None, off)] * 2
    # The bytes on the wire really were the markers.
    assert (stream[3], stream[8], stream[13]) == (0x03, 0x7F, 127)


@pytest.mark.parametrize(
    ("status", "flags"),
    [
        (0x80 | 0x40, {Flag.NO_SENSOR}),
        (0x80 | 0x20, {Flag.QUESTIONABLE}),  # a beat's artifact: the averaged values stay usable
        (0x80 | 0x10, {Flag.OUT_OF_TRACK}),
        (0x80 | 0x08, {Flag.SENSOR_ALARM}),
        (0x80 | 0x04, {Flag.LOW_PERFUSION}),
        (0x80 | 0x02, set()),
        (0x80 | 0x06, {Flag.PERFUSION_MARGINAL}),
    ],
)
def test_status_bits(status: int, flags: set[Flag]) -> None:
    data = [0, 72, 97, 48] + [0] * 21
    stream = bytearray()
    for i in range(25):
        body = bytes([0x01, status | (1 if i == 0 else 0), 100, data[i]])
        stream += body + bytes([sum(body) & 0xFF])
    readings = NoninDecoder().feed(bytes(stream) * 2, 1.0)
    assert numerics(readings)[:2] == [
        (Parameter.SPO2, 97.0, frozenset(flags)),
        (Parameter.PR, 72.0, frozenset(flags)),
    ]


def test_nine_bit_pulse_rate() -> None:
    readings = NoninDecoder().feed(encode_packet(95, 300, [0] * 25) * 2, 1.0)
    assert [v for p, v, _ in numerics(readings) if p is Parameter.PR] == [300.0, 300.0]


def test_out_of_range_values_reject_the_packet() -> None:
    decoder = NoninDecoder()
    stream = encode_packet(120, 72, [0] * 25) + encode_packet(97, 72, [0] * 25) + encode_packet(97, 72, [0] * 25)
    readings = decoder.feed(stream, 1.0)
    assert [v for _, v, _ in numerics(readings)] == [97.0, 72.0, 97.0, 72.0]
    assert decoder.counters.frames_rejected == 1


def test_pleth_samples_are_spaced_at_75_hz_within_a_chunk() -> None:
    decoder = NoninDecoder()
    readings = decoder.feed(encode_packet(97, 72, list(range(25))) * 2, 100.0)
    times = [r.t for r in readings if r.parameter is Parameter.PLETH]
    assert len(times) == 50
    assert times[-1] == 100.0
    assert all(b - a == pytest.approx(1 / 75) for a, b in itertools.pairwise(times))
    # A later chunk never goes back in time.
    later = decoder.feed(encode_packet(97, 72, [0] * 25), 100.1)
    assert min(r.t for r in later) >= times[-1]


@pytest.mark.parametrize("fmt", [2, 7])
def test_packet_round_trip(fmt: int) -> None:
    wave = [float(10 * i) for i in range(25)]
    if fmt == 7:
        wave = [float(1000 * i) for i in range(25)]
    flags = frozenset({Flag.ARTIFACT, Flag.PERFUSION_MARGINAL})
    decoder = NoninDecoder(data_format=fmt)
    stream = encode_packet(93, 88, wave, flags, data_format=fmt) * 2
    readings = decoder.feed(stream, 1.0)
    # ARTF marks beats: the numerics come back questionable, not artifact.
    back = frozenset({Flag.QUESTIONABLE, Flag.PERFUSION_MARGINAL})
    assert numerics(readings) == [(Parameter.SPO2, 93.0, back), (Parameter.PR, 88.0, back)] * 2
    assert pleth(readings) == wave * 2


def test_format8_round_trip_and_missing_values() -> None:
    decoder = NoninDecoder(data_format=8)
    stream = encode_format8(96, 257, frozenset({Flag.ARTIFACT})) + encode_format8(None, None) + encode_format8(97, 70)
    readings = decoder.feed(stream, 1.0)
    # The first record is confirmed by the second's leading byte before it counts.
    assert numerics(readings) == [
        (Parameter.SPO2, 96.0, frozenset({Flag.QUESTIONABLE})),
        (Parameter.PR, 257.0, frozenset({Flag.QUESTIONABLE})),
        (Parameter.SPO2, None, frozenset()),
        (Parameter.PR, None, frozenset()),
        (Parameter.SPO2, 97.0, frozenset()),
        (Parameter.PR, 70.0, frozenset()),
    ]
    assert pleth(readings) == []


def test_format8_resyncs_after_noise() -> None:
    decoder = NoninDecoder(data_format=8)
    good = encode_format8(96, 70)
    # Without a checksum, a record is trusted once the two after it fit too.
    readings = decoder.feed(good * 3 + b"\x85\x85\x01" + good * 3, 1.0)
    assert [v for _, v, _ in numerics(readings)] == [96.0, 70.0] * 6
    assert decoder.counters.frames_rejected == 1
    assert decoder.counters.resyncs == 1


@pytest.mark.parametrize(("text", "fmt"), [("2", 2), ("7", 7), ("8", 8), ("#8", 8)])
def test_format_setting(text: str, fmt: int) -> None:
    decoder = NoninDriver().decoder({"format": text})
    assert isinstance(decoder, NoninDecoder)
    assert decoder.data_format == fmt


@pytest.mark.parametrize("settings", [{"format": "3"}, {"format": "eight"}, {"speed": "1"}])
def test_bad_settings_are_refused_with_a_clear_message(settings: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"format|setting"):
        NoninDriver().decoder(settings)
