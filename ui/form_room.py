"""Where a window's forms open: in the room below its alarm bar, beside the numerics where they fit.

Alarm signals must stay perceivable while a nurse fills a form (IEC 60601-1-8). Centred over the window, as Qt
places a dialog, the discharge form, the settings, the alarm log, the REMS form and the accounts covered the whole
alarm bar at 1280×720 and 1366×768 (the settings and the accounts also at 1920×1080), and the RASS, CADSS-6,
note and checklist forms part of it: a high-priority SpO2 alarm that started meanwhile was not seen. Here a form's
frame starts below the alarm bar and ends at the bottom of the window; a form too tall for that scrolls, and a
form narrow enough for the space left of the numerics opens there, so the values stay in view as well. A wider one
(the discharge form, the settings) covers the numerics whole rather than the end of each value.
"""

from __future__ import annotations

import itertools
from typing import Final

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QFrame, QScrollArea, QVBoxLayout, QWidget

#: Space between a form's frame and the alarm bar above it (or the numerics beside it).
GAP_PX: Final = 6
#: The least height a form is given, whatever is left below the alarm bar (its content scrolls in it).
LEAST_HEIGHT_PX: Final = 160
#: The least width of a form that scrolls sideways (the room is narrower than its content).
LEAST_WIDTH_PX: Final = 320


def global_rect(widget: QWidget) -> QRect:
    """Where ``widget`` is on the screen."""
    return QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())


def screen_area(widget: QWidget) -> QRect:
    """The screen's area free for windows (without panels), where ``widget`` is shown."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 720)


def frame_margins(dialog: QWidget, window: QWidget) -> QMargins:
    """The frame (title bar, borders) the window system draws around ``dialog``; before the dialog has one, the
    window's, which the same window manager draws alike."""
    for widget in (dialog, window):
        outer, inner = widget.frameGeometry(), widget.geometry()
        if outer != inner:
            return QMargins(inner.left() - outer.left(), inner.top() - outer.top(),
                            outer.right() - inner.right(), outer.bottom() - inner.bottom())
    return QMargins()


def room_below(window: QWidget, alarm_bar: QWidget) -> QRect:
    """The screen rectangle a form may take: below the alarm bar, down to the window's bottom edge, as wide as the
    window (within the screen)."""
    screen = screen_area(window)
    frame = window.frameGeometry().intersected(screen)
    top = global_rect(alarm_bar).bottom() + 1 + GAP_PX
    bottom = max(frame.bottom(), top + LEAST_HEIGHT_PX)
    return QRect(QPoint(frame.left(), top), QPoint(frame.right(), bottom))


