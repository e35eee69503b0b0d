"""Frame time of the live window: one UI tick (data update + repaint) at 1600x900, offscreen.

Records a simulated 90-minute session (1 Hz numerics, NIBP on the session's schedule, 75 Hz pleth)
headless, loads all of it into the live window, then times ticks that each bring one more second
of data and repaint the window; the same ticks on an empty window are the comparison.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/live_tick.py [--ticks 60]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from drivers.simulated import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import parse_plan
from monitor.recorder import Recorder, RecorderUpdate
from monitor.store import Store

T0 = 1_790_000_000.0
WARM_UP = 10


def record_session(folder: Path) -> tuple[Store, Recorder, list[RecorderUpdate]]:
    """A whole simulated session, every update kept."""
    store = Store(folder / "bench.db")
    source = SimulatedSource(scenario="hypertension", seed=5, speed=math.inf, pleth=True, start_time=T0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:5,infusion:55,recovery:30"), autopilot=True,
                                    nurse="BM", alarms=AlarmEngine())
    updates: list[RecorderUpdate] = []
    recorder.add_listener(updates.append)
    recorder.run()
    return store, recorder, updates


def time_ticks(app: QApplication, window: object, ticks: list[list[RecorderUpdate]], full: bool) -> list[float]:
    """Milliseconds per tick: on_updates with the batch, then painting (what changed, or everything)."""
    out = []
    for batch in ticks:
        start = time.perf_counter()
        window.on_updates(batch)  # type: ignore[attr-defined]
        if full:
            window.repaint()  # type: ignore[attr-defined]
        app.processEvents()
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=60)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        store, recorder, updates = record_session(Path(tmp))
        recorded_s = time.perf_counter() - started
        n_pleth = sum(1 for u in updates for r in u.readings if r.parameter.value == "pleth")
        history, tail = updates[: -args.ticks], updates[-args.ticks :]
        results = {}
        for label, preload in (("empty chart", []), ("90-min session", history)):
            window = LiveWindow(RecorderBridge(recorder), SignedInUser("BM", "nurse"), sound=False)
            window.resize(1600, 900)
            window.show()
            app.processEvents()
            load_ms = 0.0
            if preload:
                t = time.perf_counter()
                window.on_updates(preload)
                window.repaint()
                app.processEvents()
                load_ms = (time.perf_counter() - t) * 1000
            time_ticks(app, window, [[u] for u in tail[:WARM_UP]], full=False)  # caches, first layouts
            half = WARM_UP + (len(tail) - WARM_UP) // 2
            dirty = time_ticks(app, window, [[u] for u in tail[WARM_UP:half]], full=False)
            full = time_ticks(app, window, [[u] for u in tail[half:]], full=True)
            results[label] = (statistics.median(dirty), max(dirty), statistics.median(full), max(full), load_ms)
            window.force_close()
            window.deleteLater()
            app.processEvents()
        store.close()
    print(f"session: {len(updates)} updates, {n_pleth} pleth samples, recorded headless in {recorded_s:.1f} s")
    print("tick = one second of data (1 Hz numerics + 75 pleth samples) into the window, then painting")
    print(f"{'window':16} {'changed: median':>16} {'max':>6} {'whole window: median':>21} {'max':>6} {'load ms':>8}")
    for label, (median, worst, full_median, full_worst, load_ms) in results.items():
        print(f"{label:16} {median:13.1f} ms {worst:6.1f} {full_median:18.1f} ms {full_worst:6.1f} {load_ms:8.0f}")
    ratio = results["90-min session"][0] / results["empty chart"][0]
    print(f"ratio 90-min / empty (changed areas): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
