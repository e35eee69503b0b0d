"""Live view frame time: one UI tick's data update plus painting, at 1600x900, offscreen.

The window is whatever ``ui.live_window.LiveWindow`` is on this branch, fed the way the bridge
feeds it: a list of :class:`RecorderUpdate` per tick. The session so far (a whole 90-minute
session: 1 Hz numerics, NIBP on the session's schedule, 75 Hz pleth) is loaded first; then each
frame brings one more second of data. Two figures per window:

* whole window: ``on_updates(batch)``, ``repaint()`` of the whole window, and the event loop
  turn, the worst case (every widget painted every tick); this is the figure held to the target;
* changed areas: ``on_updates(batch)`` and the event loop turn, which paints only what changed,
  as the running app does.

The same frames on an empty window (status only, no readings) are the comparison.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import FULL_SESSION_S, Result, dispose, median, record_full_session

FRAME_TARGET_MS = 16.0
EMPTY_RATIO_TARGET = 3.0
MEASURED_FRAMES = 30  # of each kind
WARM_UP_FRAMES = 10


def _quiet_qt(mode: Any, context: Any, message: str) -> None:
    # The offscreen platform says this on every window show; anything else is worth seeing.
    if "propagateSizeHints" not in message:
        print(f"qt: {message}", file=sys.stderr)


def _window(db_path: Path) -> tuple[Any, Any]:
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.store import Store
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    qInstallMessageHandler(_quiet_qt)
    QApplication.instance() or QApplication([])
    store = Store(db_path)
    # A recorder that is never started: the window only needs its bridge to exist.
    source = SimulatedSource(speed=math.inf)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(), nurse="RN")
    bridge = RecorderBridge(recorder)
    try:
        from ui.dialogs import SignedInUser
    except ImportError:  # the first window took only the bridge
        window = LiveWindow(bridge)
    else:
        window = LiveWindow(bridge, SignedInUser("RN", "nurse"), sound=False)
    window.resize(1600, 900)
    window.show()
    QApplication.instance().processEvents()
    return window, store


def _frames(window: Any, batches: list[list[Any]], whole: bool) -> list[float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    times = []
    for batch in batches:
        start = time.perf_counter()
        window.on_updates(batch)
        if whole:
            window.repaint()
        app.processEvents()
        times.append(time.perf_counter() - start)
    return times


def _close(window: Any, store: Any) -> None:
    dispose(window)
    store.close()


def _measure(folder: Path, name: str, preload: list[Any], live: list[Any], blank: bool) -> tuple[float, float]:
    window, store = _window(folder / f"{name}.db")
    try:
        for start in range(0, len(preload), 600):
            window.on_updates(preload[start : start + 600])
        ticks = [[replace(u, readings=(), events=(), alarm_changes=()) if blank else u] for u in live]
        _frames(window, ticks[:WARM_UP_FRAMES], whole=False)
        changed = _frames(window, ticks[WARM_UP_FRAMES : WARM_UP_FRAMES + MEASURED_FRAMES], whole=False)
        whole = _frames(window, ticks[WARM_UP_FRAMES + MEASURED_FRAMES :], whole=True)
        return median(whole), median(changed)
    finally:
        _close(window, store)


def run(repeat: int) -> list[Result]:
    """Frame time with a whole 90-minute session on the chart, and with an empty chart."""
    frames = WARM_UP_FRAMES + 2 * MEASURED_FRAMES
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        updates: list[Any] = []
        record_full_session(folder / "session.db", pleth=True, listener=updates.append)
        span = updates[-1].status.now - updates[0].status.now
        history, live = updates[:-frames], updates[-frames:]
        full_whole, full_changed, empty_whole, empty_changed = [], [], [], []
        for index in range(repeat):
            whole, changed = _measure(folder, f"full{index}", history, live, blank=False)
            full_whole.append(whole * 1000)
            full_changed.append(changed * 1000)
            whole, changed = _measure(folder, f"empty{index}", [], live, blank=True)
            empty_whole.append(whole * 1000)
            empty_changed.append(changed * 1000)
    full_ms, empty_ms = median(full_whole), median(empty_whole)
    ratio = full_ms / empty_ms
    points = sum(1 for u in updates for r in u.readings if r.parameter.value != "pleth")
    pleth = sum(1 for u in updates for r in u.readings if r.parameter.value == "pleth")
    note = (f"{span / 60:.0f}-min session loaded ({points} numerics, {pleth} pleth samples); "
            f"median of {repeat} runs x {MEASURED_FRAMES} frames")
    if span < FULL_SESSION_S * 0.95:
        note += f"; session shorter than planned ({span:.0f} s)"
    return [
        Result("live view frame, whole window, 90-min session", full_ms, "ms", f"<= {FRAME_TARGET_MS:g} ms",
               full_ms <= FRAME_TARGET_MS, note, full_whole),
        Result("live view frame, whole window, empty chart", empty_ms, "ms", "(reference)", None, "", empty_whole),
        Result("live view frame, whole window, full / empty", ratio, "x", f"<= {EMPTY_RATIO_TARGET:g}x",
               ratio <= EMPTY_RATIO_TARGET),
        Result("live view frame, changed areas, 90-min session", median(full_changed), "ms",
               f"<= {FRAME_TARGET_MS:g} ms", median(full_changed) <= FRAME_TARGET_MS,
               "what the running window paints per tick", full_changed),
        Result("live view frame, changed areas, empty chart", median(empty_changed), "ms", "(reference)", None, "",
               empty_changed),
    ]
