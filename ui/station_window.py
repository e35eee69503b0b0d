"""The nurse station: one tile per active chair, pushed from the clinic's PostgreSQL.

Each tile shows the chair, the patient (MRN or initials), protocol phase and its timer, heart
rate, SpO2, the last NIBP with its age, and every active alarm in its IEC colour and flash rate.
The station's own conditions (a chair not reporting, an alarm left unacknowledged) appear on the
tile and in the banner, and the loudest priority sounds with the chairs' burst patterns; a session that
ended with rows its chair could not keep has no tile left and is a line of the banner (low priority, silent,
see :mod:`monitor.station`). Clicking
a tile opens that chair's recent trends, read-only. The station only reads: it cannot
acknowledge, silence or change anything at a chair.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import signal
import sys
import threading
import time
from typing import Any
from urllib.parse import quote, unquote

from PySide6.QtCore import QEvent, QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QGridLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from monitor import station_audit
from monitor.accounts import Principal
from monitor.alarms.model import Priority
from monitor.replication.live import LiveAlarm
from monitor.replication.replicator import redacted
from monitor.replication.server_store import UnreportedSession
from monitor.session import minutes_seconds
from monitor.station import ChairReport, ChairView, StationFeed, StationModel, same_name_text, shared_login_text
from monitor.station_audit import KeptAuditLog, StationAudit
from monitor.store import Store
from ui import theme
from ui.alarm_sound import AlarmSoundPlayer
from ui.collector import gui_application
from ui.guard_link import GuardBeat, GuardLink
from ui.labels import ElidedLabel
from ui.numerics import STALE_AFTER_S
from ui.start_errors import errors_in_a_window
from ui.terminal import apart_from_the_terminal, keep_running_without_terminal

TICK_MS = 125
#: Chairs out of view named one to a line in the banner; the rest share one line.
OUT_OF_VIEW_LINES = 3
#: The banner's links to a chair's tile: this, then the chair's key (quoted).
CHAIR_LINK = "chair:"


def _value(view: ChairView, name: str) -> str:
    value = view.tile.values.get(name)
    return "---" if value is None else f"{value:.0f}"


def _continuous(view: ChairView, label: str, name: str, colour: str) -> str:
    """A continuous value in its colour while current; grey with its age once it is not (as at the chair)."""
    age = view.value_age_s(name)
    current = view.tile.values.get(name) is None or (view.current and (age is None or age <= STALE_AFTER_S))
    shown = _numeric(label, _value(view, name), colour if current else theme.QUESTIONABLE)
    if current:
        return shown
    old = f"{age:.0f} s old" if age is not None else "not current"
    return shown + f"<span style='color:{theme.QUESTIONABLE}; font-size:14px'> {old}</span>"


def _numeric(label: str, value: str, colour: str) -> str:
    return f"<span style='color:{colour}; font-size:40px'>{label} {value}</span>"


def _numerics_text(hr_label: str, hr: str, spo2_label: str, spo2: str) -> str:
    """The heart rate and SpO2 line of a tile, for measuring how wide a tile must be."""
    return _numeric(hr_label, hr, "white") + "&nbsp;&nbsp;" + _numeric(spo2_label, spo2, "white")


def flash_on(priority: Priority, now_ms: int) -> bool:
    """Whether an alarm of ``priority`` is in the lit half of its IEC flash cycle (low: always lit)."""
    half = theme.FLASH_HALF_PERIOD_MS[priority]
    return True if half is None else (now_ms // half) % 2 == 0


def _timer(view: ChairView) -> str:
    """The phase and its timer as the chair last reported them; from a chair not reporting, said to be that old
    (a timer that stood still beside values ageing read as a paused infusion)."""
    tile = view.tile
    name = tile.phase_name
    infused = minutes_seconds(tile.infusion_elapsed_s)
    if view.unreported:
        # The server holds the phase and the session's start, not the chair's timers.
        return f"{name or 'phase not known'} (as the server holds it) · session {minutes_seconds(tile.elapsed_s)}"
    if tile.phase == "infusion" and tile.infusion_stopped:
        text = f"{name} stopped at {infused}"
    elif tile.phase == "infusion":
        text = f"{name} {infused} of {tile.infusion_plan_min:g} min" + (" · PAUSED" if tile.infusion_paused else "")
    elif tile.phase == "recovery":
        left = tile.recovery_remaining_s
        text = f"{name} {minutes_seconds(left)} left" if left is not None and left > 0 else f"{name} watch done"
    else:
        text = f"{name} {minutes_seconds(tile.elapsed_s)}"
    if not view.current:
        text += f" · as of {max(view.silent_s, view.status_age_s):.0f} s ago"
    return text


class ChairTile(QFrame):
    """One chair on the station screen."""

    clicked = Signal(str)

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The chair's key (:attr:`ChairView.key`), sent when the tile is clicked.
        self.key = key
        self.setObjectName("panel")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        # What a chair reports is text, never markup (a patient field once drew false green vitals), and a long
        # chair name is cut on one line (it once widened its tile and wrapped every other tile's numerics).
        self.title = ElidedLabel()
        self.title.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.phase = QLabel()
        self.numerics = QLabel()
        self.numerics.setTextFormat(Qt.TextFormat.RichText)
        # A value's "12 s old" goes onto the next line rather than widening the tile (the columns stay put).
        self.numerics.setWordWrap(True)
        self.nibp = QLabel()
        self.due = QLabel()
        for label in (self.phase, self.nibp, self.due):
            label.setTextFormat(Qt.TextFormat.PlainText)
        self.due.setStyleSheet(f"color: {theme.WARNING_TEXT};")
        self.alarms = QLabel()
        self.alarms.setTextFormat(Qt.TextFormat.RichText)
        self.alarms.setWordWrap(True)
        for widget in (self.title, self.phase, self.numerics, self.nibp, self.due, self.alarms):
            layout.addWidget(widget)
        layout.addStretch(1)
        self.view: ChairView | None = None

    def show_view(self, view: ChairView, now_ms: int) -> None:
        """Draw the chair's latest status with the alarm colours of this flash instant."""
        self.view = view
        tile = view.tile
        self.title.setText(f"{view.called} · {view.patient}")
        self.phase.setText(_timer(view))
        hr_name = tile.heart_rate_source or "hr"
        self.numerics.setText(
            _continuous(view, "HR" if hr_name == "hr" else "PR", hr_name, theme.PARAMETER_COLOURS[_param("hr")])
            + "&nbsp;&nbsp;" + _continuous(view, "SpO2", "spo2", theme.PARAMETER_COLOURS[_param("spo2")])
        )
        age = view.nibp_age_s
        self.nibp.setText(
            f"NIBP {_value(view, 'nibp_sys')}/{_value(view, 'nibp_dia')} ({_value(view, 'nibp_mean')})"
            + (f" · {age / 60:.0f} min ago" if age is not None else "")
        )
        self.due.setText(f"score due: {', '.join(tile.scores_due)}" if tile.scores_due else "")
        self.due.setVisible(bool(tile.scores_due))
        lines = []
        border = theme.PANEL_BORDER
        if not view.current:
            lit = flash_on(Priority.MEDIUM, now_ms)
            colour = theme.ALARM_COLOURS[Priority.MEDIUM]
            text = (f"RECORDING, but its live status does not reach this station — the chair's program is older than "
                    f"the server: update it. Shown: what the server has, heard from {view.silent_s:.0f} s ago"
                    if view.unreported
                    else f"NOT REPORTING for {view.silent_s:.0f} s — the station cannot see this chair" if view.offline
                    else f"SESSION LEFT WITHOUT COMPLETING — its session is still open on the server; values from "
                         f"{view.silent_s:.0f} s ago; check the chair" if view.left_open
                    else f"MONITORING STALLED at the chair for {view.status_age_s:.0f} s — values are not current")
            lines.append(
                f"<div style='background:{colour if lit else theme.PANEL}; "
                f"color:{theme.ALARM_TEXT_ON[Priority.MEDIUM] if lit else colour}'>** {text}</div>"
            )
            border = colour
        for said in ([shared_login_text(view)] if view.shared_with else []) + (
                [same_name_text(view)] if view.named_alike else []):
            lit = flash_on(Priority.MEDIUM, now_ms)
            colour = theme.ALARM_COLOURS[Priority.MEDIUM]
            lines.append(
                f"<div style='background:{colour if lit else theme.PANEL}; "
                f"color:{theme.ALARM_TEXT_ON[Priority.MEDIUM] if lit else colour}'>** {html.escape(said)}</div>"
            )
            border = colour
        for alarm in tile.alarms:
            escalated = alarm.id in view.escalated
            shown = _shown_priority(view, alarm)
            # An acknowledged alarm stays listed but no longer flashes.
            lit = True if alarm.acknowledged else flash_on(shown, now_ms)
            colour = theme.ALARM_COLOURS[shown]
            prefix = f"ESCALATED ({view.alarm_age_s(alarm):.0f} s unacknowledged) " if escalated else ""
            suffix = " (acknowledged)" if alarm.acknowledged else ""
            lines.append(
                f"<div style='background:{colour if lit else theme.PANEL}; "
                f"color:{theme.ALARM_TEXT_ON[shown] if lit else colour}'>"
                f"{shown.marker} {html.escape(prefix + alarm.message + suffix)}</div>"
            )
            if border == theme.PANEL_BORDER or shown == Priority.HIGH:
                border = colour
        self.alarms.setText("".join(lines))
        theme.restyle(
            self,
            f"QFrame#panel {{ background: {theme.PANEL}; border: 3px solid {border}; border-radius: 6px; }}",
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A click opens the chair's trends (read-only)."""
        self.clicked.emit(self.key)
        super().mousePressEvent(event)


def _attention(view: ChairView) -> tuple[Priority, str] | None:
    """The loudest thing on a chair's tile and its words (None: nothing that needs the nurse)."""
    found: list[tuple[Priority, str]] = []
    if not view.current:
        found.append((Priority.MEDIUM, "recording, its live status not reaching this station" if view.unreported
                      else "not reporting" if view.offline
                      else "session left without completing" if view.left_open else "monitoring stalled"))
    if view.shared_with:
        found.append((Priority.MEDIUM, shared_login_text(view)))
    if view.named_alike:
        found.append((Priority.MEDIUM, same_name_text(view)))
    for alarm in view.tile.alarms:
        found.append((_shown_priority(view, alarm), alarm.message + (" (acknowledged)" if alarm.acknowledged else "")))
    return max(found, key=lambda item: item[0]) if found else None


def _shown_priority(view: ChairView, alarm: LiveAlarm) -> Priority:
    """An alarm's priority at the station: one higher once it has gone unacknowledged too long at the chair."""
    priority = Priority(alarm.priority)
    return Priority(min(3, priority + 1)) if alarm.id in view.escalated else priority


def _param(name: str) -> Any:
    from drivers.core.readings import Parameter

    return Parameter(name)


class _FeedBridge(QObject):
    """Carries the feed thread's reports onto the Qt thread."""

    reported = Signal(object)
    link = Signal(bool, object)
    unreported = Signal(object)


class StationWindow(QMainWindow):
    """The nurse-station window (see the module doc)."""

    def __init__(self, model: StationModel, *, server: str = "", sound: AlarmSoundPlayer | None = None) -> None:
        super().__init__()
        self.setWindowTitle(f"Infusion Monitor — nurse station ({server})" if server else "Infusion Monitor — station")
        self.setStyleSheet(theme.STYLE_SHEET)
        self.model = model
        self.sound = sound
        self.server_text = server
        self.connected = False
        self.link_error: str | None = None
        #: Records who has the station open and whose MRNs it shows (None: not recorded, as in tests of the screen).
        self.audit: StationAudit | None = None
        #: Without an audit: why the station's use is not recorded (on the banner).
        self.notice: str | None = None
        central = QWidget()
        outer = QVBoxLayout(central)
        self.banner = QLabel()
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.banner.linkActivated.connect(self.show_chair)
        outer.addWidget(self.banner)
        # As many columns as the screen's width takes, and more rows than its height below (scrolled to; a chair
        # out of view that needs attention is a line of the banner).
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        board = QWidget()
        board_layout = QVBoxLayout(board)
        board_layout.setContentsMargins(0, 0, 0, 0)
        self.grid = QGridLayout()
        board_layout.addLayout(self.grid)
        board_layout.addStretch(1)
        self.scroll.setWidget(board)
        outer.addWidget(self.scroll, 1)
        self.setCentralWidget(central)
        self.tiles: dict[str, ChairTile] = {}
        self._tile_width: int | None = None
        self.charts: dict[str, QDialog] = {}
        self.on_tile_clicked: Any = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(TICK_MS)
        self.bridge = _FeedBridge()
        self.bridge.reported.connect(self._on_report)
        self.bridge.link.connect(self._on_link)
        self.bridge.unreported.connect(self._on_unreported)
        # The whole screen where it is smaller than a 1920x1080 one (a fixed 1400x900 ran off a 1280x800 screen).
        theme.fit_to_screen(self, 1920, 1080)
        self.scroll.viewport().installEventFilter(self)  # lays the tiles out again when their area changes size

    # Called from the feed thread: hand over to the Qt thread.
    def report(self, report: ChairReport) -> None:
        """A chair's report arrived (any thread)."""
        self.bridge.reported.emit(report)

    def link_changed(self, up: bool, error: str | None) -> None:
        """The station's own connection to the server changed (any thread)."""
        self.bridge.link.emit(up, error)

    def unreported_found(self, sessions: list[UnreportedSession]) -> None:
        """The sessions recording on the server whose chair's status does not reach the station (any thread)."""
        self.bridge.unreported.emit(sessions)

    def _on_unreported(self, sessions: object) -> None:
        assert isinstance(sessions, list)
        self.model.apply_unreported(sessions)
        self.refresh()

    def _on_report(self, report: ChairReport) -> None:
        self.model.apply(report)
        self.refresh()

    def _on_link(self, up: bool, error: object) -> None:
        self.connected = up
        self.link_error = None if error is None else str(error)
        self.refresh()

    def refresh(self) -> None:
        """Redraw every tile and the banner, and follow the loudest priority with the sound."""
        now_ms = int(time.monotonic() * 1000)
        views = self.model.views()
        present = {v.key for v in views}
        for chair in list(self.tiles):
            if chair not in present:
                tile = self.tiles.pop(chair)
                self.grid.removeWidget(tile)
                tile.deleteLater()
        for view in views:
            tile = self.tiles.get(view.key)
            if tile is None:
                tile = ChairTile(view.key)
                tile.clicked.connect(self._open_chart)
                self.tiles[view.key] = tile
            tile.show_view(view, now_ms)
        columns = self.columns()
        for index, view in enumerate(views):
            tile = self.tiles[view.key]
            place = divmod(index, columns)
            at = self.grid.indexOf(tile)
            if at < 0 or self.grid.getItemPosition(at)[:2] != place:
                self.grid.removeWidget(tile)
                self.grid.addWidget(tile, *place)
        if self.audit is not None:
            # A local insert when the sessions shown change, nothing otherwise; a failure is said below, never raised.
            self.audit.shown(self.model.mrns_shown(views))
        station_alarms = self.model.station_alarms()
        parts = []
        if not self.connected:
            reason = f": {html.escape(self.link_error)}" if self.link_error else ""
            parts.append(
                f"<b style='color:{theme.WARNING_TEXT}'>NOT CONNECTED to the server{reason} — "
                "chairs are not visible</b>"
            )
        parts.append(f"{len(views)} active chairs · {len(station_alarms)} station alarms")
        text = " · ".join(parts) + "".join(self._out_of_view(views))
        trouble = self.notice if self.audit is None else self.audit.trouble
        if trouble is not None:
            text += f"<div style='color:{theme.WARNING_TEXT}'>{html.escape(trouble)}</div>"
        # An ended session's rows its chair could not keep: its tile is gone, so the banner says it, line by line.
        for alarm in self.model.records_not_kept():
            text += (f"<div style='color:{theme.ALARM_COLOURS[alarm.priority]}'>{alarm.priority.marker} "
                     f"{html.escape(alarm.message)}</div>")
        self.banner.setText(text)
        if self.sound is not None:
            loudest = self.model.sounding()
            if not self.connected:
                loudest = max(loudest or Priority.MEDIUM, Priority.MEDIUM)
            self.sound.set_sounding(loudest)

    def columns(self) -> int:
        """How many tiles fit side by side in the window as wide as it is now (at least one), each as wide as the
        widest numerics a tile shows (three-digit values): the columns do not change when a value does."""
        if self._tile_width is None:
            probe = ChairTile("")
            probe.setStyleSheet(theme.STYLE_SHEET)
            probe.numerics.setWordWrap(False)
            probe.numerics.setText(_numerics_text("PR", "188", "SpO2", "100"))
            self._tile_width = probe.sizeHint().width()
            probe.deleteLater()
        spacing = self.grid.horizontalSpacing()
        spacing = spacing if spacing >= 0 else 6
        return max(1, (self.scroll.viewport().width() + spacing) // (self._tile_width + spacing))

    def _out_of_view(self, views: list[ChairView]) -> list[str]:
        """A banner line for each chair whose tile is not wholly in view and needs attention (an alarm, not
        reporting, stalled, a shared login): the station screen must not hide one below the fold."""
        viewport = self.scroll.viewport()
        top = self.scroll.verticalScrollBar().value()
        shown = QRect(0, top, viewport.width(), viewport.height())
        hidden: list[tuple[Priority, ChairView, str, str]] = []
        for view in views:
            tile = self.tiles[view.key]
            if shown.contains(tile.geometry()):
                continue
            attention = _attention(view)
            if attention is not None:
                where = "down" if tile.geometry().top() >= top else "up"
                hidden.append((attention[0], view, where, attention[1]))
        # The loudest first, a few lines at most: a banner that grew with them would push every tile out of view.
        # Each chair is a link: a click scrolls its tile into view.
        hidden.sort(key=lambda h: -h[0])

        def link(view: ChairView, words: str, colour: str) -> str:
            return f"<a href='{CHAIR_LINK}{quote(view.key, safe='')}' style='color:{colour}'>{html.escape(words)}</a>"

        lines = []
        for priority, view, where, text in hidden[:OUT_OF_VIEW_LINES]:
            colour = theme.ALARM_COLOURS[priority]
            named = link(view, f"{view.called} (out of view, scroll {where})", colour)
            lines.append(f"<div style='color:{colour}'>{priority.marker} {named}: {html.escape(text)}</div>")
        if len(hidden) > OUT_OF_VIEW_LINES:
            rest = hidden[OUT_OF_VIEW_LINES:]
            colour = theme.ALARM_COLOURS[rest[0][0]]
            names = ", ".join(link(h[1], h[1].called, colour) for h in rest)
            lines.append(f"<div style='color:{colour}'>{rest[0][0].marker} {len(rest)} more chairs out of view need "
                         f"attention: {names}</div>")
        return lines

    def show_chair(self, href: str) -> None:
        """Scroll a chair's tile into view (a click on its line in the banner)."""
        tile = self.tiles.get(unquote(href.removeprefix(CHAIR_LINK)))
        if tile is not None:
            self.scroll.ensureWidgetVisible(tile, 0, 0)
            self.refresh()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The tiles' area changed size: lay them out again for its width."""
        if watched is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self.refresh()
        return super().eventFilter(watched, event)

    def _open_chart(self, key: str) -> None:
        if self.on_tile_clicked is not None:
            self.on_tile_clicked(key)


class ChairTrendDialog(QDialog):
    """A chair's recent heart rate and SpO2, read from the server (read-only).

    The read runs on a thread of its own: a slow or unreachable server must not stop the station's
    window, which watches every chair. What it read, or why it could not, arrives through :attr:`loaded`.
    """

    #: The readings read (a list), or why they could not be read (a str).
    loaded = Signal(object)

    def __init__(self, url: str, session_id: str, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph as pg

        self.setWindowTitle(f"{title} — trends (read-only)")
        self.url = url
        self.session_id = session_id
        layout = QVBoxLayout(self)
        self.note = QLabel()
        self.note.setWordWrap(True)
        layout.addWidget(self.note)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.addLegend()
        self.curves = {
            name: self.plot.plot(pen=pg.mkPen(theme.PARAMETER_COLOURS[_param(name)], width=2), name=name.upper())
            for name in ("hr", "spo2")
        }
        layout.addWidget(self.plot)
        self.reader: threading.Thread | None = None
        self.loaded.connect(self._show)
        self.reload()

    def reload(self) -> None:
        """Read the last 30 minutes of the session from the server, on a thread."""
        if self.reader is not None and self.reader.is_alive():
            return
        self.note.setText("Reading the last 30 minutes from the server…")
        self.reader = threading.Thread(target=self._read, name="station-chart", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        from monitor.replication.server_store import ServerStore

        result: object
        try:
            with ServerStore(self.url) as server:
                result = server.recent_readings(self.session_id, [_param(name) for name in self.curves], 1800.0)
        except Exception as exc:  # whatever the server or the network did: said in the dialog
            result = f"The chart cannot be read from the server: {exc}"
        with contextlib.suppress(RuntimeError):  # the dialog is already gone
            self.loaded.emit(result)

    def _show(self, result: object) -> None:
        if isinstance(result, str):
            self.note.setText(result)
            return
        assert isinstance(result, list)
        self.note.setText(f"The last 30 minutes of the session as the server holds them ({len(result)} readings).")
        for name, curve in self.curves.items():
            points = [(r.t, r.value) for r in result if r.parameter.value == name and r.value is not None]
            curve.setData([t for t, _ in points], [v for _, v in points])


def station_reader(args: argparse.Namespace, store: Store, **asked: Any) -> Principal:
    """Who opens the station (:func:`~monitor.security_cli.reading_principal`): ``--user`` signed in; where the local
    database has accounts and none is given, asked in a window as ``review`` asks; the operating-system user where
    it has none. A refusal (a failed or cancelled sign-in) is audited as ``station_refused`` and raised."""
    from monitor.accounts import Accounts
    from monitor.app.errors import AppError
    from monitor.security_cli import read_refused, reading_principal
    from ui.account_dialogs import AccountGate, AccountSignInDialog, principal_of

    accounts = Accounts(store)
    if getattr(args, "user", None) or not accounts.has_accounts() or accounts.removed_outside():
        return reading_principal(args, store, station_audit.WHAT, station_audit.ACTION, **asked)
    dialog = AccountSignInDialog(None, AccountGate(store.path, checked=True),
                                 title="Infusion Monitor nurse station — sign in")
    dialog.setStyleSheet(theme.STYLE_SHEET)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        read_refused(store, station_audit.ACTION, reason="sign-in cancelled", **asked)
        raise AppError("the station was not opened: it shows patients' MRNs and needs a signed-in account on this "
                       "database, and nobody signed in")
    return principal_of(dialog.user())


def audited_station(url: str, model: StationModel, audit: StationAudit | None,
                    sound: AlarmSoundPlayer | None = None,
                    notice: str | None = None) -> tuple[StationWindow, StationFeed]:
    """The station's window on ``model`` with its audit, its opening recorded, and the feed that fills it from the
    server at ``url`` (not started); without an audit, ``notice`` on its banner says why."""
    window = StationWindow(model, server=redacted(url), sound=sound)
    window.audit = audit
    window.notice = notice
    if audit is not None:
        audit.opened()
    return window, StationFeed(url, window.report, window.link_changed, window.unreported_found)


@apart_from_the_terminal
@errors_in_a_window("station")
def run_station(args: argparse.Namespace) -> int:
    """Open the nurse station on ``--server`` (or INFUSION_MONITOR_SERVER); returns the exit code."""
    from monitor.app.errors import AppError
    from monitor.app.stores import configured_server, open_store

    url = configured_server(args.server)
    if url is None:
        raise AppError("the station needs --server URL (or INFUSION_MONITOR_SERVER)")
    app = gui_application("Infusion Monitor station")
    server = redacted(url)
    # This computer's database: who opens the station signs in to its accounts, and its audit log keeps the
    # station's entries (one connection for the station's lifetime: see KeptAuditLog).
    try:
        store = open_store(args.db)
    except (AppError, OSError) as exc:
        # Nobody can sign in and nothing can be recorded; the station opens all the same (it is how the nurses see
        # every chair's alarms), naming each patient by initials only, and says why on its banner.
        notice = (f"This computer's database cannot be opened ({exc}): nobody can sign in, so patients are shown "
                  "by initials only and the station's use is not recorded")
        print(f"infusion-monitor: station: {notice}", file=sys.stderr)
        return _run_station(app, url, argparse.Namespace(**{**vars(args), "show": "initials"}), None, notice)
    try:
        asked = {"server": server, "show": args.show}
        reader = station_reader(args, store, **asked)

        def say(text: str) -> None:
            print(f"infusion-monitor: station: {text}", file=sys.stderr)

        audit = StationAudit(KeptAuditLog(store), user=reader.name, server=server, show=args.show,
                             escalate_after_s=args.escalate_after, say=say)
        return _run_station(app, url, args, audit)
    finally:
        store.close()


def _run_station(app: Any, url: str, args: argparse.Namespace, audit: StationAudit | None,
                 notice: str | None = None) -> int:
    """The station's window and feed until it is closed; ``station_closed`` recorded however it ends (with an
    audit; without one, ``notice`` says on the banner why not)."""
    model = StationModel(show=args.show, escalate_after_s=args.escalate_after)
    sound = AlarmSoundPlayer()
    ended_by = ["the window closed"]
    shown: list[StationWindow] = []

    def ended(number: int, _frame: Any) -> None:
        ended_by[0] = signal.Signals(number).name
        QTimer.singleShot(0, lambda: shown[0].close() if shown else app.quit())

    # Before the opening is recorded: a signal that ends the station from then on finds its closing recorded.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, ended)
    window, feed = audited_station(url, model, audit, sound, notice)
    shown.append(window)
    beat: GuardBeat | None = None
    try:

        def open_chart(key: str) -> None:
            view = next((v for v in model.views() if v.key == key), None)
            if view is None or view.tile.session_id is None:
                return
            dialog = ChairTrendDialog(url, view.tile.session_id, view.called, window)
            dialog.show()

        window.on_tile_clicked = open_chart
        window.show()
        feed.start()
        # The station's screen is watched from a second process too: a frozen station shows every chair as it was.
        guard = GuardLink(station=True)
        if not guard.start():
            print(f"Screen guard: {guard.error}", file=sys.stderr)
        beat = GuardBeat(guard, lambda s: print(f"The station did not respond for {s:.0f} s.", file=sys.stderr),
                         lambda news: print(f"Screen guard: {news}", file=sys.stderr), window,
                         alarm_active=lambda: not window.connected or (window.model.sounding() or 0) >= Priority.MEDIUM)
        # Ctrl-Z in the terminal would freeze the station while it shows every chair as it was.
        keep_running_without_terminal(
            lambda: print("Ctrl-Z ignored: the station cannot be paused from the keyboard (close the window to end "
                          "it).", file=sys.stderr),
            lambda: None,
        )
        return int(app.exec())
    finally:
        if beat is not None:
            beat.stop()
        feed.stop()
        sound.shutdown()
        if audit is not None:
            audit.closed(ended_by[0])
