"""The review window's times on the night daylight saving ends (America/New_York, 2024-11-03)."""

from __future__ import annotations

from tests.conftest import time_zone
from ui.review_window import clock


def test_two_moments_an_hour_apart_are_not_printed_alike() -> None:
    first = 1_730_611_800.0  # 05:30Z = 01:30 EDT, e.g. an alarm's start
    later = first + 3600.0  # 06:30Z = 01:30 EST, the alarm's end an hour later
    with time_zone("America/New_York"):
        texts = clock(first), clock(later), clock(first - 7200)
    assert texts[0] != texts[1], f"both print as {texts[0]!r}: the alarm log shows a 0-minute alarm"
    assert texts == ("01:30:00 EDT", "01:30:00 EST", "23:30:00"), "only the repeated hour names its zone"
