"""The disk under the database fills during a session shown in the live window, and stays full until the session
ends: the rows the database never took go to a recovery file, and the window says where, and how to write them,
until it is closed (before, it said only "recording unfinished")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import data_dir
from tests.faults.helpers import fill, small_disk


@pytest.fixture
def db_path(tmp_path: Path) -> Iterator[Path]:
    """The database on a real 3 MB filesystem of its own (skips where mounting is not allowed)."""
    with small_disk(tmp_path / "small-disk", "3m") as folder:
        yield folder / "monitor.db"


def test_rows_the_database_never_took_are_named_on_screen_until_the_window_closes(
    qtbot: Any, make_window: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("monitor.recorder.CLOSE_DRAIN_S", 0.5)
    monkeypatch.setattr("ui.live_window.MESSAGE_SHOWN_MS", 200)  # how long a passing message stays
    w = make_window(scenario="normal", speed=60.0, first_status=True)
    fill(db_path.parent)
    qtbot.waitUntil(lambda: not w.bridge.recorder.status().storage_ok, timeout=20_000)
    w.bridge.stop()
    assert w.end_status == "unfinished"
    recovery = w.bridge.recorder.recovery_file
    assert recovery is not None and Path(recovery).parent == data_dir()
    said = w.message.text()
    assert w.message.isVisible() and f"kept in {recovery}" in said, said
    assert f"infusion-monitor write-held {recovery} --db {db_path}" in said, said
    qtbot.wait(600)
    assert w.message.isVisible() and w.message.text() == said  # it stays
