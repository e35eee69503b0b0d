"""The esketamine REMS Patient Monitoring Form's "Date of treatment session" is the clinic's date of the session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest

from monitor import rems
from monitor.protocols import load_protocol
from tests.conftest import time_zone

NASAL = load_protocol("esketamine-nasal")


@pytest.fixture
def los_angeles() -> Iterator[None]:
    with time_zone("America/Los_Angeles"):
        yield


def test_a_late_afternoon_session_in_california_is_dated_that_day(los_angeles: None) -> None:
    started = datetime(2026, 3, 10, 17, 30).timestamp()  # 17:30 in Los Angeles (PDT), 00:30 UTC the next day
    assert time.localtime(started).tm_hour == 17
    row = {"id": "s1", "started_at": started, "nurse": "RN Lee"}
    form = rems.build_form(NASAL, row, None, [], [], started + 3 * 3600)
    date = next(f.value for f in form.fields if f.key == "session_date")
    assert date == "2026-03-10", date
