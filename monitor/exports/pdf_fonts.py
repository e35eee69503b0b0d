"""The report's font: DejaVu Sans, shipped with the program and embedded in every PDF.

The standard PDF fonts cover Latin-1 only; DejaVu Sans (Bitstream Vera licence, which allows
embedding and redistribution: ``fonts/LICENSE-DejaVu.txt``) covers Latin, Greek and Cyrillic
among others. Text the report cannot print faithfully is never replaced by "?": characters the
font lacks, and right-to-left scripts (Hebrew, Arabic, ...) that the PDF writer cannot lay out
in their reading order, are replaced by a bracketed note naming the script, so a reader knows
a name is there and where to read it in full.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path
from typing import Final

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

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
