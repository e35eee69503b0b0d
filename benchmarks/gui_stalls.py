"""How long the live window's thread stands still over a whole session, and where it stands.

The real live window (alarm engine, sound player, watchdog, as the UI tests build it) records a simulated
2-hour session (``desaturation`` by default, so alarms come and go) at 60 times real time, offscreen at
1280x800: the whole session in about 2 minutes. A 10 ms timer on the window's thread notes how late each of
its timeouts fires; a stall delays a new alarm's flash and sound by as much, and one past the guard's limit
makes the guard alarm. Printed: the median, 99th percentile and largest lateness, and the count of stalls
past 100 ms. A second thread looks at the window's thread every 10 ms; while a timeout is more than 100 ms
late it samples that thread's stack (``sys._current_frames``), and the places most often sampled are printed.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.gui_stalls [--scenario S] [--speed 60]
        [--plan baseline:10,infusion:60,recovery:50] [--pleth] [--runs 1] [--top 8]
    python3 tasks.py bench --only gui_stalls

Measured on the shared 2-core machine, medians of 3 sessions each (load average 0.3-1.3; 3.3-3.5 during the
last two runs after), before -> after the band of the phase under way stopped being drawn again whole at every
tick and the tick stopped working over the whole session: lateness p99 11.2 -> 12.0 ms, longest 75 -> 83 ms,
stalls > 100 ms 0 -> 0; the tick 3.3 -> 3.0 ms (first 15 min) and 3.7 -> 3.3 ms (last 15); a paint of the chart
3.7 -> 2.6 ms and 3.5 -> 2.9 ms. The only stalls past 100 ms were the window's first showing (122 and 160 ms, in
2 of 5 runs before; 162 ms in 1 of 3 after).

At 60 times real time each 100 ms tick of the window brings 6 s of readings: the per-reading work weighs 60
times what it does at a chair, the work that grows with the session's length as much as in real time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import Result, dispose, median, percentile

PLAN = "baseline:10,infusion:60,recovery:50"  # two hours
SCENARIO = "desaturation"
SPEED = 60.0
SIZE = (1280, 800)
TICK_MS = 10
STALL_MS = 100.0
#: Targets: a stall of the window's thread delays a new alarm's flash and sound by as much.
P99_TARGET_MS = 50.0
STALLS_TARGET = 0
#: Frames of this project's code (the innermost one names a place); others (Qt, the library) only add context.
PROJECT_DIRS = ("ui", "monitor", "drivers")


@dataclass
class Stalls:
    """What one session measured: every timeout's lateness (ms) and the stacks sampled during stalls."""

    lateness_ms: list[float] = field(default_factory=list)
    #: (wall seconds since the start, ms) of each timeout more than ``STALL_MS`` late.
    stalls: list[tuple[float, float]] = field(default_factory=list)
    #: (session minute, ms) of each tick of the window: the batch of updates shown, as ``on_updates`` takes it.
    ticks: list[tuple[float, float]] = field(default_factory=list)
    #: (session minute, ms) of each paint of the trend chart (the event loop paints what a tick changed).
    paints: list[tuple[float, float]] = field(default_factory=list)
    places: Counter[str] = field(default_factory=Counter)
    session_s: float = 0.0
    wall_s: float = 0.0

    @property
    def over(self) -> int:
        return sum(1 for x in self.lateness_ms if x > STALL_MS)


def _ours(path: Path, root: Path) -> bool:
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return False
    return bool(relative.parts) and relative.parts[0] in PROJECT_DIRS


def _place(frame: Any) -> str:
    """The sampled stack as its innermost project frames, innermost first (up to three), with the innermost frame
    of all when that is not the project's own (a Qt call, sqlite, the library)."""
    stack = traceback.extract_stack(frame)
    root = Path(__file__).resolve().parent.parent
    ours = []
    for entry in reversed(stack):
        path = Path(entry.filename).resolve()
        if _ours(path, root):
            ours.append(f"{path.relative_to(root)}:{entry.lineno} {entry.name}")
        if len(ours) == 3:
            break
    innermost = stack[-1] if stack else None
    lead = ""
    if innermost is not None and not _ours(Path(innermost.filename), root):
        lead = f"[{Path(innermost.filename).name}:{innermost.lineno} {innermost.name}] "
    return lead + (" < ".join(ours) if ours else "(no project frame)")


