"""HL7 times without a UTC offset in the hour the clocks go back, from a gateway whose clock is right."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from drivers.core.readings import Parameter
from drivers.hl7.listener import Hl7Decoder
from monitor.session import Session
from tests.conftest import time_zone

# 2026-10-25 01:30:00 UTC: 02:30 CET in Berlin, the second time the clocks there read 02:30 that night
# (the first, 02:30 CEST, was 00:30 UTC).
FALL_BACK = 1_792_891_800.0


@pytest.fixture
def berlin() -> Iterator[None]:
    with time_zone("Europe/Berlin"):
        yield


def local_stamp(t: float) -> str:
    """How a gateway set to the clinic's local time writes a time: no UTC offset."""
    return datetime.fromtimestamp(t).strftime("%Y%m%d%H%M%S")


def utc_stamp(t: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t)) + "+0000"


def periodic(control_id: str, sent: str, measured: str) -> str:
    """A periodic message as a Philips Efficia sends it: SpO2, and the last cuff with its own OBX-14."""
    return "\r".join([
        f"MSH|^~\\&|EFFICIA|WARD|||{sent}||ORU^R01^ORU_R01|{control_id}|P|2.6",
        "PID|||12345^^^H^MR",
        f"OBR||||MONITOR|||{sent}",
        "OBX||NM|0002-4bb8^SpO2^MDIL||98|0004-0220^%^MDIL|||||F",
        f"OBX||NM|0002-4a05^NBPs^MDIL||122|0004-0f20^mmHg^MDIL|||||F|||{measured}",
        f"OBX||NM|0002-4a06^NBPd^MDIL||85|0004-0f20^mmHg^MDIL|||||F|||{measured}",
        "OBX||NM|0002-4a07^NBPm^MDIL||98|0004-0f20^mmHg^MDIL|||||F",
    ])


def _cuffs_and_age(
    now: float, stamp: Callable[[float], str], clock_error_s: float = 0.0
) -> tuple[list[tuple[float, float]], float | None]:
    measured = now - 30
    session = Session("s", now - 600)
    decoder = Hl7Decoder()
    systolics = []
    for n in range(6):  # one periodic message a minute, the same cuff in each
        at = now + 60 * n
        text = periodic(f"E{n}", stamp(at + clock_error_s), stamp(measured + clock_error_s))
        for reading in decoder.process_text(text, at).readings:
            session.observe(reading)
            if reading.parameter is Parameter.NIBP_SYS:
                systolics.append((reading.t - now, reading.value))
    return systolics, session.nibp_age(now + 300)


def test_a_repeated_cuff_in_the_hour_the_clocks_go_back_is_stored_once_and_ages(berlin: None) -> None:
    # The gateway's clock is right; it writes local time without an offset, as most do.
    systolics, age = _cuffs_and_age(FALL_BACK, local_stamp)
    # The cuff was measured 330 s before the last message was read: one cuff, 330 s old.
    assert len(systolics) == 1, systolics
    assert age is not None and age >= 300, age


def test_the_same_local_stamps_a_day_earlier_give_one_cuff(berlin: None) -> None:
    systolics, age = _cuffs_and_age(FALL_BACK - 86_400, local_stamp)
    assert len(systolics) == 1, systolics
    assert age is not None and age >= 300, age


def test_a_local_time_in_the_hour_the_clocks_go_back_is_the_moment_just_received(berlin: None) -> None:
    # 02:29:50 CET, read ten seconds later: not 02:29:50 CEST, an hour earlier.
    decoder = Hl7Decoder()
    text = "\r".join([
        f"MSH|^~\\&|EFFICIA|WARD|||{local_stamp(FALL_BACK)}||ORU^R01^ORU_R01|E1|P|2.6",
        "PID|||12345^^^H^MR",
        f"OBR||||MONITOR|||{local_stamp(FALL_BACK)}",
        f"OBX||NM|0002-4bb8^SpO2^MDIL||98|0004-0220^%^MDIL|||||F|||{local_stamp(FALL_BACK - 10)}",
    ])
    (reading,) = decoder.process_text(text, FALL_BACK).readings
    assert reading.t == FALL_BACK - 10, reading.t - FALL_BACK
    assert not decoder.clock_offsets, decoder.clock_offsets
