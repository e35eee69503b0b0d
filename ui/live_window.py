"""The live monitor window a nurse works from for a whole session.

Top to bottom: the session header (patient, phase, infusion and recovery clocks, device and
link health, who is signed in), the alarm bar, the whole-session trends beside the large
numerics, and the controls (phase actions, quick events, notes and scores).

Everything the nurse does becomes a recorder command (``Recorder.submit``) attributed to the
signed-in user; the recorder carries it out on its own thread, puts it on the timeline and in
the audit log, and a refusal (e.g. infusion without a baseline) comes back as a message on
screen. The window only shows and asks; the rules live in the core.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QFontMetrics, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from drivers.core.clock import DEVICE_TIME_PAST_S
from drivers.core.readings import Parameter, Reading
from monitor import chair, readiness, rems
from monitor.accounts import LOCKED_SCREEN_USER, Principal
from monitor.alarms.engine import USER_COMMANDS
from monitor.alarms.model import AlarmKind, AlarmSnapshot, Priority
from monitor.alarms.model import LimitLine as EngineLimit
from monitor.app.device import DeviceSpec, OpenedDevice, close_unused
from monitor.app.sessions import ending_notes
from monitor.app.stores import RecordSource
from monitor.checklist import current_checklist
from monitor.dose import DoseNeedsConfirmation, dose_record, last_oxygen
from monitor.entered_in_error import last_entry, last_score, shown_value
from monitor.identifiers import PatientOnFile
from monitor.labels import PARAMETER_LABELS, pressure_text
from monitor.protocols import RESPIRATION_SCALE, Measure
from monitor.readiness import OverrideRequired
from monitor.recorder import RecorderUpdate, SessionStatus
from monitor.session import (
    PHASE_START_EVENT,
    Baseline,
    EventKind,
    Phase,
    SessionEvent,
    minutes_ago,
    minutes_seconds,
    time_ago,
)
from monitor.store import Store, StoreError
from monitor.wall_clock import clock_text
from monitor.watchdog import STALL_LIMIT_S, Stall, Watchdog
from ui import theme
from ui.account_dialogs import AccountGate, AccountSignInDialog, emergency_note
from ui.alarm_bar import AlarmBar
from ui.alarm_echo import AlarmFeed
from ui.alarm_sound import AlarmSoundPlayer
from ui.bridge import RecorderBridge
from ui.chair_dialogs import (
    ChecklistDialog,
    DoseDialog,
    InterventionDialog,
    QuestionnaireDialog,
    RateDialog,
    RemsDialog,
    RespirationDialog,
)
from ui.dialogs import (
    MOAAS_LEVELS,
    RASS_LEVELS,
    AlarmLogDialog,
    CadssDialog,
    ConfirmDialog,
    DialogHost,
    Drafts,
    LevelDialog,
    PatientDialog,
    ReasonConfirmDialog,
    SignedInUser,
    TextDialog,
    correction_args,
    offer_correction,
)
from ui.guard_link import GuardBeat, GuardLink
from ui.idle_lock import IdleLock, auto_lock_minutes
from ui.labels import ElidedLabel, FittedLinesLabel, KeptEndLabel
from ui.numerics import NumericsPanel
from ui.plain_text import make_plain
from ui.settings_dialog import SettingsChoice, SettingsDialog, warm_driver_listing
from ui.trend_chart import LimitLine, TrendChart, phase_spans
from ui.wrapping_row import WrappingRow

if TYPE_CHECKING:
    from monitor.replication.replicator import Replicator

log = logging.getLogger(__name__)

# Quick events: (what, button text, shortcut key, prompt for a detail or None).
def _baseline_words(baseline: Baseline | None) -> str:
    """The baseline as the start-infusion question shows it ("" when there is none yet)."""
    if baseline is None:
        return ""
    b = baseline
    return (f"HR {b.heart_rate:g} /min, SpO2 {b.spo2:g} %, "
            f"NIBP {pressure_text(b.nibp_sys, b.nibp_dia, b.nibp_mean)} mmHg")


QUICK_EVENTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("dose_change", "Dose/rate", "D", None),
    ("nausea_vomiting", "Nausea/vomiting", "V", None),
    ("anxiety", "Anxiety", "X", None),
    ("intervention", "Intervention given", "I", "What was given or done"),
)

#: The header's word for a session whose patient is not identified yet.
NO_PATIENT = "not entered"

# Shorter button words where the recorded text is too long for a 1280-pixel-wide row of buttons.
QUICK_BUTTON_TEXT = {"dose_change": "Dose plan", "intervention": "Intervention"}
#: What the dose key does in each phase: a new rate during the infusion, the dose plan otherwise.
DOSE_BUTTON_TEXT = {True: ("Dose change (D)", "A new rate in mg/h (D)"),
                    False: ("Dose plan (D)", "The dose planned for the infusion (D)")}

# Rule parameters of the alarm profile -> the trend they are drawn on.
_RULE_PARAMETER = {
    "heart_rate": Parameter.HR,
    "spo2": Parameter.SPO2,
    "nibp_sys": Parameter.NIBP_SYS,
    "nibp_dia": Parameter.NIBP_DIA,
    "nibp_mean": Parameter.NIBP_MEAN,
}

MESSAGE_SHOWN_MS = 12_000
#: How long the entries of a discharge form closed without completing (Escape, Enter, a cancelled reason) are given
#: back when it is opened again: long enough for a slip of a key, too short to reuse an old assessment.
DISCHARGE_DRAFT_S = 300.0
#: Who an audio pause at the locked screen is recorded under: anyone may pause, nobody is signed in.
# The watchdog looks at the recorder this often (and flashes its alarm at half this rate).
WATCHDOG_TICK_MS = 250

# The tile that shows each alarm parameter.
_TILE_OF_PARAMETER = {
    "heart_rate": "hr", "hr": "hr", "pr": "hr", "spo2": "spo2",
    "nibp_sys": "nibp", "nibp_dia": "nibp", "nibp_mean": "nibp",
}


def tile_alarms(snapshot: AlarmSnapshot | None) -> dict[str, tuple[Priority, str]]:
    """Tile name -> (priority, breached-limit text) of its most urgent active physiological alarm.

    An alarm whose condition is present wins over a latched one (condition over, waiting for
    acknowledgement): the tile shows what the value on it does now. A latched alarm alone still
    colours the tile, as it stays in the alarm bar, and its text says the condition is over (or, carried
    from before the recording was interrupted, that it is from earlier).
    """
    shown: dict[str, tuple[Priority, str]] = {}
    if snapshot is None:
        return shown
    ordered = sorted(snapshot.active, key=lambda a: (a.latched, -int(a.priority)))
    operators = {line.condition: line.operator for line in snapshot.limits}
    for alarm in ordered:
        tile = _TILE_OF_PARAMETER.get(alarm.parameter or "")
        if tile is None or tile in shown or alarm.kind is not AlarmKind.PHYSIOLOGICAL:
            continue
        label = PARAMETER_LABELS.get(alarm.parameter or "")
        short = label.short if label is not None else (alarm.parameter or "").upper()
        limit = ""
        if alarm.limit is not None:
            # The rule's own side ("SpO2 ≤ 90" raised by exactly 90 is not "> 90"); a rule no longer in force (an
            # alarm carried over a restart, the phase changed) tells it by the value, the worst one when the
            # alarm log kept no other.
            side = operators.get(alarm.condition)
            if side is None:
                breach = alarm.value if alarm.value is not None else alarm.peak_value
                side = "<" if breach is not None and breach < alarm.limit else ">"
            limit = f" {short} {side} {alarm.limit:.0f}"
        over = (" (earlier)" if alarm.carried else " (over)") if alarm.latched else ""
        shown[tile] = (alarm.priority, f"{alarm.priority.marker}{limit or ' ALARM'}{over}")
    return shown


def chart_limits(limits: Sequence[EngineLimit]) -> list[LimitLine]:
    """The engine's limits in force as lines on the trend each one belongs to."""
    lines = []
    for limit in limits:
        if limit.parameter not in _RULE_PARAMETER:
            continue
        parameter, short = _RULE_PARAMETER[limit.parameter], PARAMETER_LABELS[limit.parameter].short
        text = f"{limit.priority.marker} {short} {limit.operator} {limit.value:.0f}"  # as a nurse reads it
        lines.append(LimitLine(parameter, float(limit.value), limit.priority, text, limit.operator in (">", "≥"),
                               kind=f"{short} {limit.operator}"))
    return lines


#: How the checklist names an item still to record, in a step's list of what blocks it.
NOT_RECORDED = ": not recorded"


def not_recorded_together(summary: str) -> str:
    """A step's blockers (``"; "``-separated) with the checklist items not recorded named once, where the first was:
    "fasting, escort, consent not recorded; dose: not planned" (each with its own ": not recorded" filled half of
    the header's two lines before the dose was named)."""
    parts = summary.split("; ")
    names = [part.removesuffix(NOT_RECORDED) for part in parts if part.endswith(NOT_RECORDED)]
    if len(names) < 2:
        return summary
    first = next(i for i, part in enumerate(parts) if part.endswith(NOT_RECORDED))
    rest = [part for part in parts if not part.endswith(NOT_RECORDED)]
    rest.insert(first, f"{', '.join(names)} not recorded")
    return "; ".join(rest)


