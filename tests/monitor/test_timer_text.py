"""Session timers as the header, `record`'s line and `sessions` show them: minutes and seconds within the hour, hours
and minutes beyond it (a chair left recording overnight read "Recovery watch done 774:04 ago", which reads as a
time of day, and `sessions` gave a 15-hour session as "940:53")."""

from __future__ import annotations

import pytest

from monitor.session import minutes_seconds


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "--:--"),
    (0.0, "00:00"),
    (59.9, "00:59"),
    (185.0, "03:05"),
    (3599.0, "59:59"),
    (3600.0, "1 h 00 min"),
    (6960.0, "1 h 56 min"),
    (774 * 60 + 4, "12 h 54 min"),
    (-125.0, "-02:05"),
    (-(774 * 60 + 4), "-12 h 54 min"),
])
def test_a_timer_reads_as_a_length_never_as_a_clock_time(seconds: float | None, shown: str) -> None:
    assert minutes_seconds(seconds) == shown
