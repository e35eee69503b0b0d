"""Text into a PDF: DejaVu Sans, shipped with the program and embedded in every PDF the program writes.

The standard PDF fonts cover Latin-1 only; DejaVu Sans (Bitstream Vera licence, which allows
embedding and redistribution: ``fonts/LICENSE-DejaVu.txt``) covers Latin, Greek and Cyrillic
among others. Text the report cannot print faithfully is never replaced by "?": characters the
font lacks, and right-to-left scripts (Hebrew, Arabic, ...) that the PDF writer cannot lay out
in their reading order, are replaced by a bracketed note naming the script, so a reader knows
a name is there and where to read it in full.

Every PDF (the session report, the course report, the REMS worksheet) sets its text through
:func:`styles`, :func:`paragraph` and :func:`table`, so one rule holds wherever a name is printed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.fonts import addMapping
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, StyleSheet1, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, Table, TableStyle

FONT_DIR: Final = Path(__file__).with_name("fonts")
FONT: Final = "DejaVuSans"
FONT_BOLD: Final = "DejaVuSans-Bold"
#: A cell's left plus right padding (reportlab's default, 6 pt each side).
CELL_PADDING: Final = 12.0
#: What ends a cell's text cut short to fit a page.
CUT_SHORT: Final = " … ({more:,} more characters; full text in the JSON/CSV export)"
#: Bidirectional classes of right-to-left text.
_RIGHT_TO_LEFT: Final = frozenset({"R", "AL"})


def tallest_cell(page_height: float, margin: float) -> float:
    """The tallest a table cell may be on a page ``page_height`` points high with ``margin`` above and below.

    A row taller than the page's frame (reportlab pads it 6 pt each side), less the table's heading row repeated
    above it and the cells' padding (60 pt for both), fits on no page, and reportlab then refuses the whole report.
    """
    return page_height - 2 * margin - 2 * 6 - 60


#: The tallest cell of a portrait A4 report with 15 mm margins: 685 points. (A note's row of 1,800 wide letters is
#: 570 points: notes are cut into rows before this, never cut short by it.)
TALLEST_CELL: Final = tallest_cell(A4[1], 15 * mm)


@cache
def register() -> tuple[str, str]:
    """Register the report fonts with the PDF writer (once); returns (regular, bold) names."""
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
    # <b> inside a paragraph picks the bold face; there is no italic, so italic maps to upright.
    addMapping(FONT, 0, 0, FONT)
    addMapping(FONT, 1, 0, FONT_BOLD)
    addMapping(FONT, 0, 1, FONT)
    addMapping(FONT, 1, 1, FONT_BOLD)
    return FONT, FONT_BOLD


@cache
def _covered() -> frozenset[int]:
    register()
    face = pdfmetrics.getFont(FONT).face
    return frozenset(face.charToGlyph)


def _printable(char: str) -> bool:
    if char in "\n\t ":
        return True
    if unicodedata.bidirectional(char) in _RIGHT_TO_LEFT:
        return False
    return ord(char) in _covered()


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    word = name.split(" ")[0] if name else "unknown"
    return word if word.isupper() and len(word) <= 3 else word.capitalize()


def printable(text: str) -> str:
    """``text`` as the report can print it: unprintable runs become "[Hebrew text not printable here]"."""
    text = unicodedata.normalize("NFC", text)
    out: list[str] = []
    run: list[str] = []

    def close_run() -> None:
        if not run:
            return
        trailing: list[str] = []
        while run and unicodedata.category(run[-1])[0] in "ZP" and _printable(run[-1]):
            trailing.insert(0, run.pop())
        scripts = sorted({_script(c) for c in run if unicodedata.category(c)[0] not in "ZPM"})
        what = "/".join(scripts) if scripts else "other"
        out.append(f"[{what} text not printable here]")
        out.extend(trailing)
        run.clear()

    for char in text:
        if _printable(char):
            # Spaces and punctuation inside a right-to-left run belong to it.
            if run and unicodedata.category(char)[0] in "ZP" and char not in "\n":
                run.append(char)
                continue
            close_run()
            out.append(char)
        else:
            run.append(char)
    close_run()
    return "".join(out)


def styles() -> StyleSheet1:
    """reportlab's sample style sheet, set in the embedded font (a fresh copy: callers may change it)."""
    regular, bold = register()
    sheet = getSampleStyleSheet()
    for style in sheet.byName.values():
        if hasattr(style, "fontName"):
            style.fontName = bold if "Bold" in style.fontName else regular
    return sheet


def paragraph(text: str, style: ParagraphStyle) -> Paragraph:
    """``text`` as a paragraph: what the font cannot print named (:func:`printable`), markup characters kept as text."""
    return Paragraph(escape(printable(text)), style)


def _taller_than(cell: Paragraph, width: float, tallest: float) -> bool:
    """Whether ``cell`` set ``width`` points wide is taller than ``tallest`` points."""
    style = cell.style
    # Each line but the last is at least half full (a word wider than the rest of a line starts the next one), so
    # text whose width, doubled, fills fewer lines than fit is short enough without laying it out (most cells).
    lines_at_most = 2 * pdfmetrics.stringWidth(cell.getPlainText(), style.fontName, style.fontSize) / width + 2
    if lines_at_most * style.leading <= tallest:
        return False
    return bool(cell.wrap(width, tallest)[1] > tallest)


def fit_cell(cell: Any, width: float | None, tallest: float = TALLEST_CELL) -> Any:
    """``cell``, or, for a paragraph taller than ``tallest`` points in a column ``width`` wide, as much of its text
    as fits followed by how many characters were left out (:data:`CUT_SHORT`): a name or free text of any length
    still gives a report, and says it was cut."""
    if not isinstance(cell, Paragraph) or width is None:
        return cell
    inner = width - CELL_PADDING
    if not _taller_than(cell, inner, tallest):
        return cell
    text = cell.getPlainText()

    def cut(keep: int) -> Paragraph:
        shown = text[:keep].rstrip()
        return Paragraph(escape(shown + CUT_SHORT.format(more=len(text) - len(shown))), cell.style)

    fits, too_long = 0, len(text)
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if _taller_than(cut(middle), inner, tallest):
            too_long = middle
        else:
            fits = middle
    return cut(fits)


def fit_rows(rows: Sequence[Sequence[Any]], widths: Sequence[float] | None,
             tallest: float = TALLEST_CELL) -> list[list[Any]]:
    """``rows`` with every cell :func:`fit_cell` makes fit its column (unchanged without column widths)."""
    if widths is None:
        return [list(row) for row in rows]
    return [[fit_cell(cell, width, tallest) for cell, width in zip(row, widths, strict=False)] for row in rows]


def table(rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None, *, size: float = 8,
          tallest: float = TALLEST_CELL) -> Table:
    """A ruled table in the embedded font under a shaded header row (repeated on every page); a cell given as
    plain text is printed as :func:`printable` makes it, and a paragraph too tall for a page is cut short saying so
    (``tallest``: the most a cell may be, in points, on the report's page)."""
    regular, bold = register()
    fitted = fit_rows(rows, widths, tallest)
    cells = [[printable(cell) if isinstance(cell, str) else cell for cell in row] for row in fitted]
    table = Table(cells, colWidths=widths, repeatRows=1)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), regular, size),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("FONT", (0, 0), (-1, 0), bold, size),
        ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
    ]
    table.setStyle(TableStyle(style))
    return table
