"""What typed text may hold, and how two texts are compared: the one home for names and free text.

A name (the patient's, a clinician's) is shown on screens, terminals, reports and spreadsheets, and is matched
against the record (an MRN with its name) and against notes (de-identification). So a name is stored in one form
(NFC, plain spaces) and may hold any letter, mark, digit, punctuation or symbol, and the joiners real names are
spelt with; what could hide or fake what is shown is refused with the character named. A note is the nurse's own
words and is never refused: only the direction controls that could reorder it on display are taken out.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

#: Bidirectional embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI). They reorder the
#: letters after them on screen, in a PDF and in a spreadsheet: "Eve" + RLO + "nosaJ" displays as "EveJason".
DIRECTION_CONTROLS: Final = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

#: Invisible characters a name may be spelt with: ZWNJ (Persian, Kurdish, the Indic scripts), ZWJ (emoji
#: sequences, Indic conjuncts), and the direction marks LRM, RLM and ALM, which a right-to-left keyboard types;
#: a mark only gives a neutral character a direction and cannot reorder letters, unlike the controls above.
NAME_JOINERS: Final = frozenset("\u200c\u200d\u200e\u200f\u061c")

DIRECTION_CONTROL: Final = "a direction control"
_DIRECTION_HARM: Final = ", which can make it display as something else"

#: Names of the control characters a pasted or hostile text brings (Unicode gives C0/C1 controls no name).
_CONTROL_NAMES: Final = {
    0x00: "NULL", 0x07: "BELL", 0x08: "BACKSPACE", 0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED",
    0x0B: "LINE TABULATION", 0x0C: "FORM FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE",
    0x85: "NEXT LINE",
}

#: How a comparison sees apostrophes and hyphens: a keyboard's, a word processor's and a phone's are one.
_APOSTROPHES: Final = "\u2019\u2018\u02bc\u02bb\u0060\u00b4\u2032"
_HYPHENS: Final = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63"
#: Characters a comparison ignores: invisible, so two texts that differ only by them look the same.
_INVISIBLE: Final = "\u00ad\u200b\u2060\ufeff" + "".join(NAME_JOINERS) + "".join(DIRECTION_CONTROLS)
_FOLD_TABLE: Final = {
    **{ord(c): "'" for c in _APOSTROPHES},
    **{ord(c): "-" for c in _HYPHENS},
    **{ord(c): None for c in _INVISIBLE},
}


def character_label(char: str) -> str:
    """A character as a message names it: ``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    code = ord(char)
    name = unicodedata.name(char, "") or _CONTROL_NAMES.get(code, "")
    if not name:
        name = "CONTROL" if unicodedata.category(char) == "Cc" else "UNASSIGNED OR PRIVATE-USE CHARACTER"
    return f"U+{code:04X} {name}"


def _kind_refused(char: str) -> str | None:
    """What a name may not hold that ``char`` is (None: a name may hold it)."""
    category = unicodedata.category(char)
    if char in "\n\r\x0b\x0c\x85" or category in ("Zl", "Zp"):
        return "a line break"
    if char == "\t":
        return "a tab"
    if category == "Cc":
        return "a control character"
    if char in DIRECTION_CONTROLS:
        return DIRECTION_CONTROL
    if category == "Cf" and char not in NAME_JOINERS:
        return "an invisible formatting character"
    if category in ("Cn", "Co", "Cs"):
        return "a character that is no letter, mark or sign"
    return None


def _refusal(text: str, what: str) -> str | None:
    """The message refusing ``text`` as a ``what``, naming each character refused (None: nothing refused)."""
    by_kind: dict[str, list[str]] = {}
    for char in dict.fromkeys(text):
        kind = _kind_refused(char)
        if kind is not None:
            by_kind.setdefault(kind, []).append(character_label(char))
    if not by_kind:
        return None
    parts = [f"{kind} ({', '.join(labels)})" + (_DIRECTION_HARM if kind == DIRECTION_CONTROL else "")
             for kind, labels in by_kind.items()]
    return f"the {what} holds {' and '.join(parts)}; type it again"


def stored_name(text: str) -> str:
    """A name in the form it is stored and looked up in: NFC (a letter typed with a combining accent is the same
    letter as the precomposed one), every space a reader cannot tell from a space made a plain one, runs of
    spaces made one, trimmed."""
    text = unicodedata.normalize("NFC", text)
    plain = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    return " ".join(part for part in plain.split(" ") if part)


