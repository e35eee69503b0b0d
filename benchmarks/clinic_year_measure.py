"""What a clinic notices on a large database: figures from the machine's real clock, medians of runs.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.clinic_year_measure DB [--runs 3] [--only ...]

The database is one built by :mod:`benchmarks.clinic_year` (recorder at full speed, and/or with
``--real-cadence`` store writes at a real recording's commit cadence); work on a copy,
since listing, exporting and verifying add audit entries. Parts:

- ``open``: a read-only :class:`~monitor.store.Store` as the live window opens one on its own thread when the
  nurse identifies the patient or opens the alarm log, and as the session browser opens one at every refresh
  (each keystroke in its MRN filter); with and without the file check at open;
- ``browser``: the session browser's refresh on the window's thread, typing a 4-character MRN filter;
- ``cli``: ``sessions``, ``verify``, an export of the longest session (CSV, PDF), the course PDF of the
  patient with most sessions: wall time of the command, and peak memory of the command's processes;
- ``check``: one session's record check as an export starts it (:mod:`monitor.background_verify`'s check);
- ``review``: the review window on the longest session, to its first paint.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / ".venv" / "bin" / "infusion-monitor"


def med(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"


def timed_command(args: list[str], runs: int) -> tuple[list[float], float]:
    """Wall seconds per run and the peak RSS (MiB) of the largest child (the command or its record check)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0,):
            print(f"  ! {' '.join(args[1:3])} exit {done.returncode}: {done.stderr.strip()[-300:]}")
    return times, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def facts(path: Path) -> tuple[str, str]:
    from monitor.store import Store

    with Store(path, readonly=True, check=False) as store:
        db = store.db
        sessions = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        readings = db.execute("SELECT MAX(id) FROM readings").fetchone()[0]
        links = db.execute("SELECT MAX(seq) FROM chain").fetchone()[0]
        audit = db.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
        longest = db.execute(
            "SELECT w.session_id FROM waveforms w GROUP BY w.session_id ORDER BY SUM(w.n) DESC LIMIT 1"
        ).fetchone()
        session_id = longest[0] if longest else db.execute("SELECT id FROM sessions LIMIT 1").fetchone()[0]
        patient = db.execute(
            "SELECT patient_id FROM sessions WHERE patient_id IS NOT NULL GROUP BY patient_id "
            "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        mrn = store.patient_row(patient)["mrn"]
        count = db.execute("SELECT COUNT(*) FROM sessions WHERE patient_id = ?", [patient]).fetchone()[0]
    size = path.stat().st_size / 2**20
    print(f"{path}: {size:,.0f} MiB, {sessions} sessions, ~{readings:,} readings, {links:,} chain links, "
          f"{audit} audit entries; longest pleth session {session_id[:8]}; patient {mrn} with {count} sessions")
    return session_id, mrn


#: What each part measured: a figure's name and its samples (seconds, or MiB where the name says so).
Figures = dict[str, list[float]]


def part_open(path: Path, runs: int) -> Figures:
    from monitor.store import Store

    figures: Figures = {}
    for check in (True, False):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            with Store(path, readonly=True, check=check):
                pass
            times.append(time.perf_counter() - started)
        print(f"read-only open{'' if check else ' without the file check'}: {med(times)}")
        figures["open" if check else "open without the file check"] = times
    return figures


def part_browser(path: Path, runs: int) -> Figures:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from monitor.app.stores import RecordSource
    from ui.dialogs import SignedInUser
    from ui.session_browser import SessionBrowser

    started = time.perf_counter()
    browser = SessionBrowser(RecordSource(path), SignedInUser("Dr", "physician"))
    browser.show()
    app.processEvents()
    listed = time.perf_counter() - started
    print(f"session browser: opened and listed in {listed:.2f} s")
    per_key = []
    for _ in range(runs):
        browser.mrn_edit.clear()
        app.processEvents()
        for char in "0012":
            started = time.perf_counter()
            browser.mrn_edit.insert(char)  # textChanged: the browser searches again on the window's thread
            app.processEvents()
            per_key.append(time.perf_counter() - started)
    print(f"session browser: one keystroke in the MRN filter holds the window's thread {med(per_key)}")
    browser.close()
    return {"browser open": [listed], "browser keystroke": per_key}


def part_cli(path: Path, session_id: str, mrn: str, runs: int, out: Path) -> Figures:
    db = ["--db", str(path)]
    figures: Figures = {}
    times, _ = timed_command([str(EXE), "sessions", *db], runs)
    print(f"sessions: {med(times)}")
    figures["sessions"] = times
    times, rss = timed_command([str(EXE), "verify", *db], max(1, runs - 1))
    print(f"verify: {med(times)}; peak RSS of the commands so far {rss:.0f} MiB")
    figures["verify"] = times
    for fmt in ("csv", "pdf"):
        times, rss = timed_command([str(EXE), "export", session_id, *db, "--format", fmt, "--out",
                                    str(out / f"s.{fmt}")], runs)
        print(f"export {fmt} of session {session_id[:8]}: {med(times)}; peak RSS so far {rss:.0f} MiB")
        figures[f"export {fmt}"] = times
    times, rss = timed_command([str(EXE), "course", mrn, *db, "--format", "pdf", "--out", str(out / "c.pdf")], runs)
    print(f"course pdf of {mrn}: {med(times)}; peak RSS so far {rss:.0f} MiB")
    figures["course pdf"] = times
    figures["peak MiB"] = [rss]
    return figures


def part_check(path: Path, session_id: str, runs: int) -> Figures:
    code = (
        "import resource,sys,time;from pathlib import Path;from monitor.integrity import verify;"
        "from monitor.keys import load_keys;from monitor.store.chain import connect_read_only;"
        "k=load_keys(create=False);c=connect_read_only(Path(sys.argv[1]));t=time.perf_counter();"
        "r=verify(c,k,session_id=sys.argv[2]);"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, r.links,"
        " r.session_verified(sys.argv[2]))"
    )
    times, peaks = [], []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code, str(path), session_id], capture_output=True, text=True,
                              cwd=ROOT)
        seconds, peak, links, ok = done.stdout.split()
        times.append(float(seconds))
        peaks.append(float(peak))
    print(f"one session's record check (as each export runs it): {med(times)}; peak RSS "
          f"{statistics.median(peaks):.0f} MiB; {int(links):,} links walked; verified {ok}")
    return {"record check": times, "record check peak MiB": peaks}


