"""README, "Connecting a monitor": "`ok` stays at 0 while `bad` climbs: the bytes are not in the expected
format — wrong menu setting (... another Nonin format), or the wrong baud rate or parity."

A Nonin left in format #2 (its factory default) while the driver reads format #8, and the other way round,
streams bytes for a minute: the progress line must show ``bad`` climbing, not stuck at 1.
"""

from __future__ import annotations

import pytest

from drivers.nonin.codec import NoninDecoder
from tests.drivers.nonin.test_wrong_format import format2_stream, format7_stream

#: Format #8 records as the 9560 specification lays them out: STATUS (bit 7 set), HR-D, SpO2-D, STATUS2.
FORMAT8_RECORD = bytes.fromhex("80 48 61 00")


@pytest.mark.parametrize(
    ("configured", "second_of_bytes"),
    [
        (8, format2_stream(1)),
        (8, format7_stream(1)),
        (2, FORMAT8_RECORD),
        (7, FORMAT8_RECORD),
    ],
    ids=["2-read-as-8", "7-read-as-8", "8-read-as-2", "8-read-as-7"],
)
def test_bad_climbs_while_the_format_is_wrong(configured: int, second_of_bytes: bytes) -> None:
    decoder = NoninDecoder(data_format=configured)
    for second in range(60):
        decoder.feed(second_of_bytes, 1000.0 + second)
    assert decoder.counters.frames_decoded == 0
    assert decoder.counters.frames_rejected >= 30, (
        f"a minute of another format: ok 0 bad {decoder.counters.frames_rejected}"
    )
