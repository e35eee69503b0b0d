"""Starts the Qt application for ``infusion-monitor review``: the session browser, or one session in review.

A session resumed from the browser is recorded in this same process, in a live window, exactly
as ``infusion-monitor gui --resume`` would record it (the device it was last recorded from, every option kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QWidget

from monitor.accounts import AuthError
from monitor.app.errors import AppError
from monitor.app.services import ServiceSpec
from monitor.app.sessions import SessionSpec
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
from ui.terminal import keep_running_without_terminal


def resume_spec(row: dict[str, object], user: SignedInUser) -> SessionSpec:
    """The spec that continues a stored session with the device it was last recorded from, with every option it
    had (the resume finds it in the record)."""
    return SessionSpec(resume=str(row["id"]), nurse=user.name, device_given=False)


class ReviewApp(QObject):
    """The windows of one ``review`` run: the browser, review windows, and live windows of resumed sessions."""

    def __init__(self, source: RecordSource | str | Path, user: SignedInUser) -> None:
        super().__init__()
        self.source = RecordSource.of(source)
        self.user = user
        self.browser: SessionBrowser | None = None
        self.reviews: list[ReviewWindow] = []
        self.live: list[tuple[LiveRun, Store]] = []

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
        """Continue an unfinished session in a live window, as ``--resume`` does."""
        store: Store | None = None
        try:
            store = self.source.open_for_writing("Resuming a session")
            run = start_live(resume_spec(store.session_row(session_id), self.user), ServiceSpec(), self.user, store)
        except (AppError, StoreError, SessionRuleError, OSError, ValueError) as exc:
            if store is not None:
                store.close()
            if self.browser is not None:
                self.browser.show_message(f"The session cannot be resumed: {exc}")
            return
        self.live.append((run, store))
        if self.browser is not None:
            self.browser.refresh()

    def shutdown(self) -> None:
        """Stop any recording started here and close every window."""
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
