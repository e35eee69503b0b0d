"""Labels that keep the window's size fixed whatever they are given.

:class:`ElidedLabel` writes one line and cuts it with "…" when it does not fit, the whole text
being on hover: for the header, whose height must not change with a long patient name or
device description; :class:`KeptEndLabel` cuts it before an end that stays whole (the patient's MRN after the
name). :class:`FitLabel` draws a large numeric as large as its space allows (up to
its style sheet's size), so a small screen shrinks the numerics instead of pushing them off it.
:class:`OneLineLabel` keeps a short state on one line, drawn smaller rather than wrapped: the alarm
bar's audio state, whose countdown once took a second line and moved every open form down.
:class:`PartsLabel` is the one that grows instead: a statement of several parts (the review's treatment line) goes
onto as many lines as its width needs, broken between parts only, and is never cut.
Alarm texts never use any of them: they wrap, because a cut alarm message can mislead.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QWidget

from ui.plain_text import plain_tooltip

#: The smallest a numeric is ever drawn: still readable from the chair at two metres.
MIN_NUMERIC_PX = 40
#: On a large screen a numeric may grow to this many times its style sheet's size, to fill its tile.
MAX_GROWTH = 1.6


class ElidedLabel(QLabel):
    """One line of plain text, elided on the right when too long, with the full text as tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_chars: int = 4) -> None:
        super().__init__(parent)
        self._full = ""
        self._min_chars = min_chars
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:
        """Show ``text`` (one line: line breaks become separators); hovering shows all of it."""
        one_line = " · ".join(part.strip() for part in text.splitlines() if part.strip())
        if one_line == self._full:
            return
        self._full = one_line
        super().setText(one_line)
        self.setToolTip(plain_tooltip(one_line))  # the tooltip is literal too
        # A screen reader takes the tooltip as the description, markup and all ("&lt;p style=…"): it gets the text.
        self.setAccessibleDescription(one_line)
        self.update()

    def text(self) -> str:
        """The full text (also when it is shown elided)."""
        return self._full

    def is_elided(self) -> bool:
        """True when the text does not fit and is drawn cut."""
        return QFontMetrics(self.font()).horizontalAdvance(self._full) > self.contentsRect().width()

    def minimumSizeHint(self) -> QSize:
        """A few characters wide, one line high: the layout may squeeze it, never grow because of it."""
        metrics = QFontMetrics(self.font())
        margins = self.contentsMargins()
        return QSize(
            metrics.averageCharWidth() * self._min_chars + margins.left() + margins.right(),
            metrics.height() + margins.top() + margins.bottom(),
        )

    def sizeHint(self) -> QSize:
        """Wide enough for the whole text, one line high."""
        metrics = QFontMetrics(self.font())
        margins = self.contentsMargins()
        return QSize(
            metrics.horizontalAdvance(self._full) + margins.left() + margins.right() + 2,
            metrics.height() + margins.top() + margins.bottom(),
        )

    def shown_text(self) -> str:
        """The text as drawn at the label's width now (cut with "…" when it does not fit)."""
        metrics = QFontMetrics(self.font())
        return metrics.elidedText(self._full, Qt.TextElideMode.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the text, cut with an ellipsis when it does not fit."""
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.shown_text())
        painter.end()


class KeptEndLabel(ElidedLabel):
    """An :class:`ElidedLabel` whose end is never cut: when the text does not fit, what comes before the end gives
    way. For the header's patient line, whose MRN (what a nurse checks against the wristband) must be read whole
    while a long name may be cut. Its :meth:`minimumSizeHint` is the kept end and a few characters before it; the
    label's owner gives it at least that (a label whose width the layout ignores cannot ask for it)."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_chars: int = 4,
                 max_kept_chars: int = 24) -> None:
        super().__init__(text, parent, min_chars=min_chars)
        self._kept = ""
        self._max_kept_chars = max_kept_chars

    def set_text_and_end(self, text: str, kept: str) -> None:
        """Show ``text`` followed by ``kept``, the end that stays whole (up to ``max_kept_chars`` characters)."""
        self._kept = kept
        self.setText(text + kept)
        self.update()

    def minimumSizeHint(self) -> QSize:
        """The kept end whole, after the first few characters of what comes before it and "…"."""
        hint = super().minimumSizeHint()
        metrics = QFontMetrics(self.font())
        before = self.text()[: max(0, len(self.text()) - len(self._kept))]
        kept = self._kept[: self._max_kept_chars]
        # Never wider than the whole text: a short line asks for no more than it needs.
        needed = min(metrics.horizontalAdvance(before[: self._min_chars] + "…" + kept),
                     metrics.horizontalAdvance(self.text()) + 2)
        margins = self.contentsMargins()
        return QSize(max(hint.width(), needed + margins.left() + margins.right()), hint.height())

    def shown_text(self) -> str:
        """The text as drawn now: whole when it fits, else what comes before the kept end cut with "…"."""
        metrics = QFontMetrics(self.font())
        room = self.contentsRect().width()
        full = self.text()
        if not self._kept or metrics.horizontalAdvance(full) <= room:
            return super().shown_text()
        before = full[: len(full) - len(self._kept)]
        kept_room = min(metrics.horizontalAdvance(self._kept), room)
        head = metrics.elidedText(before, Qt.TextElideMode.ElideRight, room - kept_room) if room > kept_room else ""
        # A kept end longer than the room (past max_kept_chars) is itself cut at its end.
        left = room - metrics.horizontalAdvance(head)
        return head + metrics.elidedText(self._kept, Qt.TextElideMode.ElideRight, left)