class SessionHeader(QFrame):
    """Patient, phase, clocks, device and link health, signed-in user.

    Its height never changes: every text is one line, cut with "…" when it does not fit, the
    whole of it shown on hover, so a long name or device description cannot push the
    numerics or the controls off a small screen.
    """

    HEIGHT_PX = 64
    #: The phase badge's width at the least: the built-in phases' words at full size.
    PHASE_MIN_PX = 170
    #: The phase badge's text, and its two lines when the infusion is paused (they fit the header's height).
    PHASE_PX = 22
    PAUSED_PX = 18
    #: The clocks keep room for a line this long before the patient's line takes more than its shortest (the MRN
    #: whole): at 1280 pixels that leaves the patient's line 420 pixels, "Patient: Maria H… · MRN MRN-00004711".
    CLOCKS_ROOM_TEXT = "Infusion 00:00 of 40 min (40–60 min)"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.setFixedHeight(self.HEIGHT_PX)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 2, 10, 2)
        layout.setSpacing(8)
        # The MRN is never cut: a long name gives way before it.
        self.patient = KeptEndLabel("Patient: —", min_chars=len("Patient: ") + 3)
        self.patient.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.user = ElidedLabel("")
        self.user.setStyleSheet(f"font-size: 15px; color: {theme.TEXT_DIM};")
        # One width whatever it says: a badge that widened for "INFUSION · PAUSED" moved the Identify button and
        # took the width the patient's line had (a paused phase takes two lines instead; see set_phase_words).
        self.phase = QLabel("SETUP")
        self.phase.setTextFormat(Qt.TextFormat.PlainText)
        self.phase.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.phase.setFixedWidth(self.PHASE_MIN_PX)
        # What comes next, whole: drawn smaller, then on two lines in the header's height, before it is cut (at
        # 1280 pixels "Pre-dose done · ready to start dosing" and the dosing clock were cut at full size).
        self.timers = FittedLinesLabel("")
        self.timers.setStyleSheet("font-size: 20px; font-weight: bold;")
        self.link = QLabel("")
        self.link.setStyleSheet("font-size: 14px; font-weight: bold;")
        #: The link to the clinic's server, in a few words (the whole line on hover); hidden without a server.
        self.server = QLabel("")
        self.server.setTextFormat(Qt.TextFormat.PlainText)
        self.server.setVisible(False)
        self.device = ElidedLabel("")
        self.device.setStyleSheet(f"font-size: 14px; color: {theme.TEXT_DIM};")
        self.clock = QLabel("")
        self.clock.setStyleSheet("font-size: 22px; font-weight: bold;")
        self.clock.ensurePolished()
        # As wide before the first time is shown as after: the room the others share is known from the start.
        self.clock.setMinimumWidth(QFontMetrics(self.clock.font()).horizontalAdvance("00:00:00") + 2)
        who = QVBoxLayout()
        who.setSpacing(0)
        who.addWidget(self.patient)
        who.addWidget(self.user)
        # The patient's line is as wide as _share_room makes it; the clocks and the link take the rest.
        layout.addLayout(who, 0)
        self.patient_button = QPushButton("Identify…")
        self.patient_button.setToolTip("Enter the patient's MRN (and name, birth date)")
        layout.addWidget(self.patient_button)
        layout.addWidget(self.phase)
        state = QVBoxLayout()
        state.setSpacing(0)
        state.addWidget(self.timers)
        health = QHBoxLayout()
        health.setSpacing(6)
        health.addWidget(self.link)
        health.addWidget(self.server)
        health.addWidget(self.device, 1)
        state.addLayout(health)
        layout.addLayout(state, 1)
        layout.addWidget(self.clock)
        self.set_phase(Phase.SETUP)

    def set_patient(self, name: str, mrn: str = "") -> None:
        """"Patient: " with the name, then the MRN, which stays whole when the name is cut."""
        self.patient.set_text_and_end(f"Patient: {name}", mrn)
        self._share_room()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Share the new width between the patient's line and the clocks."""
        super().resizeEvent(event)
        self._share_room()

    def _share_room(self) -> None:
        """The patient's line gets its whole text's width where the clocks keep :attr:`CLOCKS_ROOM_TEXT`'s, else
        what that leaves, never less than its MRN whole; the clocks take the rest. It depends on the header's width
        and the patient only: a phase, a clock or a device text that changes moves nothing."""
        layout = self.layout()
        margins = layout.contentsMargins()
        fixed = (self.patient_button.sizeHint().width() + self.phase.minimumWidth()
                 + max(self.clock.sizeHint().width(), self.clock.minimumWidth()) + 4 * layout.spacing())
        room = self.contentsRect().width() - margins.left() - margins.right() - fixed
        clocks = QFontMetrics(self.timers.font()).horizontalAdvance(self.CLOCKS_ROOM_TEXT)
        width = max(self.patient.minimumSizeHint().width(), min(self.patient.sizeHint().width(), room - clocks))
        if self.patient.minimumWidth() != width:
            self.patient.setMinimumWidth(width)

    def set_phase_words(self, words: Iterable[str]) -> None:
        """Make the phase badge wide enough for each of the protocol's phase words (it keeps that width)."""
        self.phase.ensurePolished()
        metrics = QFontMetrics(self.phase.font())
        margins = self.phase.contentsMargins()  # the style sheet's padding and border
        frame = margins.left() + margins.right() + 2
        widest = max((metrics.horizontalAdvance(word.upper()) for word in words), default=0)
        self.phase.setFixedWidth(max(self.PHASE_MIN_PX, widest + frame))
        self._share_room()

    def set_phase(self, phase: Phase, paused: bool = False, label: str | None = None) -> None:
        """Phase badge in the phase's colour (amber while the pump is paused), named as the protocol names it.

        Paused, "PAUSED" is a second line under the phase, both smaller: on one line the badge grew from 170 to 266
        pixels, taken from the patient's line, and the Identify button moved.
        """
        colour = theme.PHASE_COLOURS.get(phase.value, "#333")
        text = (label or phase.value).upper() + ("\nPAUSED" if paused else "")
        border = theme.WARNING_TEXT if paused else "#888"
        self.phase.setText(text)
        theme.restyle(
            self.phase,
            f"background: {colour}; border: 2px solid {border}; border-radius: 6px; "
            f"font-size: {self.PAUSED_PX if paused else self.PHASE_PX}px; font-weight: bold; padding: 2px 10px;"
        )

    def text(self) -> str:
        """Everything the header says, as one line (for logs and tests)."""
        parts = (self.patient, self.phase, self.timers, self.link, self.device, self.user, self.clock)
        return "  ".join(label.text().replace("\n", " · ") for label in parts)


#: A score due: amber, but with the keyboard the white ring (the button's own amber border hid the ring).
SCORE_DUE_STYLE = (f"QPushButton {{ border: 2px solid {theme.WARNING_TEXT}; color: {theme.WARNING_TEXT}; }}"
                   f" QPushButton:focus {{ border: 2px dotted {theme.TEXT}; }}")


class _ScoreButton:
    """A score's button: its name, its key, and the scales (as compared) it records."""

    def __init__(self, button: QPushButton, name: str, key: str, scales: frozenset[str]) -> None:
        self.button = button
        self.name = name
        self.key = key
        self.scales = scales
        self.tip = button.toolTip()

    def mark(self, due: bool, which: str = "") -> None:
        """Due: amber, and "MOAA/S due" in place of "(M)" (about as wide; the key still works, the tip names it,
        and ``which`` of the scale's scores is due where the protocol asks it twice: "before discharge")."""
        self.button.setText(f"{self.name} due" if due else f"{self.name} ({self.key})")
        moment = f", {which}" if which else ""
        self.button.setToolTip(f"Due now under the session's protocol{moment} (key {self.key}). {self.tip}" if due
                               else self.tip)
        theme.restyle(self.button, SCORE_DUE_STYLE if due else "")


def discharge_readings(status: SessionStatus) -> list[Reading]:
    """What the discharge form scores on: the newest usable value of each parameter (a failed cuff or dashes after
    it do not hide it), then the newest readings."""
    return [*status.latest_valid, *status.latest]