class StackSampler(threading.Thread):
    """Samples the GUI thread's stack every ``period`` while the last beat is more than ``STALL_MS`` old."""

    def __init__(self, gui_thread: int, last_beat: list[float], places: Counter[str], period: float = 0.01) -> None:
        super().__init__(name="stall sampler", daemon=True)
        self.gui_thread = gui_thread
        self.last_beat = last_beat
        self.places = places
        self.period = period
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.period):
            if (time.perf_counter() - self.last_beat[0]) * 1000 <= STALL_MS:
                continue
            frame = sys._current_frames().get(self.gui_thread)
            if frame is not None:
                self.places[_place(frame)] += 1


def measure(folder: Path, *, scenario: str = SCENARIO, speed: float = SPEED, plan: str = PLAN,
            pleth: bool = False) -> Stalls:
    """Record one whole session in the live window; the lateness of every 10 ms timeout and the sampled stalls."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from drivers.simulated.driver import SimulatedSource
    from monitor.alarms.engine import AlarmEngine
    from monitor.app.device import DeviceSpec
    from monitor.plan import parse_plan
    from monitor.protocols import load_protocol
    from monitor.recorder import Recorder
    from monitor.store import Store
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    qInstallMessageHandler(_quiet_qt)
    QApplication.instance() or QApplication([])
    store = Store(folder / f"stalls-{time.monotonic_ns()}.db")
    source = SimulatedSource(scenario=scenario, seed=3, speed=speed, pleth=pleth)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=parse_plan(plan),
                                    autopilot=True, nurse="RN", alarms=AlarmEngine(), protocol=load_protocol(None))
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, SignedInUser("RN", "nurse"),
                        device=DeviceSpec(driver="simulated", scenario=scenario, speed=speed, pleth=pleth))
    window.resize(*SIZE)
    window.show()
    result = Stalls()
    started = last_start = time.perf_counter()
    last = [last_start]

    def beat() -> None:
        now = time.perf_counter()
        late = max(0.0, (now - last[0]) * 1000 - TICK_MS)
        result.lateness_ms.append(late)
        if late > STALL_MS:
            result.stalls.append((now - started, late))
        last[0] = now

    # The window's tick, timed: the same slot, called through a wrapper.
    bridge.updates.disconnect(window.on_updates)

    def timed(batch: list[Any]) -> None:
        began = time.perf_counter()
        window.on_updates(batch)
        minute = (batch[-1].status.elapsed_s if batch else 0.0) / 60
        result.ticks.append((minute, (time.perf_counter() - began) * 1000))

    bridge.updates.connect(timed)
    painted = _time_chart_paints(window, result)

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(beat)
    loop = QEventLoop()
    bridge.finished.connect(lambda _status: QTimer.singleShot(500, loop.quit))
    sampler = StackSampler(threading.get_ident(), last, result.places)
    bridge.start()
    last[0] = time.perf_counter()
    timer.start(TICK_MS)
    sampler.start()
    try:
        loop.exec()
    finally:
        sampler.stop.set()
        sampler.join()
        timer.stop()
        painted()
        result.wall_s = time.perf_counter() - started
        result.session_s = recorder.session.now - recorder.session.started_at if recorder.session else 0.0
        dispose(window)
        store.close()
    return result


def _time_chart_paints(window: Any, result: Stalls) -> Any:
    """Time each paint of the window's trend chart into ``result.paints``; returns what undoes it.

    pyqtgraph's view draws its scene in its own ``paintEvent`` (Python), wrapped here for this one view."""
    import pyqtgraph as pg

    view = window.chart.graphics
    original = pg.GraphicsView.paintEvent

    def paint_event(self: Any, event: Any) -> Any:
        if self is not view:
            return original(self, event)
        began = time.perf_counter()
        try:
            return original(self, event)
        finally:
            status = window.last_status
            minute = status.elapsed_s / 60 if status is not None else 0.0
            result.paints.append((minute, (time.perf_counter() - began) * 1000))

    pg.GraphicsView.paintEvent = paint_event

    def undo() -> None:
        pg.GraphicsView.paintEvent = original

    return undo


def _quiet_qt(mode: Any, context: Any, message: str) -> None:
    # The offscreen platform says this on every window show; anything else is worth seeing.
    if "propagateSizeHints" not in message:
        print(f"qt: {message}", file=sys.stderr)


