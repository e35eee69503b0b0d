"""Live view frame time: one UI tick's data update plus a full repaint of the window at 1600x900.

The window is whatever ``ui.live_window`` offers on this branch, fed the way the bridge feeds it:
a list of :class:`RecorderUpdate` per tick. A frame is ``on_updates(batch)`` followed by
``grab()``, which paints every widget of the window into an image (offscreen there is no screen
to flush to, so this is the whole of the drawing work).
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import FULL_SESSION_S, Result, median, record_full_session

FRAME_TARGET_MS = 16.0
EMPTY_RATIO_TARGET = 3.0
MEASURED_FRAMES = 60
WARM_UP_FRAMES = 5


def _quiet_qt(mode: Any, context: Any, message: str) -> None:
    # The offscreen platform says this on every window show; anything else is worth seeing.
    if "propagateSizeHints" not in message:
        print(f"qt: {message}", file=sys.stderr)


def _window(db_path: Path) -> tuple[Any, Any]:
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    qInstallMessageHandler(_quiet_qt)

    from drivers.simulated import SimulatedSource
    from monitor.plan import SessionPlan
    from monitor.recorder import Recorder
    from monitor.store import Store
    from ui.bridge import RecorderBridge
    from ui.live_window import LiveWindow

    QApplication.instance() or QApplication([])
    store = Store(db_path)
    # A recorder that is never started: the window only needs its bridge to exist.
    source = SimulatedSource(speed=math.inf)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan())
    window = LiveWindow(RecorderBridge(recorder))
    window.resize(1600, 900)
    window.show()
    return window, store


def _frames(window: Any, batches: list[list[Any]]) -> list[float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    times = []
    for batch in batches:
        app.processEvents()
        start = time.perf_counter()
        window.on_updates(batch)
        window.grab()
        times.append(time.perf_counter() - start)
    return times


def _close(window: Any, store: Any) -> None:
    from PySide6.QtWidgets import QApplication

    window.bridge._timer.stop()
    window.hide()
    window.deleteLater()
    QApplication.instance().processEvents()
    store.close()


def run(repeat: int) -> list[Result]:
    """Frame time with a whole 90-minute session on the chart, and with an empty chart."""
    with tempfile.TemporaryDirectory() as folder:
        updates: list[Any] = []
        record_full_session(Path(folder) / "session.db", pleth=True, listener=updates.append)
        span = updates[-1].status.now - updates[0].status.now
        history, live = updates[:-MEASURED_FRAMES], updates[-MEASURED_FRAMES - WARM_UP_FRAMES :]
        full_runs: list[float] = []
        empty_runs: list[float] = []
        for index in range(repeat):
            window, store = _window(Path(folder) / f"full{index}.db")
            # The session so far arrives in one-minute batches (a restart would do the same), then live ticks.
            for start in range(0, len(history), 60):
                window.on_updates(history[start : start + 60])
            times = _frames(window, [[u] for u in live])[WARM_UP_FRAMES:]
            full_runs.append(median(times))
            _close(window, store)

            window, store = _window(Path(folder) / f"empty{index}.db")
            blank = [[replace(u, readings=(), events=(), alarm_changes=())] for u in live]
            times = _frames(window, blank)[WARM_UP_FRAMES:]
            empty_runs.append(median(times))
            _close(window, store)
    full_ms, empty_ms = median(full_runs) * 1000, median(empty_runs) * 1000
    ratio = full_ms / empty_ms
    points = sum(1 for u in updates for r in u.readings if r.parameter.value != "pleth")
    pleth = sum(1 for u in updates for r in u.readings if r.parameter.value == "pleth")
    note = (
        f"{span / 60:.0f}-min session on the chart ({points} numerics, {pleth} pleth samples fed); "
        f"median of {repeat} runs x {MEASURED_FRAMES} frames"
    )
    if span < FULL_SESSION_S * 0.95:
        note += f"; session shorter than planned ({span:.0f} s)"
    return [
        Result("live view frame, full 90-min session", full_ms, "ms", f"<= {FRAME_TARGET_MS:g} ms",
               full_ms <= FRAME_TARGET_MS, note, [x * 1000 for x in full_runs]),
        Result("live view frame, empty chart", empty_ms, "ms", "(reference)", None, "",
               [x * 1000 for x in empty_runs]),
        Result("live view frame, full / empty", ratio, "x", f"<= {EMPTY_RATIO_TARGET:g}x",
               ratio <= EMPTY_RATIO_TARGET),
    ]