def typed_name(value: str | None, what: str) -> str | None:
    """A name or identifier as typed, in its stored form (None or blank: None); :class:`ValueError` naming each
    character it may not hold (a line break, tab, control or direction control, an invisible format
    character) with ``what`` (e.g. "patient's name")."""
    if value is None or not value.strip():
        return None
    value = value.strip()  # a line break a terminal or a paste adds at an end is no part of the name
    refused = _refusal(value, what)
    if refused is not None:
        raise ValueError(refused)
    return stored_name(value)


def neutral_text(text: str) -> str:
    """Free text (a note, a reason, a drug) without the direction controls that could reorder it on display; every
    other character stays as typed, line breaks too."""
    if not any(c in DIRECTION_CONTROLS for c in text):
        return text
    return "".join(c for c in text if c not in DIRECTION_CONTROLS)


def terminal_text(text: str) -> str:
    """Text for a terminal: a control character (typed, pasted, or kept by an older version) shows as ``?``."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def neutral(value: Any) -> Any:
    """:func:`neutral_text` applied to every text in ``value``, in plain dicts, lists and tuples too; any other
    object (a device, a profile, a named tuple) is passed on as it is."""
    if isinstance(value, str):
        return neutral_text(value)
    if type(value) is dict:
        return {k: neutral(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(neutral(v) for v in value)
    return value


def fold(text: str) -> str:
    """The form two texts are compared in: NFKC, case-folded, one apostrophe and one hyphen, invisible characters
    left out (``O’Brien`` and ``o'brien`` fold alike; so do a name typed with combining accents and precomposed)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).translate(_FOLD_TABLE)


#: Letters with a stroke or a ligature, which Unicode does not decompose into a base letter and a mark.
_PLAIN_LETTERS: Final = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ı": "i", "ŧ": "t", "ƀ": "b",
                                       "æ": "ae", "œ": "oe", "þ": "th", "ð": "d"})


def without_accents(folded: str) -> str:
    """A folded text as a keyboard without accents types it: ``wójcik`` and ``łucja`` as ``wojcik`` and
    ``lucja`` (marks dropped, letters with a stroke made plain); scripts without such letters are unchanged."""
    decomposed = unicodedata.normalize("NFD", folded)
    plain = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").translate(_PLAIN_LETTERS)
    return unicodedata.normalize("NFC", plain)


def name_key(name: str) -> str:
    """The form :func:`same_name` compares: two names are the same name exactly when their keys are equal (the
    clinic's server compares the keys the chairs send, since it cannot run this rule itself)."""
    return " ".join(fold(name).split())


def same_name(typed: str, stored: str) -> bool:
    """Whether two names are the same name as a reader sees them (case, spacing, accents' encoding, apostrophes)."""
    return name_key(typed) == name_key(stored)


@functools.lru_cache(maxsize=8192)
def _folded_letter(letter: str) -> str:
    # A note repeats the same few hundred letters: folding each once keeps a long export's de-identification fast.
    return fold(letter)


@dataclass(frozen=True, slots=True)
class FoldedText:
    """A text in its folded form, with where each folded character came from in the original."""

    original: str
    folded: str
    starts: Sequence[int]
    ends: Sequence[int]

    @classmethod
    def of(cls, text: str) -> FoldedText:
        """Fold ``text`` a letter with its marks at a time, so every folded character maps back to whole letters."""
        if text.isascii():  # folds letter for letter (case and the backtick only)
            return cls(text, text.lower().translate(_FOLD_TABLE), range(len(text)), range(1, len(text) + 1))
        letters = list(map(_folded_letter, text))
        if all(len(f) == 1 for f in letters) and not any(c[0] == "M" for c in map(unicodedata.category, text)):
            # No marks and no letter that folds to two or none (ß, ﬁ, a joiner): folded letter for letter.
            return cls(text, "".join(letters), range(len(text)), range(1, len(text) + 1))
        folded: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        start = 0
        while start < len(text):
            end = start + 1
            while end < len(text) and unicodedata.category(text[end])[0] == "M":
                end += 1
            piece = _folded_letter(text[start:end])
            folded.append(piece)
            starts.extend([start] * len(piece))
            ends.extend([end] * len(piece))
            start = end
        return cls(text, "".join(folded), starts, ends)

    def span(self, folded_start: int, folded_end: int) -> tuple[int, int]:
        """The original text's span behind a non-empty span of the folded text."""
        return self.starts[folded_start], self.ends[folded_end - 1]


