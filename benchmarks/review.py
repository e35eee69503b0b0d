"""Opening a recorded 90-minute session (with pleth) for review, and exporting it in every format.

With a review window (``ui.review_window.ReviewWindow``) the figure is from creating the window
on the stored session to its first complete paint at 1600x980. Without one, it is the work a
review needs without drawing it:
the session record (readings, events, alarms), the whole pleth waveform, and the review
queries of :mod:`monitor.review` where they exist (phase statistics, baseline against the end
of recovery, return to baseline, the cuff table). Each export is timed from the
stored session to the finished document in memory (load + write), as ``infusion-monitor export``
does it.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Result, dispose, median, record_full_session, time_it

REVIEW_TARGET_S = 0.3
EXPORT_TARGET_S = {"pdf": 3.0}
EXPORT_DEFAULT_TARGET_S = 1.0


REVIEW_QUERIES = ("phase_statistics", "baseline_vs_end_of_recovery", "return_to_baseline", "nibp_table")


def _review_queries() -> list[Any]:
    try:
        import monitor.review as review
    except ImportError:
        return []
    return [getattr(review, name) for name in REVIEW_QUERIES if hasattr(review, name)]


def _review_load(store: Any, session_id: str) -> None:
    from monitor.exports.data import load

    record = load(store, session_id)
    store.waveform(session_id)
    for query in _review_queries():
        query(record)


def _export(store: Any, session_id: str, fmt: str) -> int:
    from monitor.exports import writer
    from monitor.exports.data import load

    write, binary = writer(fmt)
    stream: io.BytesIO | io.StringIO = io.BytesIO() if binary else io.StringIO()
    write(load(store, session_id), stream)
    return len(stream.getvalue())


def _review_window_open(path: Path, session_id: str) -> float | None:
    """Seconds from creating the review window to its first full paint (None: no review window)."""
    try:
        from PySide6.QtWidgets import QApplication

        from ui.dialogs import SignedInUser
        from ui.review_window import ReviewWindow
    except ImportError:
        return None
    from PySide6.QtCore import qInstallMessageHandler

    from benchmarks.live_view import _quiet_qt

    qInstallMessageHandler(_quiet_qt)
    app = QApplication.instance() or QApplication([])
    start = time.perf_counter()
    window = ReviewWindow(path, session_id, SignedInUser("Dr R", "physician"))
    window.show()
    app.processEvents()
    window.repaint()
    elapsed = time.perf_counter() - start
    dispose(window)
    return elapsed


def run(repeat: int) -> list[Result]:
    """Review data load and each export format, median of ``repeat`` runs after one warm-up."""
    from monitor.exports import FORMATS
    from monitor.store import Store

    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "review.db"
        session_id, _, _ = record_full_session(path, pleth=True)
        store = Store(path, readonly=True)
        try:
            first = _review_window_open(path, session_id)
            if first is not None:
                times = [_review_window_open(path, session_id) or 0.0 for _ in range(repeat)]
                value = median(times)
                results.append(Result(
                    "review: open 90-min session (window painted)", value * 1000, "ms",
                    f"<= {REVIEW_TARGET_S * 1000:g} ms", value <= REVIEW_TARGET_S,
                    f"ReviewWindow at 1600x980: load + tables + chart with pleth; first open {first * 1000:.0f} ms",
                    [t * 1000 for t in times]))
            _review_load(store, session_id)
            times = [time_it(lambda: _review_load(store, session_id)) for _ in range(repeat)]
            value = median(times)
            results.append(Result(
                "review: session data load only", value * 1000, "ms", f"<= {REVIEW_TARGET_S * 1000:g} ms",
                value <= REVIEW_TARGET_S,
                "session record + whole pleth waveform"
                + (f" + {len(_review_queries())} review queries" if _review_queries() else ""),
                [t * 1000 for t in times]))
            for fmt in FORMATS:
                size = _export(store, session_id, fmt)
                times = [time_it(lambda fmt=fmt: _export(store, session_id, fmt)) for _ in range(repeat)]
                value = median(times)
                target = EXPORT_TARGET_S.get(fmt, EXPORT_DEFAULT_TARGET_S)
                results.append(Result(f"export {fmt} (90-min session)", value * 1000, "ms",
                                      f"<= {target * 1000:g} ms", value <= target, f"{size / 1e3:,.0f} kB",
                                      [t * 1000 for t in times]))
            for fmt in ("csv", "json", "hl7", "fhir", "pdf"):
                if fmt not in FORMATS:
                    target = EXPORT_TARGET_S.get(fmt, EXPORT_DEFAULT_TARGET_S)
                    results.append(Result(f"export {fmt} (90-min session)", None, "", f"<= {target * 1000:g} ms",
                                          None, "format not in monitor.exports.FORMATS yet"))
        finally:
            store.close()
    return results
