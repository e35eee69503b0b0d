"""The session browser: find recorded sessions, open one in review, resume or close an unfinished one.

Sessions are found by start date, by part of the patient's MRN and by the most urgent alarm they
had (:meth:`monitor.store.Store.find_sessions`: narrowed in the database's query), the newest
:data:`PAGE` first, with **Show more** for the next ones. A session whose recording process died without
closing it is listed as UNFINISHED on an amber row; it can be resumed (the live window continues
it, as ``--resume`` does) or closed (as ``infusion-monitor close`` does, with the same audit
entry). One whose last rows wait in a recovery file (the database refused them) has them written
in first (as ``infusion-monitor write-held`` does). The browser reads through a read-only
connection of its own, so it can stay open beside a running recording; it writes only to close a
session or to put its waiting rows in.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QDate, QDateTime, Qt, QTime, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QFont, QKeyEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from monitor import sign_off
from monitor.alarms.model import Priority
from monitor.app.errors import AppError
from monitor.app.services import send_close_to_server, send_held_to_server
from monitor.app.sessions import (
    WaitingRowsWritten,
    check_resumable,
    close_unfinished,
    rows_waiting,
    write_waiting_rows,
)
from monitor.app.stores import RecordSource
from monitor.review import SessionFound, sessions_page, with_alarm_counts
from monitor.session import length_text
from monitor.session_list import listing_entry, search_described
from monitor.store import SessionSearch, StoreError
from ui import theme
from ui.alarm_echo import AlarmFeed, add_alarm_echo
from ui.dialogs import ConfirmDialog, SignedInUser
from ui.plain_text import make_plain
from ui.review_window import ReviewWindow
from ui.session_text import local_time, phases_text

log = logging.getLogger(__name__)

#: Sessions listed at first, and added by each **Show more**: a clinic's year (12,000) listed whole took seconds to
#: open and held the window for up to 1.5 s at each keystroke of the MRN filter.
PAGE = 200
COLUMNS = ("Start", "Patient (MRN)", "Length", "Phases reached", "Status", "Signed off", "High", "Medium", "Low")
#: The highest-alarm filter: text shown -> (priority wanted, or None for "no alarm at all").
ALARM_FILTERS: tuple[tuple[str, Priority | str | None], ...] = (
    ("any", "any"),
    ("*** high", Priority.HIGH),
    ("** medium", Priority.MEDIUM),
    ("* low", Priority.LOW),
    ("no alarms", None),
)
PRIORITY_COLUMNS = (Priority.HIGH, Priority.MEDIUM, Priority.LOW)
FIRST_COUNT_COLUMN = COLUMNS.index("High")
UNFINISHED_BACKGROUND = "#4a3a00"
STATUS_TEXT = {
    "unfinished": "UNFINISHED — resume or close",
    "recording": "recording now",
    "complete": "complete",
    "closed": "closed before completion",
}
#: Why resuming and closing are not offered on sessions read from the clinic's server.
READ_ONLY_NOTE = ("Read from the clinic's server (read-only): resume or close a session at the chair that "
                  "recorded it.")
#: A closed session whose recording process died and that was closed afterwards (not from its window).
CRASH_CLOSED_TEXT = "closed after a crash"
#: An unfinished session whose last rows wait in a recovery file (the database refused them).
WAITING_TEXT = "UNFINISHED — write its waiting rows"
WAITING_TIP = ("The database refused this session's last rows; they wait in a recovery file. Write them into the "
               "record first ('Write waiting rows'); then the session can be resumed or closed.")


def _item(text: str, *, align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class SessionTable(QTableWidget):
    """Sessions one per row, unfinished ones marked; Enter opens the selected one."""

    activated_row = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.found: list[SessionFound] = []
        self.setHorizontalHeaderLabels(list(COLUMNS))
        theme.read_only_rows(self)
        self.setAlternatingRowColors(False)
        self._fit_columns_to_contents(True)
        self.cellDoubleClicked.connect(lambda row, _col: self.activated_row.emit(row))

    def show_sessions(self, found: Sequence[SessionFound], crashed: frozenset[str] = frozenset(),
                      waiting: frozenset[str] = frozenset()) -> None:
        """Fill the table; the previous selection is kept when its session is still listed.

        ``crashed``: ids of sessions closed after their recording process died (told apart from a session
        ended deliberately in its window); ``waiting``: unfinished sessions whose last rows wait in a recovery file.
        """
        selected = self.selected()
        self.found = list(found)
        # Columns sized to their contents measure every row again at each item set: filling n rows then costs
        # n² (seconds for a few hundred sessions). They are fitted once, after the table is filled.
        self._fit_columns_to_contents(False)
        try:
            self._fill(crashed, waiting)
        finally:
            self._fit_columns_to_contents(True)
        if selected is not None:
            self.select(selected.summary.id)
        if self.currentRow() < 0 and self.found:
            self.selectRow(0)

    def _fit_columns_to_contents(self, fit: bool) -> None:
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents if fit else QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch if fit else QHeaderView.ResizeMode.Fixed)

    def _fill(self, crashed: frozenset[str], waiting: frozenset[str]) -> None:
        self.setRowCount(len(self.found))
        bold = QFont()
        bold.setBold(True)
        for row, entry in enumerate(self.found):
            s = entry.summary
            counts = entry.alarm_counts
            values = [
                _item(local_time(s.started_at)),
                _item(s.patient or "—"),
                _item(length_text(s.length_s), align_right=True),
                _item(phases_text(s.phases_reached)),
                _item(_status_text(s.status, s.id, crashed, waiting)),
                _sign_off_item(entry),
                *(_item(str(counts.get(p, 0)), align_right=True) for p in PRIORITY_COLUMNS),
            ]
            for col, item in enumerate(values):
                item.setData(Qt.ItemDataRole.UserRole, s.id)
                if s.status == "unfinished":
                    item.setBackground(QBrush(QColor(UNFINISHED_BACKGROUND)))
                    item.setForeground(QBrush(QColor(theme.WARNING_TEXT)))
                    item.setFont(bold)
                    item.setToolTip(WAITING_TIP if s.id in waiting else
                                    "The recording stopped without closing the session (the program or computer "
                                    "stopped). Resume it to continue, or close it to keep it as it is.")
                elif col >= FIRST_COUNT_COLUMN and counts.get(PRIORITY_COLUMNS[col - FIRST_COUNT_COLUMN], 0):
                    colour = theme.ALARM_COLOURS[PRIORITY_COLUMNS[col - FIRST_COUNT_COLUMN]]
                    item.setForeground(QBrush(QColor(colour)))
                self.setItem(row, col, item)

    def select(self, session_id: str) -> bool:
        """Select the row of a session; False when it is not listed."""
        for row, entry in enumerate(self.found):
            if entry.summary.id == session_id:
                self.selectRow(row)
                return True
        return False

    def selected(self) -> SessionFound | None:
        """The session of the selected row."""
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        if not rows:
            return None
        row = rows[0].row()
        return self.found[row] if 0 <= row < len(self.found) else None

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter or Return opens the selected session."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentRow() >= 0:
            self.activated_row.emit(self.currentRow())
            return
        super().keyPressEvent(event)


def _sign_off_item(entry: SessionFound) -> QTableWidgetItem:
    """Who signed the session off ("awaiting" while a finished one waits for a physician), the comments on hover."""
    item = _item(sign_off.status_text(entry.summary.status, entry.sign_offs) or "—")
    if entry.awaiting_sign_off:
        item.setForeground(QBrush(QColor(theme.WARNING_TEXT)))
    if entry.sign_offs:
        item.setToolTip("\n".join(f"{s.signer} at {local_time(s.t)}" + (f": {s.comment}" if s.comment else "")
                                  for s in entry.sign_offs))
    return item


def _status_text(status: str, session_id: str, crashed: frozenset[str], waiting: frozenset[str]) -> str:
    if status == "closed" and session_id in crashed:
        return CRASH_CLOSED_TEXT
    if status == "unfinished" and session_id in waiting:
        return WAITING_TEXT
    return STATUS_TEXT.get(status, status)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _tell_server(name: str, send: Callable[[], str | None], answered: Callable[[str], None]) -> threading.Thread:
    """Run ``send`` (a word to the clinic's server) on a thread of its own, which is returned: the network never
    holds up a window. ``answered`` gets its one-line answer, if any."""

    def run() -> None:
        said = send()
        if said is not None:
            answered(said)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def close_and_tell_server(source: RecordSource, session_id: str, user: str,
                          answered: Callable[[str], None]) -> threading.Thread:
    """Close an unfinished session here (audited under ``user``; raises AppError or StoreError when it cannot),
    then tell the clinic's server, when there is one, on a thread of its own, which is returned: the nurse
    station would otherwise go on showing the session. ``answered`` gets the server's one-line answer."""
    with source.open_for_writing("Closing a session") as store:
        close_unfinished(store, session_id, user)
        recording = any(summary.status == "recording" for summary in store.sessions())
        path = store.path
    return _tell_server("close-to-server",
                        lambda: send_close_to_server(path, session_id, still_recording=recording), answered)


def write_and_tell_server(source: RecordSource, session_id: str, user: str,
                          answered: Callable[[str], None]) -> tuple[WaitingRowsWritten, threading.Thread]:
    """Write the rows ``session_id`` left in its recovery files into the record (audited under ``user``; AppError
    when they cannot be), then send them to the clinic's server, when there is one, on a thread of its own (which
    also takes the nurse station's word of them off). What was written, and the thread."""
    if source.from_server:
        raise AppError(READ_ONLY_NOTE)
    done = write_waiting_rows(source.db, session_id, user)
    return done, _tell_server("held-to-server", lambda: send_held_to_server(source.db, session_id, None), answered)


class SessionBrowser(QWidget):
    """Find sessions and open, resume or close them."""

    #: Asks the application to continue an unfinished session in the live window.
    resume_requested = Signal(str)
    #: A session was closed from the browser (its id).
    session_closed = Signal(str)
    #: What the clinic's server said to a close sent to it (from the thread that sent it).
    _server_answered = Signal(str)

    def __init__(
        self,
        source: RecordSource | str | Path,
        user: SignedInUser,
        parent: QWidget | None = None,
        *,
        can_resume: bool = True,
        resume_note: str = "",
        open_review: Callable[[str], QWidget | None] | None = None,
        alarm_feed: AlarmFeed | None = None,
    ) -> None:
        super().__init__(parent)
        self.source = RecordSource.of(source)
        self.db_path = self.source.db
        self.user = user
        # Sessions on the clinic's server are read-only here: they are resumed or closed at their chair.
        self.can_resume = can_resume and not self.source.from_server
        self.resume_note = READ_ONLY_NOTE if self.source.from_server else resume_note
        self._open_review = open_review
        #: The chair's alarms, when opened from its live window: passed on to every window opened from here.
        self.alarm_feed = alarm_feed
        self.reviews: list[QWidget] = []
        #: Sessions this window has listed (and recorded as listed, under the signed-in user).
        self._listed: set[str] = set()
        self.dialog: QDialog | None = None
        self.messages: list[str] = []
        self.server_thread: threading.Thread | None = None
        #: Sessions whose device is being opened to resume them (neither resumed nor closed again meanwhile), with
        #: what the browser says of it.
        self.opening: dict[str, str] = {}
        self._server_answered.connect(self.show_message)
        self.setWindowTitle("Infusion Monitor — sessions" + (" of every chair" if self.source.from_server else ""))
        self.setStyleSheet(theme.STYLE_SHEET)
        theme.fit_to_screen(self, 1250, 640)

        root = QVBoxLayout(self)
        self.alarm_echo = add_alarm_echo(alarm_feed, self, root)
        filters = QHBoxLayout()
        self.date_filter = QCheckBox("Started between")
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addDays(-30))
        self.date_to = QDateEdit(today)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
            edit.dateChanged.connect(self._filters_changed)
        self.date_filter.toggled.connect(self._date_filter_toggled)
        self.date_from.setAccessibleName("Started on or after")
        self.date_to.setAccessibleName("Started on or before")
        self.mrn_edit = QLineEdit()
        self.mrn_edit.setAccessibleName("Patient MRN, or part of it")
        self.mrn_edit.setPlaceholderText("part of the MRN")
        self.mrn_edit.setClearButtonEnabled(True)
        self.mrn_edit.textChanged.connect(self._filters_changed)
        self.alarm_box = QComboBox()
        self.alarm_box.setAccessibleName("Alarms in the session")
        for text, _value in ALARM_FILTERS:
            self.alarm_box.addItem(text)
        self.alarm_box.currentIndexChanged.connect(self._filters_changed)
        self.unsigned_filter = QCheckBox("Awaiting sign-off")
        self.unsigned_filter.setToolTip("Only finished sessions no physician has signed off yet")
        self.unsigned_filter.toggled.connect(self._filters_changed)
        self.refresh_button = QPushButton("Refresh (F5)")
        self.refresh_button.clicked.connect(self.refresh)
        filters.addWidget(self.date_filter)
        filters.addWidget(self.date_from)
        filters.addWidget(QLabel("and"))
        filters.addWidget(self.date_to)
        filters.addSpacing(16)
        filters.addWidget(QLabel("Patient"))
        filters.addWidget(self.mrn_edit, 1)
        filters.addSpacing(16)
        filters.addWidget(QLabel("Highest alarm"))
        filters.addWidget(self.alarm_box)
        filters.addSpacing(16)
        filters.addWidget(self.unsigned_filter)
        filters.addWidget(self.refresh_button)
        root.addLayout(filters)

        self.table = SessionTable()
        self.table.setAccessibleName("Recorded sessions")
        self.table.activated_row.connect(self._open_row)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        root.addWidget(self.table, 1)

        #: How many sessions are listed now (the newest first): :data:`PAGE`, more after each **Show more**.
        self.shown_limit = PAGE
        #: How many sessions the filters find (the list may show fewer).
        self.found_count = 0
        #: How many of the sessions found (not only those listed) await a physician's sign-off.
        self.awaiting_count = 0
        below = QHBoxLayout()
        self.summary = QLabel("")
        self.summary.setObjectName("dim")
        self.summary.setWordWrap(True)
        below.addWidget(self.summary, 1)
        self.more_button = QPushButton("Show more")
        self.more_button.setToolTip(f"List the next {PAGE} older sessions")
        self.more_button.clicked.connect(self.show_more)
        self.more_button.setVisible(False)  # shown while the filters find more than are listed
        below.addWidget(self.more_button)
        root.addLayout(below)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.WARNING_TEXT}; font-weight: bold;")
        self.message.setVisible(False)
        root.addWidget(self.message)

        buttons = QHBoxLayout()
        self.open_button = QPushButton("Open review (Enter)")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(self.open_selected)
        self.resume_button = QPushButton("Resume recording…")
        self.resume_button.clicked.connect(self.resume_selected)
        self.close_button = QPushButton("Close unfinished session…")
        self.close_button.clicked.connect(self.close_selected)
        self.write_button = QPushButton("Write waiting rows…")
        self.write_button.setToolTip(WAITING_TIP)
        self.write_button.clicked.connect(self.write_selected)
        self.write_button.setVisible(False)  # shown while a listed session has rows waiting
        #: Unfinished sessions listed whose last rows wait in a recovery file.
        self.waiting: frozenset[str] = frozenset()
        self.course_button = QPushButton("Course of this patient…")
        self.course_button.setToolTip("Every session of the selected session's patient, side by side")
        self.course_button.clicked.connect(self.open_course)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.course_button)
        buttons.addStretch(1)
        buttons.addWidget(self.write_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.close_button)
        root.addLayout(buttons)
        QShortcut(QKeySequence("F5"), self, activated=self.refresh)
        make_plain(self)  # patient and staff text is shown literally

        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """Opened, the list has the keyboard, its newest session selected: Enter opens it (the keyboard was on the
        date filter's box, 8 Tabs from the list)."""
        super().showEvent(event)
        if not event.spontaneous():  # not when brought back from the task bar: the keyboard stays where it was
            self.table.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter opens the selected session wherever the keyboard is (the list, a box, a button); in a field typed
        into (the MRN, a date) it searches now and hands the keyboard to the list when it found any session."""
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter) or not plain:
            super().keyPressEvent(event)
            return
        if self._typed_filter_has_keyboard():
            self.refresh()
            if self.table.found:
                self.table.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.open_selected()

    def _typed_filter_has_keyboard(self) -> bool:
        """The keyboard is in a filter typed into, where Enter means "search"."""
        focus = self.focusWidget()
        if focus is None:
            return False
        # A date field's typing is done in an editor inside it.
        typed = (self.mrn_edit, self.date_from, self.date_to)
        return any(focus is field or field.isAncestorOf(focus) for field in typed)

    # -- finding -----------------------------------------------------------------------------------

    def _date_filter_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self._filters_changed()

    def _filters_changed(self) -> None:
        """Other filters: the first page again."""
        self.shown_limit = PAGE
        self.refresh()

    def show_more(self) -> None:
        """List the next :data:`PAGE` older sessions too."""
        self.shown_limit += PAGE
        self.refresh()

    def search(self) -> SessionSearch:
        """What the filters ask for now."""
        started_from, started_before = self.date_bounds()
        wanted = ALARM_FILTERS[self.alarm_box.currentIndex()][1]
        return SessionSearch(started_from=started_from, started_before=started_before,
                             mrn_contains=self.mrn_edit.text() or None,
                             highest_alarm=wanted if isinstance(wanted, Priority) else None,
                             no_alarms=wanted is None)

    def date_bounds(self) -> tuple[float | None, float | None]:
        """Start-time bounds of the date filter in epoch seconds (local days, the last day included)."""
        if not self.date_filter.isChecked():
            return None, None
        first, last = self.date_from.date(), self.date_to.date()
        if last < first:
            first, last = last, first
        start = QDateTime(first, QTime(0, 0)).toSecsSinceEpoch()
        end = QDateTime(last.addDays(1), QTime(0, 0)).toSecsSinceEpoch()
        return float(start), float(end)

    def refresh(self) -> None:
        """Search again with the filters as they are now: the newest :attr:`shown_limit` sessions they find."""
        search = self.search()
        try:
            with self.source.open() as store:
                page = sessions_page(store, search, self.shown_limit,
                                     awaiting_sign_off=self.unsigned_filter.isChecked())
                found, self.found_count, self.awaiting_count = page.found, page.count, page.awaiting
                crashed = store.crash_closed([f.summary.id for f in found if f.summary.status == "closed"])
            # The file was read whole once (a damaged one is refused); each keystroke of a filter then only searches.
            self.source = replace(self.source, check_file=False)
        except StoreError as exc:
            self.show_message(f"The sessions cannot be read: {exc}")
            found, crashed, self.found_count, self.awaiting_count = [], frozenset(), 0, 0
        self._record_listed(found, search)
        unfinished_ids = [f.summary.id for f in found if f.summary.status == "unfinished"]
        # Recovery files lie beside the chair's own database: none for sessions read from the clinic's server.
        self.waiting = frozenset() if self.source.from_server else rows_waiting(self.db_path, unfinished_ids)
        self.table.show_sessions(found, crashed, self.waiting)
        self.summary.setText(self._summary_text(len(found), unfinished_ids) + f" · {self.source.describe()}")
        self.more_button.setVisible(self.found_count > len(found))
        self.write_button.setVisible(bool(self.waiting))
        self._selection_changed()

    def _summary_text(self, shown: int, unfinished_ids: Sequence[str]) -> str:
        """How many sessions are listed (of how many found), and how many of them are unfinished."""
        text = f"{self.found_count} session{'s' if self.found_count != 1 else ''}"
        if self.found_count > shown:
            text = f"The newest {shown} of {self.found_count:,} sessions (Show more lists older ones)"
        if unfinished_ids:
            text += f" · {len(unfinished_ids)} UNFINISHED (left open when recording stopped unexpectedly)"
        if self.waiting:
            text += f", {len(self.waiting)} with rows waiting in a recovery file"
        if self.awaiting_count:
            text += f" · {self.awaiting_count:,} awaiting a physician's sign-off"
        return text

    def _unsigned_criteria(self) -> dict[str, bool]:
        """The sign-off filter as the audit entry of a listing keeps it."""
        return {"awaiting_sign_off": True} if self.unsigned_filter.isChecked() else {}

    def _record_listed(self, found: Sequence[SessionFound], search: SessionSearch) -> None:
        """Who saw which sessions with their patients: each one once per window (a filter's every keystroke lists
        again), in an entry of bounded size (:func:`monitor.session_list.listing_entry`) with the filters used."""
        new = [f.summary for f in found if f.summary.id not in self._listed]
        if not new:
            return
        entry = listing_entry(new, found=self.found_count, criteria={**search_described(search), "new_in_window": True,
                                                                  **self._unsigned_criteria()})
        try:
            self.source.record_read("sessions_listed", self.user.name, **entry)
        except StoreError as exc:
            self.show_message(f"Who listed these sessions could not be recorded: {exc}")
            return
        self._listed.update(s.id for s in new)

    def _selection_changed(self) -> None:
        entry = self.table.selected()
        unfinished = entry is not None and entry.summary.status == "unfinished" and entry.summary.id not in self.opening
        self.open_button.setEnabled(entry is not None)
        self.resume_button.setEnabled(unfinished and self.can_resume)
        self.close_button.setEnabled(unfinished and not self.source.from_server)
        self.close_button.setToolTip(READ_ONLY_NOTE if self.source.from_server else "")
        self.write_button.setEnabled(entry is not None and entry.summary.id in self.waiting)
        tip = "Continue recording this session in the live window" if self.can_resume else self.resume_note
        self.resume_button.setToolTip(tip)

    def show_message(self, text: str) -> None:
        """Something the user must read (a refusal, a failure)."""
        self.messages.append(text)
        self.message.setText(text)
        self.message.setVisible(True)

    def resume_opening(self, session_id: str, said: str) -> None:
        """The device of a session being resumed is opening (``said`` says which): it is neither resumed nor closed
        again from here until it has answered (:meth:`resume_settled`)."""
        self.opening[session_id] = said
        self.show_message(said)
        self._selection_changed()

    def resume_settled(self, session_id: str, said: str | None = None) -> None:
        """The device of a session being resumed answered: ``said`` is why the session was not resumed (None: it
        records again, in its live window)."""
        was_said = self.opening.pop(session_id, None)
        if said is None:
            if self.message.text() == was_said:
                self.message.setVisible(False)
            self.refresh()
        else:
            self.refresh()  # first: what it finds to say must not hide why the session was not resumed
            self.show_message(said)

    # -- actions -----------------------------------------------------------------------------------

    def open_selected(self) -> QWidget | None:
        """Open the selected session in a review window."""
        entry = self.table.selected()
        if entry is None:
            return None
        return self.open_review(entry.summary.id)

    def open_course(self) -> QWidget | None:
        """The course of the selected session's patient."""
        entry = self.table.selected()
        if entry is None:
            return None
        from ui.course_window import CourseWindow

        try:
            with self.source.open() as store:
                patient_id = store.session_row(entry.summary.id).get("patient_id")
        except StoreError as exc:
            self.show_message(str(exc))
            return None
        if not patient_id:
            self.show_message("This session has no patient: identify the patient to see a course.")
            return None
        window = CourseWindow(self.source, patient_id, self.user, alarm_feed=self.alarm_feed)
        self.reviews.append(window)
        window.show()
        return window

    def _open_row(self, row: int) -> None:
        if 0 <= row < len(self.table.found):
            self.table.selectRow(row)
            self.open_review(self.table.found[row].summary.id)

    def open_review(self, session_id: str) -> QWidget | None:
        """A review window on one session (kept until the browser closes)."""
        if self._open_review is not None:
            return self._open_review(session_id)
        try:
            window = ReviewWindow(self.source, session_id, self.user, alarm_feed=self.alarm_feed)
        except StoreError as exc:
            self.show_message(f"The session cannot be opened: {exc}")
            return None
        window.sessions_changed.connect(self.refresh)
        self.reviews = [w for w in self.reviews if w.isVisible()]
        self.reviews.append(window)
        window.show()
        return window

    def _unfinished_selected(self, verb: str) -> SessionFound | None:
        """The selected session when it is unfinished and can be ``verb`` now; one whose last rows wait in a
        recovery file is refused, saying why."""
        entry = self.table.selected()
        if entry is None or entry.summary.status != "unfinished":
            return None
        if entry.summary.id in self.waiting:
            self.show_message(f"Session {entry.summary.id[:8]} is not {verb} yet: {WAITING_TIP}")
            return None
        return entry

    def resume_selected(self) -> None:
        """Ask, then hand the unfinished session to the application to continue it."""
        if not self.can_resume:
            self.show_message(self.resume_note or "Resuming is not possible from here.")
            return
        entry = self._unfinished_selected("resumed")
        if entry is None:
            return
        session_id = entry.summary.id
        self._confirm(
            "Resume recording",
            f"Continue recording session {session_id[:8]} (patient {entry.summary.patient or 'not entered'}, "
            f"started {local_time(entry.summary.started_at)}) in the live window? The gap is marked on its "
            "timeline.",
            "Resume recording",
            lambda: self.resume_requested.emit(session_id),
        )

    def close_selected(self) -> None:
        """Ask, then close the unfinished session as ``infusion-monitor close`` does."""
        entry = self._unfinished_selected("closed")
        if entry is None:
            return
        session_id = entry.summary.id
        self._confirm(
            "Close unfinished session",
            f"Close session {session_id[:8]} without resuming it? It ends at its last stored reading; "
            f"nothing stored is removed. Recorded as closed by {self.user.name}.",
            "Close session",
            lambda: self.close_session(session_id),
            danger=True,
        )

    def close_session(self, session_id: str) -> bool:
        """Close an unfinished session now (audited under the signed-in user); the close is sent to the clinic's
        server, when there is one, on a thread of its own (the network never holds up this window)."""
        try:
            self.server_thread = close_and_tell_server(self.source, session_id, self.user.name,
                                                       self._server_answered.emit)
        except (AppError, StoreError) as exc:
            self.refresh()  # first: what it finds to say must not hide why the session was not closed
            self.show_message(f"The session was not closed: {exc}")
            return False
        self.message.setVisible(False)
        self.refresh()
        self.session_closed.emit(session_id)
        return True

    def _confirm(self, title: str, text: str, yes: str, action: Callable[[], None], danger: bool = False) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.reject()
        dialog = ConfirmDialog(self, title, text, yes, danger)
        dialog.setStyleSheet(theme.STYLE_SHEET)
        self.dialog = dialog
        dialog.accepted.connect(action)
        dialog.finished.connect(lambda _code: self._dialog_closed(dialog))
        dialog.open()

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()

    def write_selected(self) -> None:
        """Ask, then write the rows the selected session left in its recovery files into the record."""
        entry = self.table.selected()
        if entry is None or entry.summary.id not in self.waiting:
            return
        session_id = entry.summary.id
        self._confirm(
            "Write waiting rows",
            f"Session {session_id[:8]} (patient {entry.summary.patient or 'not entered'}) could not write its last "
            "rows to the database; they wait in a recovery file. Write them into the record now? Each row goes in "
            f"once, as the recording made it. Recorded as done by {self.user.name}.",
            "Write waiting rows",
            lambda: self.write_waiting(session_id),
        )

    def write_waiting(self, session_id: str) -> bool:
        """Write the session's waiting rows now (audited under the signed-in user), then send them to the clinic's
        server, when there is one, on a thread of its own."""
        try:
            done, self.server_thread = write_and_tell_server(self.source, session_id, self.user.name,
                                                             self._server_answered.emit)
        except (AppError, StoreError) as exc:
            self.refresh()  # first: what it finds to say must not hide why nothing was written
            self.show_message(f"The waiting rows were not written: {exc}")
            return False
        self.refresh()
        self.show_message(_sentence(done.text()))
        return True

    def closeEvent(self, event: QCloseEvent) -> None:
        """Review windows opened from here close with the browser (and an open dialog, unsaved)."""
        if self.dialog is not None:
            self.dialog.reject()
        for window in self.reviews:
            window.close()
        self.reviews = []
        super().closeEvent(event)


