"""Starts the Qt application for ``infusion-monitor gui``."""

from __future__ import annotations

import argparse
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from monitor.cli import FEED_DRAIN_S, CliError, _open_store, make_recorder, start_feed
from ui.bridge import RecorderBridge
from ui.live_window import LiveWindow


def run_gui(args: argparse.Namespace) -> int:
    """Open the window on a new (or resumed) session; returns the process exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Infusion Monitor")
    store = _open_store(args)
    try:
        recorder = make_recorder(args, store)
    except CliError:
        store.close()
        raise
    try:
        feed = start_feed(args, store, recorder)
    except CliError:
        store.close()
        raise
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge)
    window.show()
    bridge.start()
    # Ctrl-C / SIGTERM close the window (and so the session) cleanly; the timer lets Python see signals.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: window.close())
    wake = QTimer()
    wake.start(250)
    wake.timeout.connect(lambda: None)
    try:
        code = app.exec()
    finally:
        # Widgets must go before the QApplication does, or pyqtgraph can crash at exit.
        bridge.stop()
        if feed is not None:
            feed.stop(drain_s=FEED_DRAIN_S)
        window.close()
        window.deleteLater()
        del window
        store.close()
    return int(code)
