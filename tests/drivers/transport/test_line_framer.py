"""Lines cut from a byte stream, and what bytes that never make a line count as.

README, "Check the connection": "`ok` stays at 0 while `bad` climbs: the bytes are not in the expected
format ... or the wrong baud rate or parity." Bytes at the wrong baud rate or from another device often
hold no LF at all; an over-long line must then go on counting, once when it begins and once more each
second it lasts (the rule the Nonin decoder counts its junk by), not once for good.
"""

from __future__ import annotations

import pytest

from drivers import registry
from drivers.transport.framing import LineFramer

#: Bytes without an LF: what a 9600-baud line gives in a second when nothing on it is the device's lines.
JUNK_SECOND = bytes(range(0x80, 0x100)) * 3 + b"\r" * 192  # 960 bytes, CRs but no LF
T0 = 1000.0


def test_an_over_long_line_counts_once_a_second_while_it_lasts() -> None:
    framer = LineFramer(max_len=20)
    assert framer.feed(b"x" * 25, T0) == [None]  # the run begins: counted at once
    assert framer.feed(b"x" * 25, T0 + 0.5) == []
    assert framer.feed(b"x" * 25, T0 + 1.0) == [None]  # a second on, still no LF
    assert framer.feed(b"x" * 25, T0 + 1.9) == []
    assert framer.feed(b"x" * 5 + b"\nSPO2=97\r\n", T0 + 2.0) == [None, b"SPO2=97"]  # the LF ends the run
    assert framer.feed(b"y" * 21, T0 + 2.1) == [None]  # a new run counts at once


def test_lines_and_a_short_junk_line_are_cut_as_before() -> None:
    framer = LineFramer(max_len=20)
    assert framer.feed(b"A 1\r\nB", T0) == [b"A 1"]
    assert framer.feed(b" 2\nC" + b"z" * 30 + b"\nD 4\n", T0 + 0.1) == [b"B 2", None, b"D 4"]
    framer.reset()
    assert framer.feed(b"E 5\n", T0 + 0.2) == [b"E 5"]


@pytest.mark.parametrize("driver", ["masimo-ascii", "nellcor-ascii"])
def test_bad_climbs_a_minute_long_when_no_line_ever_ends(driver: str) -> None:
    decoder = registry.get(driver)().decoder()
    for second in range(60):
        assert decoder.feed(JUNK_SECOND, T0 + second) == []
    assert (decoder.counters.frames_decoded, decoder.counters.frames_rejected) == (0, 60)


@pytest.mark.parametrize(("driver", "first_counted_s"), [("masimo-ascii", 100), ("nellcor-ascii", 50)])
def test_a_slow_stream_without_lines_counts_from_the_moment_it_is_too_long(driver: str, first_counted_s: int) -> None:
    # A Nonin in format #8 on a line driver: four bytes a second, none of them an LF.
    decoder = registry.get(driver)().decoder()
    for second in range(600):
        decoder.feed(bytes.fromhex("80 48 61 00"), T0 + second)
    assert decoder.counters.frames_decoded == 0
    assert decoder.counters.frames_rejected == 600 - first_counted_s
