"""Bytes from the device that nothing is read from, judged from the link's counters (table-driven)."""

from __future__ import annotations

import pytest

from monitor.unreadable import UnreadableWatch

# (session time, bytes in, frames decoded) in turn order; what each judgement says (True: starts, False: ends).
TABLE = [
    ("garbage for 30 s", [(0, 100, 0), (10, 900, 0), (29.9, 2900, 0), (30.0, 3000, 0)], [None, None, None, True]),
    ("readable all along", [(0, 100, 1), (40, 5000, 60)], [None, None]),
    ("silence is the link's matter, not this",
     [(0, 0, 0), (100, 0, 0)], [None, None]),
    ("one frame read restarts the count", [(0, 100, 0), (20, 2000, 1), (45, 4000, 1), (50.5, 4500, 1)],
     [None, None, None, True]),
    ("a frame ends the condition", [(0, 100, 0), (31, 3100, 0), (32, 3200, 1), (33, 3300, 2)],
     [None, True, False, None]),
    ("another device: counted afresh, the condition ends",
     [(0, 100, 0), (31, 3100, 0), (32, 10, 0), (61, 2000, 0), (62.5, 2100, 0)], [None, True, False, None, True]),
]


@pytest.mark.parametrize(("what", "turns", "said"), TABLE, ids=[row[0] for row in TABLE])
def test_the_verdict(what: str, turns: list[tuple[float, int, int]], said: list[bool | None]) -> None:
    watch = UnreadableWatch()
    assert [watch.judge(t, b, d) for t, b, d in turns] == said
