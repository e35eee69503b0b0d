"""A row the database cannot take is a failed write like any other: it and what follows are held, alarmed, and
left for the recovery file at the end; stopping the writer never raises and loses them."""

from __future__ import annotations

from pathlib import Path

from drivers.core.readings import Parameter, Reading
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from monitor.store.operations import Batch
from monitor.store.writer import StoreWriter

T0 = 1_790_000_000.0


def test_a_row_sqlite_cannot_encode_leaves_the_rest_held_for_the_recovery_file(tmp_path: Path) -> None:
    db_path = tmp_path / "monitor.db"
    store = Store(db_path)
    session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
    store.close()
    writer = StoreWriter(db_path, session_id, retry_interval_s=0.0)
    # A name carrying a byte that is not UTF-8 (os.fsdecode of b"\xff"): SQLite cannot bind it.
    bad = SessionEvent(T0 + 1, EventKind.NOTE, Phase.SETUP, "RN \udcff", {"text": "note"})
    writer.put(Batch(readings=(Reading(T0 + 1, Parameter.HR, 70.0, "test"),), events=(bad,)))
    writer.put(Batch(readings=(Reading(T0 + 2, Parameter.HR, 71.0, "test"),)))
    left = writer.stop(drain_s=0.5)
    assert left == 3
    assert len(writer.held_operations()) == 2
    assert not writer.status().ok
