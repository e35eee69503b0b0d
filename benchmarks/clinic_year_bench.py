"""A chair's year in one local database, as ``bench --only clinic_year``: the database built by
:mod:`benchmarks.clinic_year` (the recorder at full speed), then timed as :mod:`benchmarks.clinic_year_measure`
and :mod:`benchmarks.clinic_year_live` time it.

By default a small year: ``CLINIC_YEAR_SESSIONS`` sessions (24: one to three seconds each to record on a 2-core
machine), so the figures say what a chair notices a month in, not a year in. ``CLINIC_YEAR_DB=/path/year.db``
measures a database built before (a whole year: ``python -m benchmarks.clinic_year DB --sessions 1500``, hours),
adding ``CLINIC_YEAR_SESSIONS`` more where it holds fewer; the measurements add audit entries and a session to it,
and its key file must be named by ``INFUSION_MONITOR_KEY_FILE``.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from benchmarks.common import Result, median

DEFAULT_SESSIONS = 24
#: The live window records beside the file this long (real time).
LIVE_S = 20.0


def _build(path: Path, sessions: int) -> None:
    """Record sessions into ``path`` until it holds ``sessions``."""
    from benchmarks.clinic_year import main as build
    from monitor.store import Store

    held = 0
    if path.exists():
        with Store(path, readonly=True, check=False) as store:
            held = int(store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
    if held < sessions:
        build([str(path), "--sessions", str(sessions - held)])


def _seconds(name: str, samples: list[float], target: float | None, note: str) -> Result:
    """A command's figure, in seconds."""
    value = median(samples)
    shown = f"<= {target:g} s" if target is not None else "reported"
    return Result(f"year: {name}", value, "s", shown, None if target is None else value <= target, note, samples)


def _ms(name: str, samples: list[float], target_ms: float | None, note: str) -> Result:
    """A figure inside one process (samples in seconds), in milliseconds."""
    value = median(samples) * 1000
    shown = f"<= {target_ms:g} ms" if target_ms is not None else "reported"
    return Result(f"year: {name}", value, "ms", shown, None if target_ms is None else value <= target_ms, note,
                  [s * 1000 for s in samples])


def run(repeat: int) -> list[Result]:
    """Build (or reuse) the year's database and time what a chair and a reviewer do on it."""
    from benchmarks import clinic_year_live, clinic_year_measure
    from monitor.store import Store

    runs = max(1, min(repeat, 3))  # the commands re-read the whole file: three runs give a median
    sessions = int(os.environ.get("CLINIC_YEAR_SESSIONS") or DEFAULT_SESSIONS)
    with tempfile.TemporaryDirectory(prefix="clinic-year-") as name:
        folder = Path(name)
        path = Path(os.environ.get("CLINIC_YEAR_DB") or folder / "year.db")
        # Their progress lines and prints would break up the table: the figures come back as values.
        with contextlib.redirect_stdout(io.StringIO()):
            _build(path, sessions)
            session_id, mrn = clinic_year_measure.facts(path)
            found = {**clinic_year_measure.part_open(path, runs),
                     **clinic_year_measure.part_browser(path, runs),
                     **clinic_year_measure.part_check(path, session_id, runs),
                     **clinic_year_measure.part_review(path, session_id, runs),
                     **clinic_year_measure.part_cli(path, session_id, mrn, runs, folder),
                     **clinic_year_measure.part_startup(path, runs)}
            live = clinic_year_live.measure(path, LIVE_S)
        with Store(path, readonly=True, check=False) as store:
            held = int(store.db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
        size = f"{path.stat().st_size / 2**20:,.0f} MiB, {held} sessions"
    results = [
        _ms("read-only open, whole-file check", found["open"], None, size),
        _ms("session browser, open and list", found["browser open"], None, "one run"),
        _ms("session browser, one MRN keystroke", found["browser keystroke"], None, "the window's thread"),
        _ms("one session's record check", found["record check"], None, "as each export runs it"),
        _ms("review window, longest pleth session", found["review"], 300, "to first paint"),
        _seconds("sessions command", found["sessions"], None, "start to exit"),
        _seconds("verify command", found["verify"], None, "the whole record"),
        _seconds("export CSV, longest session", found["export csv"], 1.0, "the command, start to exit"),
        _seconds("export PDF, longest session", found["export pdf"], 3.0, "the command, start to exit"),
        _seconds("course PDF, patient with most sessions", found["course pdf"], 3.0, f"{mrn}, start to exit"),
        _ms("live window, longest stall", [live["longest stall"]], None,
                 f"{LIVE_S:g} s recording beside the file; {live['not responding']:.0f} screen-not-responding"),
    ]
    if found["startup"]:
        results.append(_seconds("gui --user to first painted window", found["startup"], 2.0, "signed in"))
    else:
        results.append(Result("year: gui --user to first painted window", None, "s", "<= 2 s", None,
                              "no first paint (see clinic_year_measure --only startup)"))
    return results
