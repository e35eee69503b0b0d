"""CSV: a ``#`` statement line, then one row per value (timestamp,elapsed_s,phase,parameter,value,unit,status).

Rows are written as the readings are read from the store (a 24-hour session is streamed, never
held whole). The readings of one second share a time, so the time texts and the phase are worked
out once per time.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

from drivers.core.readings import Flag, Parameter, iso_utc
from monitor.exports.csv_tables import write_statement
from monitor.exports.data import SessionRecord
from monitor.exports.deferred import body_first

COLUMNS = ("timestamp", "elapsed_s", "phase", "parameter", "value", "unit", "status")


def rows(record: SessionRecord) -> Iterator[tuple[str, ...]]:
    """The data rows, one per reading (missing values as an empty cell), in time order."""
    phase_at = record.phase_at()
    start = record.started_at
    last_t: float | None = None
    stamp = elapsed = phase = ""
    statuses: dict[frozenset[Flag], str] = {}
    # A parameter's name and unit, looked up once each (an enum's value is a slow attribute; a day is
    # ~260,000 rows).
    names: dict[Parameter, tuple[str, str]] = {}
    for r in record.readings:
        if r.t != last_t:
            last_t = r.t
            stamp, elapsed, phase = iso_utc(r.t), f"{r.t - start:.3f}", phase_at(r.t).value
        status = statuses.get(r.flags)
        if status is None:
            status = statuses[r.flags] = r.status
        name_unit = names.get(r.parameter)
        if name_unit is None:
            name_unit = names[r.parameter] = (r.parameter.value, r.unit)
        yield (stamp, elapsed, phase, name_unit[0], "" if r.value is None else f"{r.value:g}", name_unit[1], status)


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the session's numeric readings (missing values as an empty cell)."""
    write_statement(record, stream)
    write_table(record, stream)


def write_table(record: SessionRecord, stream: IO[str]) -> None:
    """The column names and the rows: everything after the statement line."""
    out = csv.writer(stream, lineterminator="\n")
    out.writerow(COLUMNS)
    out.writerows(rows(record))


#: The table first, the statement line (the record's verification) when it is known.
prepare = body_first(write_statement, write_table)
