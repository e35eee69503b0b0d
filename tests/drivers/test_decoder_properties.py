"""Properties every decoder must have, whatever the bytes: no exception, no impossible value,
and the same readings however the stream is cut into chunks. Decoders are found in the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import registry
from drivers.base import Decoder
from drivers.core.readings import Flag, Parameter, Reading, is_plausible
from drivers.masimo.codec import encode_readings as masimo_encode
from drivers.nellcor.codec import encode_readings as nellcor_encode
from drivers.nellcor.codec import header_lines
from drivers.nonin.codec import encode_format8, encode_packet

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


#: Settings that change how a driver's decoder reads bytes: each is a case of its own.
VARIANTS: dict[str, list[dict[str, str]]] = {"nonin": [{"format": "2"}, {"format": "7"}, {"format": "8"}]}

#: Encoders of the devices whose values a test can choose (talk-only oximeters), by case name.
ENCODERS: dict[str, Callable[[Sequence[Vital]], bytes]] = {
    "masimo-ascii": _masimo,
    "nellcor-ascii": _nellcor,
    "nonin-format=2": _nonin(2),
    "nonin-format=7": _nonin(7),
    "nonin-format=8": _nonin(8),
}
#: Decoders whose device speaks only when asked, or carries more than the oximeter values: their
#: streams are covered by random bytes here and by their emulators' streams in tests/fuzz.
NO_VALUE_ENCODER = frozenset({"ge-dinamap", "philips-intellivue", "hl7-mllp"})


def _decoding_drivers() -> list[str]:
    """Every registered driver that decodes bytes (the simulator makes readings without any)."""
    names = []
    for name in sorted(registry.registered()):
        try:
            registry.get(name)().decoder()
        except NotImplementedError:
            continue
        names.append(name)
    return names


def _cases() -> dict[str, Callable[[], Decoder]]:
    cases: dict[str, Callable[[], Decoder]] = {}
    for name in _decoding_drivers():
        for given_settings in VARIANTS.get(name, [{}]):
            label = "-".join([name, *(f"{k}={v}" for k, v in sorted(given_settings.items()))])
            cases[label] = partial(registry.get(name)().decoder, given_settings)
    return cases


DECODERS = _cases()
NAMES = sorted(DECODERS)
ENCODED = sorted(ENCODERS)

# Flags every one of the wire formats can carry.
COMMON_FLAGS = st.sampled_from([frozenset(), frozenset({Flag.NO_SENSOR})])
#: How a format without a sensor-disconnect bit carries it: Nonin #8 has only the sensor alarm (finger out).
CARRIED_AS: dict[str, dict[Flag, frozenset[Flag]]] = {
    "nonin-format=8": {Flag.NO_SENSOR: frozenset({Flag.SENSOR_ALARM, Flag.SENSOR_OFF})},
}


def carried(name: str, flags: frozenset[Flag]) -> frozenset[Flag]:
    """The flags a receiver gets back for ``flags`` sent in the wire format of case ``name``."""
    mapping = CARRIED_AS.get(name, {})
    return frozenset().union(*(mapping.get(flag, frozenset({flag})) for flag in flags))
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
    make = DECODERS[name]
    whole = decode(make(), [data])
    assert decode(make(), chunked(data, cuts)) == whole


@pytest.mark.parametrize("name", ENCODED)
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
    make, encode = DECODERS[name], ENCODERS[name]
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


@pytest.mark.parametrize("name", ENCODED)
@settings(max_examples=10, deadline=None)
@given(sent=vitals.filter(lambda v: len(v) <= 2))
def test_valid_stream_split_at_every_byte_decodes_identically(name: str, sent: list[Vital]) -> None:
    make, encode = DECODERS[name], ENCODERS[name]
    data = encode(sent) * 3
    whole = decode(make(), [data])
    assert whole, "a valid stream must decode to something"
    for k in range(len(data) + 1):
        assert decode(make(), [data[:k], data[k:]]) == whole, f"split at byte {k}"


@pytest.mark.parametrize("name", ENCODED)
@SETTINGS
@given(sent=vitals)
def test_valid_stream_round_trips(name: str, sent: list[Vital]) -> None:
    make, encode = DECODERS[name], ENCODERS[name]
    decoder = make()
    # Sent three times: a binary decoder confirms its first frame by the next (Nonin #8, without a checksum: the
    # next two) before trusting it.
    got = [(p, v, f) for p, v, f in decode(decoder, [encode(sent) * 3]) if p is not Parameter.PLETH]
    expected = [
        x for s, p, f in sent for x in ((Parameter.SPO2, s, carried(name, f)), (Parameter.PR, p, carried(name, f)))
    ] * 3
    assert got == expected
    assert decoder.counters.frames_rejected == 0


def test_every_registered_decoder_is_a_case_and_has_an_encoder_or_a_reason() -> None:
    drivers = _decoding_drivers()
    assert {"masimo-ascii", "nellcor-ascii", "nonin", "ge-dinamap", "philips-intellivue", "hl7-mllp"} <= set(drivers)
    assert set(ENCODERS) <= set(DECODERS)
    for name in drivers:
        covered = any(case == name or case.startswith(f"{name}-") for case in ENCODERS)
        assert covered or name in NO_VALUE_ENCODER, f"{name}: give its encoder to ENCODERS or a reason"
