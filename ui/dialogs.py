"""Small dialogs of the live window: sign-in, confirmation, notes, nursing scores and the alarm log.

A window opens its dialogs without a nested event loop, so the recorder's updates keep
flowing to the screen while a nurse types, and tests can fill a dialog and accept it like a
person would. While one is open, the window takes no clicks; the live window hands it
whatever is typed at the window (see ``DialogHost``).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QFontMetrics, QKeyEvent, QKeySequence, QMouseEvent, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from monitor.alarms.model import AlarmRecord
from monitor.birth_date import check_birth_date
from monitor.wall_clock import clock_text
from ui import theme
from ui.form_room import focus_chain, place_form, set_tab_order
from ui.plain_text import make_plain
from ui.wheel import wheel_turns_focused_fields_only

# MOAA/S (Chernik 1990), as charted with each NIBP during the infusion.
MOAAS_LEVELS: tuple[tuple[int, str], ...] = (
    (5, "responds readily to name spoken in a normal tone"),
    (4, "lethargic response to name spoken in a normal tone"),
    (3, "responds only after name is called loudly or repeatedly"),
    (2, "responds only after mild prodding or shaking"),
    (1, "responds only after painful trapezius squeeze"),
    (0, "no response after painful trapezius squeeze"),
)

# Richmond Agitation-Sedation Scale.
RASS_LEVELS: tuple[tuple[int, str], ...] = (
    (4, "combative"),
    (3, "very agitated"),
    (2, "agitated"),
    (1, "restless"),
    (0, "alert and calm"),
    (-1, "drowsy"),
    (-2, "light sedation"),
    (-3, "moderate sedation"),
    (-4, "deep sedation"),
    (-5, "unarousable"),
)

# CADSS six-item short form: items 1, 2, 6, 7, 15 and 22 of the full scale, each 0 (not at all) to 4 (extremely).
CADSS6_ITEMS: tuple[int, ...] = (1, 2, 6, 7, 15, 22)
# What each item asks the patient about, in short words of our own (the nurse reads the full question).
CADSS6_WORDING: dict[int, str] = {
    1: "Things seem to move in slow motion",
    2: "Things seem unreal, as if in a dream",
    6: "Feels cut off from their own body",
    7: "Own body feels changed (larger, smaller, different)",
    15: "Spaces out, loses track of what is going on",
    22: "Gaps in memory",
}
CADSS_ANCHORS = "0 not at all · 1 slightly · 2 moderately · 3 considerably · 4 extremely"


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """Who is at the chair, and with which role (an emergency sign-in also with its reason)."""

    name: str
    role: str
    reason: str = ""

    @property
    def label(self) -> str:
        """e.g. ``AB (nurse)``."""
        return f"{self.name} ({self.role})"


def ok_cancel(dialog: QDialog, on_ok: Callable[[], None] | None = None) -> QDialogButtonBox:
    """OK and Cancel buttons: Cancel rejects ``dialog``; OK calls ``on_ok`` (default: accept)."""
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(on_ok if on_ok is not None else dialog.accept)
    buttons.rejected.connect(dialog.reject)
    return buttons


def form_footer(dialog: QDialog, form: QFormLayout, hint: str, on_ok: Callable[[], None]) -> QLabel:
    """A dim hint line (reused for complaints) and OK/Cancel, OK going through ``on_ok``."""
    message = QLabel(hint)
    message.setObjectName("dim")
    message.setWordWrap(True)  # a complaint may be longer than the hint
    form.addRow(message)
    form.addRow(ok_cancel(dialog, on_ok))
    return message


def complain(message: QLabel, text: str) -> None:
    """Show ``text`` in a dialog's hint line, highlighted as a complaint (see :func:`show_hint`)."""
    message.setStyleSheet(f"color: {theme.WARNING_TEXT};")
    show_hint(message, text)


def show_hint(message: QLabel, text: str) -> None:
    """Show ``text`` in a dialog's hint line; the dialog grows when the text wraps, so that nothing in it is cut
    and nothing above it is squeezed."""
    message.setText(text)
    dialog = message.window()
    layout = dialog.layout() if dialog is not message else None
    if layout is None:
        return
    layout.activate()
    needed = layout.heightForWidth(dialog.width()) if layout.hasHeightForWidth() else layout.sizeHint().height()
    if needed > dialog.height():
        dialog.resize(dialog.width(), needed)


