"""A row of buttons that wraps onto a second line when the window is too narrow for it.

Each line is stretched to the full width (the extra width shared equally), so a row that fits
looks like an ordinary row of equal buttons; one that does not fit breaks between buttons
instead of pushing the window wider than the screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget


class WrappingRow(QLayout):
    """Widgets side by side in their order, as many per line as fit at their size hint."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._gap = spacing
        self.setContentsMargins(0, 0, 0, 0)

    # -- QLayout ----------------------------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    def sizeHint(self) -> QSize:
        """Everything on one line."""
        shown = self._shown()
        margins = self.contentsMargins()
        width = sum(i.sizeHint().width() for i in shown) + self._gap * max(0, len(shown) - 1)
        height = max((i.sizeHint().height() for i in shown), default=0)
        return QSize(width + margins.left() + margins.right(), height + margins.top() + margins.bottom())

    def minimumSize(self) -> QSize:
        """One widget a line at the narrowest: the widest widget decides."""
        shown = self._shown()
        margins = self.contentsMargins()
        width = max((i.sizeHint().width() for i in shown), default=0)
        height = max((i.minimumSize().height() for i in shown), default=0)
        return QSize(width + margins.left() + margins.right(), height + margins.top() + margins.bottom())

    # -- placing ----------------------------------------------------------------------------------

    def lines(self, width: int) -> list[list[QLayoutItem]]:
        """The shown widgets split into lines that fit ``width``: as few lines as fit, of about equal width
        (a widget wider than ``width`` gets a line of its own)."""
        margins = self.contentsMargins()
        room = width - margins.left() - margins.right()
        fewest = self._fill(room, float(room))
        if len(fewest) <= 1:
            return fewest
        shown = self._shown()
        total = sum(item.sizeHint().width() for item in shown) + self._gap * (len(shown) - 1)
        even = self._fill(room, total / len(fewest))
        return even if len(even) == len(fewest) else fewest

    def _fill(self, room: int, target: float) -> list[list[QLayoutItem]]:
        """Lines filled in order: a widget joins the line when it fits and its middle is within ``target``."""
        out: list[list[QLayoutItem]] = []
        used = 0
        for item in self._shown():
            needed = item.sizeHint().width()
            if out and used + self._gap + needed <= room and used + self._gap + needed / 2 <= target:
                out[-1].append(item)
                used += self._gap + needed
            else:
                out.append([item])
                used = needed
        return out

    def _shown(self) -> list[QLayoutItem]:
        return [item for item in self._items if not item.isEmpty()]

    def _arrange(self, rect: QRect, *, move: bool) -> int:
        """Place the widgets in ``rect`` (when ``move``); returns the height they take."""
        margins = self.contentsMargins()
        left = rect.x() + margins.left()
        room = rect.width() - margins.left() - margins.right()
        y = rect.y() + margins.top()
        lines = self.lines(rect.width())
        for index, line in enumerate(lines):
            height = max(item.sizeHint().height() for item in line)
            widths = [item.sizeHint().width() for item in line]
            extra = max(0, room - sum(widths) - self._gap * (len(line) - 1))
            share, left_over = divmod(extra, len(line))
            x = left
            for n, (item, width) in enumerate(zip(line, widths, strict=True)):
                width += share + (1 if n < left_over else 0)
                if move:
                    item.setGeometry(QRect(x, y, width, height))
                x += width + self._gap
            y += height + (self._gap if index < len(lines) - 1 else 0)
        return y - rect.y() + margins.bottom()