class FittedLinesLabel(ElidedLabel):
    """An :class:`ElidedLabel` that is cut last: a text too long for one line at the style sheet's size is drawn
    smaller, down to ``min_px``, on as many lines as the label's height holds (broken between words), and only what
    does not fit even then is cut with "…". The label takes the height its layout leaves it and asks for one line at
    full size, so a longer text changes no one's place. For the header's status line, which says what comes next."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_px: int = 12) -> None:
        super().__init__(text, parent)
        self._min_px = min_px
        #: The last fit, with what it was worked out for (text, size, font): a repaint of the same text at the same
        #: size, every tick on the window's thread, does not fit it again (about 1 ms for a long "Not ready" line).
        self._fit: tuple[tuple[str, int, int, str], tuple[QFont, list[str], bool]] | None = None
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def _fitted(self) -> tuple[QFont, list[str], bool]:
        """The font, the lines drawn and whether the text is cut, at the label's size now."""
        rect = self.contentsRect()
        key = (self.text(), rect.width(), rect.height(), self.font().key())
        if self._fit is None or self._fit[0] != key:
            self._fit = key, self._fit_anew(rect)
        return self._fit[1]

    def _fit_anew(self, rect: QRect) -> tuple[QFont, list[str], bool]:
        """:meth:`_fitted`, worked out: the largest size from the style sheet's down to ``min_px`` at which the
        words fit the lines ``rect`` holds; at the smallest, cut."""
        words = self.text().split(" ")
        font = QFont(self.font())
        full = max(font.pixelSize(), self._min_px)
        for px in range(full, self._min_px - 1, -1):
            font.setPixelSize(px)
            metrics = QFontMetrics(font)
            lines = _wrap(words, metrics, rect.width())
            room = 1 + max(0, rect.height() - metrics.height()) // max(metrics.lineSpacing(), 1)
            if len(lines) <= room and all(metrics.horizontalAdvance(line) <= rect.width() for line in lines):
                return font, lines, False
        # The smallest size did not hold it (the loop's last turn): as many lines as there is room for, then cut.
        kept = lines if len(lines) <= room else [*lines[: room - 1], " ".join(lines[room - 1:])]
        return font, [metrics.elidedText(line, Qt.TextElideMode.ElideRight, rect.width()) for line in kept], True

    def drawn_font(self) -> QFont:
        """The font the text is drawn in now."""
        return self._fitted()[0]

    def shown_lines(self) -> list[str]:
        """The lines as drawn now (the last cut with "…" when even the smallest size does not hold the text)."""
        return self._fitted()[1]

    def shown_text(self) -> str:
        """The text as drawn now, its lines joined by spaces."""
        return " ".join(self.shown_lines())

    def is_elided(self) -> bool:
        """True when even at the smallest size, on every line the height holds, the text does not fit."""
        return self._fitted()[2]

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the lines, as a block centred on the label's height."""
        font, lines, _cut = self._fitted()
        metrics = QFontMetrics(font)
        rect = self.contentsRect()
        block = metrics.height() + metrics.lineSpacing() * (len(lines) - 1)
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(font)
        painter.drawText(rect.adjusted(0, max(0, (rect.height() - block) // 2), 0, 0),
                         int(self.alignment() | Qt.AlignmentFlag.AlignTop), "\n".join(lines))
        painter.end()


def _wrap(words: list[str], metrics: QFontMetrics, width: int) -> list[str]:
    """``words`` on as few lines of ``width`` pixels as fit, in order (a word too long for a line has one alone)."""
    lines: list[str] = []
    for word in words:
        joined = f"{lines[-1]} {word}" if lines else word
        if lines and metrics.horizontalAdvance(joined) <= width:
            lines[-1] = joined
        else:
            lines.append(word)
    return lines


class FitLabel(QLabel):
    """A large value drawn to fill its space: smaller than its style sheet's size on a small screen, up to
    :data:`MAX_GROWTH` times larger on a large one."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        #: Background colour behind the value (an alarm's lit flash state), None for none.
        self.fill: str | None = None
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_fill(self, colour: str | None) -> None:
        """Fill the label's background with ``colour`` (None: transparent)."""
        if colour != self.fill:
            self.fill = colour
            self.update()

    def drawn_px(self) -> int:
        """The pixel size the text is drawn at in the current size."""
        font = self.font()
        full = max(font.pixelSize(), 1)
        rect = self.contentsRect()
        metrics = QFontMetrics(font)
        width = max(metrics.horizontalAdvance(self.text() or "0"), 1)
        height = max(metrics.height(), 1)
        scale = min(MAX_GROWTH, rect.width() / width, rect.height() / height)
        return max(MIN_NUMERIC_PX, int(full * scale))

    def fits(self) -> bool:
        """True when the text, at the size it is drawn, fits inside the label."""
        font = self.font()
        font.setPixelSize(self.drawn_px())
        metrics = QFontMetrics(font)
        rect = self.contentsRect()
        return metrics.horizontalAdvance(self.text()) <= rect.width() and metrics.capHeight() <= rect.height()

    def minimumSizeHint(self) -> QSize:
        """Room for the value at the smallest readable size."""
        font = self.font()
        font.setPixelSize(MIN_NUMERIC_PX)
        metrics = QFontMetrics(font)
        return QSize(metrics.horizontalAdvance("000/000"), metrics.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the value scaled to the label's space (within the readable minimum and MAX_GROWTH)."""
        painter = QPainter(self)
        if self.fill is not None:
            painter.fillRect(self.rect(), QColor(self.fill))
        font = self.font()
        font.setPixelSize(self.drawn_px())
        painter.setFont(font)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment()), self.text())
        painter.end()


class OneLineLabel(QLabel):
    """One line of plain text whose height never changes: when its text is too long for its width it is drawn
    smaller, down to ``min_px``, and only below that cut with "…". :meth:`text` (and what a screen reader reads) is
    always the whole text. Its frame, background and padding come from its style sheet as a QLabel's do."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, min_px: int = 12) -> None:
        super().__init__(text, parent)
        self._min_px = min_px
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def drawn_font(self) -> QFont:
        """The font the text is drawn in at the label's width now: the style sheet's, or smaller to fit."""
        font = QFont(self.font())
        full = max(font.pixelSize(), 1)
        room = self.contentsRect().width()
        needed = QFontMetrics(font).horizontalAdvance(self.text())
        if needed > room > 0:
            font.setPixelSize(max(self._min_px, min(full, full * room // needed)))
        return font

    def is_cut(self) -> bool:
        """True when even at the smallest size the text does not fit and is drawn cut."""
        return QFontMetrics(self.drawn_font()).horizontalAdvance(self.text()) > self.contentsRect().width()

    def _height(self) -> int:
        margins = self.contentsMargins()
        return QFontMetrics(self.font()).height() + margins.top() + margins.bottom()

    def minimumSizeHint(self) -> QSize:
        """A few characters wide, one line of the style sheet's size high, whatever the text."""
        return QSize(QFontMetrics(self.font()).averageCharWidth() * 4, self._height())

    def sizeHint(self) -> QSize:
        """Wide enough for the whole text at full size, one line high."""
        margins = self.contentsMargins()
        width = QFontMetrics(self.font()).horizontalAdvance(self.text()) + margins.left() + margins.right() + 2
        return QSize(width, self._height())

    def heightForWidth(self, width: int) -> int:
        """One line at any width (a QLabel's own answer grows with the text)."""
        return self._height()

    def hasHeightForWidth(self) -> bool:
        """No: the height is the same at every width."""
        return False

    def paintEvent(self, event: QPaintEvent) -> None:
        """The style sheet's frame, then the text on one line, smaller (or cut) to fit."""
        QFrame.paintEvent(self, event)
        painter = QPainter(self)
        font = self.drawn_font()
        rect = self.contentsRect()
        shown = QFontMetrics(font).elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(font)
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), shown)
        painter.end()


