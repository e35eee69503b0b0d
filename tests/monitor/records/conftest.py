"""Fixtures for review, discharge, export and feed tests: recorded sessions and stores closed afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.monitor.records.sessions import (
    NURSE,
    START,
    NotesAndScores,
    RecordedSession,
    add_alarms,
    alarm_record,
    record_session,
)


@pytest.fixture(scope="package")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A 31-minute normal session with a patient, notes, a score and two alarms."""
    path = tmp_path_factory.mktemp("records") / "monitor.db"
    session = record_session(path, during=NotesAndScores())
    t0 = START + 3 * 60
    add_alarms(
        path,
        session.session_id,
        [
            alarm_record(
                "a1",
                "spo2_low",
                "spo2",
                "high",
                t0 + 400,
                t0 + 460,
                90.0,
                86.0,
                "SpO2 86 < 90",
                t0 + 420,
                NURSE,
            ),
            alarm_record(
                "a2",
                "nibp_sys_high",
                "nibp_sys",
                "low",
                t0 + 600,
                t0 + 601,
                165.0,
                168.0,
                "NIBP SYS 168 >= 165",
            ),
        ],
    )
    return session


@pytest.fixture
def recorded_copy(recorded: RecordedSession, tmp_path: Path) -> Path:
    """A copy of the recorded session's database, for a test that changes it."""
    path = tmp_path / "monitor.db"
    shutil.copy(recorded.path, path)
    return path


@pytest.fixture
def store_of() -> Iterator[Callable[[RecordedSession], Store]]:
    """Opens stores on recorded sessions and closes them after the test."""
    opened: list[Store] = []

    def open_store(session: RecordedSession) -> Store:
        store = Store(session.path)
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()