class UnfinishedSessionsDialog(QDialog):
    """Offered when the monitor starts and sessions were left unfinished: resume one, close them, or ignore."""

    RESUME = 2

    def __init__(self, db_path: str | Path, user: SignedInUser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.user = user
        self.chosen: str | None = None
        self.messages: list[str] = []
        self.server_thread: threading.Thread | None = None
        self.setWindowTitle("Unfinished sessions")
        self.setStyleSheet(theme.STYLE_SHEET)
        self.resize(1100, 360)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "These sessions were left open when recording stopped unexpectedly (the program or the computer "
            "stopped). Resume one to continue recording it, close it to keep it as it is, or ignore them and "
            "start a new session."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("font-size: 16px;")
        layout.addWidget(intro)
        self.table = SessionTable()
        self.table.setAccessibleName("Unfinished sessions")
        self.table.activated_row.connect(lambda _row: self.resume_selected())
        layout.addWidget(self.table, 1)
        self.message = QLabel("")
        self.message.setStyleSheet(f"color: {theme.WARNING_TEXT};")
        self.message.setVisible(False)
        layout.addWidget(self.message)
        row = QHBoxLayout()
        self.ignore_button = QPushButton("Ignore — start a new session")
        self.close_button = QPushButton("Close selected")
        self.write_button = QPushButton("Write waiting rows")
        self.write_button.setToolTip(WAITING_TIP)
        self.resume_button = QPushButton("Resume selected")
        self.resume_button.setObjectName("primary")
        self.ignore_button.clicked.connect(self.reject)
        self.close_button.clicked.connect(self.close_selected)
        self.write_button.clicked.connect(self.write_selected)
        self.resume_button.clicked.connect(self.resume_selected)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.waiting: frozenset[str] = frozenset()
        row.addWidget(self.ignore_button)
        row.addStretch(1)
        row.addWidget(self.write_button)
        row.addWidget(self.close_button)
        row.addWidget(self.resume_button)
        layout.addLayout(row)
        make_plain(self)
        self.refresh()

    def refresh(self) -> None:
        """List the unfinished sessions; with none left, the dialog has nothing more to ask."""
        try:
            with RecordSource(self.db_path).open() as store:
                found = with_alarm_counts(store, store.unfinished_sessions())
        except StoreError as exc:
            found = []
            self.message.setText(str(exc))
            self.message.setVisible(True)
        self.waiting = rows_waiting(self.db_path, [f.summary.id for f in found])
        self.table.show_sessions(found, waiting=self.waiting)
        self.write_button.setVisible(bool(self.waiting))
        self._selection_changed()

    def _selection_changed(self) -> None:
        entry = self.table.selected()
        waits = entry is not None and entry.summary.id in self.waiting
        self.write_button.setEnabled(waits)
        self.close_button.setEnabled(entry is not None and not waits)
        self.resume_button.setEnabled(entry is not None and not waits)

    def _say(self, shown: str, kept: str | None = None) -> None:
        """Show a line under the list and keep it in ``messages`` (``kept``: the words kept, when they differ)."""
        self.messages.append(shown if kept is None else kept)
        self.message.setText(shown)
        self.message.setVisible(True)

    @property
    def unfinished_count(self) -> int:
        """How many unfinished sessions are listed."""
        return len(self.table.found)

    def resume_selected(self) -> None:
        """Choose the selected session for resuming and finish the dialog; a session that cannot be resumed (its
        last rows wait in a recovery file, or another recording took it meanwhile) is refused here, saying why,
        and the dialog stays: refused later, the program would end before its window opened."""
        entry = self.table.selected()
        if entry is None:
            return
        try:
            with RecordSource(self.db_path).open() as store:
                check_resumable(store, entry.summary.id)
        except (AppError, StoreError) as exc:
            self._say(f"Not resumed: {exc}", kept=str(exc))
            self.refresh()
            return
        self.chosen = entry.summary.id
        self.done(self.RESUME)

    def write_selected(self) -> None:
        """Write the rows the selected session left in its recovery files into the record (audited); the dialog
        stays, so that the session can then be resumed or closed (or, when its own rows ended it, to say so)."""
        entry = self.table.selected()
        if entry is None or entry.summary.id not in self.waiting:
            return
        try:
            done, self.server_thread = write_and_tell_server(RecordSource(self.db_path), entry.summary.id,
                                                             self.user.name, log.warning)
        except (AppError, StoreError) as exc:
            said = f"Not written: {exc}"
        else:
            said = _sentence(done.text())
        self._say(said)
        self.refresh()  # stays open even when its own rows ended it: the line above says what was done

    def close_selected(self) -> None:
        """Close the selected session (audited); the dialog stays for any others."""
        entry = self.table.selected()
        if entry is None:
            return
        try:
            # The window may be gone when the server answers: its answer goes to the log.
            self.server_thread = close_and_tell_server(RecordSource(self.db_path), entry.summary.id, self.user.name,
                                                       log.warning)
        except (AppError, StoreError) as exc:
            self._say(f"Not closed: {exc}", kept=str(exc))
        self.refresh()
        if not self.unfinished_count:
            self.reject()  # nothing left to decide: carry on with a new session
