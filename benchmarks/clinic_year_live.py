"""The live window recording in real time on a large database: how long its thread stands still.

A live window (simulated monitor with pleth, alarm engine) records on the given database for
``--seconds``; a 10 ms timer on the window's thread notes every gap between its turns. Halfway, the
nurse identifies the patient (the window reads the patient back) and opens the alarm log, as at any
chair. Printed: the longest gaps, the window's process memory at the start and the end, and whether the
recorder raised "screen not responding".

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.clinic_year_live DB [--seconds 40]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import rss_bytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", type=Path)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    measure(args.db, args.seconds)


def measure(db: Path, seconds: float) -> dict[str, float]:
    """Record ``seconds`` in the live window on ``db``; prints and returns the longest stall of the window's thread
    (s), its memory at the start and the end (MiB) and the screen-not-responding events on the timeline."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from drivers.simulated.driver import SimulatedSource
    from monitor.alarms.engine import AlarmEngine
    from monitor.app.device import DeviceSpec
    from monitor.plan import SessionPlan
    from monitor.protocols import load_protocol
    from monitor.recorder import Recorder
    from monitor.store import Store
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    started = time.perf_counter()
    store = Store(db)
    opened = time.perf_counter() - started
    source = SimulatedSource(scenario="normal", seed=3, speed=1.0, pleth=True)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(5, 55, 30),
                                    nurse="RN", alarms=AlarmEngine(), protocol=load_protocol(None))
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, SignedInUser("RN", "nurse"), device=DeviceSpec(driver="simulated", pleth=True))
    window.resize(1600, 900)
    window.show()
    bridge.start()
    print(f"store open {opened:.2f} s; session started and window shown {time.perf_counter() - started:.2f} s")
    gaps: list[tuple[float, float]] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0], now - started))
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(beat)
    timer.start(10)
    rss_start = rss_bytes()
    acted = False
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.002)
        if not acted and time.perf_counter() > end - seconds / 2:
            acted = True
            t = time.perf_counter()
            window.show_alarm_log().close()
            print(f"alarm log opened {time.perf_counter() - t:.2f} s (on the window's thread)")
            t = time.perf_counter()
            browser = window.open_sessions()
            opened_browser = time.perf_counter() - t
            t = time.perf_counter()
            browser.refresh_button.click()  # type: ignore[union-attr]
            print(f"Sessions… opened {opened_browser:.2f} s, its Refresh {time.perf_counter() - t:.2f} s "
                  "(on the window's thread)")
    timer.stop()
    worst = sorted(gaps, reverse=True)[:3]
    with Store(db, readonly=True, check=False) as reader:
        frozen = [e for e in reader.events(recorder.session.id)
                  if "screen_not_responding" in str(e.detail)]
    print(f"longest gaps between the window's turns: {', '.join(f'{g:.2f} s at {at:.0f} s' for g, at in worst)}")
    print(f"window process RSS {rss_start / 2**20:.0f} MiB at the start, {rss_bytes() / 2**20:.0f} MiB at the end")
    print(f"screen-not-responding events on the timeline: {len(frozen)}")
    rss_end = rss_bytes()
    window.force_close()
    store.close()
    return {"longest stall": worst[0][0] if worst else 0.0, "rss start MiB": rss_start / 2**20,
            "rss end MiB": rss_end / 2**20, "not responding": float(len(frozen))}


if __name__ == "__main__":
    main()
