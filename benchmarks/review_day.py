"""A 24-hour session (1 Hz numerics, cuffs every 5 minutes, the 75 Hz pleth): opening it for review,
and exporting it.

The session is recorded headless first (about 20 s). Each measurement then runs in a process of
its own, so its peak memory (the process's maximum resident size, Qt and Python included) is
its own:

* review open: a review window created on the session and shown until its first paint, at
  1600x900, offscreen; targets 1 s and 250 MB;
* exports, every format (CSV of the readings, CSV of the events and of the alarms, JSON, HL7,
  FHIR, PDF): the ``infusion-monitor export`` command of the whole session to a file, timed from
  its start to its exit (Python's start included), its memory the resident size of the command
  and the record check it starts beside it, summed and sampled every 10 ms; targets 2 s and 150 MB.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.run --only review_day

``REVIEW_DAY_DB=/path/day.db`` reuses a session recorded before (recorded there when missing), so
that repeated measurements skip the recording.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Result, median

OPEN_TARGET_S = 1.0
OPEN_TARGET_MB = 250.0
EXPORT_TARGET_S = 2.0
EXPORT_TARGET_MB = 150.0
EXPORT_FORMATS = ("csv", "csv-events", "csv-alarms", "json", "hl7", "fhir", "pdf")
DAY_PLAN = "baseline:5,infusion:60,recovery:1375"  # 24 hours in all
DAY_S = 24 * 3600.0
#: Session time after the plan's end by which the recording must have completed (the discharge cuff and the
#: check take a minute or two).
COMPLETE_WITHIN_S = 30 * 60.0
START = 1_718_000_000.0


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the forking parent's size over exec)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def record_day(path: Path) -> str:
    """Record the 24-hour session; returns its id.

    The plan completes it on time unless something holds the discharge (a high alarm still present, a stale
    cuff): then it says what, :data:`COMPLETE_WITHIN_S` of session time after the plan's end, instead of
    waiting for a nurse who never comes.
    """
    from drivers.simulated.driver import SimulatedSource
    from monitor.alarms.engine import AlarmEngine
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder
    from monitor.store import Store

    plan = parse_plan(DAY_PLAN)
    store = Store(path)
    try:
        source = SimulatedSource(scenario="hypertension", seed=1, speed=math.inf, pleth=True, start_time=START,
                                 plan=plan)
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, autopilot=True,
                                        nurse="RN", alarms=AlarmEngine())
        recorder.run(until=_not_completed_after(START + DAY_S + COMPLETE_WITHIN_S))
        return recorder.session.id
    finally:
        store.close()


def _not_completed_after(limit: float) -> Callable[[Any], bool]:
    """An ``until`` for the recorder that raises, naming what holds the discharge, once session time passes
    ``limit`` (the recorder ends its loop by itself when the session completes)."""
    from monitor.readiness import COMPLETE

    def check(recorder: Any) -> bool:
        if recorder.session.now <= limit:
            return False
        step = recorder._step_check(COMPLETE)
        held = "; ".join(b.text for b in step.blockers) if step is not None else "nothing the discharge check names"
        raise RuntimeError(f"review_day: the 24-hour session did not complete {COMPLETE_WITHIN_S / 60:g} min after "
                           f"its plan ended (phase {recorder.session.phase.value}); the discharge waits for: {held}")

    return check


def _recorded_session(path: Path) -> str:
    """The id of the one session recorded in ``path`` by :func:`record_day`."""
    from monitor.store import Store

    store = Store(path)
    try:
        return store.sessions()[0].id
    finally:
        store.close()


def _child_open(path: str, session_id: str) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication([])
    from ui.dialogs import SignedInUser
    from ui.review_window import ReviewWindow

    start = time.perf_counter()
    window = ReviewWindow(Path(path), session_id, SignedInUser("Dr", "physician"))
    window.resize(1600, 900)
    window.show()
    app.processEvents()
    window.chart.graphics.viewport().repaint()
    return {"seconds": time.perf_counter() - start, "peak_mb": _peak_mb()}


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants now (from /proc)."""
    parents: dict[int, int] = {}
    sizes: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        sizes[pid] = int(fields[21]) * resource.getpagesize()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += sizes.get(pid, 0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total / (1024.0 * 1024.0)


def _export_command(path: str, session_id: str, fmt: str, out: str) -> dict[str, float]:
    """The export command as a user runs it: wall time to its exit, and the peak of its processes' memory."""
    command = Path(sys.executable).with_name("infusion-monitor")
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    start = time.perf_counter()
    process = subprocess.Popen([str(command), "export", session_id, "--db", path, "--format", fmt, "--out", out],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = 0.0
    try:
        while process.poll() is None:
            peak = max(peak, _tree_rss_mb(process.pid))
            time.sleep(0.01)
    except BaseException:  # stopped while it runs (a deadline): the command is not left behind
        process.kill()
        process.wait()
        raise
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        said = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"export {fmt} failed with {process.returncode}: {said}")
    return {"seconds": seconds, "peak_mb": peak}


def _in_child(*args: str) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    done = subprocess.run([sys.executable, "-m", "benchmarks.review_day", "--child", *args], capture_output=True,
                          text=True, check=True, env=env, cwd=Path(__file__).resolve().parents[1])
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(repeat: int) -> list[Result]:
    """Review open and exports of a 24-hour session, each in a fresh process."""
    results = []
    with tempfile.TemporaryDirectory() as name:
        path = Path(os.environ.get("REVIEW_DAY_DB") or Path(name) / "day.db")
        session_id = _recorded_session(path) if path.exists() else record_day(path)
        opens = [_in_child("open", str(path), session_id) for _ in range(max(repeat, 1))]
        seconds = median([o["seconds"] for o in opens])
        peak = median([o["peak_mb"] for o in opens])
        results.append(Result("24-h session: review open", seconds, "s", f"<= {OPEN_TARGET_S:g} s",
                              seconds <= OPEN_TARGET_S, "window shown and painted, 1600x900",
                              [o["seconds"] for o in opens]))
        results.append(Result("24-h session: review open, peak memory", peak, "MB", f"<= {OPEN_TARGET_MB:g} MB",
                              peak <= OPEN_TARGET_MB, "whole process (Qt included)", [o["peak_mb"] for o in opens]))
        for fmt in EXPORT_FORMATS:
            runs = [_export_command(str(path), session_id, fmt, str(Path(name) / f"out.{fmt}"))
                    for _ in range(max(repeat, 1))]
            seconds = median([r["seconds"] for r in runs])
            peak = median([r["peak_mb"] for r in runs])
            results.append(Result(f"24-h session: {fmt} export", seconds, "s", f"<= {EXPORT_TARGET_S:g} s",
                                  seconds <= EXPORT_TARGET_S, "the command, start to exit",
                                  [r["seconds"] for r in runs]))
            results.append(Result(f"24-h session: {fmt} export, peak memory", peak, "MB",
                                  f"<= {EXPORT_TARGET_MB:g} MB", peak <= EXPORT_TARGET_MB,
                                  "the command and its record check, summed",
                                  [r["peak_mb"] for r in runs]))
    return results


def _child(argv: list[str]) -> None:
    _open, *rest = argv  # the review open (each export is timed as the command itself)
    result: Any = _child_open(*rest)
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        for line in run(3):
            print(line)
