"""A store writer that has committed one reading, for tests that then take its database's files away."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from drivers.core.readings import Parameter, Reading
from monitor.store import Store
from monitor.store.writer import Batch, StoreWriter

T0 = 1_790_000_000.0


def heart_rate(t: float) -> Reading:
    """One heart-rate reading at ``t``."""
    return Reading(t, Parameter.HR, 70.0, "test")


@contextmanager
def committed_writer(db_path: Path, **options: Any) -> Iterator[tuple[str, StoreWriter]]:
    """A new session in ``db_path`` and its writer (``options`` for :class:`StoreWriter`), with a heart rate at
    ``T0 + 1`` committed; the writer is closed afterwards."""
    with Store(db_path) as store:
        session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
    writer = StoreWriter(db_path, session_id, **options)
    try:
        writer.put(Batch(readings=(heart_rate(T0 + 1),)))
        assert writer.pump(force=True)
        yield session_id, writer
    finally:
        writer.close()


def stored_times(db_path: Path, session_id: str) -> list[float]:
    """The times of the session's readings as a new reader finds them."""
    with Store(db_path, readonly=True) as reader:
        return [r.t for r in reader.readings(session_id)]
