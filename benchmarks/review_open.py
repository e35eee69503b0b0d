"""Time to open a recorded 90-minute session (with the 75 Hz pleth) in the review window.

Records the session headless (hypertension scenario, alarm engine, a nurse's notes, scores,
acknowledgment and discharge scoring), then opens it in the review window again and again:
each run is the window's construction (reading the session, the review queries, the tables
and the chart) plus showing it until the chart has painted once. The median of the runs after
one warm-up is the figure; the target is 300 ms.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/review_open.py [--runs 9]

With ``--screenshot FILE`` (run under Xvfb) it instead adds an addendum, selects the most urgent
alarm, returns to the whole session and saves a picture of the window, as in the README:

    xvfb-run -a -s "-screen 0 1600x900x24" \
        .venv/bin/python benchmarks/review_open.py --screenshot docs/screenshot-review.png
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QEvent, QObject  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from benchmarks.common import dispose  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.ui.review_sessions import record  # noqa: E402
from ui.dialogs import SignedInUser  # noqa: E402
from ui.review_window import ReviewWindow  # noqa: E402

PLAN = "baseline:5,infusion:45,recovery:40"
TARGET_MS = 300.0
REVIEWER = SignedInUser("Dr Mensah", "physician")


class FirstPaint(QObject):
    """Notes the first paint of a widget."""

    def __init__(self) -> None:
        super().__init__()
        self.painted = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.painted = True
        return False


def open_once(app: QApplication, path: Path, session_id: str) -> tuple[ReviewWindow, float, float]:
    """A new review window, shown until its chart has painted: (window, total ms, data-and-build ms)."""
    start = time.perf_counter()
    window = ReviewWindow(path, session_id, REVIEWER)
    painted = FirstPaint()
    window.chart.graphics.viewport().installEventFilter(painted)
    window.show()
    while not painted.painted:
        app.processEvents()
    total = (time.perf_counter() - start) * 1000.0
    window.chart.graphics.viewport().removeEventFilter(painted)
    return window, total, float(window.load_ms or 0.0)


def screenshot(app: QApplication, path: Path, session_id: str, out: Path) -> None:
    """The window as a physician finds it after writing an addendum about the worst alarm."""
    window = ReviewWindow(path, session_id, REVIEWER)
    window.resize(1600, 900)
    window.show()
    app.processEvents()
    alarms = window._alarm_rows
    worst = max(range(len(alarms)), key=lambda i: alarms[i].priority)  # Priority ranks LOW < MEDIUM < HIGH
    window.select_alarm(worst)
    window.write_addendum("Reviewed with the infusion record: BP peak expected with ketamine, settled without "
                          "treatment; no change to the plan.", refers_to_at=alarms[worst].started_at)
    window.select_alarm(worst)
    window.show_whole_session()  # the overview a physician opens on, the chosen alarm still marked
    QTest.qWait(1000)  # let the X server draw everything before the picture is taken
    window.grab().save(str(out))
    window.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--screenshot", type=Path)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "review.db"
        started = time.perf_counter()
        session_id = record(path, mrn="MRN-448812", scenario="hypertension", plan=PLAN, pleth=True, charted=True)
        with Store(path, readonly=True) as store:
            readings = store.reading_count(session_id)
            pleth = sum(n for (n,) in store.db.execute("SELECT n FROM waveforms WHERE session_id = ?", [session_id]))
        print(f"recorded {PLAN} ({readings} readings, {pleth} pleth samples) in {time.perf_counter() - started:.1f} s")
        if args.screenshot is not None:
            screenshot(app, path, session_id, args.screenshot)
            print(f"saved {args.screenshot}")
            return 0
        totals, loads = [], []
        for run in range(args.runs + 1):
            window, total, load = open_once(app, path, session_id)
            dispose(window)
            if run:  # the first run pays for imports and caches
                totals.append(total)
                loads.append(load)
            print(f"run {run}: open + first paint {total:.0f} ms (of which data load and build {load:.0f} ms)")
        median = statistics.median(totals)
        verdict = "met" if median <= TARGET_MS else "MISSED"
        print(f"median of {args.runs}: open + first paint {median:.0f} ms, data load and build "
              f"{statistics.median(loads):.0f} ms; target {TARGET_MS:g} ms: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
