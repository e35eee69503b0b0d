"""A chair with the live feed configured and its receiver unreachable: what the database file holds."""

from __future__ import annotations

import io
import socket
from pathlib import Path

from monitor.cli import main

MRN = "MRN-FEEDQ-5521"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_feeds_queue_keeps_no_identifier_readable_in_the_database_file(db_path: Path) -> None:
    code = main(["record", "--db", str(db_path), "--driver", "simulated", "--speed", "60", "--duration", "3",
                 "--quiet", "--patient", MRN, "--feed", f"127.0.0.1:{_closed_port()}"], out=io.StringIO())
    assert code == 0
    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name) and p.is_file()]
    # "strings on the database, WAL and journal finds none of them": a copy of the file without the key file
    # must not give the MRN.
    readable = {p.name: p.read_bytes().count(MRN.encode()) for p in files}
    assert not any(readable.values()), f"the MRN stands readable in {readable} (the feed's queued HL7 messages)"