def tick_growth(timed: list[tuple[float, float]], minutes: float = 15.0) -> tuple[float, float]:
    """The median of ``timed`` (session minute, ms) in the session's first and last ``minutes``."""
    end = max((m for m, _ms in timed), default=0.0)
    first = [ms for m, ms in timed if m < minutes] or [0.0]
    last = [ms for m, ms in timed if m >= end - minutes] or [0.0]
    return median(first), median(last)


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _summary(stalls: Stalls) -> str:
    ms = stalls.lateness_ms
    first, last = tick_growth(stalls.ticks)
    paint_first, paint_last = tick_growth(stalls.paints)
    return (f"{len(ms)} timeouts over {stalls.wall_s:.0f} s ({stalls.session_s / 60:.0f} session min): lateness "
            f"median {median(ms):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.0f} ms, "
            f"{stalls.over} stalls > {STALL_MS:.0f} ms"
            + (f" (at {', '.join(f'{at:.0f} s' for at, _ms in stalls.stalls[:8])})" if stalls.stalls else "")
            + f"; the window's tick {first:.1f} ms in the first 15 session min, {last:.1f} ms in the last 15"
            f" (max {max((ms for _m, ms in stalls.ticks), default=0.0):.0f} ms); a paint of the chart"
            f" {paint_first:.1f} ms in the first 15, {paint_last:.1f} ms in the last 15; load average {_load()}")


def _top(places: Counter[str], count: int) -> str:
    total = sum(places.values())
    if not total:
        return "  (no stall sampled)"
    return "\n".join(f"  {n:5d} ({100 * n / total:3.0f}%)  {place}" for place, n in places.most_common(count))


def run(repeat: int) -> list[Result]:
    """``repeat`` whole sessions; the medians of their lateness figures."""
    runs: list[Stalls] = []
    with tempfile.TemporaryDirectory() as name:
        for _ in range(repeat):
            runs.append(measure(Path(name)))
            print(_summary(runs[-1]), file=sys.stderr, flush=True)
    places: Counter[str] = Counter()
    for r in runs:
        places.update(r.places)
    print(f"where the window's thread stood during stalls (samples every 10 ms):\n{_top(places, 5)}",
          file=sys.stderr, flush=True)
    p50 = [median(r.lateness_ms) for r in runs]
    p99 = [percentile(r.lateness_ms, 0.99) for r in runs]
    worst = [max(r.lateness_ms) for r in runs]
    over = [float(r.over) for r in runs]
    growth = [tick_growth(r.ticks) for r in runs]
    first, last = [g[0] for g in growth], [g[1] for g in growth]
    paints = [tick_growth(r.paints) for r in runs]
    paint_first, paint_last = [g[0] for g in paints], [g[1] for g in paints]
    note = (f"{SCENARIO}, {PLAN} at {SPEED:g}x, {SIZE[0]}x{SIZE[1]}; median of {repeat} sessions; "
            f"load average {_load()}")
    return [
        Result("live window thread, timeout lateness, median", median(p50), "ms", "(reference)", None, note, p50),
        Result("live window thread, timeout lateness, p99", median(p99), "ms", f"<= {P99_TARGET_MS:g} ms",
               median(p99) <= P99_TARGET_MS, "", p99),
        Result("live window thread, longest stall", median(worst), "ms", "(reference)", None, "", worst),
        Result(f"live window thread, stalls > {STALL_MS:g} ms", median(over), "", f"<= {STALLS_TARGET}",
               median(over) <= STALLS_TARGET, "per session", over),
        Result("live window tick (on_updates), first 15 session min", median(first), "ms", "(reference)", None,
               "median tick", first),
        Result("live window tick (on_updates), last 15 session min", median(last), "ms", "(reference)", None,
               "grows with the session when a tick works on all of it", last),
        Result("trend chart paint, first 15 session min", median(paint_first), "ms", "(reference)", None,
               "median paint", paint_first),
        Result("trend chart paint, last 15 session min", median(paint_last), "ms", "(reference)", None, "",
               paint_last),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.gui_stalls", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default=SCENARIO)
    parser.add_argument("--speed", type=float, default=SPEED)
    parser.add_argument("--plan", default=PLAN)
    parser.add_argument("--pleth", action="store_true", help="with the 75 Hz pleth")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--top", type=int, default=8, help="how many places to print")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from benchmarks.common import quiet_logging

    places: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as name, quiet_logging():
        for _ in range(args.runs):
            stalls = measure(Path(name), scenario=args.scenario, speed=args.speed, plan=args.plan, pleth=args.pleth)
            print(_summary(stalls), flush=True)
            places.update(stalls.places)
    print(f"where the window's thread stood during stalls (samples every 10 ms, {sum(places.values())} in all):")
    print(_top(places, args.top))


if __name__ == "__main__":
    main()
