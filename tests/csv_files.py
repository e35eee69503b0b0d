"""Reading the session CSV exports back: a ``#`` statement line, then a header and one row per entry."""

from __future__ import annotations

import csv
import io


def split_statement(text: str) -> tuple[str, str]:
    """The export's first-line statement (which must be there) and the CSV table after it."""
    first, _, table = text.partition("\n")
    assert first.startswith("# Infusion Monitor session "), f"no statement line: {first[:80]!r}"
    return first, table


def rows(text: str) -> list[dict[str, str]]:
    """The table's rows as dicts keyed by the header, after checking the statement line."""
    return list(csv.DictReader(io.StringIO(split_statement(text)[1])))
