"""The chair's own database cannot be read for what waits to be sent (a failing disk, a file damaged under it): the
chair must not say that everything is on the server. Before, the count read as 0 and the end of `record` said
"everything recorded is on the server" while 549 rows of the session had never been written (the disk had died)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.replication.replicator import Replicator
from monitor.store import Store


def test_what_waits_is_not_known_when_the_outbox_cannot_be_read(db_path: Path) -> None:
    Store(db_path).close()
    replicator = Replicator(db_path, "postgresql://chair@127.0.0.1:1/clinic")  # never started: no server needed
    try:
        assert replicator.status().unreadable is None
        with sqlite3.connect(db_path) as other:  # the outbox made unreadable under the replicator's connection
            other.execute("ALTER TABLE replication_outbox RENAME TO gone")
        status = replicator.status()
        assert status.unreadable is not None and "replication_outbox" in status.unreadable
        assert "what waits to be sent is not known" in status.text and "NOT CONNECTED" in status.text
    finally:
        replicator.stop(0.5)
    final = replicator.status()
    assert final.unreadable is not None
    assert "on the server" not in final.text and "the next start sends whatever waits" in final.text
