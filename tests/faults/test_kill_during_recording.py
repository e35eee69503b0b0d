"""kill -9 of a recording at 20 random moments (seeded), each followed by ``record --resume``: every other kill
at any moment from the process's start, the rest at a moment after the start said it resumed.

After every kill: the database passes ``PRAGMA integrity_check``; every reading the process
reported as stored (its progress line) and every reading a reader saw committed just before the
kill is still there; the session is reported unfinished and the next start resumes it, with its
clock continuing from where the stored data ends.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from monitor.store import Store
from tests.faults.helpers import CommandLine, counts, integrity, stored_counts

KILLS = 20
SEED = 8
SPEED = "120"
PLAN = "baseline:5,infusion:55,recovery:30"


def _session_id(db_path: Path) -> str | None:
    if not db_path.exists():
        return None
    try:
        with Store(db_path, readonly=True) as store:
            rows = store.sessions()
    except Exception:  # the file may be mid-creation when the kill came
        return None
    return rows[0].id if rows else None


def _times_by_id(db_path: Path, session_id: str) -> list[tuple[str, float]]:
    conn = sqlite3.connect(db_path)
    try:
        return [(p, t) for p, t in conn.execute(
            "SELECT parameter, t FROM readings WHERE session_id = ? ORDER BY id", [session_id])]
    finally:
        conn.close()


def test_kill_9_at_twenty_moments_loses_nothing_reported_and_resumes(db_path: Path) -> None:
    rng = random.Random(SEED)
    session_id: str | None = None
    resumed = 0  # starts that printed the resume
    committed = 0  # of those, starts that then reported more readings stored than there were before them
    for kill in range(KILLS):
        args = ["record", "--db", str(db_path), "--speed", SPEED, "--pleth", "--plan", PLAN, "--nurse", "RN"]
        if session_id is not None:
            args += ["--resume", session_id[:8]]
        stored_at_start = counts(db_path, session_id)[0] if session_id is not None else 0
        run = CommandLine(*args)
        if kill % 2 and session_id is not None:
            # A moment in the recording after the resume (however long the start takes on a loaded machine).
            run.wait_for("session_resumed", timeout=60)
            time.sleep(rng.uniform(0.05, 1.5))
        elif kill == 0:
            # The first kill leaves a session to resume: once it records (on a loaded machine a fixed 1.5 s was
            # sometimes still before the session was made).
            run.wait_for("t+", timeout=60)
            time.sleep(0.5)
        else:
            # Any moment: during start-up (imports, migrations, the resume), or well into the recording.
            time.sleep(rng.uniform(0.05, 3.0))
        seen_before = counts(db_path, session_id or _session_id(db_path) or "") if db_path.exists() else (0, 0)
        reported = stored_counts(run.output())
        run.kill()
        output = run.output()
        said = next((i for i, line in enumerate(output) if "session_resumed" in line), None)
        if said is not None:
            resumed += 1
            # The writer commits in order and the resume event went with the first batch: a later report of
            # more readings stored means that event is stored too.
            committed += any(stored > stored_at_start for stored in stored_counts(output[said:]))

        assert integrity(db_path) == "ok", f"kill {kill}"
        session_id = session_id or _session_id(db_path)
        assert session_id is not None, f"kill {kill}: no session after {run.output()}"
        readings, samples = counts(db_path, session_id)
        assert readings >= seen_before[0], f"kill {kill}: readings lost"
        assert samples >= seen_before[1], f"kill {kill}: pleth samples lost"
        if reported:
            assert readings >= reported[-1], f"kill {kill}: reported {reported[-1]} stored, found {readings}"
        with Store(db_path, readonly=True) as store:
            assert store.status_of(store.session_row(session_id)) == "unfinished"

    # A last start resumes and closes the session cleanly.
    run = CommandLine("record", "--db", str(db_path), "--speed", SPEED, "--pleth", "--plan", PLAN, "--nurse", "RN",
                      "--resume", session_id[:8], "--duration", "1.5")
    assert run.finish() == 0, run.output()
    assert integrity(db_path) == "ok"
    with Store(db_path, readonly=True) as store:
        [summary] = store.sessions()
        assert summary.status == "closed"
        kinds = [e.kind.value for e in store.events(session_id)]
        audited = [a for a in store.audit_log(session_id) if a["action"] == "session_resumed"]
    # Every start that said it resumed did so (plus the last one): its audit row is written before it records.
    # The timeline's event goes through the writer like the readings: a start killed between printing it and the
    # first commit loses it (as it loses readings not yet reported stored), and the next start records its own.
    assert len(audited) >= resumed + 1
    assert kinds.count("session_resumed") >= committed + 1
    assert kinds.count("session_resumed") <= len(audited)
    assert resumed >= KILLS // 2 and committed >= 1, (resumed, committed, kinds.count("session_resumed"))
    # Resumed recordings continue the session's clock: no parameter's readings go back in time.
    last: dict[str, float] = {}
    for parameter, t in _times_by_id(db_path, session_id):
        assert t >= last.get(parameter, t), f"{parameter} went back in time after a resume"
        last[parameter] = t
