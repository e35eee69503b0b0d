"""Starts the Qt application for ``infusion-monitor gui``: sign-in, then the live window."""

from __future__ import annotations

import argparse
import signal
import sys

from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from monitor.cli import FEED_DRAIN_S, CliError, _open_store, _port_overrides, make_recorder, start_feed
from ui import theme
from ui.bridge import RecorderBridge
from ui.dialogs import SignedInUser, SignInDialog
from ui.live_window import LiveWindow
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
        recorder = make_recorder(args, store)
    except CliError:
        store.close()
        raise
    try:
        feed = start_feed(args, store, recorder)
    except CliError:
        store.close()
        raise
    device = DeviceChoice(
        driver=args.driver, port=args.port, port_overrides=_port_overrides(args), scenario=args.scenario,
        speed=args.speed, pleth=args.pleth,
    )
    bridge = RecorderBridge(recorder)
    window = LiveWindow(bridge, user, device=device)
    window.show()
    bridge.start()
    if user.role != "nurse":
        window.set_user(user)  # the recorder knows the name; the role goes to the audit log
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
        if window.isVisible():
            window.force_close()  # stops the recorder; everything is flushed
        bridge.stop()
        if feed is not None:
            feed.stop(drain_s=FEED_DRAIN_S)
        # Widgets must go before the QApplication does, or pyqtgraph can crash at exit; only the
        # deferred deletions are run here, so no repaint reaches a window whose handle is gone.
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        store.close()
    return int(code)
