"""Settings: device driver and port (with the driver's serial settings), the cuff cycle, and the
active alarm limits (changes to limits need the admin role and go through the alarm engine,
which audits them).

Changing the driver or port mid-session continues the *same* session with the new device:
the patient, baseline, phase and alarm state stay, and the timeline records the change
(see :meth:`monitor.recorder.Recorder._change_source`). The dialog asks before such a change, over
itself: a Cancel there comes back to everything typed, and nothing is sent until the question is
answered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemDelegate,
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
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

from drivers import registry
from drivers.base import PortSettings
from drivers.patient.model import SCENARIOS
from monitor.app.device import FLOW_CONTROLS, DeviceSpec, settings_from_text, settings_text
from monitor.constants import NIBP_INTERVAL_RANGE_MIN
from ui import theme
from ui.dialogs import ConfirmDialog, ok_cancel
from ui.plain_text import make_plain
from ui.wheel import wheel_turns_focused_fields_only

BAUD_RATES = ("1200", "2400", "4800", "9600", "19200", "38400", "57600", "115200")
PARITIES = ("N", "E", "O", "M", "S")
FLOW_CONTROL = FLOW_CONTROLS
#: The cuff cycle of a phase in which the protocol starts no cuff.
NO_CUFF_CYCLE = "none (no automatic cuff)"


def warm_driver_listing() -> threading.Thread:
    """Import every driver the dialog lists on a thread of its own, which is returned, so that the first Settings
    of a session does not import them on the window's thread (it stood still 0.3 to 1 s, a starting alarm with it).

    A driver module only defines its classes and constants when imported, and Python imports each module once,
    under that module's own lock: a Settings opened before the thread is done waits for what is being imported and
    imports the rest itself.
    """
    thread = threading.Thread(target=registry.listing, name="driver-listing", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True, slots=True)
class SettingsChoice:
    """What the user chose in the dialog."""

    device: DeviceSpec
    nibp_minutes: Mapping[str, float]
    limit_changes: Mapping[str, float]


def device_change_question(device: DeviceSpec, current: DeviceSpec | None = None) -> str:
    """What the nurse is asked before the session goes on with ``device``: what changes (its settings and line
    settings too: only a baud rate may change), from what is read now (``current``)."""
    now = f" (now: {current.describe()})" if current is not None else ""
    if current is not None and current.describe() == device.describe():
        # The same driver, port and settings: what differs is the simulator's (naming the device twice said nothing).
        changed = [f"{name} from {getattr(current, name):g} to {getattr(device, name):g}" if name == "speed"
                   else f"{name} from {getattr(current, name)} to {getattr(device, name)}"
                   for name in ("scenario", "speed", "seed") if getattr(current, name) != getattr(device, name)]
        now = f" ({', '.join(changed)})" if changed else " (as now)"
    return (f"Continue this session with {device.describe()}{now}? The patient, baseline and phase stay; the change "
            "is recorded on the timeline.")


def available_port_names() -> list[tuple[str, str]]:
    """(port, description) of every serial port found, the port by its stable name where the system keeps one
    (it follows the adapter when it comes back under another number); empty when none (or none can be listed)."""
    from drivers.transport.ports import available_ports

    try:
        return [(p.name, f"{p.description} ({p.device})" if p.stable else p.description)
                for p in available_ports()]
    except OSError:
        return []


class LimitsTable(QTableWidget):
    """The alarm limits. Tab and Shift+Tab leave the table for the next or previous field, also from a limit being
    edited (it is kept first); the arrow keys move between cells, typing or F2 edits one, Enter keeps it. Tab went
    from cell to cell and never left: OK and Cancel could not be reached from the keyboard."""

    def __init__(self, rows: int, columns: int) -> None:
        super().__init__(rows, columns)
        self.setTabKeyNavigation(False)

    def closeEditor(self, editor: QWidget, hint: QAbstractItemDelegate.EndEditHint) -> None:
        """A limit edited and left with Tab or Shift+Tab: kept (the delegate did that), and the keyboard goes on
        from the table, not to the next cell."""
        forward = hint == QAbstractItemDelegate.EndEditHint.EditNextItem
        if forward or hint == QAbstractItemDelegate.EndEditHint.EditPreviousItem:
            super().closeEditor(editor, QAbstractItemDelegate.EndEditHint.NoHint)
            self.focusNextPrevChild(forward)
            return
        super().closeEditor(editor, hint)


class SettingsDialog(QDialog):
    """Driver, port, line settings, NIBP interval and alarm limits."""

    def __init__(
        self,
        parent: QWidget | None,
        *,
        current: DeviceSpec,
        nibp_minutes: Mapping[str, float | None],
        rules: Sequence[Any],
        can_edit_limits: bool,
        limits_note: str = "",
        open_accounts: Callable[[QDialog], None] | None = None,
        phase_words: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        theme.fit_to_screen(self, 860, 720)
        self.current = current
        #: The question before a device change, open over this dialog (None: not asked now).
        self.device_question: ConfirmDialog | None = None
        #: What is open over this dialog now (the device question, or Accounts…): it has the keyboard meanwhile.
        self._over: QDialog | None = None
        self._keyboard_before: QWidget | None = None
        layout = QVBoxLayout(self)

        device_box = QGroupBox("Device")
        form = QFormLayout(device_box)
        self.driver_box = QComboBox()
        for row in registry.listing():
            self.driver_box.addItem(f"{row.name} — {row.description}", row.name)
            if not row.ok:
                index = self.driver_box.count() - 1
                self.driver_box.model().item(index).setEnabled(False)
        self.driver_box.setCurrentIndex(max(0, self.driver_box.findData(current.driver)))
        form.addRow("Driver", self.driver_box)
        self.port_box = QComboBox()
        self.port_box.setEditable(True)
        self.port_box.lineEdit().setPlaceholderText("/dev/ttyUSB0, COM3 or socket://host:port")
        ports = available_port_names()
        for device, description in ports:
            self.port_box.addItem(f"{device}  ({description})" if description else device, device)
        self.port_box.setEditText(current.port or "")
        self.ports_note = QLabel(f"{len(ports)} serial ports found" if ports else "no serial ports found")
        self.ports_note.setObjectName("dim")
        form.addRow("Port", self.port_box)
        form.addRow("", self.ports_note)
        line = self.line_layout = QHBoxLayout()
        self.baud_box = QComboBox()
        self.baud_box.setEditable(True)
        self.baud_box.addItems(BAUD_RATES)
        self.parity_box = QComboBox()
        self.parity_box.addItems(PARITIES)
        self.flow_box = QComboBox()
        self.flow_box.addItems(FLOW_CONTROL)
        for label, box in (("baud", self.baud_box), ("parity", self.parity_box), ("flow", self.flow_box)):
            line.addWidget(QLabel(label))
            line.addWidget(box)
        form.addRow("Line", line)
        self.driver_settings = QLineEdit()
        self.driver_settings.setPlaceholderText("key=value; … as --set takes them (e.g. format=8 for a Nonin)")
        self.driver_settings.setAccessibleName("Driver settings")
        form.addRow("Driver settings", self.driver_settings)
        self.scenario_box = QComboBox()
        self.scenario_box.addItems(list(SCENARIOS))
        self.scenario_box.setCurrentText(current.scenario)
        self.speed_box = QDoubleSpinBox()
        self.speed_box.setRange(0.1, 600.0)
        self.speed_box.setValue(current.speed)
        form.addRow("Simulator scenario", self.scenario_box)
        form.addRow("Simulator speed", self.speed_box)
        note = QLabel("A new device continues this session: patient, baseline and phase stay.")
        note.setObjectName("dim")
        form.addRow(note)
        layout.addWidget(device_box)

        nibp_box = QGroupBox("Blood-pressure cuff cycle (minutes)")
        nibp_form = QFormLayout(nibp_box)
        self.nibp_boxes: dict[str, QDoubleSpinBox] = {}
        low, high = NIBP_INTERVAL_RANGE_MIN
        for phase in ("baseline", "infusion", "recovery"):
            box = QDoubleSpinBox()
            box.setDecimals(0)
            minutes = nibp_minutes.get(phase)
            if minutes is None:
                # The protocol starts no cuff in this phase (esketamine's dosing): it says so, where "5" stood for a
                # cycle that did not run. A cycle can still be chosen; "none" again leaves the phase without one.
                box.setRange(0.0, high)
                box.setSpecialValueText(NO_CUFF_CYCLE)
                box.setValue(0.0)
            else:
                box.setRange(low, high)
                box.setValue(minutes)
            # Named as the session's protocol names its phases ("Dosing", "Observation"), as the buttons are.
            nibp_form.addRow((phase_words or {}).get(phase, phase).capitalize(), box)
            self.nibp_boxes[phase] = box
        self._nibp_before = {p: b.value() for p, b in self.nibp_boxes.items()}
        layout.addWidget(nibp_box)

        limits_box = QGroupBox("Active alarm limits" + ("" if can_edit_limits else " (admin role needed to change)"))
        limits_layout = QVBoxLayout(limits_box)
        self.limits_table = LimitsTable(len(rules), 5)
        self.limits_table.setHorizontalHeaderLabels(["Rule", "Condition", "Priority", "Limit", "Delay s"])
        self.limits_table.verticalHeader().setVisible(False)
        self._limits_before: dict[str, float] = {}
        for i, rule in enumerate(rules):
            cells = (rule.id, rule.describe(), rule.priority.label, f"{rule.limit:g}", f"{rule.delay_s:g}")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                editable = can_edit_limits and j == 3
                flags = item.flags()
                item.setFlags(flags | Qt.ItemFlag.ItemIsEditable if editable else flags & ~Qt.ItemFlag.ItemIsEditable)
                self.limits_table.setItem(i, j, item)
            self._limits_before[rule.id] = float(rule.limit)
        # The condition's words take what the other columns leave (sized again once styled, in showEvent).
        self.limits_table.resizeColumnsToContents()
        self.limits_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        if not can_edit_limits:
            self.limits_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        limits_layout.addWidget(self.limits_table)
        self.limits_note = QLabel(limits_note)
        self.limits_note.setObjectName("dim")
        self.limits_note.setWordWrap(True)
        limits_layout.addWidget(self.limits_note)
        layout.addWidget(limits_box, 1)

        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #ffd24a;")
        layout.addWidget(self.error_label)
        footer = QHBoxLayout()
        #: For an admin: the chair's accounts (add, new PIN, role, disable, unlock), over this dialog.
        self.accounts_button: QPushButton | None = None
        if open_accounts is not None:
            self.accounts_button = QPushButton("Accounts…")
            self.accounts_button.setToolTip("Add accounts, set PINs and roles, disable, unlock (admin)")
            self.accounts_button.clicked.connect(lambda: self._hold_while(open_accounts(self)))
            footer.addWidget(self.accounts_button)
        footer.addStretch(1)
        footer.addWidget(ok_cancel(self, self._check))
        layout.addLayout(footer)
        self.driver_box.currentIndexChanged.connect(self._driver_changed)
        self._driver_changed()
        self._apply_overrides(current.port_overrides)
        self._line_before = self._line_settings()
        wheel_turns_focused_fields_only(self)

    # -- device --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        """Size the limit columns to their text as styled: the style sheet comes after construction."""
        super().showEvent(event)
        for column in (0, 2, 3, 4):
            self.limits_table.resizeColumnToContents(column)

    def driver_name(self) -> str:
        """The chosen driver's registry name."""
        return str(self.driver_box.currentData())

    def _port_settings(self) -> PortSettings | None:
        try:
            return registry.get(self.driver_name()).port_settings
        except registry.DriverError:
            return None

    def _takes_port(self) -> bool:
        """Whether the chosen driver is reached through a port (a serial line, or an address it listens on)."""
        try:
            return registry.get(self.driver_name()).takes_port
        except registry.DriverError:
            return False

    def _driver_changed(self) -> None:
        settings = self._port_settings()
        self.port_box.setEnabled(self._takes_port())
        self._show_default_port()
        for widget in (self.baud_box, self.parity_box, self.flow_box):
            widget.setEnabled(settings is not None)
        # A listener has no line: a baud rate shown for it would mean nothing.
        for index in range(self.line_layout.count()):
            widget = self.line_layout.itemAt(index).widget()
            if widget is not None:
                widget.setVisible(settings is not None)
        if settings is not None:
            self.baud_box.setCurrentText(str(settings.baudrate))
            self.parity_box.setCurrentText(settings.parity)
            self.flow_box.setCurrentText("xonxoff" if settings.xonxoff else "rtscts" if settings.rtscts else "none")
        simulated = self.driver_name() == "simulated"
        self.scenario_box.setEnabled(simulated)
        self.speed_box.setEnabled(simulated)
        # The settings this session holds for the driver chosen (a change back to a driver keeps what it had).
        self.driver_settings.setText(settings_text(self.current.settings_for(self.driver_name())))

    def _show_default_port(self) -> None:
        """A listener shows the address it listens on (HOST:PORT), its default when the spec names none."""
        try:
            default = registry.get(self.driver_name()).default_port
        except registry.DriverError:
            default = None
        same_driver = self.driver_name() == self.current.driver
        if same_driver:
            self.port_box.setEditText(self.current.port or default or "")
        elif default is not None:
            self.port_box.setEditText(default)
        self.port_box.lineEdit().setPlaceholderText(
            "HOST:PORT to listen on" if default is not None else "/dev/ttyUSB0, COM3 or socket://host:port")

    def _apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        if "baudrate" in overrides:
            self.baud_box.setCurrentText(str(overrides["baudrate"]))
        if "parity" in overrides:
            self.parity_box.setCurrentText(str(overrides["parity"]))
        if overrides.get("xonxoff"):
            self.flow_box.setCurrentText("xonxoff")
        elif overrides.get("rtscts"):
            self.flow_box.setCurrentText("rtscts")

    def _line_settings(self) -> tuple[str, str, str]:
        return self.baud_box.currentText(), self.parity_box.currentText(), self.flow_box.currentText()

    def port(self) -> str | None:
        """The port as typed or picked (the device name, not its description)."""
        text = self.port_box.currentText().strip()
        index = self.port_box.findText(text)
        if index >= 0 and self.port_box.itemData(index):
            return str(self.port_box.itemData(index))
        return text or None

    def device_choice(self) -> DeviceSpec:
        """The device as chosen (line settings only where they differ from the driver's own); every option
        the dialog does not show (driver settings, seed, when the link counts as lost) is kept."""
        overrides: dict[str, Any] = {}
        settings = self._port_settings()
        if settings is not None:
            baud = int(self.baud_box.currentText())
            if baud != settings.baudrate:
                overrides["baudrate"] = baud
            if self.parity_box.currentText() != settings.parity:
                overrides["parity"] = self.parity_box.currentText()
            flow = self.flow_box.currentText()
            if (flow == "xonxoff") != settings.xonxoff or (flow == "rtscts") != settings.rtscts:
                overrides["xonxoff"] = flow == "xonxoff"
                overrides["rtscts"] = flow == "rtscts"
        simulated = self.driver_name() == "simulated"
        return self.current.switched_to(
            self.driver_name(),
            self._chosen_port(),
            overrides,
            scenario=self.scenario_box.currentText() if simulated else None,
            speed=self.speed_box.value() if simulated else None,
            settings=settings_from_text(self.driver_settings.text()),
        )

    def _chosen_port(self) -> str | None:
        """The port as chosen; a listener's default address shown for an empty port stays empty (the same)."""
        if not self._takes_port():
            return None
        port = self.port()
        try:
            default = registry.get(self.driver_name()).default_port
        except registry.DriverError:
            default = None
        if port == default and self.driver_name() == self.current.driver and not self.current.port:
            return None
        return port

    def device_changed(self) -> bool:
        """Whether the user asked for another device, port or line setting."""
        choice = self.device_choice()
        now = (choice.driver, choice.port or None, dict(choice.port_overrides), choice.scenario, choice.speed,
               dict(choice.settings))
        before = (self.current.driver, self.current.port or None, dict(self.current.port_overrides),
                  self.current.scenario, self.current.speed, dict(self.current.settings))
        return now != before

    # -- result --------------------------------------------------------------------------------

    def choice(self) -> SettingsChoice:
        """Everything chosen; NIBP and limits only where they changed."""
        nibp = {p: b.value() for p, b in self.nibp_boxes.items() if b.value() != self._nibp_before[p]}
        limits: dict[str, float] = {}
        for row in range(self.limits_table.rowCount()):
            rule_id = self.limits_table.item(row, 0).text()
            value = float(self.limits_table.item(row, 3).text())
            if value != self._limits_before[rule_id]:
                limits[rule_id] = value
        return SettingsChoice(self.device_choice(), nibp, limits)

    def _check(self) -> None:
        try:
            if self._port_settings() is not None:
                int(self.baud_box.currentText())
        except ValueError:
            self.error_label.setText(f"'{self.baud_box.currentText()}' is not a baud rate")
            return
        for row in range(self.limits_table.rowCount()):
            text = self.limits_table.item(row, 3).text()
            try:
                float(text)
            except ValueError:
                self.error_label.setText(f"limit '{text}' of {self.limits_table.item(row, 0).text()} is not a number")
                return
        try:
            choice = self.device_choice()
        except ValueError as exc:  # a driver setting typed without its '='
            self.error_label.setText(f"driver settings: {exc}")
            return
        if self._port_settings() is not None and not choice.port:
            self.error_label.setText(f"driver '{choice.driver}' needs a port")
            return
        if self.device_changed():
            self._ask_device_change(choice)
            return
        self.accept()

    def open_question(self) -> QDialog | None:
        """What is open over this dialog (the device question or Accounts…), which has the keyboard meanwhile
        (None: nothing)."""
        over = self._over
        return over if over is not None and over.isVisible() else None

    def _ask_device_change(self, choice: DeviceSpec) -> None:
        """Ask before the session goes on with another device, over this dialog: Yes accepts it, Cancel (or Escape)
        comes back here with everything typed. Asked after this dialog had closed, a Cancel lost what was typed, and
        the cuff cycle and limits typed with it had been sent already.

        Not window-modal: that would hold the window behind too, whose alarm bar takes a click on Acknowledge or
        Audio pause while a form is open. What is in this dialog is held instead, so that Yes confirms the device
        the question names."""
        if self.device_question is not None:  # OK again (a key handed on from the window): one question
            self.device_question.raise_()
            return
        question = ConfirmDialog(self, "Change device", device_change_question(choice, self.current),
                                 "Change device")
        make_plain(question)  # the port is as typed
        question.accepted.connect(self.accept)
        self.device_question = question
        self._hold_while(question)

    def _hold_while(self, over: QDialog) -> None:
        """Show ``over`` above this dialog, not window-modal, and hold this dialog until it closes.

        Window-modal, it would hold the live window behind too, whose alarm bar takes a click on Acknowledge or
        Audio pause while a form is open (Accounts… was opened so, and held the alarm bar while it was open)."""
        over.setWindowModality(Qt.WindowModality.NonModal)
        over.finished.connect(lambda _code: self._closed_over(over))
        self._over = over
        self._keyboard_before = self.focusWidget()
        self._hold(True)
        over.show()
        over.raise_()
        over.activateWindow()

    def _hold(self, held: bool) -> None:
        """Let nothing in this dialog be changed (or clicked) while something is open over it."""
        for child in self.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if not child.isWindow():
                child.setEnabled(not held)

    def _closed_over(self, over: QDialog) -> None:
        if self._over is not over:
            return
        self._over = None
        if self.device_question is over:
            self.device_question = None
            over.deleteLater()
        self._hold(False)
        if self.isVisible():
            self.activateWindow()
            if self._keyboard_before is not None:
                self._keyboard_before.setFocus(Qt.FocusReason.OtherFocusReason)
