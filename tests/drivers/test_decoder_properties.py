"""Properties every decoder must have, whatever the bytes: no exception, no impossible value,
and the same readings however the stream is cut into chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import Decoder
from drivers.core.readings import Flag, Parameter, Reading, is_plausible
from drivers.masimo.codec import MasimoAsciiDecoder
from drivers.masimo.codec import encode_readings as masimo_encode
from drivers.nellcor.codec import NellcorAsciiDecoder, header_lines
from drivers.nellcor.codec import encode_readings as nellcor_encode
from drivers.nonin.codec import NoninDecoder, encode_format8, encode_packet

T0 = 1_700_000_000.0
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Vital = tuple[float | None, float | None, frozenset[Flag]]


def _masimo(vitals: Sequence[Vital]) -> bytes:
    out = b""
    for i, (spo2, pr, flags) in enumerate(vitals):
        readings = [
            Reading(T0 + i, Parameter.SPO2, spo2, "x", flags),
            Reading(T0 + i, Parameter.PR, pr, "x", flags),
        ]
        out += masimo_encode(T0 + i, readings)
    return out


def _nellcor(vitals: Sequence[Vital]) -> bytes:
    out = header_lines()
    for i, (spo2, pr, flags) in enumerate(vitals):
        readings = [
            Reading(T0 + i, Parameter.SPO2, spo2, "x", flags),
            Reading(T0 + i, Parameter.PR, pr, "x", flags),
        ]
        out += nellcor_encode(T0 + 2 * i, readings)
    return out


def _nonin(fmt: int) -> Callable[[Sequence[Vital]], bytes]:
    def encode(vitals: Sequence[Vital]) -> bytes:
        if fmt == 8:
            return b"".join(encode_format8(s, p, f) for s, p, f in vitals)
        wave = [float(i * 9) for i in range(25)]
        return b"".join(encode_packet(s, p, wave, f, data_format=fmt) for s, p, f in vitals)

    return encode


DECODERS: dict[str, tuple[Callable[[], Decoder], Callable[[Sequence[Vital]], bytes]]] = {
    "masimo-ascii": (MasimoAsciiDecoder, _masimo),
    "nellcor-ascii": (NellcorAsciiDecoder, _nellcor),
    "nonin-2": (lambda: NoninDecoder(data_format=2), _nonin(2)),
    "nonin-7": (lambda: NoninDecoder(data_format=7), _nonin(7)),
    "nonin-8": (lambda: NoninDecoder(data_format=8), _nonin(8)),
}
NAMES = sorted(DECODERS)

# Flags every one of the wire formats can carry.
COMMON_FLAGS = st.sampled_from([frozenset(), frozenset({Flag.NO_SENSOR})])
vitals = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 100).map(float)),
        st.one_of(st.none(), st.integers(0, 300).map(float)),
        COMMON_FLAGS,
    ),
    min_size=1,
    max_size=6,
)


def decode(decoder: Decoder, chunks: Sequence[bytes]) -> list[tuple[Parameter, float | None, frozenset[Flag]]]:
    out = []
    for i, chunk in enumerate(chunks):
        for r in decoder.feed(chunk, T0 + i):
            assert is_plausible(r.parameter, r.value), r
            out.append((r.parameter, r.value, r.flags))
    return out


def chunked(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_random_bytes_never_raise_nor_give_impossible_values(name: str, data: bytes, cuts: list[int]) -> None:
    make, _ = DECODERS[name]
    whole = decode(make(), [data])
    assert decode(make(), chunked(data, cuts)) == whole


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(
    sent=vitals,
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from(["flip", "insert", "delete"])),
        min_size=1,
        max_size=12,
    ),
    cuts=st.lists(st.integers(0, 3000), max_size=8),
)
def test_mutated_streams_never_raise_nor_give_impossible_values(
    name: str, sent: list[Vital], edits: list[tuple[int, int, str]], cuts: list[int]
) -> None:
    make, encode = DECODERS[name]
    stream = bytearray(encode(sent) * 2)
    for pos, byte, how in edits:
        i = pos % (len(stream) + 1)
        if how == "insert":
            stream.insert(i, byte)
        elif i < len(stream):
            if how == "flip":
                stream[i] ^= byte or 1
            else:
                del stream[i]
    data = bytes(stream)
    whole = decode(make(), [data])
    assert decode(make(), chunked(data, cuts)) == whole


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None)
@given(sent=vitals.filter(lambda v: len(v) <= 2))
def test_valid_stream_split_at_every_byte_decodes_identically(name: str, sent: list[Vital]) -> None:
    make, encode = DECODERS[name]
    data = encode(sent) * 2
    whole = decode(make(), [data])
    assert whole, "a valid stream must decode to something"
    for k in range(len(data) + 1):
        assert decode(make(), [data[:k], data[k:]]) == whole, f"split at byte {k}"


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(sent=vitals)
def test_valid_stream_round_trips(name: str, sent: list[Vital]) -> None:
    make, encode = DECODERS[name]
    decoder = make()
    # Sent twice: a binary decoder confirms its first frame by the next before trusting it.
    got = [(p, v, f) for p, v, f in decode(decoder, [encode(sent) * 2]) if p is not Parameter.PLETH]
    expected = [x for s, p, f in sent for x in ((Parameter.SPO2, s, f), (Parameter.PR, p, f))] * 2
    assert got == expected
    assert decoder.counters.frames_rejected == 0
