"""A store writer that has committed one reading, for tests that then take its database's files away; a store that
refuses on command; a recording whose store never took a row."""

from __future__ import annotations

import errno
import math
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter, Reading
from drivers.simulated.driver import SimulatedSource
from monitor.keys import private_folder_beside
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store
from monitor.store import writer as writer_module
from monitor.store.operations import Batch
from monitor.store.writer import StoreWriter

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


def switched_writer(db_path: Path) -> tuple[str, StoreWriter, Switch]:
    """A new session in ``db_path`` and its writer, whose stores refuse when its switch says so (retrying at
    once), sealing its recovery file with the database's keys."""
    with Store(db_path) as store:
        session_id = store.create_session(started_at=T0, patient_id=None, driver="x", port=None, plan="")
        keys = store.keys
    switch = Switch()
    writer = StoreWriter(db_path, session_id, opener=switch, retry_interval_s=0.0)
    writer.keys = keys
    return session_id, writer, switch


class Switch:
    """An opener whose stores fail every write (like a full disk, or one that stopped answering) while ``broken``
    is true, and from their ``fail_after``-th transaction on (a process that dies in the middle of writing).

    With ``in_but_failed`` the next transaction goes into the database and its commit is then reported failed, and
    the store stops answering (a disk that failed after the log reached it, before the commit was confirmed)."""

    def __init__(self) -> None:
        self.broken = False
        self.fail_after: int | None = None
        self.transactions = 0
        self.in_but_failed = False

    def __call__(self, path: Path) -> Store:
        if self.broken:
            raise sqlite3.OperationalError("database or disk is full")
        return FlakyStore(path, self)


class FlakyStore(Store):
    """A real store whose transactions fail while its switch says so."""

    def __init__(self, path: Path, switch: Switch) -> None:
        self.switch = switch  # before the store opens: its migrations run in transactions too
        super().__init__(path, check=False)

    def transaction(self) -> Any:
        if self.switch.fail_after is not None and self.switch.transactions >= self.switch.fail_after:
            self.switch.broken = True
        if self.switch.broken:
            raise sqlite3.OperationalError("database or disk is full")
        self.switch.transactions += 1
        return _CommitThenFail(super().transaction(), self.switch)


class _CommitThenFail:
    """A transaction that, once its switch says so, commits and then reports the commit failed."""

    def __init__(self, inner: Any, switch: Switch) -> None:
        self.inner = inner
        self.switch = switch

    def __enter__(self) -> Any:
        return self.inner.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)
        if exc[0] is None and not self.inner.nested and self.switch.in_but_failed:
            self.switch.in_but_failed = False
            self.switch.broken = True
            raise sqlite3.OperationalError("disk I/O error")



def simulated_recorder(store: Store, **options: Any) -> Recorder:
    """A new session of the simulated monitor from ``T0``, as fast as it can run (``options`` for
    :meth:`Recorder.new_session`: nurse, alarms, …)."""
    source = SimulatedSource(seed=1, speed=math.inf, start_time=T0)
    return Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(1, 40, 30), **options)


def recorded_without_a_store(store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: float) -> Recorder:
    """A simulated session of ``seconds`` whose writer never finds the store willing, ended: its rows (and its end)
    in a recovery file, the session unfinished in the database."""
    recorder = simulated_recorder(store)
    switch = Switch()
    switch.broken = True
    recorder.writer = StoreWriter(db_path, recorder.session.id, opener=switch, retry_interval_s=0.0)
    monkeypatch.setattr("monitor.recorder.CLOSE_DRAIN_S", 0.5)
    recorder.run(until=lambda r: r.session.now > T0 + seconds)
    return recorder


def block_copy_beside(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No copy can be made beside the database, as on a full disk (undone by :func:`unblock_copy_beside`)."""

    def full_beside(target: Path) -> Path:
        if target.parent == db_path.parent:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return private_folder_beside(target)

    monkeypatch.setattr(writer_module, "private_folder_beside", full_beside)


def unblock_copy_beside(monkeypatch: pytest.MonkeyPatch) -> None:
    """Space again beside the database."""
    monkeypatch.setattr(writer_module, "private_folder_beside", private_folder_beside)
