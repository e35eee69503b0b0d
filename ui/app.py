"""Starts the Qt application for ``infusion-monitor gui``: sign-in, unfinished sessions, then the live window."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from monitor.cli import (
    FEED_DRAIN_S,
    CliError,
    _open_store,
    _port_overrides,
    make_recorder,
    start_feed,
    start_server_link,
)
from monitor.store import Store, StoreError
from ui import theme
from ui.bridge import RecorderBridge
from ui.dialogs import SignedInUser, SignInDialog
from ui.live_window import LiveWindow
from ui.session_browser import UnfinishedSessionsDialog
from ui.settings_dialog import DeviceChoice


def sign_in_at_start(args: argparse.Namespace) -> SignedInUser | None:
    """The person starting the shift: ``--nurse`` when given, else asked; None when cancelled."""
    if args.nurse:
        return SignedInUser(args.nurse, "nurse")
    dialog = SignInDialog(None, title="Infusion Monitor — sign in")
    dialog.setStyleSheet(theme.STYLE_SHEET)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.user()


@dataclass
class LiveRun:
    """A live window recording one session, with what it needs to shut down cleanly."""

    window: LiveWindow
    bridge: RecorderBridge
    feed: Any
    server_link: Any = None

    def shutdown(self) -> None:
        """Stop recording (everything is flushed), stop the feed, let the window go."""
        if self.window.isVisible():
            self.window.force_close()  # stops the recorder; everything is flushed
        self.bridge.stop()
        if self.feed is not None:
            self.feed.stop(drain_s=FEED_DRAIN_S)
        if self.server_link is not None:
            self.server_link.stop(timeout=FEED_DRAIN_S)
        self.window.deleteLater()


def start_live(args: argparse.Namespace, user: SignedInUser, store: Store) -> LiveRun:
    """Build the recorder for a new or resumed (``args.resume``) session and show its live window."""
    recorder = make_recorder(args, store)
    feed = start_feed(args, store, recorder)
    server_link = start_server_link(args, store, recorder)
    device = DeviceChoice(
        driver=args.driver, port=args.port, port_overrides=_port_overrides(args), scenario=args.scenario,
        speed=args.speed, pleth=args.pleth,
    )
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, user, device=device)
    window.server_link = server_link
    if os.environ.get("INFUSION_MONITOR_REPORT_FIRST_PAINT"):
        window.installEventFilter(_FirstPaintReporter(window))
    window.show()
    bridge.start()
    if user.role != "nurse":
        window.set_user(user)  # the recorder knows the name; the role goes to the audit log
    return LiveRun(window, bridge, feed, server_link)


def offer_unfinished(db_path: Path, user: SignedInUser) -> str | None:
    """When sessions were left unfinished, ask: resume one (its id is returned), close them, or ignore."""
    with Store(db_path, readonly=True) as reader:
        if not reader.unfinished_sessions():
            return None
    dialog = UnfinishedSessionsDialog(db_path, user)
    code = dialog.exec()
    chosen = dialog.chosen if code == UnfinishedSessionsDialog.RESUME else None
    dialog.deleteLater()
    return chosen


def run_gui(args: argparse.Namespace) -> int:
    """Open the window on a new (or resumed) session; returns the process exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Infusion Monitor")
    user = sign_in_at_start(args)
    if user is None:
        return 0
    args.nurse = user.name
    store = _open_store(args)
    try:
        if not args.resume:
            args.resume = offer_unfinished(store.path, user)
        run = start_live(args, user, store)
    except (CliError, StoreError):
        store.close()
        raise
    window = run.window
    # Ctrl-C / SIGTERM close the window (and so the session) cleanly; the timer lets Python see signals.
    # The handler only schedules the close: it may run in the middle of a paint, where closing
    # the window at once would destroy the surface being painted.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, window.force_close))
    wake = QTimer()
    wake.start(250)
    wake.timeout.connect(lambda: None)
    try:
        code = app.exec()
    finally:
        wake.stop()
        run.shutdown()
        # Widgets must go before the QApplication does, or pyqtgraph can crash at exit; only the
        # deferred deletions are run here, so no repaint reaches a window whose handle is gone.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        store.close()
    return int(code)


def _process_age_s() -> float:
    """Seconds since this process started (Linux /proc; since interpreter start elsewhere)."""
    try:
        with open("/proc/self/stat") as handle:
            started_ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter()


class _FirstPaintReporter(QObject):
    """Prints ``first-paint <seconds since process start>`` once the window has painted (start-up benchmark)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            watched.removeEventFilter(self)
            # After the paint event has been handled, not before.
            QTimer.singleShot(0, lambda: print(f"first-paint {_process_age_s():.3f}", flush=True))
        return False
