"""Colours, sizes and the dark style sheet of the monitor screen.

The screen is read from the side of the infusion chair, a metre or two away, often in a
dimmed room: a dark background, large numerics, and colours that follow bedside-monitor habit
(HR green, SpO2 blue-cyan, NIBP white) while the IEC alarm colours (red, yellow, cyan) are
kept for alarms and limit lines only.
"""

from __future__ import annotations

from typing import Final

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableWidget, QWidget

from drivers.core.readings import Parameter
from monitor.alarms.model import Priority

BACKGROUND: Final = "#0b0f13"
PANEL: Final = "#151b22"
PANEL_BORDER: Final = "#28313b"
TEXT: Final = "#e8e8e8"
TEXT_DIM: Final = "#9aa4ae"
QUESTIONABLE: Final = "#8a8f94"  # values the device marks as unreliable are drawn grey
WARNING_TEXT: Final = "#ffd24a"

PARAMETER_COLOURS: Final[dict[Parameter, str]] = {
    Parameter.HR: "#3ddc6a",
    Parameter.PR: "#8fe3a5",
    Parameter.SPO2: "#4cb8ff",
    Parameter.NIBP_SYS: "#f2f2f2",
    Parameter.NIBP_DIA: "#f2f2f2",
    Parameter.NIBP_MEAN: "#e0a83a",
    Parameter.PLETH: "#4cb8ff",
    Parameter.RR: "#d9d9d9",
    Parameter.ETCO2: "#f5e663",
}

# IEC 60601-1-8: high red, medium yellow, low cyan.
ALARM_COLOURS: Final[dict[Priority, str]] = {
    Priority.HIGH: "#e0201b",
    Priority.MEDIUM: "#ffd400",
    Priority.LOW: "#00d7e6",
}
# Text drawn on top of the alarm colour must stay readable on both flash states.
ALARM_TEXT_ON: Final[dict[Priority, str]] = {
    Priority.HIGH: "#ffffff",
    Priority.MEDIUM: "#111111",
    Priority.LOW: "#111111",
}

# Flash timing (IEC 60601-1-8 table 2): high 1.4-2.8 Hz, medium 0.4-0.8 Hz, both ~50 % duty; low steady.
FLASH_HALF_PERIOD_MS: Final[dict[Priority, int | None]] = {
    Priority.HIGH: 250,  # 2 Hz, 50 % duty
    Priority.MEDIUM: 1000,  # 0.5 Hz, 50 % duty
    Priority.LOW: None,  # steady
}

PHASE_COLOURS: Final[dict[str, str]] = {
    "setup": "#2b2f36",
    "baseline": "#21405a",
    "infusion": "#4a2d5e",
    "recovery": "#23503a",
    "complete": "#333333",
}

#: Height a window manager's title bar and frame take from a screen.
WINDOW_FRAME_PX: Final = 40

# Pixel sizes (a style sheet's font-size wins over QFont, so sizes are given in px everywhere).
NUMERIC_PX: Final = 104
NIBP_PX: Final = 80
NIBP_MEAN_PX: Final = 44

STYLE_SHEET: Final = f"""
QMainWindow, QDialog, QWidget {{ background: {BACKGROUND}; color: {TEXT}; font-size: 15px; }}
QFrame#panel {{ background: {PANEL}; border: 1px solid {PANEL_BORDER}; border-radius: 6px; }}
QPushButton {{ background: #25303b; border: 1px solid #3a4653; border-radius: 5px; padding: 6px 10px;
               color: {TEXT}; font-size: 15px; }}
QPushButton:hover {{ background: #2f3c49; }}
QPushButton:pressed {{ background: #3b4b5b; }}
QPushButton:disabled {{ color: #5d6670; background: #1a2027; border-color: #262e36; }}
QPushButton#primary {{ background: #1f5f99; border-color: #2b78bd; font-weight: bold; }}
QPushButton#primary:disabled, QPushButton#danger:disabled {{ color: #5d6670; background: #1a2027;
    border-color: #262e36; font-weight: normal; }}
QPushButton#danger {{ background: #7a2020; border-color: #a03030; font-weight: bold; }}
QPushButton#confirm {{ border: 2px solid #2b78bd; font-weight: bold; }}
/* Keyboard focus, the one white ring on screen: never an alarm colour, nor the amber of a score due. It is named
   with each button kind, whose own border would win over a plain ":focus" (an id outranks a state); the default
   button has no ring of its own (its label says "(Enter)"), so that it is never taken for the focused one. */
QPushButton:focus, QPushButton#confirm:focus, QPushButton#primary:focus, QPushButton#danger:focus {{
    border: 2px dotted {TEXT}; }}
QLineEdit:focus, QComboBox:focus, QAbstractSpinBox:focus, QPlainTextEdit:focus, QTableWidget:focus,
QListWidget:focus {{ border: 2px solid {TEXT}; padding: 2px; }}
QRadioButton:focus, QCheckBox:focus {{ border: 1px dotted {TEXT}; }}
QRadioButton, QCheckBox {{ spacing: 8px; }}
QRadioButton::indicator, QCheckBox::indicator {{ width: 18px; height: 18px; border: 2px solid #8a97a5;
    background: #0f151b; }}
QRadioButton::indicator {{ border-radius: 11px; }}
QCheckBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator:checked, QCheckBox::indicator:checked {{ background: #4cb8ff; border-color: #e8e8e8; }}
QRadioButton::indicator:hover, QCheckBox::indicator:hover {{ border-color: #e8e8e8; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QPlainTextEdit, QTableWidget, QListWidget {{
    background: #0f151b; border: 1px solid #3a4653; border-radius: 4px; padding: 3px; color: {TEXT}; }}
QHeaderView::section {{ background: #1d252e; color: {TEXT}; border: 0; padding: 4px; }}
QGroupBox {{ border: 1px solid {PANEL_BORDER}; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {TEXT_DIM}; }}
QLabel {{ background: transparent; }}
QLabel#dim {{ color: {TEXT_DIM}; }}
QToolTip {{ background: #222; color: #eee; border: 1px solid #555; }}
"""


def fit_to_screen(widget: QWidget, width: int, height: int) -> None:
    """Give a window its preferred size, or the screen's free area when that is smaller (1280x720 screens).

    Room is left for the window's title bar; the layouts then shrink what they hold to fit.
    """
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        widget.resize(width, height)
        return
    free = screen.availableGeometry()
    widget.resize(min(width, free.width()), min(height, max(free.height() - WINDOW_FRAME_PX, 200)))


def restyle(widget: QWidget, sheet: str) -> None:
    """Set a style sheet only when it differs: re-styling is costly and these run on every UI tick."""
    if widget.styleSheet() != sheet:
        widget.setStyleSheet(sheet)


def read_only_rows(table: QTableWidget) -> None:
    """A table of records: not editable, one whole row selected at a time, no row numbers."""
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().setVisible(False)


def floating_message(parent: QWidget, sheet: str) -> QLabel:
    """A hidden, wrapping warning label placed by hand over ``parent`` (it never moves the layout)."""
    message = QLabel("", parent)
    message.setWordWrap(True)
    message.setVisible(False)
    message.setStyleSheet(f"background: #3a2e00; color: {WARNING_TEXT}; font-weight: bold; {sheet}")
    return message
