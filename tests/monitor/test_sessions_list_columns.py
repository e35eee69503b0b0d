"""`infusion-monitor sessions`: columns that stay under their headings when a start names its zone.

On the night the clocks went back, "2026-11-01 01:24 EDT" (20 characters) and a length of "1 h 45 min" (10) sat in
columns of 16 and 7: the length and the status of that row stood out of line with the heading and the other rows."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

from monitor.cli import main
from tests.conftest import record_simulated, time_zone


def test_every_row_keeps_its_length_and_status_under_their_headings(db_path: Path) -> None:
    with time_zone("America/New_York"):
        record_simulated(db_path, start_time=datetime(2026, 7, 15, 23, 0, tzinfo=UTC).timestamp())
        record_simulated(db_path, plan="baseline:5,infusion:60,recovery:40",
                         start_time=datetime(2026, 11, 1, 5, 24, tzinfo=UTC).timestamp())  # 01:24 EDT
        listed = io.StringIO()
        assert main(["sessions", "--db", str(db_path)], out=listed) == 0
    heading, *rows = listed.getvalue().splitlines()
    assert len(rows) == 2 and "2026-11-01 01:24 EDT" in rows[0] and " 1 h 4" in rows[0]
    # A length under an hour reads as minutes, as the session browser gives it: "14:21" (minutes and seconds)
    # beside "1 h 45 min" read as a time of day or as hours and minutes.
    assert re.search(r" \d+ min  (complete|stopped)", rows[1]), rows[1]
    length_ends = heading.index("length") + len("length")
    status_starts = heading.index("status")
    for row in rows:
        assert row[length_ends - 1] != " " and row[length_ends] == " ", (heading, row)  # lengths end together
        assert row[status_starts - 1] == " " and row[status_starts:].split()[0] in ("complete", "stopped"), row
