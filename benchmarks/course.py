"""Opening a patient's course of 30 sessions, and writing its PDF.

One 90-minute session is recorded for real (simulated monitor, alarm engine, a dose plan, a
checklist, PHQ-9/GAD-7, scores and discharge), then copied 29 times for the same patient,
each copy two days after the previous one with its own ids and times, so the database holds
30 full sessions (about a million readings). The course figure is :func:`monitor.course.load_course_by_mrn`
on a fresh connection (the course view's query); the PDF figure is loading plus writing the
course report in memory. Targets: 300 ms and 3 s.
"""

from __future__ import annotations

import io
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import SESSION_START, Result, median, record_chair_session, time_it

SESSIONS = 30
MRN = "BENCH-30"
OPEN_TARGET_S = 0.3
PDF_TARGET_S = 3.0
DAY_S = 86_400.0


def _record_one(path: Path) -> str:
    return record_chair_session(path, mrn=MRN, name="Bench Patient", scenario="hypertension", seed=2,
                                start_time=SESSION_START)


def _copy_sessions(path: Path, session_id: str, copies: int) -> None:
    """Copies of a session for the same patient, each two days later, with new ids."""
    from monitor.store import Store

    with Store(path) as store:
        conn = store.db.conn
        columns = [row[1] for row in conn.execute("PRAGMA table_info(sessions)")]
        others = [c for c in columns if c not in ("id", "started_at", "ended_at", "heartbeat_at")]
        with store.transaction():
            for index in range(1, copies + 1):
                new_id = uuid.uuid4().hex
                shift = index * 2 * DAY_S
                conn.execute(
                    f"INSERT INTO sessions (id, started_at, ended_at, heartbeat_at, {', '.join(others)}) "
                    f"SELECT ?, started_at + ?, ended_at + ?, heartbeat_at + ?, {', '.join(others)} "
                    "FROM sessions WHERE id = ?",
                    [new_id, shift, shift, shift, session_id],
                )
                conn.execute(
                    "INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                    "SELECT ?, t + ?, parameter, value, unit, status, source FROM readings WHERE session_id = ?",
                    [new_id, shift, session_id],
                )
                conn.execute(
                    "INSERT INTO events (session_id, t, kind, phase, user, detail) "
                    "SELECT ?, t + ?, kind, phase, user, detail FROM events WHERE session_id = ?",
                    [new_id, shift, session_id],
                )
                conn.execute(
                    'INSERT INTO alarms (id, session_id, condition, parameter, priority, kind, started_at, ended_at, '
                    '"limit", peak_value, escalations, acknowledged_at, acknowledged_by, message, state) '
                    "SELECT id || ?, ?, condition, parameter, priority, kind, started_at + ?, ended_at + ?, "
                    '"limit", peak_value, escalations, acknowledged_at, acknowledged_by, message, state '
                    "FROM alarms WHERE session_id = ?",
                    [f"-{index}", new_id, shift, shift, session_id],
                )


def run(repeat: int) -> list[Result]:
    """Course open and course PDF, median of ``repeat`` runs after one warm-up."""
    from monitor.course import load_course_by_mrn
    from monitor.course_export import write_pdf
    from monitor.store import Store

    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "course.db"
        started = time.perf_counter()
        session_id = _record_one(path)
        _copy_sessions(path, session_id, SESSIONS - 1)
        built = time.perf_counter() - started
        with Store(path, readonly=True) as store:
            readings = store.db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]

        def open_course() -> None:
            with Store(path, readonly=True) as fresh:
                course = load_course_by_mrn(fresh, MRN)
                assert len(course.rows) == SESSIONS

        def pdf() -> int:
            with Store(path, readonly=True) as fresh:
                stream = io.BytesIO()
                write_pdf(load_course_by_mrn(fresh, MRN), stream)
                return len(stream.getvalue())

        open_course()
        times = [time_it(open_course) for _ in range(repeat)]
        value = median(times)
        results.append(Result(
            f"course: open {SESSIONS} sessions", value * 1000, "ms", f"<= {OPEN_TARGET_S * 1000:g} ms",
            value <= OPEN_TARGET_S, f"{readings:,} readings in the database; built in {built:.0f} s",
            [t * 1000 for t in times]))
        size = pdf()
        times = [time_it(pdf) for _ in range(repeat)]
        value = median(times)
        results.append(Result(
            f"course: PDF of {SESSIONS} sessions", value, "s", f"<= {PDF_TARGET_S:g} s", value <= PDF_TARGET_S,
            f"load + write, {size / 1024:.0f} KiB", times))
    return results


if __name__ == "__main__":
    for result in run(5):
        print(result.name, result.value, result.unit, result.note)
