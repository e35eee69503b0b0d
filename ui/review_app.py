"""Starts the Qt application for ``infusion-monitor review``: the session browser, or one session in review.

A session resumed from the browser is recorded in this same process, in a live window, exactly
as ``infusion-monitor gui --resume`` would record it (the device it was last recorded from, every option kept).
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from monitor.accounts import AuthError
from monitor.app.device import OpenedDevice, close_unused, open_device_apart
from monitor.app.errors import AppError
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec, refusal_named, resume_opening
from monitor.app.stores import RecordSource, record_source
from monitor.session import SessionRuleError
from monitor.store import SessionNotFound, Store, StoreError
from ui.account_dialogs import sign_in_at_start
from ui.app import SUSPEND_REFUSED, LiveRun, run_until_quit, start_live
from ui.collector import gui_application
from ui.dialogs import SignedInUser
from ui.review_window import ReviewWindow
from ui.session_browser import SessionBrowser
from ui.start_errors import errors_in_a_window
from ui.terminal import apart_from_the_terminal, keep_running_without_terminal


def resume_spec(row: dict[str, object], user: SignedInUser) -> SessionSpec:
    """The spec that continues a stored session with the device it was last recorded from, with every option it
    had (the resume finds it in the record)."""
    return SessionSpec(resume=str(row["id"]), nurse=user.name, device_given=False)


@dataclass(frozen=True, slots=True)
class _Resuming:
    """A session being resumed whose device is opening: the store it will be recorded in meanwhile held open."""

    session_id: str
    spec: SessionSpec
    store: Store
    device: Future[OpenedDevice]


class ReviewApp(QObject):
    """The windows of one ``review`` run: the browser, review windows, and live windows of resumed sessions."""

    #: A resume's device answered (emitted from the thread that opened it).
    _answered = Signal(object)

    def __init__(self, source: RecordSource | str | Path, user: SignedInUser) -> None:
        super().__init__()
        self.source = RecordSource.of(source)
        self.user = user
        self.browser: SessionBrowser | None = None
        self.reviews: list[ReviewWindow] = []
        self.live: list[tuple[LiveRun, Store]] = []
        #: Sessions whose device is opening to resume them.
        self.resuming: dict[str, _Resuming] = {}
        self._answered.connect(self._device_answered, Qt.ConnectionType.QueuedConnection)

    def open_browser(self) -> SessionBrowser:
        """Show the session browser (one per run)."""
        if self.browser is None:
            self.browser = SessionBrowser(self.source, self.user, open_review=self.open_review)
            self.browser.resume_requested.connect(self.resume)
        self.browser.refresh()
        self.browser.show()
        self.browser.raise_()
        self.browser.activateWindow()
        return self.browser

    def open_review(self, session_id: str) -> QWidget | None:
        """A review window on one session."""
        window = ReviewWindow(self.source, session_id, self.user, on_sessions=self.open_browser)
        if self.browser is not None:
            window.sessions_changed.connect(self.browser.refresh)
        self.reviews = [w for w in self.reviews if w.isVisible()]
        self.reviews.append(window)
        window.show()
        return window

    def resume(self, session_id: str) -> None:
        """Continue an unfinished session in a live window, as ``--resume`` does.

        Its device is opened apart from this thread (it may take seconds to answer, or not answer at all), which
        the live windows of sessions resumed earlier share: they go on drawing and sounding meanwhile. The session
        and its window are built once the device has opened (:meth:`_device_answered`)."""
        if session_id in self.resuming:
            return
        store: Store | None = None
        try:
            store = self.source.open_for_writing("Resuming a session")
            spec = resume_spec(store.session_row(session_id), self.user)
            opening = resume_opening(spec, store)
        except (AppError, StoreError, SessionRuleError, OSError, ValueError) as exc:
            if store is not None:
                store.close()
            self._say_refused(session_id, exc)
            return
        pending = _Resuming(session_id, spec, store, open_device_apart(opening.device, opening.start_time))
        self.resuming[session_id] = pending
        if self.browser is not None:
            self.browser.resume_opening(
                session_id, f"Opening {opening.device.describe()} for session {opening.session_id[:8]}…")
        # Queued: the window is built on this thread, at its next turn, whichever thread the device answered on.
        pending.device.add_done_callback(lambda _done: self._answered.emit(pending))

    def _device_answered(self, pending: _Resuming) -> None:
        """The device of a session being resumed opened (its session and live window are built now), or was
        refused (said in the browser, nothing kept)."""
        if self.resuming.get(pending.session_id) is not pending:
            return  # shut down meanwhile: the device is let go (see shutdown)
        del self.resuming[pending.session_id]
        store, error = pending.store, pending.device.exception()
        try:
            if error is not None:
                raise refusal_named(error, store)
            run = start_live(pending.spec, ServiceSpec(), self.user, store, opened=pending.device.result())
        except BaseException as exc:  # a driver's own bug too: said, not left waiting
            store.close()
            self._say_refused(pending.session_id, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.live.append((run, store))
        if self.browser is not None:
            self.browser.resume_settled(pending.session_id)

    def _say_refused(self, session_id: str, why: BaseException) -> None:
        said = f"The session cannot be resumed: {why}"
        if self.browser is None:
            return
        if session_id in self.browser.opening:
            self.browser.resume_settled(session_id, said)
        else:
            self.browser.show_message(said)

    def shutdown(self) -> None:
        """Stop any recording started here and close every window; a device still opening for a resume is let go
        as soon as it has opened (nobody will read it)."""
        for pending in self.resuming.values():
            pending.device.add_done_callback(close_unused)
            pending.store.close()
        self.resuming = {}
        for run, store in self.live:
            run.shutdown()
            store.close()
        self.live = []
        for window in self.reviews:
            window.close()
            window.deleteLater()
        self.reviews = []
        if self.browser is not None:
            self.browser.close()
            self.browser.deleteLater()
            self.browser = None


def reviewer(args: argparse.Namespace, source: RecordSource) -> SignedInUser | None:
    """Who reviews, signed in to an account of this computer (``--user`` with its secret, else asked);
    None when cancelled."""
    try:
        return sign_in_at_start(source.db, args, title="Infusion Monitor review — sign in")
    except (AuthError, StoreError) as exc:
        raise AppError(str(exc)) from None


@apart_from_the_terminal
@errors_in_a_window("review")
def run_review(args: argparse.Namespace) -> int:
    """Open the browser, or the named session in review; returns the process exit code."""
    app = gui_application("Infusion Monitor")
    source = record_source(args.db, getattr(args, "server", None))
    user = reviewer(args, source)
    if user is None:
        return 0
    controller = ReviewApp(source, user)
    try:
        if args.session:
            controller.open_review(args.session)
        else:
            controller.open_browser()
    except (SessionNotFound, StoreError) as exc:
        controller.shutdown()
        raise AppError(str(exc)) from None

    def stop() -> None:
        QTimer.singleShot(0, lambda: (controller.shutdown(), app.quit()))

    # A session resumed from here records as the live window does: the terminal can neither pause nor end it.
    keep_running_without_terminal(lambda: print(SUSPEND_REFUSED, file=sys.stderr), lambda: None)
    return run_until_quit(app, stop, controller.shutdown)