class PatientDialog(QDialog):
    """Who is in the chair: MRN (required), name and birth date (optional)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Identify the patient")
        form = QFormLayout(self)
        self.mrn_edit = QLineEdit()
        self.mrn_edit.setPlaceholderText("medical record number")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("optional")
        self.birth_edit = QLineEdit()
        self.birth_edit.setPlaceholderText("YYYY-MM-DD, optional")
        form.addRow("MRN", self.mrn_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Birth date", self.birth_edit)
        self.message = form_footer(self, form, "Identifiers are kept apart from the session's data.", self._check)
        self.setMinimumWidth(440)

    def _check(self) -> None:
        problem = ""
        if not self.mrn_edit.text().strip():
            problem = "Enter the MRN."
        elif self.birth_edit.text().strip():
            try:
                check_birth_date(self.birth_edit.text())
            except ValueError as exc:
                problem = str(exc)[:1].upper() + str(exc)[1:] + "."
        if problem:
            complain(self.message, problem)
            return
        self.accept()

    def values(self) -> dict[str, str]:
        """Arguments of the ``identify_patient`` command."""
        return {
            "mrn": self.mrn_edit.text().strip(),
            "patient_name": self.name_edit.text().strip(),
            "birth_date": self.birth_edit.text().strip(),
        }


class ConfirmDialog(QDialog):
    """A yes/no question for an action that is costly to undo."""

    def __init__(self, parent: QWidget | None, title: str, text: str, yes: str = "Yes", danger: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.question = QLabel(text)
        self.question.setWordWrap(True)
        self.question.setStyleSheet("font-size: 17px;")
        layout.addWidget(self.question)
        self.hint = QLabel(f"Enter cancels · Tab then Space (or a click) confirms “{yes}”")
        self.hint.setObjectName("dim")
        layout.addWidget(self.hint)
        row = QHBoxLayout()
        self.no_button = QPushButton("Cancel (Enter)")
        self.yes_button = QPushButton(yes)
        # Drawn as an outlined choice, not a filled "default" look: Enter alone never confirms.
        self.yes_button.setObjectName("danger" if danger else "confirm")
        self.yes_button.setAutoDefault(False)
        self.no_button.clicked.connect(self.reject)
        self.yes_button.clicked.connect(self.accept)
        row.addStretch(1)
        row.addWidget(self.no_button)
        row.addWidget(self.yes_button)
        layout.addLayout(row)
        self.no_button.setDefault(True)  # Enter alone never confirms a costly action
        self.setMinimumWidth(460)


class CtrlEnterAccepts(QObject):
    """Ctrl+Enter in the field it watches accepts its dialog: what saves a note and confirms a costly action with a
    reason, where Enter alone means a new line or Cancel."""

    def __init__(self, dialog: QDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Accept the dialog on Ctrl+Enter (the key is then used up); let every other event through."""
        if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)):
            self.dialog.accept()
            return True
        return False


class ReasonConfirmDialog(ConfirmDialog):
    """A costly action that asks why, without making the answer a condition (an early stop may be urgent).

    Enter cancels, whatever the reason field holds: A and S, the alarm keys, pressed by reflex while an alarm shows
    went into the field as a reason "as", and the Enter after them stopped the infusion. Ctrl+Enter, or Tab to the
    action's button then Space, confirms, with or without a reason.
    """

    def __init__(self, parent: QWidget | None, title: str, text: str, yes: str, prompt: str) -> None:
        super().__init__(parent, title, text, yes, danger=True)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        self.hint.setText(f"Enter cancels · Ctrl+Enter, or Tab to “{yes}” then Space, confirms")
        self.hint.setWordWrap(True)
        self.editor = QLineEdit()
        self.editor.setMinimumWidth(420)
        self.editor.installEventFilter(CtrlEnterAccepts(self))
        said = QLabel(prompt)
        said.setBuddy(self.editor)  # a screen reader names the field by it
        layout.insertWidget(1, said)
        layout.insertWidget(2, self.editor)
        # Tab from the reason goes to the action, as the hint says (to Cancel first, Tab then Space cancelled).
        self.setTabOrder(self.editor, self.yes_button)
        self.setTabOrder(self.yes_button, self.no_button)
        self.editor.setFocus()  # ready for the reason

    def text(self) -> str:
        """The reason typed, trimmed ('' for none)."""
        return self.editor.text().strip()

    def set_text(self, text: str) -> None:
        """Put ``text`` in the reason field (as if typed)."""
        self.editor.setText(text)