# -- identifiers as a note writes them (de-identification) -------------------------------------------------------

#: The English month names, for dates written with one ("17 March 1984", "Mar 17, 1984").
_MONTHS: Final = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
                  "october", "november", "december")
#: Between the figures of a date: one of - / . with spaces around it, or spaces alone ("17 03 1984").
_DATE_SEPARATOR: Final = r"(?:\s*[-/.]\s*|\s+)"
#: Between the parts of a date with a month name: any run of spaces and punctuation ("17-Mar-1984", "March 17, 1984").
_NAMED_SEPARATOR: Final = r"[\s,./-]*"
_ORDINAL: Final = r"(?:st|nd|rd|th)?"
#: What a note may put between the characters of an identifier ("4471-XK-0092", "448 812").
_IDENTIFIER_SEPARATOR: Final = r"[-./\s]?"
#: An identifier shorter than this (letters and digits) is found only as typed on file: looser forms of a
#: two- or three-figure number would cut ordinary numbers out of notes.
LOOSE_IDENTIFIER_MIN: Final = 4


def date_pattern(day: date) -> str:
    """A regular expression over folded text (:func:`fold`) for ``day`` in the ways people write a date.

    Day, month and year in either order of day and month, or the year first; the figures separated by ``-``,
    ``/``, ``.`` or spaces, with or without a leading zero; the month also as its English name or three-letter
    abbreviation, the day with an ordinal ("17th of March, 1984"); the year in four figures, or in two after
    the day and month ("17/03/84": a two-figure year first, "84/03/17", reads as a day or a month as easily).
    The eight figures run together count in the three orders. A date that reads as ``day`` in one convention
    and another date in the other (05/03/1984) is matched either way: a note that loses a date is still fit for
    a de-identified export, one that keeps a birth date is not.
    """
    d = f"0?{day.day}" if day.day < 10 else str(day.day)
    m = f"0?{day.month}" if day.month < 10 else str(day.month)
    full = str(day.year)
    year = f"(?:{full[:-2]})?{full[-2:]}"
    name = _MONTHS[day.month - 1]
    short = [name[:3] + r"\.?"] + ([r"sept\.?"] if day.month == 9 else [])
    month = "(?:" + "|".join(dict.fromkeys([name, *short])) + ")"
    sep, named = _DATE_SEPARATOR, _NAMED_SEPARATOR
    dd, mm = f"{day.day:02d}", f"{day.month:02d}"
    forms = (
        f"{d}{sep}{m}{sep}{year}", f"{m}{sep}{d}{sep}{year}", f"{full}{sep}{m}{sep}{d}",
        rf"{d}{_ORDINAL}(?:\s+of)?{named}{month}{named}{year}", f"{month}{named}{d}{_ORDINAL}{named}{year}",
        f"{full}{named}{month}{named}{d}{_ORDINAL}",
        f"{full}{mm}{dd}", f"{dd}{mm}{full}", f"{mm}{dd}{full}",
    )
    return "(?:" + "|".join(forms) + ")"


def identifier_pattern(identifier: str) -> str | None:
    """A regular expression over folded text (:func:`fold`) for an identifier (an MRN, a device serial) however a
    note writes it: with any of ``- . /`` or a space between its characters ("4471-XK-0092"), a number with or
    without leading zeros ("0448812" for 448812), with its letters before the first figure or others put straight
    before it ("448812" and "MRN448812" for MRN-448812, "SN4471XK0092"). None for an identifier of fewer than
    :data:`LOOSE_IDENTIFIER_MIN` letters and figures (found only as typed).
    """
    whole = [c for c in fold(identifier) if c.isalnum()]
    # Letters before the first figure are a prefix ("MRN-448812" is written "448812" too), which the pattern
    # allows in front of any identifier; so are leading zeros.
    first_figure = next((i for i, c in enumerate(whole) if c.isdigit()), 0)
    core = whole[first_figure:]
    while len(core) > 1 and core[0] == "0":
        core.pop(0)
    if len(core) < LOOSE_IDENTIFIER_MIN:
        core = whole
    if len(core) < LOOSE_IDENTIFIER_MIN:
        return None
    zeros = "0*" if core[0].isdigit() else ""
    return r"[^\W\d_]*" + zeros + _IDENTIFIER_SEPARATOR.join(re.escape(c) for c in core)
