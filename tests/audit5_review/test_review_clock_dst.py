"""The review window's times on the night daylight saving ends (America/New_York, 2024-11-03)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_two_moments_an_hour_apart_are_not_printed_alike(new_york: None) -> None:
    from ui.review_window import clock

    first = 1_730_611_800.0  # 05:30Z = 01:30 EDT, e.g. an alarm's start
    later = first + 3600.0  # 06:30Z = 01:30 EST, the alarm's end an hour later
    assert clock(first) != clock(later), f"both print as {clock(first)!r}: the alarm log shows a 0-minute alarm"
