"""Every form fits the room below the alarm bar, at its full size or scrolling, never wider or squashed.

Found under Xvfb with openbox: the note form offering to correct a 180-character note was 1839 px wide (2212 px for
a note of 250 characters), its OK and Cancel beyond the screen's right edge; and the settings at 1600×900 squashed
the device fields to 11-19 px, their text cut, where they should have scrolled.

The offscreen platform's screen is smaller than the clinic's: the room is measured on the screen the window stands
for (``screen_area``), the window itself being that size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import ui.form_room
from monitor.session import EventKind, Phase, SessionEvent
from tests.ui.test_forms_leave_the_alarm_bar import chair  # noqa: F401  (the fixture)
from tests.ui.test_screen_sizes import T0
from ui.dialogs import EntryCorrection

#: A realistic long note (180 characters), as the audit typed it.
NOTE_180 = ("Patient reports feeling floaty and a little nauseous, asked for the lights dimmed; music on, "
            "eyes closed, breathing easy. Will offer ondansetron if it gets worse.")
#: Fields, buttons and boxes: what must never be drawn shorter than it needs.
FIELDS = (QLineEdit, QComboBox, QAbstractSpinBox, QPushButton, QCheckBox)


@pytest.fixture
def room(chair: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[int, int], Any]:  # noqa: F811
    """``room(width, height)``: the chair's window filling a screen of that size."""

    def make(width: int, height: int) -> Any:
        monkeypatch.setattr(ui.form_room, "screen_area", lambda _widget: QRect(0, 0, width, height))
        return chair(width, height)

    return make


def _on_screen(widget: QWidget) -> QRect:
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def _fits_the_window(window: Any, dialog: QDialog) -> None:
    frame, inside = dialog.frameGeometry(), window.frameGeometry()
    assert inside.left() <= frame.left() and frame.right() <= inside.right(), f"{frame} wider than {inside}"
    assert frame.bottom() <= inside.bottom(), f"{frame} below {inside}"


@pytest.mark.parametrize("length", [180, 2000])
def test_the_note_correction_fits_the_window_at_1280x720(room: Any, length: int) -> None:
    window = room(1280, 720)
    text = (NOTE_180 * 12)[:length]
    window.events = [SessionEvent(T0 + 60, EventKind.NOTE, Phase.INFUSION, "AD", {"text": text})]
    window.add_note()
    dialog = window.dialog
    QApplication.processEvents()
    _fits_the_window(window, dialog)
    buttons = dialog.findChild(QDialogButtonBox)
    assert _on_screen(window).contains(_on_screen(buttons)), "OK and Cancel are out of reach"
    offered = dialog.findChild(EntryCorrection)
    assert offered is not None
    assert len(offered.box.text()) < 120 and "…" in offered.box.text()
    # The whole note is there for whoever looks: on hover and for a screen reader.
    assert text in offered.box.accessibleDescription()
    assert text[-40:] in offered.box.toolTip()


def test_an_ampersand_in_the_quoted_note_is_no_shortcut(room: Any) -> None:
    window = room(1280, 720)
    window.events = [SessionEvent(T0 + 60, EventKind.NOTE, Phase.INFUSION, "AD", {"text": "BP & HR ok"})]
    window.add_note()
    offered = window.dialog.findChild(EntryCorrection)
    assert "BP && HR ok" in offered.box.text() and offered.box.text().endswith("(&C)")


class _WideForm(QDialog):
    """A form whose content cannot be narrower than 2500 px (a line that does not wrap)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        line = QLabel("x")
        line.setMinimumWidth(2500)
        layout.addWidget(line)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


@pytest.mark.parametrize("size", [(1280, 720), (1600, 900)], ids=["1280x720", "1600x900"])
def test_no_form_is_wider_than_the_room(room: Any, size: tuple[int, int]) -> None:
    """What cannot be narrower scrolls sideways inside a form as wide as the window."""
    window = room(*size)
    dialog = _WideForm(window)
    window._open(dialog, lambda _d: None)
    QApplication.processEvents()
    _fits_the_window(window, dialog)


@pytest.mark.parametrize("size", [(1600, 900), (1280, 720), (1920, 1080)], ids=["1600x900", "1280x720", "1920x1080"])
def test_the_settings_get_their_full_height_or_scroll(room: Any, size: tuple[int, int]) -> None:
    window = room(*size)
    window.open_settings()
    dialog = window.dialog
    QApplication.processEvents()
    assert dialog.styleSheet(), "measured with the window's style sheet"
    _fits_the_window(window, dialog)
    squashed = [(type(field).__name__, field.accessibleName(), field.height(), field.minimumSizeHint().height())
                for field in dialog.findChildren(QWidget)
                if isinstance(field, FIELDS) and field.isVisible()
                and not isinstance(field.parentWidget(), (QComboBox, QAbstractSpinBox))  # their own editors
                and field.height() < max(field.minimumSizeHint().height(), field.sizeHint().height())]
    assert squashed == []


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["1280x720", "1920x1080"])
def test_a_question_on_two_lines_leaves_the_answers_apart(room: Any, size: tuple[int, int]) -> None:
    """PHQ-9 questions 6 and 9 wrap onto two lines: the answers kept to the form's first height and overlapped,
    "question 6 of 9" drawn over them."""
    window = room(*size)
    window.questionnaires()
    dialog = window.dialog
    QApplication.processEvents()
    for _answer in range(8):
        dialog.answer(1)
        QApplication.processEvents()
        if len(dialog.answers) in (5, 8):  # questions 6 and 9
            assert dialog.question.heightForWidth(dialog.question.width()) <= dialog.question.height()
            placed = [_on_screen(w) for w in (dialog.question, *dialog.choice_buttons, dialog.progress)]
            for i, first in enumerate(placed):
                assert all(not first.intersects(second) for second in placed[i + 1:]), placed
            assert all(b.height() >= 56 for b in dialog.choice_buttons)
            _fits_the_window(window, dialog)