class TextDialog(QDialog):
    """One line of text (a quick event's detail) or a free note."""

    def __init__(self, parent: QWidget | None, title: str, prompt: str, *, multiline: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        said = QLabel(prompt)
        # Wrapped: a prompt can be long ("Not ready: …" lists every reason), and its end was out of view at 1280 px.
        said.setWordWrap(True)
        layout.addWidget(said)
        #: The prompt above the field.
        self.prompt = said
        self.multiline = multiline
        self.editor: QLineEdit | QPlainTextEdit
        if multiline:
            self.editor = QPlainTextEdit()
            self.editor.setMinimumSize(480, 140)
            self.editor.setTabChangesFocus(True)  # Tab leaves the note for its buttons, as in every other field
            # Enter starts a new line; Ctrl+Enter saves, as the hint says.
            self.editor.installEventFilter(CtrlEnterAccepts(self))
        else:
            self.editor = QLineEdit()
            self.editor.setMinimumWidth(420)
            self.editor.returnPressed.connect(self.accept)
        said.setBuddy(self.editor)  # a screen reader names the field by it
        layout.addWidget(self.editor)
        if multiline:
            hint = QLabel("Enter starts a new line; Ctrl+Enter saves.")
            hint.setObjectName("dim")
            layout.addWidget(hint)
        layout.addWidget(ok_cancel(self))

    def text(self) -> str:
        """What was typed, trimmed."""
        if isinstance(self.editor, QPlainTextEdit):
            return self.editor.toPlainText().strip()
        return self.editor.text().strip()

    def set_text(self, text: str) -> None:
        """Fill the field (as typing would)."""
        if isinstance(self.editor, QPlainTextEdit):
            self.editor.setPlainText(text)
        else:
            self.editor.setText(text)

    def draft(self) -> str:
        """What was typed, to give back if the dialog is opened again (see :class:`Drafts`)."""
        return self.text()

    def restore(self, draft: str) -> None:
        """Give back what was typed last time, the cursor at its end."""
        self.set_text(draft)
        if isinstance(self.editor, QPlainTextEdit):
            self.editor.moveCursor(self.editor.textCursor().MoveOperation.End)


class InstantCheckBox(QCheckBox):
    """A box whose Alt+letter ticks it at once, as Space does.

    Qt animates a mnemonic's click and toggles the box about 100 ms later; the keys typed meanwhile went to the box,
    not to the field its ticking opens: a reason typed straight after Alt+C lost its first letters.
    """

    def event(self, event: QEvent) -> bool:
        """The mnemonic ticks (or unticks) the box now, with the focus on it, as a click would."""
        if event.type() == QEvent.Type.Shortcut and self.isEnabled():
            self.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.click()
            return True
        return super().event(event)


#: The most characters of the entry a correction quotes in its box; the whole entry is in its tooltip.
QUOTED_ENTRY_CHARS = 48


def quoted_entry(text: str, limit: int = QUOTED_ENTRY_CHARS) -> str:
    """``text`` on one line, cut with "…" after ``limit`` characters (a note may be a paragraph)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


class EntryCorrection(QWidget):
    """Offered in a score, intervention or note dialog when the session holds an entry of that kind: the entry being
    made corrects the last one, entered in error, for the reason given (the wrong one stays on the timeline).
    Where nothing may stand in for it (``withdraw``: the words of that choice), a second box says so."""

    def __init__(self, parent: QWidget | None, what: str, last: str, withdraw: str | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # The entry quoted short (a whole note made the form wider than the screen); whole on hover and to a
        # screen reader.
        quoted = quoted_entry(last).replace("&", "&&")  # an "&" in a note is not a mnemonic
        self.box = InstantCheckBox(f"Corrects the last {what}, {quoted}, entered in error (&C)")
        self.box.setToolTip(f"<p style='white-space:pre-wrap'>{html.escape(last)}</p>")  # rich: wraps
        self.box.setAccessibleDescription(f"The last {what}: {last}")
        self.reason = QLineEdit()
        self.reason.setPlaceholderText("reason for the correction (required)")
        self.reason.setAccessibleName(f"Reason the last {what} is corrected")
        self.reason.setEnabled(False)
        self.withdraw = InstantCheckBox(withdraw or "")
        self.withdraw.setVisible(withdraw is not None)
        self.withdraw.setEnabled(False)
        self.box.toggled.connect(self._ticked)
        layout.addWidget(self.box)
        layout.addWidget(self.reason)
        layout.addWidget(self.withdraw)

    def _ticked(self, on: bool) -> None:
        self.reason.setEnabled(on)
        self.withdraw.setEnabled(on)
        if not on:
            self.withdraw.setChecked(False)
        if on:
            self.reason.setFocus()

    def withdrawn(self) -> bool:
        """Whether the correction puts nothing in the wrong entry's place."""
        return self.box.isChecked() and self.withdraw.isChecked()

    def command_args(self) -> dict[str, Any]:
        """What the entry's command adds: nothing, or the correction of the last entry with its reason (and, where
        nothing stands in for it, ``withdrawn``)."""
        if not self.box.isChecked():
            return {}
        out: dict[str, Any] = {"corrects_last": True, "correction_reason": self.reason.text().strip()}
        if self.withdrawn():
            out["withdrawn"] = True
        return out


def correction_args(dialog: QDialog) -> dict[str, Any]:
    """The correction a dialog carries (none when it offered none or it was left unticked)."""
    offered = dialog.findChild(EntryCorrection)
    return offered.command_args() if offered is not None else {}


def offer_correction(
    dialog: QDialog, what: str, last: str | None, withdraw: str | None = None
) -> EntryCorrection | None:
    """Put the correction choice above the dialog's buttons, when there is a last entry (``last``) to correct."""
    if last is None:
        return None
    layout = dialog.layout()
    offered = EntryCorrection(dialog, what, last, withdraw)
    if isinstance(layout, QFormLayout):
        layout.insertRow(max(layout.rowCount() - 2, 0), offered)
    elif isinstance(layout, QVBoxLayout):
        layout.insertWidget(layout.count() - 1, offered)
    _tab_before_buttons(dialog, [offered.box, offered.reason, offered.withdraw])
    return offered


def _tab_before_buttons(dialog: QDialog, widgets: Sequence[QWidget]) -> None:
    """Tab reaches ``widgets`` before the dialog's OK and Cancel, as they are drawn (made after the buttons, they
    came after them: from a score's list Tab went to OK, then Cancel, then the correction)."""
    buttons = dialog.findChild(QDialogButtonBox)
    if buttons is None:
        return
    chain = [widget for widget in focus_chain(dialog) if widget not in widgets]
    at = next((i for i, w in enumerate(chain) if buttons.isAncestorOf(w)), len(chain))
    set_tab_order([*chain[:at], *widgets, *chain[at:]])


class LevelDialog(QDialog):
    """Pick one level of a scale: arrow keys and Enter, a digit key, or a click."""

    def __init__(
        self, parent: QWidget | None, scale: str, levels: Sequence[tuple[int, str]], default: int
    ) -> None:
        super().__init__(parent)
        self.scale = scale
        self.setWindowTitle(scale)
        layout = QVBoxLayout(self)
        hint = QLabel("Arrow keys and Enter, or press the number" + (" (minus first for negatives)" if any(
            v < 0 for v, _ in levels) else ""))
        hint.setObjectName("dim")
        layout.addWidget(hint)
        self.list = QListWidget()
        self.list.setAccessibleName(scale)
        self.list.setStyleSheet("font-size: 18px;")
        for value, text in levels:
            item = QListWidgetItem(f"{value:+d}  {text}" if any(v < 0 for v, _ in levels) else f"{value}  {text}")
            item.setData(Qt.ItemDataRole.UserRole, value)
            self.list.addItem(item)
            if value == default:
                self.list.setCurrentItem(item)
        self.list.itemActivated.connect(lambda _item: self.accept())
        # As wide as the longest level at the list's font: a level is read whole, with no sideways scrolling.
        font = self.list.font()
        font.setPixelSize(18)
        metrics = QFontMetrics(font)
        widest = max(metrics.horizontalAdvance(self.list.item(row).text()) for row in range(self.list.count()))
        self.list.setMinimumSize(max(520, widest + 48), 34 * len(levels))
        # The list would take a digit as the start of a keyboard search: the dialog gets it first.
        self.list.installEventFilter(self)
        layout.addWidget(self.list)
        layout.addWidget(ok_cancel(self))
        self._negative = False

    def value(self) -> int:
        """The chosen level."""
        item = self.list.currentItem()
        return int(item.data(Qt.ItemDataRole.UserRole))

    def select(self, value: int) -> bool:
        """Make ``value`` the current level; False when the scale has no such level."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == value:
                self.list.setCurrentItem(item)
                return True
        return False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Digits and '-' typed in the list are the dialog's, not the list's keyboard search."""
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and self._take_key(event.text()):
            return True
        return super().eventFilter(watched, event)

    def _take_key(self, text: str) -> bool:
        """A digit picks that level and records it at once; '-' (or '+') sets the sign of the next digit."""
        if text in ("-", "+"):
            self._negative = text == "-"
            return True
        if len(text) == 1 and text.isdigit():
            value = -int(text) if self._negative else int(text)
            self._negative = False
            if self.select(value):
                self.accept()
            return True
        return False

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """A digit picks that level and accepts; '-' makes the next digit negative."""
        if not self._take_key(event.text()):
            super().keyPressEvent(event)


#: What an item not yet answered shows (an unasked item is not a 0).
UNANSWERED = "–"


class CadssDialog(QDialog):
    """The six CADSS short-form items, each 0-4, with the total; every item must be answered."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("CADSS-6")
        layout = QVBoxLayout(self)
        anchors = QLabel(CADSS_ANCHORS)
        anchors.setObjectName("dim")
        layout.addWidget(anchors)
        grid = QGridLayout()
        self.items: dict[int, QSpinBox] = {}
        for row, number in enumerate(CADSS6_ITEMS):
            grid.addWidget(QLabel(f"{number}."), row, 0)
            grid.addWidget(QLabel(CADSS6_WORDING[number]), row, 1)
            box = QSpinBox()
            box.setAccessibleName(f"{number}. {CADSS6_WORDING[number]}")
            box.setRange(-1, 4)  # -1: not answered yet, shown as a dash
            box.setSpecialValueText(UNANSWERED)
            box.setValue(-1)
            box.valueChanged.connect(self._update_total)
            box.installEventFilter(self)
            grid.addWidget(box, row, 2)
            self.items[number] = box
        hint = QLabel("Type 0-4 for each item (the next one follows); Enter records the total once all six are "
                      "answered.")
        hint.setObjectName("dim")
        layout.addWidget(hint)
        layout.addLayout(grid)
        self.total_label = QLabel()
        self.total_label.setStyleSheet("font-size: 18px; font-weight: bold;")
        layout.addWidget(self.total_label)
        buttons = ok_cancel(self)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        layout.addWidget(buttons)
        wheel_turns_focused_fields_only(self)
        self._update_total()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A digit 0-4 typed in an item sets it and moves on to the next item."""
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and isinstance(watched, QSpinBox):
            text = event.text()
            if len(text) == 1 and text in "01234":
                watched.setValue(int(text))
                boxes = list(self.items.values())
                index = boxes.index(watched)
                if index + 1 < len(boxes):
                    boxes[index + 1].setFocus()
                    boxes[index + 1].selectAll()
                return True
        return super().eventFilter(watched, event)

    def scores(self) -> dict[str, int]:
        """Item number (as text) -> score, for the items answered."""
        return {str(number): box.value() for number, box in self.items.items() if box.value() >= 0}

    def unanswered(self) -> list[int]:
        """The item numbers not answered yet."""
        return [number for number, box in self.items.items() if box.value() < 0]

    def total(self) -> int:
        """Sum of the six items (0-24)."""
        return sum(self.scores().values())

    def accept(self) -> None:
        """Recorded only once every item is answered."""
        if not self.unanswered():
            super().accept()

    def _update_total(self) -> None:
        missing = self.unanswered()
        self.ok_button.setEnabled(not missing)
        self.total_label.setText(f"Total {self.total()} / 24" if not missing else
                                 f"Total {UNANSWERED} / 24 · not answered yet: item {', '.join(map(str, missing))}")


class AlarmLogDialog(QDialog):
    """Every alarm of the session as the store keeps it, newest first."""

    COLUMNS = ("start", "end", "priority", "condition", "message", "limit", "worst", "acknowledged", "state")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Alarm log")
        theme.fit_to_screen(self, 1200, 520)
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels([c.capitalize() for c in self.COLUMNS])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table)
        self.note = QLabel()
        self.note.setObjectName("dim")
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def show_alarms(self, alarms: Sequence[AlarmRecord], note: str = "") -> None:
        """Fill the table from an alarm log."""

        def clock(t: float | None) -> str:
            return "" if t is None else clock_text(t)

        def number(v: float | None) -> str:
            return "" if v is None else f"{v:.0f}"  # as a nurse reads it

        rows = sorted(alarms, key=lambda a: a.started_at, reverse=True)
        self.table.setRowCount(len(rows))
        for i, a in enumerate(rows):
            ack = ""
            if a.acknowledged_at is not None:
                ack = f"{a.acknowledged_by or '?'} at {clock(a.acknowledged_at)}"
            values = (
                clock(a.started_at),
                clock(a.ended_at),
                a.priority.label,
                a.condition,
                a.message,
                number(a.limit),
                number(a.peak_value),
                ack,
                a.state.value,
            )
            for j, value in enumerate(values):
                self.table.setItem(i, j, QTableWidgetItem(str(value)))
        self.table.resizeColumnsToContents()
        self.note.setText(note or f"{len(rows)} alarms in this session")