class _FormBody(QScrollArea):
    """A form's content, scrolled up and down where the room is shorter than the form; sideways only where the
    room is narrower than the form can be (see :func:`_fit_width`)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Tab goes from field to field, as before; the wheel and the scroll bar scroll.
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._sideways = False

    def scroll_sideways(self) -> None:
        """Let the form be narrower than its content, which then scrolls sideways too."""
        self._sideways = True
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.updateGeometry()

    def _bar_width(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self) -> QSize:
        """The whole content (a scroll area's own hint stops at 24 lines), and room for the scroll bar."""
        body = self.widget()
        return body.sizeHint() + QSize(self._bar_width(), 0) if body is not None else super().sizeHint()

    def minimumSizeHint(self) -> QSize:
        """As wide as the content needs (nothing is cut sideways), as short as a few lines."""
        body = self.widget()
        if body is None:
            return super().minimumSizeHint()
        least_width = LEAST_WIDTH_PX if self._sideways else body.minimumSizeHint().width() + self._bar_width()
        return QSize(least_width, 3 * self.fontMetrics().height())


def focus_chain(dialog: QWidget) -> list[QWidget]:
    """The widgets of ``dialog`` in the order Tab goes through them (hidden and disabled ones too)."""
    chain: list[QWidget] = []
    widget = dialog.nextInFocusChain()
    while widget is not None and widget is not dialog and len(chain) < 500:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    return chain


def set_tab_order(chain: list[QWidget]) -> None:
    """Make Tab go through ``chain`` in its order (a field's own parts, a spin box's editor, stay with it)."""
    # Qt ignores an order given with a widget Tab never stops on (a label, a button box): link their neighbours.
    stops = [widget for widget in chain if widget.focusPolicy() != Qt.FocusPolicy.NoFocus]
    for first, second in itertools.pairwise(stops):
        if first.isAncestorOf(second) or second.isAncestorOf(first):
            continue
        QWidget.setTabOrder(first, second)


def scroll_body(dialog: QDialog) -> None:
    """Put what ``dialog`` lays out into a scroll area filling it (once), keeping the order Tab goes in and the field
    that has the keyboard."""
    if isinstance(dialog.property("formBody"), bool) or dialog.layout() is None:
        return
    chain = focus_chain(dialog)
    focus = dialog.focusWidget()
    body = QWidget()
    body.setLayout(dialog.layout())  # takes the layout from the dialog, with the widgets it holds
    area = _FormBody(dialog)
    area.setWidget(body)
    outer = QVBoxLayout(dialog)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(area)
    dialog.setProperty("formBody", True)
    set_tab_order(chain)
    if focus is not None:
        focus.setFocus(Qt.FocusReason.OtherFocusReason)


def _polish(dialog: QDialog) -> None:
    """Let the style sheet set every font, margin and border of the form before it is measured: measured before,
    the settings at 1600×900 seemed to fit in 660 px, needed 776, and got 704 with no scroll bar, their device
    fields squashed to 11-19 px."""
    dialog.ensurePolished()
    for child in dialog.findChildren(QWidget):
        child.ensurePolished()
    layout = dialog.layout()
    if layout is not None:
        layout.invalidate()
        layout.activate()


def _wanted_size(dialog: QDialog) -> QSize:
    """The size the form would take with room enough: its own (shown, or set by the form), or its hint."""
    _polish(dialog)
    hint = dialog.sizeHint()
    if dialog.isVisible() or dialog.testAttribute(Qt.WidgetAttribute.WA_Resized):
        hint = hint.expandedTo(dialog.size())
    return hint.expandedTo(dialog.minimumSizeHint()).expandedTo(dialog.minimumSize())


def _height_needed(dialog: QDialog, width: int) -> int:
    """The least height at which ``width`` pixels of the form squeeze nothing in it.

    A form holding text that wraps (the settings' note under the alarm limits) is laid out by Qt with that text's
    whole height, and everything else is squeezed below its minimum when the form is shorter: its minimum size
    hint (660 px for the settings) does not say so, the height for its width (776 px) does.
    """
    needed = max(dialog.minimumSizeHint().height(), dialog.minimumHeight())
    layout = dialog.layout()
    if layout is not None and layout.hasHeightForWidth():
        needed = max(needed, layout.heightForWidth(width))
    return needed


def _fit_height(dialog: QDialog, height: int, width: int) -> None:
    """No taller than ``height`` at ``width``; what does not fit scrolls."""
    if _height_needed(dialog, width) > height:
        scroll_body(dialog)
    dialog.setMinimumHeight(min(dialog.minimumHeight(), height))
    dialog.setMaximumHeight(height)


def _fit_width(dialog: QDialog, width: int) -> None:
    """No wider than ``width``: a form whose content cannot be that narrow scrolls sideways (its buttons once
    ended 900 px beyond the screen's edge, out of reach of the pointer)."""
    if max(dialog.minimumSizeHint().width(), dialog.minimumWidth()) <= width:
        return
    scroll_body(dialog)
    body = dialog.findChild(_FormBody)
    if body is not None:
        body.scroll_sideways()
    dialog.setMinimumWidth(min(dialog.minimumWidth(), width))
    layout = dialog.layout()
    if layout is not None:
        layout.invalidate()


def place_form(dialog: QDialog, window: QWidget, alarm_bar: QWidget, numerics: QWidget | None = None) -> None:
    """Size and move ``dialog`` (its frame) into the room below ``alarm_bar``: left of ``numerics`` where it fits
    there, else up to the window's right edge, over the numerics whole (never over part of a value); never over the
    alarm bar."""
    room = room_below(window, alarm_bar)
    margins = frame_margins(dialog, window)
    sides = margins.left() + margins.right()
    client_height = room.height() - margins.top() - margins.bottom()
    _polish(dialog)
    _fit_width(dialog, room.width() - sides)
    _fit_height(dialog, client_height, min(_wanted_size(dialog).width(), room.width() - sides))
    wanted = _wanted_size(dialog)
    area = QRect(room)
    over_numerics = False
    if numerics is not None and numerics.isVisible():
        beside = QRect(QPoint(room.left(), room.top()), QPoint(global_rect(numerics).left() - GAP_PX, room.bottom()))
        if max(dialog.minimumSizeHint().width(), dialog.minimumWidth()) + sides <= beside.width():
            area = beside
        else:
            over_numerics = True
    width = min(wanted.width(), max(area.width() - sides, dialog.minimumSizeHint().width()), room.width() - sides)
    height = min(wanted.height(), client_height)
    screen = screen_area(window)
    left = area.left() + (area.width() - width - sides) // 2
    if over_numerics:
        # Flush with the window's right edge, over the numerics whole: centred, the form ended over their
        # right-aligned values and left a digit or two of each in view (the heart rate read "7").
        left = area.right() + 1 - width - sides
    left = max(screen.left(), min(left, screen.right() + 1 - width - sides))
    # The inner rectangle, placed by its frame's estimate: a move() of a form already shown placed the inside
    # where the frame was meant to be, while Qt did not know the frame yet (the alarm bar's lowest 20 px hidden).
    dialog.setGeometry(left + margins.left(), room.top() + margins.top(), width, height)
