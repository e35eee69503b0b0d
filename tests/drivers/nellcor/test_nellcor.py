"""Nellcor data-port rows: the published header and row, missing values, alarms, status codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.core.readings import Flag, Parameter, Reading
from drivers.nellcor.codec import NellcorAsciiDecoder, encode_readings, encode_row, header_lines
from drivers.nellcor.driver import NellcorAsciiDriver

Vectors = Callable[[str], dict[str, str]]


def decode(text: str) -> tuple[list[Reading], NellcorAsciiDecoder]:
    decoder = NellcorAsciiDecoder()
    return decoder.feed(text.encode("ascii"), 7.0), decoder


def values(readings: list[Reading]) -> list[tuple[Parameter, float | None, frozenset[Flag]]]:
    return [(r.parameter, r.value, r.flags) for r in readings]


def test_published_header_columns_and_row(vectors: Vectors) -> None:
    v = vectors("nellcor_vectors.txt")
    assert set(v) == {"header_npb290", "columns", "row_npb290_manual"}
    readings, decoder = decode(f"{v['header_npb290']}\r\n{v['columns']}\r\n{v['row_npb290_manual']}\r\n")
    assert values(readings) == [(Parameter.SPO2, 100.0, frozenset()), (Parameter.PR, 120.0, frozenset())]
    assert decoder.instrument == "NPB-290"
    assert (decoder.counters.frames_decoded, decoder.counters.frames_rejected) == (1, 0)
    assert all(r.t == 7.0 for r in readings)


def test_dashes_are_missing_and_status_codes_flag_both_values() -> None:
    readings, _ = decode("12-NOV-97 14:00:07   ---  --- ---  SD\r\n")
    assert values(readings) == [
        (Parameter.SPO2, None, frozenset({Flag.NO_SENSOR})),
        (Parameter.PR, None, frozenset({Flag.NO_SENSOR})),
    ]


def test_star_marks_the_value_in_alarm() -> None:
    readings, _ = decode("12-NOV-97 14:00:09    84*  72  40  SL\r\n")
    assert values(readings) == [
        (Parameter.SPO2, 84.0, frozenset({Flag.IN_ALARM})),
        (Parameter.PR, 72.0, frozenset()),
    ]


@pytest.mark.parametrize(
    ("codes", "spo2_flags", "pr_flags"),
    [
        ("SO", {Flag.SENSOR_OFF}, {Flag.SENSOR_OFF}),
        ("PS", {Flag.PULSE_SEARCH}, {Flag.PULSE_SEARCH}),
        ("LP", {Flag.PULSE_SEARCH, Flag.LOW_PERFUSION}, {Flag.PULSE_SEARCH, Flag.LOW_PERFUSION}),
        ("LM", {Flag.PULSE_SEARCH, Flag.MOTION}, {Flag.PULSE_SEARCH, Flag.MOTION}),
        ("MO", {Flag.MOTION}, {Flag.MOTION}),
        ("PH", set(), {Flag.IN_ALARM}),
        ("PL", set(), {Flag.IN_ALARM}),
        ("SH", {Flag.IN_ALARM}, set()),
        ("AO AS LB", set(), set()),
        ("MO PL", {Flag.MOTION}, {Flag.MOTION, Flag.IN_ALARM}),
    ],
)
def test_status_codes(codes: str, spo2_flags: set[Flag], pr_flags: set[Flag]) -> None:
    readings, decoder = decode(f"12-NOV-97 14:00:05   95  61  50  {codes}\r\n")
    assert [r.flags for r in readings] == [frozenset(spo2_flags), frozenset(pr_flags)]
    assert decoder.counters.unknown_items == 0


def test_unknown_status_code_is_counted_and_marks_values_questionable() -> None:
    readings, decoder = decode("12-NOV-97 14:00:05   95  61  50  ZZ\r\n")
    assert [r.value for r in readings] == [95.0, 61.0]
    assert all(Flag.QUESTIONABLE in r.flags for r in readings)
    assert decoder.counters.unknown_items == 1


@pytest.mark.parametrize(
    "row",
    [
        "12-NOV-97 14:00:05 101 120 50",  # SpO2 over 100
        "12-NOV-97 14:00:05 100 120",  # a column missing
        "12-FOO-97 14:00:05 100 120 50",  # no such month
        "12-NOV-97 25:00:05 100 120 50",  # no such hour
        "12-NOV-97 14:00:05 1O0 120 50",  # letter O for zero
        "12-NOV-97 14:00:05 100 120 50 sd",  # lower-case status
        "    Command?",  # interactive mode, not data
    ],
)
def test_malformed_rows_are_rejected(row: str) -> None:
    readings, decoder = decode(row + "\r\n")
    assert readings == []
    assert decoder.counters.frames_rejected == 1


def test_repeated_headers_between_rows_are_skipped() -> None:
    rows = b"".join(encode_row(1e9 + 2 * i, 97, 70) for i in range(3))
    stream = header_lines() + rows + header_lines("NPB-295") + rows
    decoder = NellcorAsciiDecoder()
    readings = decoder.feed(stream, 1.0)
    assert [r.value for r in readings] == [97.0, 70.0] * 6
    assert decoder.counters.frames_rejected == 0
    assert decoder.instrument == "NPB-295"


def test_encoder_row_looks_like_the_manual() -> None:
    # 12-NOV-97 14:00:05 UTC
    assert encode_row(879343205.0, 100, 120) == b"12-NOV-97 14:00:05    100  120  50\r\n"


@pytest.mark.parametrize(
    ("spo2", "pr", "spo2_flags", "pr_flags"),
    [
        (97.0, 72.0, frozenset(), frozenset()),
        (None, None, frozenset({Flag.SENSOR_OFF}), frozenset({Flag.SENSOR_OFF})),
        (85.0, 130.0, frozenset({Flag.IN_ALARM, Flag.MOTION}), frozenset({Flag.IN_ALARM, Flag.MOTION})),
        (
            90.0,
            45.0,
            frozenset({Flag.PULSE_SEARCH, Flag.LOW_PERFUSION}),
            frozenset({Flag.PULSE_SEARCH, Flag.LOW_PERFUSION}),
        ),
        (None, 60.0, frozenset({Flag.NO_SENSOR}), frozenset({Flag.NO_SENSOR})),
    ],
)
def test_round_trip(
    spo2: float | None, pr: float | None, spo2_flags: frozenset[Flag], pr_flags: frozenset[Flag]
) -> None:
    sent = [
        Reading(5.0, Parameter.SPO2, spo2, "x", spo2_flags),
        Reading(5.0, Parameter.PR, pr, "x", pr_flags),
    ]
    readings, _ = decode(encode_readings(5.0, sent).decode("ascii"))
    assert values(readings) == values(sent)


def test_driver_declares_xon_xoff() -> None:
    assert NellcorAsciiDriver.port_settings is not None
    assert NellcorAsciiDriver.port_settings.describe() == "9600 8N1, XON/XOFF"