#: Between two parts of a :class:`PartsLabel`; at a line's end it says the statement goes on.
PART_SEPARATOR = " · "


class PartsLabel(QLabel):
    """Parts of one statement joined by " · ", on as many lines as the label's width needs: broken between parts
    only (a dose stays beside its unit), never cut. :meth:`text` is the statement on one line, as a screen reader
    reads it; the layout gives the label the height :meth:`heightForWidth` asks for."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._parts: list[str] = []
        self.setTextFormat(Qt.TextFormat.PlainText)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def set_parts(self, parts: list[str]) -> None:
        """Show ``parts`` in their order."""
        if parts == self._parts:
            return
        self._parts = list(parts)
        self.setText(PART_SEPARATOR.join(parts))
        self.updateGeometry()
        self.update()

    def lines(self, width: int | None = None) -> list[str]:
        """The lines drawn at ``width`` pixels of text (the label's own now): as many parts on each as fit, each
        line but the last ending in the separator's dot."""
        metrics = QFontMetrics(self.font())
        room = self.contentsRect().width() if width is None else width
        dot = PART_SEPARATOR.rstrip()
        out: list[str] = []
        for part in self._parts:
            joined = f"{out[-1]}{PART_SEPARATOR}{part}" if out else part
            if out and metrics.horizontalAdvance(joined + dot) > room:
                out[-1] += dot
                out.append(part)
            elif out:
                out[-1] = joined
            else:
                out.append(part)
        return out

    def _height(self, lines: int) -> int:
        margins = self.contentsMargins()
        metrics = QFontMetrics(self.font())
        return metrics.height() + metrics.lineSpacing() * (max(lines, 1) - 1) + margins.top() + margins.bottom()

    def hasHeightForWidth(self) -> bool:
        """Yes: a narrower label takes more lines."""
        return True

    def heightForWidth(self, width: int) -> int:
        """The height of the lines at ``width`` (the label's whole width, margins included)."""
        margins = self.contentsMargins()
        return self._height(len(self.lines(width - margins.left() - margins.right())))

    def minimumSizeHint(self) -> QSize:
        """The widest part, one line high: narrower than that a part itself would be cut."""
        metrics = QFontMetrics(self.font())
        margins = self.contentsMargins()
        widest = max((metrics.horizontalAdvance(part + PART_SEPARATOR) for part in self._parts), default=0)
        return QSize(widest + margins.left() + margins.right(), self._height(1))

    def sizeHint(self) -> QSize:
        """As narrow as its minimum: the label never makes the window wider, it takes another line instead."""
        return self.minimumSizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Draw the lines at the label's width."""
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignTop),
                         "\n".join(self.lines()))
        painter.end()
