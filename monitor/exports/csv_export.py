"""CSV: a ``#`` statement line, then one row per value (timestamp,elapsed_s,phase,parameter,value,unit,status)."""

from __future__ import annotations

import csv
from typing import IO

from drivers.core.readings import iso_utc
from monitor.exports.csv_tables import write_statement
from monitor.exports.data import SessionRecord

COLUMNS = ("timestamp", "elapsed_s", "phase", "parameter", "value", "unit", "status")


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the session's numeric readings (missing values as an empty cell)."""
    write_statement(record, stream)
    out = csv.writer(stream, lineterminator="\n")
    out.writerow(COLUMNS)
    phase_at = record.phase_at()
    start = record.started_at
    for r in record.readings:
        out.writerow(
            (
                iso_utc(r.t),
                f"{r.t - start:.3f}",
                phase_at(r.t).value,
                r.parameter.value,
                "" if r.value is None else f"{r.value:g}",
                r.unit,
                r.status,
            )
        )