#: Pointer input the window behind an open form does not take.
_POINTER_EVENTS: frozenset[QEvent.Type] = frozenset({
    QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease, QEvent.Type.MouseButtonDblClick,
    QEvent.Type.Wheel, QEvent.Type.TouchBegin, QEvent.Type.TouchUpdate, QEvent.Type.TouchEnd,
})


def _keyboard_of(dialog: QDialog) -> QWidget:
    """The widget of ``dialog`` that has, or will have, the keyboard: before the dialog is first active, the
    first one in its tab order (where the window system will put the focus), given the focus now."""
    focus = dialog.focusWidget()
    if focus is not None:
        return focus
    widget = dialog.nextInFocusChain()
    while widget is not None and widget is not dialog:
        if (widget.isEnabled() and widget.isVisible()
                and widget.focusPolicy().value & Qt.FocusPolicy.TabFocus.value):
            widget.setFocus(Qt.FocusReason.ActiveWindowFocusReason)
            return widget
        widget = widget.nextInFocusChain()
    return dialog


class _KeyNotShortcut(QObject):
    """Installed on a widget while it is handed a key: the key is the widget's, not a shortcut of the window that
    still has the keyboard (Qt looks for one before it delivers a key that did not come from the window system)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Accept the shortcut override, so no shortcut is looked up for the key."""
        if event.type() == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        return False


