"""Neither one session's record check (what every export and review runs) nor the whole file's (``verify``) may
need memory for the whole record.

At a real recording's cadence the writer commits about once a second, and each commit appends a link
per written table: a 90-minute session leaves ~5,400 links (~10,800 with the pleth), a chair's year
~1,500 sessions, ~10 million links. `benchmarks/clinic_year_measure.py` times the check on databases
written at that cadence (`benchmarks/clinic_year.py --real-cadence`); here the same growth on short sessions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor import integrity
from monitor.store import Store
from monitor.store.chain import connect_read_only

SESSION_S = 120


def _write_session(path: Path, start: float) -> str:
    with Store(path) as store:
        store.db.execute("PRAGMA synchronous = OFF")
        source = SimulatedSource(scenario="normal", seed=1, speed=float("inf"), start_time=start)
        source.open()
        session_id = store.create_session(started_at=start, patient_id=None, driver="simulated", port=None,
                                          plan="baseline:1,infusion:1,recovery:1")
        for second in range(1, SESSION_S + 1):
            batch = source._produce_until(start + second)
            if batch:
                store.write_batch(session_id, batch)  # one commit a second, as in real time
        store.end_session(session_id, "complete", start + SESSION_S)
        return session_id


def _peak_bytes_for(path: Path, session_id: str | None) -> int:
    import tracemalloc

    from monitor.keys import load_keys

    keys = load_keys(create=False)
    conn = connect_read_only(path)
    tracemalloc.start()
    try:
        report = integrity.verify(conn, keys, session_id=session_id)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert report.ok if session_id is None else report.session_verified(session_id), report.findings
    return peak


@pytest.mark.parametrize("whole_file", [False, True], ids=["one session", "whole file"])
def test_the_memory_of_a_check_does_not_grow_with_the_other_sessions(tmp_path: Path, whole_file: bool) -> None:
    path = tmp_path / "monitor.db"
    first = _write_session(path, 1_767_225_600.0)
    asked = None if whole_file else first
    alone = _peak_bytes_for(path, asked)
    for index in range(1, 9):
        _write_session(path, 1_767_225_600.0 + index * 14_400)
    among_others = _peak_bytes_for(path, asked)
    assert among_others <= 2 * alone, (
        f"the check peaked at {alone / 1024:.0f} KiB over one session and {among_others / 1024:.0f} KiB "
        "over nine"
    )