def part_review(path: Path, session_id: str, runs: int) -> Figures:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from benchmarks.common import dispose
    from benchmarks.review_open import open_once

    totals = []
    for _ in range(runs):
        window, total, _load = open_once(app, path, session_id)
        dispose(window)
        totals.append(total / 1000.0)
    print(f"review window on {session_id[:8]} to first paint: {med(totals)}")
    return {"review": totals}


def part_startup(path: Path, runs: int) -> Figures:
    """`gui --user` on the database, to its first painted window (as `bench --only startup` measures it)."""
    import selectors

    secret = "year-benchmark-7391"
    env = dict(os.environ, INFUSION_MONITOR_REPORT_FIRST_PAINT="1", INFUSION_MONITOR_SECRET=secret)
    added = subprocess.run([str(EXE), "users", "add", "chief", "--role", "admin", "--db", str(path)], env=env,
                           input=secret + "\n" + secret + "\n", capture_output=True, text=True)
    if added.returncode != 0:  # an account made before signs in only with this benchmark's PIN
        print(f"  ! users add chief: {added.stderr.strip()[-300:]}")
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen([str(EXE), "gui", "--user", "chief", "--db", str(path), "--driver", "simulated"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   stdin=subprocess.DEVNULL)
        assert process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        painted = None
        while painted is None and time.perf_counter() - started < 180:
            if selector.select(timeout=1):
                line = process.stdout.readline()
                if not line:
                    break
                if line.startswith("first-paint"):
                    painted = time.perf_counter() - started
        process.terminate()
        process.wait(timeout=30)
        if painted is None:
            print("  ! no first paint within 180 s")
            continue
        times.append(painted)
    if times:
        print(f"gui --user: process start to first painted window {med(times)}")
    return {"startup": times}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["open", "browser", "check", "review", "cli"])
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    session_id, mrn = facts(args.db)
    with tempfile.TemporaryDirectory(dir=args.db.parent) as folder:
        for part in args.only:
            if part == "open":
                part_open(args.db, args.runs)
            elif part == "browser":
                part_browser(args.db, args.runs)
            elif part == "check":
                part_check(args.db, session_id, args.runs)
            elif part == "review":
                part_review(args.db, session_id, args.runs)
            elif part == "startup":
                part_startup(args.db, args.runs)
            elif part == "cli":
                part_cli(args.db, session_id, mrn, args.runs, Path(folder))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