def hand_key(dialog: QDialog, event: QKeyEvent) -> None:
    """Give ``dialog`` a key as if it had been typed there: to the widget that has its keyboard, which may keep it
    as text; otherwise one of the dialog's own shortcuts takes it; otherwise the widget gets it as a key."""
    target = _keyboard_of(dialog)
    if event.type() == QEvent.Type.KeyPress:
        override = QKeyEvent(QEvent.Type.ShortcutOverride, event.key(), event.modifiers(), event.text(),
                             event.isAutoRepeat(), event.count())
        override.ignore()
        QApplication.sendEvent(target, override)
        if not override.isAccepted():
            pressed = QKeySequence(event.keyCombination())
            for shortcut in dialog.findChildren(QShortcut):
                if shortcut.isEnabled() and shortcut.key().matches(pressed) == QKeySequence.SequenceMatch.ExactMatch:
                    shortcut.activated.emit()
                    return
    guard = _KeyNotShortcut(target)
    target.installEventFilter(guard)
    try:
        QApplication.sendEvent(target, QKeyEvent(event.type(), event.key(), event.modifiers(), event.text(),
                                                 event.isAutoRepeat(), event.count()))
    finally:
        target.removeEventFilter(guard)
        guard.deleteLater()


class _FormInFront(QObject):
    """Watches a window with a form open over it: the keys that reach the window go to the form, clicks do nothing.

    A form takes the keyboard a moment after it opens (the window manager's round trip, longer while the window
    is busy), and keys pressed meanwhile reach the window. Behind a window-modal form the window system dropped
    them, and the window's own keys acted on them: "M" then "0" typed fast left the MOAA/S form at its first
    level, and a note typed straight after "N" lost its first letters.
    """

    def __init__(self, host: DialogHost, window: QObject) -> None:
        super().__init__(window)
        self.host = host

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Keys to the open form (the window's own keys do not act meanwhile); clicks and touches nowhere."""
        dialog = self.host.form_with_keyboard()
        if dialog is None:
            return False
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride:
            event.accept()  # not one of the window's own keys: the key comes here as a key press, for the form
            return True
        if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and isinstance(event, QKeyEvent):
            hand_key(dialog, event)
            return True
        if kind in _POINTER_EVENTS:
            if isinstance(event, QMouseEvent) and self.host._reaches_behind_form(event):
                if kind == QEvent.Type.MouseButtonRelease:
                    QTimer.singleShot(0, self.host._form_in_front)  # the keyboard back to the form
                return False
            if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
                self.host._form_in_front()
            return True
        return False


class _RoomWatch(QObject):
    """Watches the window and its alarm bar: when either moves or changes size (an alarm wraps, a second one
    starts), the open forms are placed again below the bar."""

    def __init__(self, host: DialogHost, parent: QObject) -> None:
        super().__init__(parent)
        self.host = host

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Place the forms again after a move or a resize; the event goes on."""
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Move):
            self.host._place_forms()
        return False


class Drafts:
    """What a form held when it closed without being recorded (Escape, Cancel, Enter where Enter cancels, a refusal
    after it), given back when the same form is opened again, so that nothing typed is lost to one key.

    A form takes part with ``draft()`` (its entries; empty: nothing to keep) and ``restore(draft)``. A draft older
    than the form's ``max_age_s`` is not given back: an assessment is made afresh, not taken from long ago.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._kept: dict[str, tuple[float, Any]] = {}

    def attach(self, key: str, dialog: QDialog, *, max_age_s: float | None = None,
               keep_when_accepted: bool = False) -> None:
        """Give ``dialog`` the draft kept under ``key``, and keep what it holds when it closes: unless it was accepted
        (``keep_when_accepted``: also then, for a form whose entries still need a second step that may be
        cancelled)."""
        kept = self._kept.pop(key, None)
        if kept is not None and (max_age_s is None or self._clock() - kept[0] <= max_age_s):
            dialog.restore(kept[1])  # type: ignore[attr-defined]

        def closed(code: int) -> None:
            if code == QDialog.DialogCode.Accepted and not keep_when_accepted:
                self._kept.pop(key, None)
                return
            draft = dialog.draft()  # type: ignore[attr-defined]
            if draft:
                self._kept[key] = (self._clock(), draft)

        dialog.finished.connect(closed)

    def drop(self, key: str) -> None:
        """Forget the draft kept under ``key`` (its entries were recorded)."""
        self._kept.pop(key, None)

    def clear(self) -> None:
        """Forget every draft (another person signed in: what was typed is not theirs to record)."""
        self._kept.clear()


class DialogHost:
    """Opens one dialog at a time in front of the window, without blocking the window's updates.

    Mixed into a window that has a ``dialog`` attribute (None when no dialog is open). While a dialog is open
    the window takes no clicks; with ``forms_take_typed_keys``, what is typed at it goes to the dialog (see
    :class:`_FormInFront`). No key typed while a form is open acts on the alarms: a letter meant for the form (a
    reason typed a moment before its field had the keyboard, a patient's key in a questionnaire) once acknowledged
    them or paused their sound; the alarm bar's buttons take a click instead (:meth:`_alarm_controls`).
    """

    dialog: QDialog | None
    #: Forms open in front of the window, which hands them what is typed at it (the live window, where one key
    #: opens a form and the next fills it); False: window-modal, as a form opened by a click can be.
    forms_take_typed_keys: bool = False
    _watcher: _FormInFront | None = None
    _room_watch: _RoomWatch | None = None
    #: The open forms kept below the alarm bar (see :meth:`keep_in_room`).
    _forms_in_room: Sequence[QDialog] = ()

    def _form_room(self) -> tuple[QWidget, QWidget | None] | None:
        """What forms never cover: the alarm bar they open below, and the widget they open beside where they fit
        (None: Qt's own placing, centred over the window)."""
        return None

    def _alarm_controls(self) -> Sequence[QWidget]:
        """Buttons a click reaches while a form is open (the window behind a form takes no other clicks)."""
        return ()

    def _reaches_behind_form(self, event: QMouseEvent) -> bool:
        """Whether a click at the window is on one of :meth:`_alarm_controls`, which take it."""
        window: QWidget = self  # type: ignore[assignment]
        point = event.position().toPoint()
        return any(button.isVisible() and button.isEnabled()
                   and QRect(button.mapTo(window, QPoint(0, 0)), button.size()).contains(point)
                   for button in self._alarm_controls())

    def keep_in_room(self, dialog: QDialog) -> None:
        """Place ``dialog`` below the alarm bar now, and again whenever the bar or the window changes, until it
        closes (see :mod:`ui.form_room`)."""
        room = self._form_room()
        if room is None:
            return
        if self._room_watch is None:
            self._room_watch = _RoomWatch(self, self)  # type: ignore[arg-type]
            room[0].installEventFilter(self._room_watch)
            self.installEventFilter(self._room_watch)  # type: ignore[attr-defined]
        self._forms_in_room = [*self._forms_in_room, dialog]
        dialog.finished.connect(lambda _code: self._leave_room(dialog))
        dialog.destroyed.connect(lambda: self._leave_room(dialog))
        place_form(dialog, self, *room)  # type: ignore[arg-type]

    def _leave_room(self, dialog: QDialog) -> None:
        self._forms_in_room = [form for form in self._forms_in_room if form is not dialog]

    def _place_forms(self) -> None:
        """Place every open form again (the alarm bar grew, the window moved)."""
        room = self._form_room()
        if room is None:
            return
        for form in self._forms_in_room:
            if form.isVisible():
                place_form(form, self, *room)  # type: ignore[arg-type]

    def _open(self, dialog: QDialog, on_accept: Callable[[QDialog], None]) -> QDialog:
        """Open ``dialog`` (closing any other); ``on_accept`` runs when it is accepted."""
        if (open_now := self.open_form()) is not None:
            open_now.reject()
        self.dialog = dialog
        dialog.setStyleSheet(theme.STYLE_SHEET)
        # Text typed by people or sent by devices is shown literally; a dialog names its own styled labels.
        make_plain(dialog, keep_rich=getattr(dialog, "rich_labels", ()))
        dialog.accepted.connect(lambda: on_accept(dialog))
        dialog.finished.connect(lambda _code: self._dialog_closed(dialog))
        self.keep_in_room(dialog)
        if not self.forms_take_typed_keys:
            dialog.open()
            self._place_forms()
            return dialog
        self._watch_window()
        # Not window-modal: the window system would drop the keys typed at the window before the dialog has
        # the keyboard; the watcher hands them on and keeps the window's clicks out instead.
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.show()
        # Again once shown: a form may fix its size as it is first shown (the discharge form does).
        self._place_forms()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def open_form(self) -> QDialog | None:
        """The dialog open over the window now (None: none)."""
        dialog = self.dialog
        return dialog if dialog is not None and dialog.isVisible() else None

    def form_with_keyboard(self) -> QDialog | None:
        """The open form, or the question it has open over itself (Settings asking before a device change, its
        ``open_question()``): what keys typed at the window go to, and what is brought to the front."""
        form = self.open_form()
        question = getattr(form, "open_question", None)
        asked = question() if question is not None else None
        return asked if asked is not None else form

    def _form_in_front(self) -> bool:
        """A form is open: brought to the front. A window asked to close meanwhile (the frame's close button) stays
        as it is, as behind a window-modal form, which the window system keeps from closing: its question whether
        to end would replace the form and lose what was typed into it."""
        dialog = self.form_with_keyboard()
        if dialog is None:
            return False
        dialog.raise_()
        dialog.activateWindow()
        return True

    def _watch_window(self) -> None:
        # On the window's handle as it is now (Qt makes a new one when it recreates the native window).
        handle = self.windowHandle()  # type: ignore[attr-defined]
        if handle is None:
            return
        try:
            watching = self._watcher is not None and self._watcher.parent() is handle
        except RuntimeError:  # the old handle went, and its watcher with it
            watching = False
        if not watching:
            self._watcher = _FormInFront(self, handle)
            handle.installEventFilter(self._watcher)

    def _dialog_closed(self, dialog: QDialog) -> None:
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