class LiveWindow(DialogHost, QMainWindow):
    """Shows what the recorder produces and turns the nurse's actions into recorder commands."""

    #: Emitted after a command settles: name, error text ("" when it succeeded).
    command_settled = Signal(str, str)
    #: "M" then "0" typed at once: the "0" is the form's, even before the form has the keyboard.
    forms_take_typed_keys = True

    def __init__(
        self,
        bridge: RecorderBridge,
        user: SignedInUser | None = None,
        *,
        device: DeviceSpec | None = None,
        sound: bool = True,
    ) -> None:
        super().__init__()
        self.bridge = bridge
        self.user = user or SignedInUser(bridge.recorder.nurse or "unknown", "nurse")
        self.device = device or DeviceSpec()
        #: The link to the clinic's server, when this chair replicates (its state is shown in the header).
        self.server_link: Replicator | None = None
        self._server_checked = float("-inf")
        #: Beats the guard process, which alarms on its own when this window stops (see :meth:`set_guard`).
        self.guard: GuardBeat | None = None
        self.locked = False
        self.dialog: QDialog | None = None
        #: What a note, the checklist or the discharge form held when closed without being recorded.
        self.drafts = Drafts(time.monotonic)
        #: The accounts dialog an admin opened from the settings (over them), if any.
        self.accounts_dialog: QDialog | None = None
        self.last_status: SessionStatus | None = None
        self.last_snapshot: AlarmSnapshot | None = None
        #: The tiles' alarm states last shown (see :meth:`show_alarms`).
        self._tile_states: object = None
        self.end_status: str | None = None
        self.events: list[SessionEvent] = []
        #: The session's blood-pressure readings and the SpO2 beside them, for what the record holds on the REMS form.
        self.form_readings = rems.FormReadings()
        self.messages: list[str] = []
        #: The scales the protocol asks for now (the core's ``SessionStatus.scores_due``).
        self.scores_due: tuple[str, ...] = ()
        #: Which of a due scale's scores is due, where the protocol asks it twice (``SessionStatus.scores_due_for``).
        self.scores_due_for: tuple[tuple[str, str], ...] = ()
        self._close_confirmed = False
        self._limits_key: tuple[EngineLimit, ...] | None = None
        self.browser: QWidget | None = None
        #: The alarm bar's snapshots, for the windows opened from here (they cover the bar); they ask it for this one.
        self.alarm_feed = AlarmFeed()
        self.alarm_feed.forward_requested.connect(self.come_forward)
        #: The device being opened for a change (None: no change under way), and its opening.
        self.device_opening: DeviceSpec | None = None
        self._opening: Future[OpenedDevice] | None = None

        self.setWindowTitle("Infusion Monitor")
        theme.fit_to_screen(self, 1600, 900)
        self.setStyleSheet(theme.STYLE_SHEET)
        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(8, 6, 8, 6)
        root.setSpacing(6)
        self.header = SessionHeader()
        root.addWidget(self.header)
        self.alarm_bar = AlarmBar()
        root.addWidget(self.alarm_bar)
        body = QHBoxLayout()
        self.chart = TrendChart()
        self.chart.set_phase_words(bridge.recorder.protocol.labels())
        self.chart.dose_range = bridge.recorder.protocol.dose
        self.header.set_phase_words(bridge.recorder.protocol.labels().values())
        body.addWidget(self.chart, 66)
        self.numerics = NumericsPanel()
        self.numerics.setMinimumWidth(430)
        body.addWidget(self.numerics, 34)
        root.addLayout(body, 1)
        # Messages float over the bottom of the chart: showing one never moves a button under a finger.
        self.message = theme.floating_message(central, "font-size: 18px; padding: 6px 10px; border-radius: 4px;")
        self.controls = self._build_controls()
        # A row of buttons that wraps (or unwraps) changes the controls' height without a window resize.
        self.controls.installEventFilter(self)
        root.addWidget(self.controls)
        self.lock_banner = QLabel("SCREEN LOCKED — alarms stay active and audible; anyone may pause the sound (S). "
                                  "Sign in to unlock (Ctrl+L).")
        self.lock_banner.setStyleSheet(
            f"background: #20242a; color: {theme.TEXT}; font-size: 20px; padding: 10px; border: 2px solid #888;"
        )
        self.lock_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.lock_banner.setVisible(False)
        root.addWidget(self.lock_banner)
        self.setCentralWidget(central)

        # Convenience names used by tests and by the first-window code.
        self.hr_tile = self.numerics.hr
        self.spo2_tile = self.numerics.spo2
        self.nibp_tile = self.numerics.nibp

        self.sound = AlarmSoundPlayer(self) if sound else None
        if self.sound is not None:
            self.alarm_bar.set_audio_output(self.sound.available, "" if self.sound.available else self.sound.detail)
            self.sound.output_changed.connect(self.alarm_bar.set_audio_output)
        else:
            self.alarm_bar.set_audio_output(False, "sound disabled")
        self.alarms_available = bridge.recorder.alarms is not None
        if not self.alarms_available:
            self.alarm_bar.quiet_label.setText("No alarm engine is running: alarms are NOT monitored")
            self.alarm_bar.quiet_label.setStyleSheet(f"color: {theme.WARNING_TEXT}; font-size: 20px;")
        self.alarm_bar.acknowledge_requested.connect(self.acknowledge_alarms)
        self.alarm_bar.pause_requested.connect(self.pause_audio)
        self.alarm_bar.log_requested.connect(self.show_alarm_log)
        self.alarm_bar.flashed.connect(self.numerics.flash)
        self._message_phase: Phase | None = None
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(lambda: self.message.setVisible(False))
        self._install_shortcuts()
        self._size_score_buttons()
        self._show_user()
        self._show_patient(self.bridge.recorder.patient)
        self.header.patient_button.clicked.connect(self.identify_patient)
        if not self.alarms_available:
            self._default_limits()
        # The watchdog runs on the GUI thread, outside the recorder it watches.
        self.watchdog = Watchdog(bridge.recorder)
        self.watchdog_stalls: list[Stall] = []
        #: Why this window could not show the recorder's last news (None: it showed it).
        self.display_error: str | None = None
        self._watch_alarmed = False
        #: Why the recording ended when it was not asked to (None: it runs, or ended as asked).
        self.end_error: str | None = None
        self._watched_at = time.monotonic()
        self._status_received_at = time.monotonic()
        self._watch_timer = QTimer(self)
        self._watch_timer.setInterval(WATCHDOG_TICK_MS)
        self._watch_timer.timeout.connect(self._watch)
        self._watch_timer.start()
        self._load_history()
        bridge.updates.connect(self.on_updates)
        bridge.finished.connect(self.on_finished)
        bridge.command_failed.connect(lambda name, text: self.show_message(text))
        # Patient, user and device text is shown literally, never as markup.
        make_plain(self)
        # Checked whole by the recording's own store; an emergency sign-in the database cannot take goes with the
        # recording's rows.
        self.gate = AccountGate(bridge.recorder.store.path, checked=True, recording=self._emergency_held)
        self.setWindowTitle(f"Infusion Monitor — alarm profile {self.profile_label()}")
        self.idle_lock = IdleLock(self, auto_lock_minutes() * 60_000, self._idle)
        warm_driver_listing()

    # -- construction ------------------------------------------------------------------------

    def _button(self, text: str, slot: Callable[[], None], tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.setMinimumHeight(42)
        # Called without arguments: ``clicked`` carries a "checked" flag, which an action whose arguments have
        # defaults (a quick event's) would take as its first one.
        button.clicked.connect(lambda _checked=False: slot())
        if tip:
            button.setToolTip(tip)
        return button

    def _build_controls(self) -> QFrame:
        """Two rows of buttons: the session's steps and the device, then events, notes and scores.

        Each row is its own line of buttons (not one grid), so a wide button in one row does not
        widen a column of the other. A row that does not fit the width (a protocol's extra button,
        scores marked due) wraps onto a second line rather than making the window wider than the screen.
        """
        panel = QFrame()
        panel.setObjectName("panel")
        panel.setStyleSheet("QPushButton { font-size: 14px; padding: 6px 6px; }")
        rows = QVBoxLayout(panel)
        rows.setContentsMargins(6, 6, 6, 6)
        rows.setSpacing(6)
        self.phase_buttons = {
            "start_baseline": self._button(self._step(Phase.BASELINE, "Start"), self.start_baseline),
            "start_infusion": self._button(self._step(Phase.INFUSION, "Start"), self.start_infusion),
            "pause_infusion": self._button(self._step(Phase.INFUSION, "Pause") + " (P)", self.toggle_pause),
            "stop_infusion": self._button(self._step(Phase.INFUSION, "Stop"), self.stop_infusion),
            "start_recovery": self._button(self._step(Phase.RECOVERY, "Start"), self.start_recovery),
            "complete": self._button("Discharge…", self.discharge),
        }
        self.nibp_button = self._button("NIBP now (B)", self.nibp_now)
        self.settings_button = self._button("Settings", self.open_settings)
        self.sign_in_button = self._button("Sign in", self.sign_in, "Sign in at a shift change")
        self.lock_button = self._button("Lock (Ctrl+L)", self.toggle_lock)
        self._button_row(rows, [*self.phase_buttons.values(), self.nibp_button, self.settings_button,
                                self.sign_in_button, self.lock_button])
        # Until the first status says where the session stands (a resumed one may be in any phase), no
        # phase step and no cuff start is offered, and none is drawn as the next step.
        for button in (*self.phase_buttons.values(), self.nibp_button):
            button.setEnabled(False)
        self.quick_buttons: dict[str, QPushButton] = {}
        for what, text, key, prompt in QUICK_EVENTS:
            label = QUICK_BUTTON_TEXT.get(what, text)
            button = self._button(f"{label} ({key})", lambda w=what, t=text, p=prompt: self.quick_event(w, t, p))
            self.quick_buttons[what] = button
        self.note_button = self._button("Note (N)", self.add_note)
        self.moaas_button = self._button(
            "MOAA/S (M)", self.score_moaas, "Modified Observer's Assessment of Alertness/Sedation, 0-5"
        )
        self.rass_button = self._button("RASS (R)", self.score_rass, "Richmond Agitation-Sedation Scale, +4 to -5")
        self.cadss_button = self._button("CADSS-6 (C)", self.score_cadss, "CADSS short form: six items, each 0-4")
        self.sessions_button = self._button(
            "Sessions…", self.open_sessions, "Recorded sessions: review, reports, unfinished sessions"
        )
        before = f"Checklist before {self._word(Phase.INFUSION)}: fasting, escort, consent, medications, weight"
        self.checklist_button = self._button("Checklist (K)", self.checklist_entry, before)
        self.questionnaire_button = self._button("PHQ/GAD (Q)", self.questionnaires,
                                                 "PHQ-9 and GAD-7, answered by the patient on this screen")
        self.breathing_button = self._button(
            "Breathing (E)", self.respiratory_check,
            "Respiratory check: breaths counted in a minute, and whether respiratory depression was seen")
        self.rems_button = self._button("REMS (F)", self.rems_entry,
                                        "Esketamine REMS monitoring form: the answers the record cannot give")
        row = [self.checklist_button, *self.quick_buttons.values(), self.questionnaire_button, self.note_button,
               self.moaas_button, self.rass_button, self.cadss_button]
        self._score_buttons = (
            _ScoreButton(self.questionnaire_button, "PHQ/GAD", "Q", frozenset({"PHQ9", "GAD7"})),
            _ScoreButton(self.moaas_button, "MOAA/S", "M", frozenset({"MOAA/S"})),
            _ScoreButton(self.rass_button, "RASS", "R", frozenset({"RASS"})),
            _ScoreButton(self.cadss_button, "CADSS-6", "C", frozenset({"CADSS6", "CADSS"})),
            _ScoreButton(self.breathing_button, "Breathing", "E", frozenset({"RESPIRATION"})),
        )
        if self._asks_breathing:
            row.append(self.breathing_button)
        else:
            self.breathing_button.setVisible(False)
        if self.bridge.recorder.protocol.rems:
            row.append(self.rems_button)
        else:
            self.rems_button.setVisible(False)
        self._button_row(rows, [*row, self.sessions_button])
        return panel

    @staticmethod
    def _button_row(rows: QVBoxLayout, buttons: Sequence[QPushButton]) -> None:
        line = WrappingRow(spacing=6)
        for button in buttons:
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            line.addWidget(button)
        rows.addLayout(line)

    def _form_room(self) -> tuple[QWidget, QWidget | None]:
        """Forms open below the alarm bar, and left of the numerics where they fit: an alarm that starts while a
        form is open is seen, and so are the values."""
        return self.alarm_bar, self.numerics

    def _alarm_controls(self) -> Sequence[QWidget]:
        """Acknowledge and audio pause take a click while a form is open: no letter typed in a form acts on the
        alarms (the alarm log would replace the form, so it waits)."""
        return (self.alarm_bar.ack_button, self.alarm_bar.pause_button)

    def _install_shortcuts(self) -> None:
        keys: list[tuple[str, Callable[[], None]]] = [
            ("A", self.acknowledge_alarms),
            ("S", self.pause_audio),
            ("P", self.toggle_pause),
            ("B", self.nibp_now),
            ("N", self.add_note),
            ("M", self.score_moaas),
            ("R", self.score_rass),
            ("C", self.score_cadss),
            ("E", self.respiratory_check),
            ("K", self.checklist_entry),
            ("Q", self.questionnaires),
            ("F", self.rems_entry),
            ("L", self.chart.go_live),
            ("Ctrl+L", self.toggle_lock),
        ]
        for what, text, key, prompt in QUICK_EVENTS:
            keys.append((key, lambda w=what, t=text, p=prompt: self.quick_event(w, t, p)))
        self.shortcuts: dict[str, QShortcut] = {}
        for key, slot in keys:
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.activated.connect(slot)
            self.shortcuts[key] = shortcut

    def _show_patient(self, patient: PatientOnFile | None) -> None:
        """MRN (and name) of the session's patient in the header ("unknown" where it could not be read)."""
        if patient is None:
            name, mrn = ("unknown (it could not be read)" if self.bridge.recorder.patient_unread else NO_PATIENT), ""
        else:
            name, mrn = patient.label_parts
        self.header.set_patient(name, mrn)

    def _load_history(self) -> None:
        """A resumed session: draw everything stored before the window opened (the chart shows the whole session)."""
        recorder = self.bridge.recorder
        try:
            with Store(recorder.store.path, readonly=True, check=False) as reader:
                events = reader.events(recorder.session.id)
                readings = list(reader.readings(recorder.session.id))
        except StoreError as exc:
            log.warning("cannot read the session's history: %s", exc)
            return
        if not readings and not events:
            return
        self.events = list(events)
        self.form_readings = rems.FormReadings()
        self.form_readings.add(readings)
        self.chart.load_session(readings, self.events)

    # -- commands --------------------------------------------------------------------------------

    def send(self, name: str, on_success: Callable[[Any], None] | None = None, *, as_user: str | None = None,
             on_refusal: Callable[[BaseException], bool] | None = None, **args: Any) -> None:
        """Send a command as the signed-in user (or ``as_user``); a refusal is shown as a message.

        ``on_refusal`` may take a refusal over (e.g. to ask for an override reason); it returns whether it did.
        """
        # The alarm engine's commands carry the signed-in role (some need admin).
        if name in USER_COMMANDS:
            args.setdefault("role", None if as_user is not None else self.user.role)

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                if on_refusal is None or not on_refusal(error):
                    self.show_message(str(error))
            elif on_success is not None:
                on_success(result)
            self.command_settled.emit(name, "" if error is None else str(error))

        self.bridge.command(name, as_user if as_user is not None else self.user.name, done, **args)

    def show_message(self, text: str, lasting: bool = False) -> None:
        """A message the nurse must see (a refused action, a failed device change); shown for a while, or with
        ``lasting`` until another takes its place."""
        self.messages.append(text)
        self.message.setText(text)
        self.message.setVisible(True)
        self._place_message()
        if lasting:
            self._message_timer.stop()
            self._message_phase = None
            return
        self._message_timer.start(MESSAGE_SHOWN_MS)
        # A refusal speaks of the phase it was given in: it goes when the phase changes ("take a baseline first"
        # stayed over the chart after the baseline had started).
        self._message_phase = self.last_status.phase if self.last_status is not None else None


    def _place_message(self) -> None:
        """Lay the message over the lower edge of the chart, just above the controls: never over the numerics,
        whose lowest line is the cuff's age and next cuff."""
        central = self.centralWidget()
        if central is None:
            return
        left = self.chart.mapTo(central, QPoint(0, 0)).x() + 10
        width = max(200, self.chart.width() - 20)
        height = self.message.heightForWidth(width)
        bottom = self.controls.geometry().top() if self.controls.isVisible() else self.lock_banner.geometry().top()
        self.message.setGeometry(left, max(0, bottom - height - 8), width, height)
        self.message.raise_()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The controls changed size (a row wrapped): the alarm rows' budget and the message's place follow."""
        if watched is self.controls and event.type() == QEvent.Type.Resize:
            self._budget_alarm_rows()
            if self.message.isVisible():
                self._place_message()
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep the floating message in its place; give the alarm rows what the numerics leave free."""
        super().resizeEvent(event)
        self._budget_alarm_rows()
        if self.message.isVisible():
            self._place_message()

    def _controls_height(self) -> int:
        """The controls' height at the window's width (their rows wrap when narrow)."""
        width = self.controls.width() if self.controls.width() > 0 else self.centralWidget().width()
        height = self.controls.heightForWidth(width)
        return height if height > 0 else self.controls.sizeHint().height()

    def _budget_alarm_rows(self) -> None:
        """Alarm rows may grow until the numerics would drop below their smallest readable size."""
        root = self.centralWidget().layout()
        margins = root.contentsMargins()
        fixed = (
            margins.top() + margins.bottom() + 3 * root.spacing() + self.header.height()
            + self.numerics.minimumSizeHint().height()
            + (self._controls_height() if self.controls.isVisible() else self.lock_banner.sizeHint().height())
            + 12  # the alarm bar's own margins and frame
        )
        self.alarm_bar.set_height_budget(max(40, self.centralWidget().height() - fixed))

    def confirm(
        self, title: str, text: str, action: Callable[[], None], yes: str = "Yes", danger: bool = False
    ) -> None:
        """Ask before a costly action."""
        self._open(ConfirmDialog(self, title, text, yes, danger), lambda _d: action())

    def _blocked(self) -> bool:
        if self.locked:
            self.show_message("The screen is locked: sign in to unlock (Ctrl+L).")
            return True
        if self.end_status is not None:
            self.show_message(f"The session is {self.end_status}; nothing more can be recorded in it.")
            return True
        return False

    # -- phase actions ---------------------------------------------------------------------------

    def start_baseline(self) -> None:
        """Begin collecting the baseline (asks when it would restart one)."""
        if self._blocked():
            return
        status = self.last_status
        if status is not None and status.phase is Phase.BASELINE:
            restart = f"Restart {self._word(Phase.BASELINE)}"
            self.confirm(restart, f"Start the {self._word(Phase.BASELINE)} phase again? Values collected so far "
                         "are discarded.", lambda: self.send("start_baseline"), restart)
        else:
            self.send("start_baseline")

    def start_infusion(self) -> None:
        """Start the infusion after a confirmation that shows the baseline it will use.

        What the core says is not ready (baseline too short, BP at or above the hold threshold, a
        high alarm) can be overridden only with a reason, asked for here and recorded by the core.
        """
        if self._blocked():
            return
        status = self.last_status
        check = status.step_check if status is not None else None
        if check is None or check.action != readiness.START_INFUSION:
            check = None
        # Refuse before asking: a question whose answer cannot be carried out misleads.
        if check is not None and not check.ready and not check.overridable:
            self.show_message(check.summary())
            return
        if check is None and (status is None or status.phase is Phase.SETUP or status.baseline_missing):
            if status is not None and status.phase is Phase.BASELINE:
                reason = f"baseline incomplete (still needs {', '.join(status.baseline_missing)})"
            else:
                reason = f"take a baseline first (start the {self._word(Phase.BASELINE)} phase)"
            self.show_message(f"Cannot start {self._word(Phase.INFUSION)}: {reason}.")
            return
        assert status is not None
        since = ""
        if status.phase is Phase.BASELINE:
            since = f" The baseline is frozen from the values taken since {self._baseline_since()}."
        text = f"Start {self._word(Phase.INFUSION)} now?" + since
        shown = _baseline_words(check.baseline if check is not None else None)
        if shown:
            text += f"\n\nBaseline to be used: {shown}."
        if check is not None and check.notes:
            text += "\n" + "\n".join(check.notes)
        if check is None or check.ready:
            start = self._step(Phase.INFUSION, "Start")
            self.confirm(start, text, lambda: self._start_infusion_as_shown(shown), start)
            return
        if not check.overridable:
            self.show_message(check.summary())
            return
        self._ask_override(self._step(Phase.INFUSION, "Start") + ": not ready",
                           text + f"\n\nNot ready: {check.summary()}.",
                           lambda reason: self._start_infusion_as_shown(shown, override_reason=reason))

    def _start_infusion_as_shown(self, shown: str, **args: Any) -> None:
        """Start the infusion with the baseline the question showed (``shown``, its words); when a value came
        meanwhile (a cuff while the question stood open) the baseline to be used reads otherwise: the question is
        asked again with it."""
        status = self.last_status
        check = status.step_check if status is not None else None
        now = _baseline_words(check.baseline if check is not None and check.action == readiness.START_INFUSION
                              else None)
        if shown and now and now != shown:
            self.show_message("The baseline changed while the question was open (a new value came): check it and "
                              "confirm again.")
            self.start_infusion()
            return
        self.send("start_infusion", **args)

    def _ask_override(self, title: str, text: str, action: Callable[[str], None]) -> None:
        """Ask for the reason to go ahead anyway; nothing happens without one."""
        def go(dialog: QDialog) -> None:
            reason = dialog.text()  # type: ignore[attr-defined]
            if reason:
                action(reason)
            else:
                self.show_message("Not done: going ahead anyway needs a reason.")

        self._open(TextDialog(self, title, text + "\nTo go ahead anyway, give the reason (it is recorded):"), go)

    def _baseline_since(self) -> str:
        for event in reversed(self.events):
            if event.kind is PHASE_START_EVENT[Phase.BASELINE]:
                return clock_text(event.t, "%H:%M")
        return "the baseline start"

    def toggle_pause(self) -> None:
        """Pause a running infusion, or resume a paused one."""
        if self._blocked():
            return
        status = self.last_status
        if status is not None and status.infusion_paused:
            self.send("resume_infusion")
        else:
            self.send("pause_infusion")

    def _infusion_minimum_left_min(self) -> float | None:
        """Minutes left of the protocol's minimum infusion (None: none, or it has run that long)."""
        status = self.last_status
        minimum = self.bridge.recorder.protocol.phases[Phase.INFUSION].min_min
        if status is None or status.phase is not Phase.INFUSION or not minimum:
            return None
        left = minimum - status.infusion_elapsed_s / 60.0
        return left if left > 0 else None

    def stop_infusion(self) -> None:
        """Mark the end of drug delivery (asks first; before the protocol's minimum, asks why — never refuses)."""
        if self._blocked():
            return
        left = self._infusion_minimum_left_min()
        if left is None:
            stop = self._step(Phase.INFUSION, "Stop")
            word = self._word(Phase.INFUSION)
            self.confirm(stop, f"Mark {word} as stopped? {word.capitalize()} time stops counting.",
                         lambda: self.send("stop_infusion"), stop, danger=True)
            return
        minimum = self.bridge.recorder.protocol.phases[Phase.INFUSION].min_min
        stop = self._step(Phase.INFUSION, "Stop") + " early"
        text = (f"Stop {self._word(Phase.INFUSION)} {left:.1f} min before the protocol's {minimum:g} min minimum? "
                "The stop is recorded as early.")
        self._open(ReasonConfirmDialog(self, stop, text, stop, "Reason (recorded; may be left empty):"),
                   lambda dialog: self.send("stop_infusion", reason=dialog.text()))  # type: ignore[attr-defined]

    def start_recovery(self) -> None:
        """Enter recovery (asks first; stops the infusion if still running; before the minimum, asks why)."""
        if self._blocked():
            return

        def refused(error: BaseException) -> bool:
            if not (isinstance(error, OverrideRequired) and error.check.overridable):
                return False
            self._ask_override(self._step(Phase.RECOVERY, "Start") + ": not ready",
                               f"Not ready: {error.check.summary()}.",
                               lambda reason: self.send("start_recovery", override_reason=reason))
            return True

        start = self._step(Phase.RECOVERY, "Start")
        self.confirm(start, f"Start {self._word(Phase.RECOVERY)} now? {self._word(Phase.INFUSION).capitalize()}, "
                     "if still running, is marked stopped.",
                     lambda: self.send("start_recovery", on_refusal=refused), start)

    def discharge(self) -> None:
        """Score discharge (modified Aldrete, PADSS) and complete the session."""
        if self._blocked():
            return
        try:
            from ui.discharge_dialog import DischargeDialog
        except ImportError as exc:
            self.show_message(f"discharge scoring is not available: {exc}")
            return
        status = self.last_status
        readings = discharge_readings(status) if status is not None else []
        baseline = status.baseline if status is not None else None
        check = status.step_check if status is not None else None
        nibp_now = self.nibp_now if status is not None and status.can_start_nibp else None
        marks = self.bridge.recorder.protocol.discharge.marks
        dialog = DischargeDialog(self, readings, baseline, check, nibp_now, marks, last_oxygen(self.events))
        # Kept also when the form is accepted: the question after it (criteria not met: the reason) may be
        # cancelled. Given back for a few minutes only: a discharge assessment is made afresh.
        self.drafts.attach("discharge", dialog, max_age_s=DISCHARGE_DRAFT_S, keep_when_accepted=True)
        self._open(dialog, self._discharge_entered)

    def _discharge_entered(self, dialog: QDialog) -> None:
        result = dialog.discharge()  # type: ignore[attr-defined]
        if result is None:
            return
        detail = result.as_dict()
        reason = dialog.override_reason()  # type: ignore[attr-defined]

        def record(why: str) -> None:
            complete_args = {"override_reason": why} if why else {}
            self.drafts.drop("discharge")
            self.send("discharge_scored", lambda _r: self.send("complete", **complete_args), **detail)

        if result.passed:
            record(reason)
            return
        reasons = "; ".join(result.reasons)
        if not reason:
            # Completing against failed criteria is an override: the reason is asked for and recorded.
            self._ask_override("Discharge criteria not met", f"Discharge criteria are not met: {reasons}.", record)
            return
        self.confirm("Discharge criteria not met", f"Discharge criteria are not met: {reasons}. "
                     f"Complete the session anyway, for the reason \"{reason}\" (recorded)?",
                     lambda: record(reason), "Complete anyway", danger=True)

    def nibp_now(self) -> None:
        """Start a cuff measurement now."""
        if self._blocked():
            return
        self.send("nibp_now")

    # -- notes and scores ------------------------------------------------------------------------

    def quick_event(self, what: str, text: str, prompt: str | None) -> None:
        """Record a quick event; some ask for one line of detail (Enter records it)."""
        if self._blocked():
            return
        if what == "dose_change":
            self.dose_entry()
            return
        if what == "intervention":
            self.intervention_entry()
            return
        if prompt is None:
            self.send("quick_event", what=what, text=text)
            return

        def record(dialog: QDialog) -> None:
            detail = dialog.text()  # type: ignore[attr-defined]
            self.send("quick_event", what=what, text=f"{text}: {detail}" if detail else text)

        self._open(TextDialog(self, text, prompt), record)

    def checklist_entry(self) -> None:
        """The pre-infusion checklist in a few keystrokes (K)."""
        if self._blocked():
            return
        protocol = self.bridge.recorder.protocol
        current = current_checklist(self.events)
        dialog = ChecklistDialog(self, protocol, current)
        self.drafts.attach("checklist", dialog)
        self._open(dialog, lambda d: self.send("checklist", quick=d.quick_text()))  # type: ignore[attr-defined]

    def dose_entry(self) -> None:
        """Before the infusion: the dose plan; during it: a new rate in mg/h (D), where the protocol is infused (during
        esketamine dosing the dose plan, as before it: a nasal spray has no rate)."""
        if self._blocked():
            return
        status = self.last_status
        if status is not None and chair.takes_rate(self.bridge.recorder.protocol, status.phase):
            def rate(dialog: QDialog) -> None:
                assert isinstance(dialog, RateDialog)
                text = dialog.text().replace(",", ".")
                try:
                    value = float(text)
                except ValueError:
                    self.show_message(f"'{text}' is not a rate in mg/h")
                    return
                correcting = dialog.correction_args()

                def refused(error: BaseException) -> bool:
                    if not isinstance(error, DoseNeedsConfirmation):
                        return False
                    self._ask_override("Rate change: outside the protocol's range", f"{error}.",
                                       lambda reason: self.send("rate_change", rate_mg_per_h=value,
                                                                confirm_reason=reason, **correcting))
                    return True

                self.send("rate_change", on_refusal=refused, rate_mg_per_h=value, **correcting)

            last = chair.last_rate_entry(self.events)
            shown = None if last is None else (float(last.detail["rate_mg_per_h"]), clock_text(last.t, "%H:%M"))
            self._open(RateDialog(self, shown), rate)
            return
        found = current_checklist(self.events)
        weight = found.weight_kg if found is not None else None
        status = self.last_status
        started = status is not None and status.phase not in (Phase.SETUP, Phase.BASELINE)
        given = dose_record(self.events).plan if started else None
        self._open(DoseDialog(self, self.bridge.recorder.protocol, weight, given),
                   lambda d: self.send("plan_dose", **d.args()))  # type: ignore[attr-defined]

    def intervention_entry(self) -> None:
        """An intervention with drug and dose (I)."""
        if self._blocked():
            return
        dialog = InterventionDialog(self)
        dialog.offer_correction(self._last_entry_text((EventKind.INTERVENTION,)))
        self._open(dialog, lambda d: self.send("intervention", **d.args()))  # type: ignore[attr-defined]

    def _last_entry_text(self, kinds: tuple[EventKind, ...]) -> str | None:
        """The newest entry of ``kinds`` as a correction offers it (``oxygen 2 L/min nasal cannula at 14:13``), None
        when the session holds none."""
        last = last_entry(self.events, kinds)
        return None if last is None else f"{shown_value(last)} at {clock_text(last.t, '%H:%M')}"

    def questionnaires(self) -> None:
        """PHQ-9 then GAD-7, one question at a time, for the patient to answer (Q)."""
        if self._blocked():
            return

        def ask(name: str, then: str | None) -> None:
            def record(dialog: QDialog) -> None:
                self.send("outcome_score", scale=name, answers=dialog.answers)  # type: ignore[attr-defined]
                if then is not None:
                    QTimer.singleShot(0, lambda: ask(then, None))

            self._open(QuestionnaireDialog(self, name), record)

        ask("PHQ-9", "GAD-7")

    def rems_entry(self) -> None:
        """The REMS form's questions (esketamine protocols only) (F)."""
        if self._blocked():
            return
        if not self.bridge.recorder.protocol.rems:
            self.show_message(f"The {self.bridge.recorder.protocol.name} protocol has no REMS form.")
            return
        given = rems.answers(self.events)
        session = self.bridge.recorder.session
        recorded = rems.recorded_answers(self.events, self.bridge.recorder.protocol, self.form_readings.readings(),
                                         session.now)
        self._open(RemsDialog(self, session.started_at, given, now=session.now, recorded=recorded),
                   lambda d: self.send("rems_answers", answers=d.values()))  # type: ignore[attr-defined]

    def identify_patient(self) -> None:
        """Enter who is in the chair; changing an identified patient asks first."""
        if self._blocked():
            return

        def record(dialog: QDialog) -> None:
            self.send("identify_patient", self._show_patient, **dialog.values())  # type: ignore[attr-defined]

        def ask() -> None:
            self._open(PatientDialog(self), record)

        if self.header.patient.text() != f"Patient: {NO_PATIENT}":
            self.confirm("Change patient", "This session already has a patient. Attach it to another patient?",
                         ask, yes="Change patient", danger=True)
        else:
            ask()

    def add_note(self) -> None:
        """A free-text note on the timeline."""
        if self._blocked():
            return

        last = last_entry(self.events, (EventKind.NOTE, EventKind.QUICK_EVENT))

        def record(dialog: QDialog) -> None:
            text = dialog.text()  # type: ignore[attr-defined]
            correcting = correction_args(dialog)
            if correcting and last is not None:
                # The correction is of the kind it corrects: a note by a note, a quick event by a quick event.
                self.send(last.kind.value, text=text, **correcting)
            elif text:
                self.send("note", text=text)

        dialog = TextDialog(self, "Note", "Note for the timeline", multiline=True)
        offered = offer_correction(dialog, "note or event", self._last_entry_text((EventKind.NOTE,
                                                                                     EventKind.QUICK_EVENT)))
        if offered is not None:
            offered.box.toggled.connect(lambda on: dialog.editor.setPlaceholderText(
                "what stands in its place (left empty: nothing does)" if on else ""))
        self.drafts.attach("note", dialog)
        self._open(dialog, record)

    def score_moaas(self) -> None:
        """MOAA/S 0-5 (M, then the digit)."""
        if self._blocked():
            return

        def record(dialog: QDialog) -> None:
            self.send("score", scale="MOAA/S", value=dialog.value(),  # type: ignore[attr-defined]
                      **correction_args(dialog))

        self._open(self._score_dialog(LevelDialog(self, "MOAA/S", MOAAS_LEVELS, 5), "MOAA/S"), record)

    def _score_dialog(self, dialog: QDialog, scale: str) -> QDialog:
        """A score dialog offering to correct the last entry of its scale, when the session has one."""
        last = last_score(self.events, scale)
        offer_correction(dialog, scale, None if last is None else
                         f"{chair.score_text(last.detail, short=True)} at {clock_text(last.t, '%H:%M')}")
        return dialog

    def score_rass(self) -> None:
        """RASS +4 to -5 (R, then the number; Enter keeps 0 alert and calm)."""
        if self._blocked():
            return
        self._open(
            self._score_dialog(LevelDialog(self, "RASS", RASS_LEVELS, 0), "RASS"),
            lambda d: self.send("score", scale="RASS", value=d.value(),  # type: ignore[attr-defined]
                                **correction_args(d)),
        )

    def score_cadss(self) -> None:
        """CADSS six-item short form."""
        if self._blocked():
            return
        self._open(
            self._score_dialog(CadssDialog(self), "CADSS-6"),
            lambda d: self.send("score", scale="CADSS-6", value=d.total(), items=d.scores(),  # type: ignore[attr-defined]
                                **correction_args(d)),
        )

    @property
    def _asks_breathing(self) -> bool:
        """Whether the session's protocol asks a respiratory check (the device may not give a respiratory rate)."""
        return any(c.measure is Measure.RESPIRATION for c in self.bridge.recorder.protocol.checks)

    def respiratory_check(self) -> None:
        """A respiratory check (E, where the protocol asks one): breaths a minute and respiratory depression."""
        if not self._asks_breathing or self._blocked():
            return
        self._open(
            self._score_dialog(RespirationDialog(self), RESPIRATION_SCALE),
            lambda d: self.send("score", scale=RESPIRATION_SCALE, value=d.breaths(),  # type: ignore[attr-defined]
                                depression=d.depression_seen(), **correction_args(d)),  # type: ignore[attr-defined]
        )

    # -- alarms ----------------------------------------------------------------------------------

    def acknowledge_alarms(self) -> None:
        """Acknowledge every active alarm as the signed-in user."""
        if self.locked:
            self.show_message("The screen is locked: sign in to acknowledge alarms.")
            return
        if self.alarms_available:
            self.send("acknowledge")

    def pause_audio(self) -> None:
        """Pause alarm sound for the profile's pause time (a higher alarm breaks through).

        Allowed at a locked screen too, to anyone: recorded as such, not under the last user's name.
        """
        if not self.alarms_available:
            return
        if self.locked:
            self.send("pause_audio", as_user=LOCKED_SCREEN_USER)
        else:
            self.send("pause_audio")

    def show_alarm_log(self) -> AlarmLogDialog:
        """The session's alarm log, read from the store, with the alarm changes the writer still holds."""
        dialog = AlarmLogDialog(self)
        recorder = self.bridge.recorder
        held = recorder.alarms_not_stored()
        try:
            with Store(recorder.store.path, readonly=True, check=False) as reader:
                alarms = {a.id: a for a in reader.alarms(recorder.session.id)}
            note = ""
        except StoreError as exc:
            alarms, note = {}, f"the alarm log cannot be read: {exc}"
        # The latest change of an alarm the writer has not committed yet: in a moment as a rule, but for as long as
        # the database refuses (a full or failing disk), and a log without them would then look whole.
        alarms.update((a.id, a) for a in held)
        refusing = self.last_status is not None and not self.last_status.storage_ok
        if held and refusing:
            note = "; ".join(filter(None, (note, f"{len(held)} alarm(s) shown as this monitor holds them: not "
                                                  "stored yet (the database is not taking writes)")))
        dialog.show_alarms(list(alarms.values()), note)
        self._open(dialog, lambda _d: None)
        return dialog

    # -- other sessions ------------------------------------------------------------------------------

    def open_sessions(self) -> QWidget | None:
        """The session browser beside this window (review and reports; recording goes on)."""
        if self.locked:
            self.show_message("The screen is locked: sign in to see other sessions.")
            return None
        from ui.session_browser import SessionBrowser

        if self.browser is None:
            # The recording's own store checked the file when it opened it: this window's thread does not read the
            # whole file again (seconds on a year's database, with the monitoring screen standing still).
            self.browser = SessionBrowser(
                RecordSource(self.bridge.recorder.store.path, check_file=False), self.user, can_resume=False,
                resume_note="This window is recording a session. End it first: the monitor offers unfinished "
                            "sessions for resuming when it starts (or use `infusion-monitor review`).",
                alarm_feed=self.alarm_feed,
            )
        else:
            self.browser.user = self.user  # type: ignore[attr-defined]
            self.browser.refresh()  # type: ignore[attr-defined]
        self.browser.show()
        self.browser.raise_()
        self.browser.activateWindow()
        return self.browser

    def come_forward(self) -> None:
        """In front of every other window, with the keyboard (asked from an alarm echo in a window opened here)."""
        self.setWindowState(self.windowState() & ~Qt.WindowState.WindowMinimized)
        self.show()
        self.raise_()
        self.activateWindow()

    # -- sign-in, lock, settings -----------------------------------------------------------------

    def sign_in(self) -> None:
        """Change who is at the chair (shift hand-over) or unlock the screen: an account and its secret."""
        dialog = AccountSignInDialog(self, self.gate, title="Unlock" if self.locked else "Sign in / shift hand-over",
                                     session_id=self.bridge.recorder.session.id)

        def signed(d: QDialog) -> None:
            user = d.user()  # type: ignore[attr-defined]
            self.set_user(user)
            note = emergency_note(user)
            if note is not None:
                # Flagged on the session's timeline as well as in the audit log.
                self.send("note", text=note)
            if self.locked:
                self.set_locked(False)

        self._open(dialog, signed)

    def _emergency_held(self, principal: Principal, why: str) -> None:
        """Audit an emergency sign-in through the recording: the database could not take it (``why``)."""
        self.bridge.recorder.submit("break_glass", principal.label, reason=principal.reason, database=why)

    def set_user(self, user: SignedInUser) -> None:
        """Attribute everything from now on to ``user``."""
        if user.name != self.user.name:
            # A note typed by the nurse before would be recorded under the next one's name.
            self.drafts.clear()
        self.user = user
        self._show_user()
        if self.bridge.running:
            self.send("sign_in", role=user.role)

    def _show_user(self) -> None:
        self.header.user.setText(f"Signed in: {self.user.label}")

    def toggle_lock(self) -> None:
        """Lock the controls (alarms keep sounding), or ask for a sign-in to unlock."""
        if self.locked:
            self.sign_in()
        else:
            self.set_locked(True)

    def set_locked(self, locked: bool) -> None:
        """Lock or unlock the controls. Alarm display, values and sound are never affected.

        Locked, the controls stay in view but disabled (they would not work); audio pause stays
        available to anyone; everything else needs a sign-in.
        """
        self.locked = locked
        if locked and self.browser is not None:
            # The session browser and its review windows show and export every patient's record as the user who
            # opened them: they close with the lock (Sessions opens them again after a sign-in).
            self.browser.close()
        self.controls.setEnabled(not locked)
        self.header.patient_button.setEnabled(self._may_identify())
        self.lock_banner.setVisible(locked)
        self.alarm_bar.set_ack_allowed(not locked)
        self.alarm_bar.pause_button.setEnabled(True)

    def _idle(self) -> None:
        """No input for the auto-lock time: lock (an open dialog is closed first, unsaved)."""
        if self.locked or self.end_status is not None:
            return
        if self.dialog is not None:
            self.dialog.reject()
        self.set_locked(True)

    def current_rules(self) -> tuple[list[Any], str]:
        """The alarm rules in force now, and a note on where they come from."""
        phase = self.last_status.phase if self.last_status is not None else Phase.SETUP
        engine = self.bridge.recorder.alarms
        profile = getattr(engine, "profile", None) if engine is not None else None
        note = ""
        if profile is None:
            from monitor.alarms.profile import default_profile

            profile = default_profile()
            note = "Showing the built-in profile: no alarm engine is running, so these limits are NOT watched."
        return list(profile.rules_for(phase)), note or f"Profile {self.profile_label()}, {phase.value} phase."

    def profile_label(self) -> str:
        """The alarm profile in force by its approved name and hash (or the built-in one's)."""
        label = str(getattr(self.bridge.recorder, "profile_label", "") or "")
        engine = self.bridge.recorder.alarms
        profile = getattr(engine, "profile", None) if engine is not None else None
        if profile is None:
            return "none: alarms are NOT monitored"
        if not label or profile.sha256[:12] not in label:
            # Changed during the session (an approved profile loaded at the chair): name what runs now.
            label = f"{profile.name} (sha256 {profile.sha256[:12]})"
        return label

    def _default_limits(self) -> None:
        """Without an engine, still draw the built-in limits so the chart is read the same way."""
        from monitor.alarms.engine import AlarmEngine

        self.chart.set_limits(chart_limits(AlarmEngine().limits()))

    def _update_limits(self, limits: tuple[EngineLimit, ...]) -> None:
        if limits == self._limits_key:
            return
        self._limits_key = limits
        self.chart.set_limits(chart_limits(limits))

    def open_settings(self) -> None:
        """Driver, port, line settings, cuff cycle, and the alarm limits (editable by an admin)."""
        if self._blocked():
            return
        schedule = self.bridge.recorder.session.nibp_schedule
        minutes = {
            phase: (None if getattr(schedule, f"{phase}_s") is None else getattr(schedule, f"{phase}_s") / 60.0)
            for phase in ("baseline", "infusion", "recovery")
        }
        rules, note = self.current_rules()
        dialog = SettingsDialog(
            self, current=self.device, nibp_minutes=minutes, rules=rules,
            can_edit_limits=self.user.role == "admin" and self.alarms_available, limits_note=note,
            open_accounts=self.open_accounts if self.user.role == "admin" else None,
            phase_words={p.value: self._word(p) for p in (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY)},
        )
        self._open(dialog, lambda d: self.apply_settings(d.choice(), d.device_changed()))  # type: ignore[attr-defined]

    def open_accounts(self, over: QWidget) -> QDialog:
        """The accounts of this chair's database, for the signed-in admin, made to be shown over the settings
        dialog."""
        from ui.accounts_window import AccountsDialog

        dialog = AccountsDialog(self.bridge.recorder.writer.path, self.user, over)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.accounts_dialog = dialog
        self.keep_in_room(dialog)
        return dialog  # shown by the settings dialog, which is held meanwhile

    def apply_settings(self, choice: SettingsChoice, device_changed: bool) -> None:
        """Carry out what the settings dialog asked for (a device change was confirmed there)."""
        for phase, value in choice.nibp_minutes.items():
            self.send("set_nibp_interval", phase=phase, minutes=value)
        for rule_id, value in choice.limit_changes.items():
            self.send("set_limit", rule=rule_id, limit=value)
        if device_changed:
            # Confirmed already, in the settings dialog (see SettingsDialog._ask_device_change).
            self.change_device(choice.device)

    def change_device(self, choice: DeviceSpec) -> None:
        """Open the chosen device on a thread of its own and hand it to the recorder, which switches on its thread.

        Opening may take seconds (a terminal server that does not answer): this window goes on drawing and sounding
        what the running device measures meanwhile, and says which device it is opening. One change at a time.
        A device on the port the running one holds can open only once that one let go: see
        :meth:`_change_on_its_port`.
        """
        from monitor.app.device import shares_port

        if self.device_opening is not None:
            self.show_message(f"Still opening {self.device_opening.describe()}: choose another device once it has "
                              "answered (the running device records meanwhile).")
            return
        self.device_opening = choice
        if shares_port(self.device, choice):
            self._change_on_its_port(choice)
            return
        self.show_message(f"Opening {choice.describe()}… until it answers, {self.device.describe()} goes on "
                          "recording.", lasting=True)
        self._open_apart(choice, lambda opened, error: self._device_opened(choice, opened, error))

    def _open_apart(self, spec: DeviceSpec, then: Callable[[OpenedDevice | None, BaseException | None], None]) -> None:
        """Open ``spec`` on a thread of its own; ``then`` gets the device (or why not) on this window's thread."""
        from monitor.app.device import open_device_apart

        start = self.last_status.now if self.last_status is not None else None
        self._opening = open_device_apart(spec, start_time=start)
        self.bridge.deliver("open_device", self._opening, then)

    def _device_opened(self, choice: DeviceSpec, opened: OpenedDevice | None, error: BaseException | None) -> None:
        """The device being opened answered (or was refused): hand it to the recorder, or say why not."""
        if error is not None or opened is None:
            self._device_settled()
            self.show_message(f"cannot use {choice.driver}: {error}")
            return

        def switched(device: Any) -> None:
            self._device_settled()
            self.device = choice
            self.show_message(f"Now reading {device}.")

        self._hand_over(choice, opened, switched)

    def _hand_over(self, spec: DeviceSpec, opened: OpenedDevice, switched: Callable[[Any], None], **why: str) -> None:
        """Give the recorder an opened device to read from now on (let go if the recording has ended); ``why``:
        ``back_after`` for the way back (see :meth:`monitor.recorder.Recorder._change_source`)."""
        if not self.bridge.running:
            # The recording ended while the device opened: nobody will read it.
            opened.source.close()
            self._device_settled()
            return

        def refused(_error: BaseException) -> bool:
            self._device_settled()
            return False  # said as any refusal is

        # Held until the recorder has switched (or refused), so that a second change cannot overtake this one.
        self.send("change_source", switched, on_refusal=refused, source=opened.source, driver=spec.driver,
                  port=spec.port, spec=spec.record(), **why)

    def _change_on_its_port(self, choice: DeviceSpec) -> None:
        """Another setting (line settings, format, driver) on the port the running device holds for itself.

        The recorder lets go of the port first: the session goes on, the values shown age as in any silence and
        the timeline says the device is being changed. Then the new device is opened; if it cannot be, the running
        device is opened again with its whole spec, so that the patient is read again.
        """
        self.show_message(f"Changing to {choice.describe()} on the same port… no values are read until it "
                          "answers.", lasting=True)

        def released(_device: Any) -> None:
            self._open_apart(choice, lambda opened, error: self._opened_on_its_port(choice, opened, error))

        def refused(_error: BaseException) -> bool:
            self._device_settled()
            return False  # the running device still reads: said as any refusal is

        self.send("release_source", released, on_refusal=refused, to=choice.describe())

    def _opened_on_its_port(self, choice: DeviceSpec, opened: OpenedDevice | None, error: BaseException | None) -> None:
        """The new device on the released port answered, or could not be used: then the way back."""
        if error is None and opened is not None:
            self._device_opened(choice, opened, None)
            return
        failed = f"{choice.describe()} could not be used: {error}"
        if not self.bridge.running:
            self._device_settled()
            return
        self._open_apart(self.device, lambda back, why: self._reopened(failed, back, why))

    def _reopened(self, failed: str, opened: OpenedDevice | None, error: BaseException | None) -> None:
        """The way back: the device that let go of its port reads again, or, if even that fails, the link is
        lost (its alarm sounds) and the nurse is told so."""
        previous = self.device.describe()
        if error is not None or opened is None:
            self._device_settled()
            self.show_message(f"{failed}. {previous} could not be opened again either ({error}): no device reads "
                              "the patient and the link-lost alarm is on. Check the device and its cable, then "
                              "choose it in Settings.", lasting=True)
            self.send("source_lost", detail=f"{failed}; {previous} could not be opened again: {error}")
            return

        def back(device: Any) -> None:
            self._device_settled()
            self.show_message(f"{failed}. {device} is reading again, as before the change.", lasting=True)

        self._hand_over(self.device, opened, back, back_after=failed)

    def _device_settled(self) -> None:
        self._opening = None
        self.device_opening = None

    # -- updates ---------------------------------------------------------------------------------

    def on_updates(self, batch: list[RecorderUpdate]) -> None:
        """One UI tick; a failure to show it is this window's own high-priority technical alarm (see :meth:`_watch`),
        and the values on screen then age as if no news had come."""
        received_at = self._status_received_at
        try:
            self._show_updates(batch)
        except Exception as exc:
            log.exception("the window cannot show the recording")
            self.display_error = f"{type(exc).__name__}: {exc}"
            self._status_received_at = received_at
        else:
            self.display_error = None

    def _show_updates(self, batch: list[RecorderUpdate]) -> None:
        """Extend the chart buffers from the whole batch, redraw once, show the newest state."""
        readings: list[Reading] = []
        events: list[SessionEvent] = []
        for update in batch:
            readings.extend(update.readings)
            events.extend(update.events)
        self.chart.add_readings(readings)
        self.form_readings.add(readings)
        status = batch[-1].status
        if events:
            self.events.extend(events)
            self.chart.add_events(events)
            self._explain(events)
            if any(e.kind in PHASE_START_EVENT.values() for e in events):
                self.chart.set_phases(phase_spans(self.events))
        if self.chart.session_start is None or self.chart.session_start > status.now - status.elapsed_s:
            self.chart.session_start = status.now - status.elapsed_s
        self.chart.refresh(status.now)
        self._status_received_at = time.monotonic()
        self.show_status(status)
        snapshot = next((u.alarms for u in reversed(batch) if u.alarms is not None), None)
        if snapshot is not None or self.alarms_available:
            self.show_alarms(snapshot, status.now)

    def _explain(self, events: list[SessionEvent]) -> None:
        """Say what the nurse needs to know of the timeline's technical news (a device clock that is off)."""
        for event in events:
            if event.kind is EventKind.DEVICE_CLOCK_OFFSET:
                offset = float(event.detail.get("offset_s", 0.0))
                side = "behind" if offset < 0 else "ahead of"
                kept = -DEVICE_TIME_PAST_S <= offset < 0  # within the window its own times are kept
                self.show_message(
                    f"The device's clock is {abs(offset):.0f} s {side} this computer's: "
                    + (f"its values look {abs(offset):.0f} s old" if kept else "its values are timed at their arrival")
                    + ". Ask for the device's clock to be set.")

    def show_alarms(self, snapshot: AlarmSnapshot | None, now: float) -> None:
        """Alarm bar and sound from the engine's snapshot."""
        self.last_snapshot = snapshot
        self.alarm_bar.show_snapshot(snapshot, now)
        self.alarm_feed.publish(snapshot)
        states = tile_alarms(snapshot)
        for name, tile in (("hr", self.hr_tile), ("spo2", self.spo2_tile), ("nibp", self.nibp_tile)):
            priority, text = states.get(name, (None, ""))
            tile.set_alarm(priority, text)
        # A tile that took (or lost) its breached limit's line under its value needs another height: the alarm rows'
        # budget follows, measured again only then (not at every snapshot).
        if states != self._tile_states:
            self._tile_states = states
            self._budget_alarm_rows()
        if snapshot is not None:
            self._update_limits(snapshot.limits)
        if self.sound is not None:
            sounding: Priority | None = snapshot.sounding if snapshot is not None else None
            self.sound.set_sounding(Priority.HIGH if self._watch_alarmed else sounding)

    def _watch(self) -> None:
        """Watchdog tick: alarm (with sound) when monitoring stopped or this window cannot show it; age the values
        on the monotonic clock."""
        stalls = self.watchdog.check()
        texts = [s.text() for s in stalls]
        now = time.monotonic()
        quiet_s = now - self._status_received_at
        # A tick that comes late: this window's thread was held (the guard alarms for that), and news may be waiting.
        held = now - self._watched_at > 1.0
        self._watched_at = now
        recorder = self.bridge.recorder
        if (not stalls and not held and self.last_status is not None and quiet_s > STALL_LIMIT_S
                and self.bridge.running and not recorder.closed.is_set() and self.display_error is None):
            # The recorder runs and sends news every turn, but none has reached this window.
            texts.append(f"SCREEN NOT UPDATING: no news from the recording has reached this window for {quiet_s:.0f} s"
                         " - alarms and values on screen are not current; watch the patient directly")
        if self.end_error is not None:
            texts.append(f"MONITORING STOPPED: the recording ended on an {self.end_error[:160]} - nothing on this "
                         "screen is current; watch the patient directly and start recording again")
        if self.display_error is not None:
            texts.append(f"SCREEN FAILING: this window cannot show the recording ({self.display_error[:120]}) - "
                         "alarms and values on screen are not current; watch the patient directly")
        was_alarmed = self._watch_alarmed
        self._watch_alarmed = bool(texts)
        previous_stalls = self.watchdog_stalls
        self.watchdog_stalls = stalls
        watchdog = "  ·  ".join(texts) if texts else None
        self.alarm_bar.show_watchdog(watchdog)
        self.alarm_feed.publish_watchdog(watchdog)
        if self.sound is not None and (texts or was_alarmed):
            last = self.last_snapshot.sounding if self.last_snapshot is not None else None
            self.sound.set_sounding(Priority.HIGH if texts else last)
        if self.last_status is not None and (quiet_s > 1.0 or bool(stalls) != bool(previous_stalls)):
            # No news from the recorder: the values grow older on screen (grey with their age). A stall that
            # begins or ends changes the tiles' look at once, not at the next news.
            self.show_status(self.last_status, now=self.last_status.now + quiet_s)

    def set_guard(self, guard: GuardLink) -> None:
        """Tell ``guard`` and the recorder four times a second that this window runs. When it stops, the
        guard alarms here on its own, and the recorder raises a technical alarm for the log and the station."""
        recorder = self.bridge.recorder
        recorder.screen_alive()
        self.guard = GuardBeat(guard, self._screen_was_frozen, self._guard_news, self, on_tick=recorder.screen_alive,
                               alarm_active=self._has_alarm_to_show)

    def _has_alarm_to_show(self) -> bool:
        """Whether an alarm of medium or high priority is active here (a patient's, a technical one, or the
        window's own): a window off screen then brings itself back."""
        highest = self.last_snapshot.highest if self.last_snapshot is not None else None
        return self._watch_alarmed or (highest is not None and highest >= Priority.MEDIUM)

    def stop_guard(self) -> None:
        """The guard and the recorder stop watching this window (it is going away, or nothing is monitored). The
        recorder first: the guard's goodbye waits up to 3 s for it to end (one whose terminal takes nothing waits
        for it), and the window does not beat meanwhile."""
        if self.guard is not None:
            self.bridge.recorder.screen_closed()
            self.guard.stop()

    def _screen_was_frozen(self, seconds: float) -> None:
        """Say, and record on the timeline, a spell in which this window's thread did not run."""
        self.show_message(f"The screen did not respond for {seconds:.0f} s: the values shown are current again.")
        self.bridge.recorder.submit("technical_event", None, condition="screen_not_responding",
                                    detail=f"the window's thread did not run for {seconds:.1f} s")

    def _guard_news(self, news: str) -> None:
        """Say, and record, that the guard had ended (it is started again) or could not be started."""
        self.show_message(f"Screen guard: {news}.")
        self.bridge.recorder.submit("technical_event", None, condition="guard_ended", detail=news)

    def _size_score_buttons(self) -> None:
        """Each score button (and the dose button) as wide as its wider text, plain or due (planning or changing):
        marking a score due moves no button."""
        for score in self._score_buttons:
            widths = []
            for due in (True, False):
                score.mark(due)
                score.button.ensurePolished()
                widths.append(score.button.sizeHint().width())
            score.button.setMinimumWidth(max(widths))
        dose = self.quick_buttons["dose_change"]
        widths = []
        for infusing in (True, False):
            dose.setText(DOSE_BUTTON_TEXT[infusing][0])
            dose.ensurePolished()
            widths.append(dose.sizeHint().width())
        dose.setMinimumWidth(max(widths))
        self._show_dose_step(infusing=False)

    def _show_dose_step(self, infusing: bool) -> None:
        """Name what the dose key does now: before the infusion it plans the dose ("Dose change" there sent a nurse
        looking for where to plan it), during it a new rate is entered. The button keeps the wider text's width."""
        button = self.quick_buttons["dose_change"]
        text, tip = DOSE_BUTTON_TEXT[infusing]
        if button.toolTip() != tip:
            button.setText(text)
            button.setToolTip(tip)

    def _show_scores_due(self, due: tuple[str, ...], due_for: tuple[tuple[str, str], ...] = ()) -> None:
        """Turn amber, saying "due", the buttons of the scores the protocol asks for now (the tip says which one where
        the protocol asks a scale twice, and a message when one is given and the next is due); the rest plain."""
        if (due, due_for) == (self.scores_due, self.scores_due_for):
            return
        before = dict(self.scores_due_for)
        self.scores_due, self.scores_due_for = due, due_for
        for scale, words in due_for:
            if chair.due_moment_follows(before.get(scale, ""), words):
                # The score just given answered the earlier moment: the button stays amber for the next one, and
                # without a word the entry looked lost.
                self.show_message(f"{scale} recorded ({before[scale]}); the protocol asks for another {words}.")
        wanted = {chair.scale_key(scale) for scale in due}
        which = {chair.scale_key(scale): words for scale, words in due_for}
        for score in self._score_buttons:
            said = next((which[key] for key in sorted(score.scales) if key in which), "")
            score.mark(bool(wanted & score.scales), said)

    def show_status(self, status: SessionStatus, now: float | None = None) -> None:
        """Header, numerics and control states from the newest status (values aged to ``now``)."""
        self.last_status = status
        if self.message.isVisible() and self._message_phase is not None and status.phase is not self._message_phase:
            self._message_timer.stop()
            self.message.setVisible(False)
        now = status.now if now is None else now
        latest: dict[Parameter, Reading] = {r.parameter: r for r in status.latest}
        hr = status.heart_rate
        self.hr_tile.set_title(PARAMETER_LABELS[hr.parameter if hr is not None else Parameter.HR].short)
        base = status.baseline
        self.hr_tile.reference.setText(f"baseline {base.heart_rate:.0f}" if base else "")
        cut_off = self._cut_off(status)
        self.hr_tile.show_reading(hr, now, cut_off=cut_off)
        self.spo2_tile.reference.setText(f"baseline {base.spo2:.0f}" if base else "")
        self.spo2_tile.show_reading(latest.get(Parameter.SPO2), now, cut_off=cut_off)
        sys_r, dia_r, mean_r = (latest.get(p) for p in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, Parameter.NIBP_MEAN))
        age = "" if status.nibp_age_s is None else minutes_ago(status.nibp_age_s + max(0.0, now - status.now))
        self.nibp_tile.reference.setText(f"baseline {pressure_text(base.nibp_sys, base.nibp_dia)}" if base else "")
        self.nibp_tile.show_values(
            sys_r, [sys_r.value if sys_r else None, dia_r.value if dia_r else None], now, age, cut_off=cut_off
        )
        self.nibp_tile.extra.setText(f"({mean_r.value:.0f})" if mean_r is not None and mean_r.value is not None else "")
        self.numerics.nibp_schedule.setText(self._cuff_schedule_text(status))
        if self.end_status is None:
            self._show_scores_due(status.scores_due, status.scores_due_for)
        else:
            self._show_scores_due(())
        self._show_dose_step(chair.takes_rate(self.bridge.recorder.protocol, status.phase))
        self._show_header(status)
        self._enable_controls(status)
        if self.dialog is not None and hasattr(self.dialog, "set_check"):
            self.dialog.set_check(status.step_check, discharge_readings(status))

    def _cut_off(self, status: SessionStatus) -> str:
        """Why nothing newer can come to the tiles, or "": the values are then grey at once, not after the usual
        seconds. A stalled or stopped recording counts (the watchdog's row says so): the cuff's value, shown with
        its own age, would otherwise look current beside the greyed HR and SpO2."""
        if self.end_status is not None:
            return f"recording {self.end_status}"
        if self.watchdog_stalls:
            return "monitoring stopped"
        return "link lost" if status.link.state == "lost" else ""

    def _cuff_schedule_text(self, status: SessionStatus) -> str:
        if self.end_status is not None:
            return "no cuff is started: the recording has ended"
        if not status.can_start_nibp:
            return "cuff started at the monitor (this device cannot be started remotely)"
        due = status.nibp_next_due
        if due is None:
            return "no automatic cuff in this phase"
        interval = "" if status.nibp_interval_s is None else f" · every {status.nibp_interval_s / 60:g} min"
        left = due - status.now
        when = f"next cuff {clock_text(due, '%H:%M')} (in {minutes_seconds(left)})" if left > 0 else \
            "cuff measurement due now"
        return when + interval

    def _show_header(self, status: SessionStatus) -> None:
        self.header.set_phase(status.phase, status.infusion_paused, status.phase_label)
        phase = status.phase
        protocol = self.bridge.recorder.protocol
        name = status.phase_label[:1].upper() + status.phase_label[1:]
        if phase is Phase.INFUSION:
            infused = minutes_seconds(status.infusion_elapsed_s)
            bounds = protocol.phases[Phase.INFUSION].bounds_text()
            timers = f"{name} {infused} of {status.infusion_plan_min:g} min" + (f" ({bounds})" if bounds else "")
            if status.infusion_stopped:
                timers = f"{name} stopped at {infused}"
        elif phase is Phase.RECOVERY:
            remaining = status.recovery_remaining_s or 0.0
            timers = (f"{name} {minutes_seconds(remaining)} left" if remaining > 0
                      else f"{name} watch done {time_ago(-remaining)}")
            timers += f" · {protocol.label(Phase.INFUSION)} {minutes_seconds(status.infusion_elapsed_s)}"
        elif phase is Phase.BASELINE:
            missing = ", ".join(status.baseline_missing)
            check = status.step_check
            # The badge names the phase: the line says what comes next, first what blocks it (the line is cut
            # at the screen's edge; all of it is in its tooltip and in the start's question).
            if missing:
                timers = f"{name} needs {missing}"
            elif check is not None and not check.ready:
                timers = f"Not ready: {not_recorded_together(check.summary(entries_first=True))}"
            else:
                timers = f"{name} done · ready to start {protocol.label(Phase.INFUSION)}"
        elif phase is Phase.COMPLETE:
            timers = "Session complete"
        else:
            timers = f"Setup · session {minutes_seconds(status.elapsed_s)}"
        if self.end_status is not None:
            timers += f" — recording {self.end_status}"
        self.header.timers.setText(timers)
        link = status.link
        if self.end_status is None:
            storage = "" if status.storage_ok else " · STORAGE FAILING"
            self._show_link(f"link {link.state}{storage}",
                            "#3ddc6a" if link.state == "connected" else theme.WARNING_TEXT)
        # Byte counts only for a device that has a byte stream (a simulated one decodes frames without one).
        traffic = f"{link.bytes_in} B in · " if link.bytes_in else ""
        self.header.device.setText(
            f"{status.device} · {traffic}{link.frames_decoded} ok · {link.frames_rejected} bad · "
            f"{link.resyncs} resync · {link.reconnects} reconnects"
        )
        self._show_server()
        self.header.clock.setText(clock_text(status.now))

    def _show_server(self) -> None:
        """The link to the clinic's server (when replicating), refreshed at most once a second: a few words beside
        the device's link, in green or in the warning colour, the whole line on hover. (It was once added to the
        device line, whose one elided line cut it off: a chair the station could not see looked connected.)"""
        link = self.server_link
        label = self.header.server
        if link is None:
            label.setVisible(False)
            return
        now = time.monotonic()
        if now - self._server_checked < 1.0:
            return
        self._server_checked = now
        status = link.status()
        brief, well = status.brief
        label.setText(f"· {brief}")
        label.setToolTip(status.text)
        # A login shared with another chair is as wrong as no link: the station cannot tell the chairs apart.
        theme.restyle(label, f"font-size: 14px; font-weight: bold; color: {'#3ddc6a' if well else theme.WARNING_TEXT};")
        label.setVisible(True)

    def _enable_controls(self, status: SessionStatus) -> None:
        phase = status.phase
        running = self.end_status is None
        infusing = phase is Phase.INFUSION and not status.infusion_stopped
        b = self.phase_buttons
        b["start_baseline"].setEnabled(running and phase in (Phase.SETUP, Phase.BASELINE))
        b["start_infusion"].setEnabled(running and phase in (Phase.SETUP, Phase.BASELINE))
        b["pause_infusion"].setEnabled(running and infusing)
        pause = "Resume" if status.infusion_paused else "Pause"
        b["pause_infusion"].setText(self._step(Phase.INFUSION, pause) + " (P)")
        b["stop_infusion"].setEnabled(running and infusing)
        b["start_recovery"].setEnabled(running and phase is Phase.INFUSION)
        b["complete"].setEnabled(running and phase is Phase.RECOVERY)
        self.nibp_button.setEnabled(running and status.can_start_nibp)
        self.header.patient_button.setEnabled(self._may_identify())
        over = readiness.infusion_done(status.infusion_elapsed_s, status.infusion_plan_min, status.infusion_stopped)
        self._highlight_next_step(readiness.next_step(phase, status.step_check, infusion_over=over))

    def _may_identify(self) -> bool:
        """Identify… is offered while the session records, is not complete and the screen is not locked."""
        status = self.last_status
        return (self.end_status is None and not self.locked
                and (status is None or status.phase is not Phase.COMPLETE))

    def _show_link(self, text: str, colour: str) -> None:
        theme.restyle(self.header.link, f"font-size: 14px; font-weight: bold; color: {colour};")
        self.header.link.setText(text)

    def _step(self, phase: Phase, verb: str) -> str:
        """A phase step's name as the session's protocol calls the phase: "Start infusion", "Stop dosing"."""
        return f"{verb} {self._word(phase)}"

    def _word(self, phase: Phase) -> str:
        """What the session's protocol calls a phase: "infusion", "dosing"."""
        return self.bridge.recorder.protocol.label(phase)

    def _highlight_next_step(self, name: str | None) -> None:
        """The button of the step that normally comes next is the one drawn as primary."""
        for key, button in self.phase_buttons.items():
            wanted = "primary" if key == name else ""
            if button.objectName() != wanted:
                button.setObjectName(wanted)
                button.style().unpolish(button)
                button.style().polish(button)

    def on_finished(self, status: str) -> None:
        """The recorder ended (session complete, stopped, or failed)."""
        self.end_status = status
        # Nothing on this screen is live any more: the header and the chart say so where "connected" and
        # "live" stood, and nothing that records into the session is offered.
        self._show_link(f"NOT MONITORING · recording {status}", theme.WARNING_TEXT)
        self.chart.set_ended(f"recording {status} · nothing new is drawn")
        for button in (*self.phase_buttons.values(), *self.quick_buttons.values(), self.note_button,
                       self.moaas_button, self.rass_button, self.cadss_button, self.nibp_button,
                       self.checklist_button, self.questionnaire_button, self.rems_button, self.breathing_button,
                       self.header.patient_button):
            button.setEnabled(False)
        self._show_scores_due(())  # nothing is due of a session that has ended (amber would look enabled)
        if self.sound is not None:
            self.sound.set_sounding(None)
        self.stop_guard()  # nothing is monitored any more: a later end of the program is no alarm
        # Where rows the database never took went, and what to do with them, stays on screen: the clinic's IT
        # needs it once the disk is back.
        said = ending_notes(self.bridge.recorder, to_server=self.server_link is not None)
        notes = [note[:1].upper() + note[1:] + "." for note in said]
        failed = status.startswith("error")
        if failed or notes:
            stopped = [f"Recording stopped: {status}. Everything written so far is kept."] if failed else []
            self.show_message(" ".join([*stopped, *notes]), lasting=bool(notes))
        if failed:
            # Monitoring ended without anyone asking: a high-priority technical alarm with its sound, until closed.
            self.end_error = status
            self._watch()
        if self.last_status is not None:
            self.show_status(self.last_status)  # the header, the values and the cuff line as of an ended recording

    # -- closing ---------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ask before ending a running session; then stop recording cleanly (everything is flushed)."""
        if self.bridge.running and not self._close_confirmed:
            event.ignore()
            if self._form_in_front():
                return
            self.confirm(
                "End recording",
                "Close the window and end this session? Everything recorded so far is kept, and the session is "
                "then closed: it cannot be resumed (notes can still be added to it as addenda). To stop "
                "recording for a while instead, leave the window open.",
                self.force_close,
                "End recording",
                danger=True,
            )
            return
        self._shutdown()
        super().closeEvent(event)

    def force_close(self) -> None:
        """Close without asking (after confirmation, or on a signal from the system)."""
        self._close_confirmed = True
        self.close()

    def _shutdown(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser.deleteLater()
            self.browser = None
        self.alarm_bar.stop_flashing()
        self._message_timer.stop()
        self._watch_timer.stop()
        if self.sound is not None:
            self.sound.shutdown()
        if self.dialog is not None:
            self.dialog.reject()
        self.stop_guard()  # closing on purpose: no alarm while recording stops
        self.bridge.stop()
        if self._opening is not None:
            # A device still opening is read by nobody: its port is let go as soon as it has opened.
            self._opening.add_done_callback(close_unused)
