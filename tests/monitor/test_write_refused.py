"""A write SQLite refuses reaches the windows and the command line as a StoreError (``WriteRefused``) with SQLite's
own words, still an ``sqlite3.OperationalError`` for code that looks at those, and nothing of it is kept. Before,
the raw SQLite error went past every ``except StoreError`` of the windows: a list that did not open, an addendum
lost without a word."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.store import Store, StoreError
from monitor.store.errors import WriteRefused
from tests.faults.helpers import fill, small_disk


def test_a_lock_held_past_the_busy_timeout_is_a_write_refused(db_path: Path) -> None:
    with Store(db_path) as store:
        store.db.execute("PRAGMA busy_timeout = 100")
        other = sqlite3.connect(db_path)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(WriteRefused) as refused:
                store.audit("note", user="RN")
        finally:
            other.rollback()
            other.close()
        assert isinstance(refused.value, StoreError) and isinstance(refused.value, sqlite3.OperationalError)
        assert str(refused.value) == "database is locked"
        assert refused.value.sqlite_errorname == "SQLITE_BUSY"
        store.audit("note", user="RN")  # the lock gone, the same write goes in


def test_a_full_disk_is_a_write_refused_and_the_transaction_keeps_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "3m") as folder, Store(folder / "monitor.db") as store:
        before = len(store.audit_log())
        filler = fill(folder)
        taken = 0
        refused: WriteRefused | None = None
        while refused is None and taken < 2000:  # until the pages the audit log needs no longer fit
            try:
                store.audit("note", user="RN", text="x" * 2000)
                taken += 1
            except WriteRefused as exc:
                refused = exc
        assert refused is not None and str(refused) == "database or disk is full"
        assert not store.db.conn.in_transaction
        assert len(store.audit_log()) == before + taken  # the refused one is not there, in part or whole
        filler.unlink()
        store.audit("note", user="RN")
        assert len(store.audit_log()) == before + taken + 1
