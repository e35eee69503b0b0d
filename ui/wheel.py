"""The mouse wheel turns a field's value only once the field has the keyboard; otherwise it scrolls the form.

Qt lets the wheel turn a spin box's, time's or combo box's value whenever the pointer is over it, with or without
the keyboard. The settings at 1280×800 must be scrolled to reach OK: three wheel clicks meant for the form, with the
pointer over the Infusion cuff field on the way, changed that cycle from 5 to 2 minutes (and over Simulator speed,
5.00 to 0.10), and nothing showed it. A field clicked or tabbed into is the one the nurse chose: the wheel turns it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

#: The fields whose value Qt turns with the wheel (the time and date fields are spin boxes).
TURNED_BY_WHEEL = (QAbstractSpinBox, QComboBox)


def scrolling_ancestor(field: QWidget) -> QAbstractScrollArea | None:
    """The nearest scroll area in ``field``'s window that scrolls it, if any."""
    parent = field.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractScrollArea) and parent.viewport().isAncestorOf(field):
            return parent
        if parent.isWindow():
            return None
        parent = parent.parentWidget()
    return None


class _WheelScrollsPast(QObject):
    """On a form's fields: a wheel turn over a field without the keyboard scrolls the form around it instead."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Keep the wheel off a field that does not have the keyboard; pass it to the area it scrolls in."""
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        assert isinstance(event, QWheelEvent)
        area = scrolling_ancestor(watched)
        if area is None:
            # Not taken: Qt offers a real turn to the field's parents, as over a label.
            event.ignore()
            return True
        viewport = area.viewport()
        # Sent on rather than left to Qt, which hands a turn on to the parents only when it came from the device.
        QApplication.sendEvent(viewport, QWheelEvent(
            viewport.mapFromGlobal(event.globalPosition()), event.globalPosition(), event.pixelDelta(),
            event.angleDelta(), event.buttons(), event.modifiers(), event.phase(), event.inverted(), event.source()))
        return True


def wheel_turns_focused_fields_only(form: QWidget) -> None:
    """Let the wheel turn the spin boxes and combo boxes of ``form`` only once one is clicked or tabbed into (over
    any other it scrolls the form). Call it once, when the form's fields are built."""
    keeper = _WheelScrollsPast(form)
    for field in form.findChildren(QWidget):
        if not isinstance(field, TURNED_BY_WHEEL):
            continue
        # Qt's wheel focus would give the field the keyboard at the first turn over it, and so the turn.
        if field.focusPolicy() == Qt.FocusPolicy.WheelFocus:
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        field.installEventFilter(keeper)
