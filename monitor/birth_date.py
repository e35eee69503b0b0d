"""Birth dates: one rule for the forms, the recorder and every export.

A birth date is written ``YYYY-MM-DD`` (the form FHIR's ``birthDate`` and the PDF use; HL7 v2 gets
the same digits without dashes), is a real calendar day, not in the future and not before 1900.
Python's ``date.fromisoformat`` alone also accepts ``19700101`` and week dates, which the exports
cannot use; that is why the forms call :func:`check_birth_date` rather than parse for themselves.
"""

from __future__ import annotations

import re
from datetime import date

_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BASIC_DAY = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
EARLIEST_YEAR = 1900


def check_birth_date(text: str, today: date | None = None) -> str:
    """The birth date as ``YYYY-MM-DD``, or ValueError with a message a nurse can act on."""
    match = _ISO_DAY.match(text.strip())
    if match is None:
        raise ValueError("write the birth date as YYYY-MM-DD (for example 1970-01-31)")
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"{text.strip()} is not a calendar date; write the birth date as YYYY-MM-DD") from None
    if day > (today or date.today()):
        raise ValueError("the birth date is in the future")
    if day.year < EARLIEST_YEAR:
        raise ValueError(f"the birth date is before {EARLIEST_YEAR}")
    return day.isoformat()


def stored_birth_date(value: object) -> str | None:
    """A stored birth date as ``YYYY-MM-DD`` for an export, or None when it is not a usable date.

    Rows written before the shared check may hold ``YYYYMMDD``; those are read too.
    """
    if value is None:
        return None
    text = str(value).strip()
    basic = _BASIC_DAY.match(text)
    if basic is not None:
        text = f"{basic[1]}-{basic[2]}-{basic[3]}"
    try:
        return check_birth_date(text)
    except ValueError:
        return None
