"""A Nonin set to another data format than the driver's ``format`` must give no numbers, never wrong ones.

Format #2 (the factory default) and #7 send 5-byte frames 75 times a second with a pulse waveform that
swings over its whole range; format #8 is one 4-byte record a second without a checksum. The frames
here are written from the vendor's layout (Nonin 9560 specification: ``01 STATUS PLETH DATA CHK`` and
``STATUS PLETH_MSB PLETH_LSB DATA CHK``, CHK = sum of the first four bytes mod 256), with the STATUS and
DATA bytes of the public OEM III packet in ``nonin_vectors.txt`` and ordinary pleth waves.
"""

from __future__ import annotations

import math

import pytest

from drivers.core.readings import Parameter
from drivers.nonin.codec import NoninDecoder
from tests.drivers.vectors import hex_vector

PACKET = hex_vector("nonin_vectors.txt", "fmt2_packet_hr72_spo97")
STATUS = [PACKET[5 * i + 1] for i in range(25)]
DATA = [PACKET[5 * i + 3] for i in range(25)]


def _wave(k: int, top: int, rate: float) -> int:
    """A pulse wave at ``rate``/min sampled at 75 Hz, over the whole range of the pleth field."""
    return round(top / 2 + (top / 2) * math.sin(2 * math.pi * k * rate / 60 / 75))


def format2_stream(seconds: int, rate: float = 75.0) -> bytes:
    out = bytearray()
    for k in range(75 * seconds):
        body = bytes([0x01, STATUS[k % 25], _wave(k, 255, rate), DATA[k % 25]])
        out += body + bytes([sum(body) & 0xFF])
    return bytes(out)


def format7_stream(seconds: int, rate: float = 75.0) -> bytes:
    out = bytearray()
    for k in range(75 * seconds):
        wave = _wave(k, 0xFFFF, rate)
        body = bytes([STATUS[k % 25], wave >> 8, wave & 0xFF, DATA[k % 25]])
        out += body + bytes([sum(body) & 0xFF])
    return bytes(out)


def test_the_built_stream_is_a_good_format2_stream() -> None:
    decoder = NoninDecoder(data_format=2)
    readings = decoder.feed(format2_stream(2), 0.0)
    values = {(r.parameter, r.value) for r in readings if r.parameter is not Parameter.PLETH}
    assert values == {(Parameter.SPO2, 97.0), (Parameter.PR, 72.0)}


@pytest.mark.parametrize("rate", [66.0, 75.0, 83.0])
@pytest.mark.parametrize("stream", [format2_stream, format7_stream], ids=["format2", "format7"])
def test_a_5_byte_stream_read_as_format8_gives_no_numbers(stream: object, rate: float) -> None:
    data = stream(60, rate)  # type: ignore[operator]
    decoder = NoninDecoder(data_format=8)
    got = []
    for i in range(0, len(data), 64):  # as a serial port hands it over
        got += decoder.feed(data[i : i + 64], i / 375)
    numbers = [(r.parameter.value, r.value) for r in got if r.value is not None]
    assert numbers == [], f"{len(numbers)} values made up from another format, e.g. {numbers[:6]}"
    assert decoder.counters.frames_decoded == 0
