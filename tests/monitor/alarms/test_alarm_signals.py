"""Alarms under messy signals, one table: a signal pattern and the alarms it must (and must not) give.

Each row feeds one reading a second (values cycle through the pattern) on the bed's simulated clock
and then compares the alarm log: which conditions started, how often, with what final priority,
when they started (seconds after the pattern began) and whether they are over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from drivers.core.readings import Flag
from tests.monitor.alarms.conftest import T0, Bed


@dataclass(frozen=True)
class Segment:
    """``seconds`` readings of ``parameter``, one a second, cycling through ``values``."""

    parameter: str
    values: tuple[float | None, ...]
    seconds: int
    flags: tuple[Flag, ...] = ()


@dataclass(frozen=True)
class Expect:
    """One condition in the log: how many times it started, its last priority, start window, state."""

    condition: str
    priority: str
    started: tuple[float, float]
    state: str = "active"
    count: int = 1


@dataclass(frozen=True)
class Row:
    name: str
    segments: tuple[Segment, ...]
    expect: tuple[Expect, ...]
    #: Conditions that must never appear.
    absent: tuple[str, ...] = ()
    infusion: bool = False
    extra: dict[str, float] = field(default_factory=dict)


def flicker(low: float, high: float, low_s: int, high_s: int) -> tuple[float, ...]:
    """One cycle of ``low`` for ``low_s`` seconds then ``high`` for ``high_s`` (a segment repeats it)."""
    return (low,) * low_s + (high,) * high_s


TABLE = [
    Row(
        "85/93 flicker (4 s / 1 s) alarms high within about 20 s",
        (Segment("spo2", flicker(85, 93, 4, 1), 60),),
        (Expect("spo2_low_severe", "high", (15, 21)),),
        absent=("spo2_low",),  # superseded by the high rung at once (both rungs judge the same samples)
    ),
    Row(
        "91/93 alternating gives medium",
        (Segment("spo2", (91, 93), 90),),
        (Expect("spo2_low", "medium", (28, 31)),),
        absent=("spo2_low_severe",),
    ),
    Row(
        "89/91 alternating reaches high (medium first)",
        (Segment("spo2", (89, 91), 90),),
        (Expect("spo2_low_severe", "high", (28, 31)), Expect("spo2_low", "medium", (15, 16), state="ended")),
    ),
    Row(
        "a clean 14 s dip gives nothing",
        (Segment("spo2", (91,), 14), Segment("spo2", (97,), 40)),
        (),
        absent=("spo2_low", "spo2_low_severe"),
    ),
    Row(
        "a clean 16 s dip alarms at 15 s and ends 5 s after the value is back",
        (Segment("spo2", (91,), 16), Segment("spo2", (97,), 20)),
        (Expect("spo2_low", "medium", (15, 15), state="ended"),),
    ),
    Row(
        "hovering at 91/92 after an alarm keeps one alarm (no start-stop every second)",
        (Segment("spo2", (91,), 16), Segment("spo2", (92, 91, 92, 92, 91), 180)),
        (Expect("spo2_low", "medium", (15, 15)),),
    ),
    Row(
        "hovering at 92/93 (never beyond the limit) gives nothing",
        (Segment("spo2", (92, 93, 92), 120),),
        (),
        absent=("spo2_low", "spo2_low_severe"),
    ),
    Row(
        "an alarm ends only after 5 s clear of the limit by its margin (93 and above)",
        (Segment("spo2", (90,), 16), Segment("spo2", (93, 93, 93, 92), 40), Segment("spo2", (94,), 10)),
        (Expect("spo2_low", "medium", (15, 15), state="ended"),),
    ),
    Row(
        "bradycardia flickering 45/55 (3 s / 1 s) alarms high",
        (Segment("hr", flicker(45, 55, 3, 1), 40),),
        (Expect("hr_low", "high", (10, 14)),),
    ),
    Row(
        "HR hovering at 119-122 after an alarm does not chatter",
        (Segment("hr", (125,), 11), Segment("hr", (121, 119, 120, 122, 119), 120)),
        (Expect("hr_high", "medium", (10, 10)),),
    ),
    Row(
        "respiratory rate hovering at 8/9 after an RR < 8 alarm keeps one alarm",
        (Segment("rr", (6,), 11), Segment("rr", (8, 9, 8, 7, 8), 60)),
        (Expect("rr_low", "high", (10, 10)),),
    ),
    Row(
        "SpO2 dashes during an alarm: the alarm stays, no data after 10 s, high after 60 s in the infusion",
        (Segment("spo2", (85,), 16), Segment("spo2", (None,), 90)),
        (Expect("spo2_low_severe", "high", (15, 15)), Expect("no_data:spo2", "high", (25, 27))),
        infusion=True,
    ),
    Row(
        "SpO2 'unavailable' without a value: technical alarm, medium during the infusion",
        (Segment("spo2", (97,), 5), Segment("spo2", (None,), 30, (Flag.UNAVAILABLE,))),
        (Expect("no_data:spo2", "medium", (14, 16)),),
        absent=("spo2_low", "spo2_low_severe"),
        infusion=True,
    ),
    Row(
        "artifact-flagged values are no data either, and start no physiological alarm",
        (Segment("spo2", (97,), 5), Segment("spo2", (80,), 30, (Flag.ARTIFACT,))),
        (Expect("no_data:spo2", "low", (14, 16)),),
        absent=("spo2_low", "spo2_low_severe"),
    ),
    Row(
        "a failed cuff after a 175/112 one ends neither BP alarm",
        (
            Segment("nibp_sys", (175,), 1),
            Segment("nibp_dia", (112,), 1),
            Segment("nibp_sys", (None,), 1, (Flag.MEASUREMENT_FAILED,)),
            Segment("nibp_dia", (None,), 1, (Flag.MEASUREMENT_FAILED,)),
        ),
        (
            Expect("nibp_sys_raised", "low", (0, 0)),
            Expect("nibp_dia_high", "medium", (1, 1)),
            Expect("nibp_failed", "low", (2, 2)),
        ),
    ),
    Row(
        "a valid cuff within limits ends the BP alarms at once",
        (
            Segment("nibp_sys", (175,), 1),
            Segment("nibp_dia", (112,), 1),
            Segment("nibp_sys", (130,), 1),
            Segment("nibp_dia", (85,), 1),
        ),
        (
            Expect("nibp_sys_raised", "low", (0, 0), state="ended"),
            Expect("nibp_dia_high", "medium", (1, 1), state="ended"),
        ),
    ),
]


def play(row: Row) -> tuple[Bed, float]:
    bed = Bed()
    if row.infusion:
        bed.take_baseline()
    start = bed.now
    for segment in row.segments:
        for i in range(segment.seconds):
            value = segment.values[i % len(segment.values)]
            bed.reading(segment.parameter, value, bed.now, segment.flags)
            bed.now += 1
    bed.tick(bed.now)
    return bed, start


def logged(bed: Bed, key: str) -> list[dict[str, object]]:
    """Log rows of a condition, or of ``condition:parameter`` (e.g. ``no_data:spo2``)."""
    condition, _, parameter = key.partition(":")
    return [r for r in bed.logged(condition) if not parameter or r.parameter == parameter]


@pytest.mark.parametrize("row", TABLE, ids=[r.name for r in TABLE])
def test_signal_pattern_gives_exactly_the_expected_alarms(row: Row) -> None:
    bed, start = play(row)
    for expect in row.expect:
        rows = logged(bed, expect.condition)
        assert len(rows) == expect.count, f"{expect.condition} started {len(rows)} times: {rows}"
        last = rows[-1]
        assert last.priority.label == expect.priority
        low, high = expect.started
        assert low <= rows[0].started_at - start <= high, rows[0].started_at - start
        assert last.state == expect.state
    for condition in row.absent:
        assert bed.logged(condition) == [], f"{condition} should not have started"
    physiological = {r.condition for r in bed.history if r.kind == "physiological"}
    assert physiological <= {e.condition for e in row.expect}, physiological
    if row.expect and "no_data" in {e.condition.partition(":")[0] for e in row.expect}:
        # The reason the device gave is in the technical alarm's text.
        (no_data,) = logged(bed, "no_data:spo2")
        assert "(" in no_data.message and "no readings" not in no_data.message


def test_the_table_starts_on_the_beds_clock() -> None:
    _bed, start = play(TABLE[0])
    assert start == T0
