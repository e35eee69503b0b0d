"""Starts the Qt application for ``infusion-monitor gui``: sign-in, unfinished sessions, then the live window."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from monitor.accounts import AuthError
from monitor.app import launch
from monitor.app.device import DeviceSpec, OpenedDevice
from monitor.app.errors import AppError
from monitor.app.services import Services, ServiceSpec, check_services, start_services
from monitor.app.sessions import OtherDeviceAtResume, SessionSpec, check_not_recorded_here, start_session
from monitor.app.stores import database_file, open_store
from monitor.store import Store, StoreError
from ui.account_dialogs import emergency_note, principal_of
from ui.account_dialogs import sign_in_at_start as sign_in_with_account
from ui.bridge import RecorderBridge
from ui.collector import gui_application
from ui.dialogs import SignedInUser
from ui.guard_link import GuardLink
from ui.live_window import LiveWindow
from ui.session_browser import UnfinishedSessionsDialog
from ui.start_errors import errors_in_a_window
from ui.terminal import apart_from_the_terminal, keep_running_without_terminal


def sign_in_at_start(args: argparse.Namespace) -> SignedInUser | None:
    """The person starting the shift, signed in to an account (the first run creates the first admin);
    None when cancelled. ``--user`` signs in without the dialog (secret from stdin or the environment)."""
    db_path = database_file(args.db)
    try:
        return sign_in_with_account(db_path, args, title="Infusion Monitor — sign in")
    except (AuthError, StoreError) as exc:
        raise AppError(str(exc)) from None


@dataclass
class LiveRun:
    """A live window recording one session, with what it needs to shut down cleanly."""

    window: LiveWindow
    bridge: RecorderBridge
    services: Services

    def shutdown(self) -> None:
        """Stop recording (everything is flushed), stop the feed and the server link, let the window go."""
        if self.window.isVisible():
            self.window.force_close()  # stops the recorder; everything is flushed
        self.window.stop_guard()
        self.bridge.stop()
        self.services.stop()
        self.window.deleteLater()


#: Said when Ctrl-Z reaches the window program from its terminal, and when that terminal is closed.
SUSPEND_REFUSED = ("Ctrl-Z in the terminal was ignored: monitoring cannot be paused from the keyboard (close the "
                   "window to end the session).")
HANGUP_SURVIVED = "The terminal that started the monitor was closed: monitoring goes on in this window."


def _warn_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def start_live(
    spec: SessionSpec, services: ServiceSpec, user: SignedInUser, store: Store, opened: OpenedDevice | None = None
) -> LiveRun:
    """Build the recorder for a new or resumed (``spec.resume``) session and show its live window.

    The window keeps the whole device spec, so a device changed from it keeps every option. ``opened``: a resumed
    session's device, opened already (see :func:`~monitor.app.sessions.start_session`); closed when refused.
    """
    try:
        check_services(services)  # a setting that cannot be used is refused before a session exists
    except AppError:
        if opened is not None:
            opened.source.close()
        raise
    recorder = start_session(spec, store, principal_of(user), _warn_stderr, opened)
    running = start_services(store, recorder, services)
    bridge = RecorderBridge(recorder)
    # A resumed session goes on with the device the resume chose (the one it was last recorded from).
    resumed_with = recorder.device_record if spec.resume else None
    device = spec.device if resumed_with is None else DeviceSpec.from_record(resumed_with)
    window = LiveWindow(bridge, user, device=device)
    window.server_link = running.server_link
    if os.environ.get("INFUSION_MONITOR_REPORT_FIRST_PAINT"):
        window.installEventFilter(_FirstPaintReporter(window))
    window.show()
    bridge.start()
    # A second process that alarms when this one stops answering or ends without saying goodbye.
    guard = GuardLink(chair=services.chair or "")
    if not guard.start():
        window.show_message(f"Screen guard: {guard.error} - a frozen screen would not raise an alarm.")
    window.set_guard(guard)
    if user.role != "nurse":
        window.set_user(user)  # the recorder knows the name; the role goes to the audit log
    note = emergency_note(user)
    if note is not None:
        # An emergency sign-in made before the session existed is flagged on its timeline too.
        window.send("note", text=note)
    return LiveRun(window, bridge, running)


def offer_unfinished(db_path: Path, user: SignedInUser) -> str | None:
    """When sessions were left unfinished, ask: resume one (its id is returned), close them, or ignore (the file
    was checked whole by the store just opened)."""
    with Store(db_path, readonly=True, check=False) as reader:
        if not reader.unfinished_sessions():
            return None
    dialog = UnfinishedSessionsDialog(db_path, user)
    code = dialog.exec()
    chosen = dialog.chosen if code == UnfinishedSessionsDialog.RESUME else None
    dialog.deleteLater()
    return chosen


def resume_device_choice(spec: SessionSpec, refused: OtherDeviceAtResume) -> SessionSpec | None:
    """Ask which device a resumed session continues with when the command line named another than the one it was
    last recorded from: that one (the default), the other (recorded as a device change), or neither (None)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Resume with which device?",
                      f"This session was last recorded from {refused.recorded.describe()}.\n\n"
                      f"The command line names {refused.given.describe()}. Readings from another device are "
                      "stored as this patient's.")
    recorded = box.addButton(f"Resume with {refused.recorded.driver}", QMessageBox.ButtonRole.AcceptRole)
    other = box.addButton(f"Change to {refused.given.driver}", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(recorded)
    box.exec()
    clicked = box.clickedButton()
    box.deleteLater()
    if clicked is recorded:
        return replace(spec, device_given=False)
    if clicked is other:
        return replace(spec, change_device=True)
    return None


def refuse_beside_a_recording(args: argparse.Namespace) -> None:
    """A second launch on a chair database another window records (the launcher double-clicked) is told so before
    anyone signs in (:func:`~monitor.app.sessions.check_not_recorded_here`); starting the session checks again."""
    db_path = database_file(args.db)
    if not db_path.exists():
        return
    try:
        reader = Store(db_path, readonly=True, check=False)
    except StoreError:
        return  # said by the sign-in, which opens it next
    with reader:
        check_not_recorded_here(reader, launch.session_spec(args))


@apart_from_the_terminal
@errors_in_a_window("gui")
def run_gui(args: argparse.Namespace) -> int:
    """Open the window on a new (or resumed) session; returns the process exit code."""
    app = gui_application("Infusion Monitor")
    refuse_beside_a_recording(args)
    user = sign_in_at_start(args)
    if user is None:
        return 0
    spec = replace(launch.session_spec(args), nurse=user.name)
    # Signing in opened the file and read it whole a moment ago (a damaged one is refused there): reading all of
    # it again would only delay the window (seconds on a year's database).
    store = open_store(args.db, check=False)
    try:
        if not spec.resume:
            spec = replace(spec, resume=offer_unfinished(store.path, user))
        try:
            run = start_live(spec, launch.service_spec(args), user, store)
        except OtherDeviceAtResume as exc:
            asked = resume_device_choice(spec, exc)
            if asked is None:
                store.close()
                return 0
            run = start_live(asked, launch.service_spec(args), user, store)
    except (AppError, StoreError):
        store.close()
        raise
    window = run.window
    # Ctrl-C / SIGTERM close the window (and so the session) cleanly; the timer lets Python see signals.
    # The handler only schedules the close: it may run in the middle of a paint, where closing
    # the window at once would destroy the surface being painted.
    try:
        keep_running_without_terminal(lambda: window.show_message(SUSPEND_REFUSED),
                                      lambda: window.show_message(HANGUP_SURVIVED))
        return run_until_quit(app, lambda: QTimer.singleShot(0, window.force_close), run.shutdown)
    finally:
        store.close()


def run_until_quit(app: QCoreApplication, on_signal: Callable[[], None], shutdown: Callable[[], None]) -> int:
    """Run the Qt event loop, ``on_signal`` on Ctrl-C / SIGTERM, and ``shutdown`` when it ends; the exit code."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: on_signal())
    wake = QTimer()
    wake.start(250)
    wake.timeout.connect(lambda: None)  # lets Python see signals while Qt runs
    try:
        code = app.exec()
    finally:
        wake.stop()
        shutdown()
        # Widgets must go before the QApplication does, or pyqtgraph can crash at exit; only the
        # deferred deletions are run here, so no repaint reaches a window whose handle is gone.
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
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
