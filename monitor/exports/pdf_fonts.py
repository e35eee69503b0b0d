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
from reportlab.lib.styles import ParagraphStyle, StyleSheet1, getSampleStyleSheet
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, Table, TableStyle

FONT_DIR: Final = Path(__file__).with_name("fonts")
FONT: Final = "DejaVuSans"
FONT_BOLD: Final = "DejaVuSans-Bold"
#: Bidirectional classes of right-to-left text.
_RIGHT_TO_LEFT: Final = frozenset({"R", "AL"})


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


def table(rows: Sequence[Sequence[Any]], widths: Sequence[float] | None = None, *, size: float = 8) -> Table:
    """A ruled table in the embedded font under a shaded header row (repeated on every page); a cell given as
    plain text is printed as :func:`printable` makes it."""
    regular, bold = register()
    cells = [[printable(cell) if isinstance(cell, str) else cell for cell in row] for row in rows]
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
