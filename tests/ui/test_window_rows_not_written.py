"""The disk under the database fills during a session shown in the live window, and stays full until the session
ends: the rows the database never took go to a recovery file, and the window says where, and how to write them,
until it is closed (before, it said only "recording unfinished"). Once the disk has room again, the session list
writes them in (before, only the command line could, and the window could neither resume nor close the session)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import data_dir
from monitor.store import Store
from monitor.store.held_file import HELD_ROWS_WRITTEN
from tests.faults.helpers import fill, small_disk
from tests.ui.conftest import NURSE
from ui.dialogs import SignedInUser
from ui.session_browser import COLUMNS, WAITING_TEXT, SessionBrowser


@pytest.fixture
def db_path(tmp_path: Path) -> Iterator[Path]:
    """The database on a real 3 MB filesystem of its own (skips where mounting is not allowed)."""
    with small_disk(tmp_path / "small-disk", "3m") as folder:
        yield folder / "monitor.db"


def test_rows_the_database_never_took_are_named_on_screen_until_the_window_closes(
    qtbot: Any, make_window: Any, db_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("monitor.recorder.CLOSE_DRAIN_S", 0.5)
    monkeypatch.setattr("ui.live_window.MESSAGE_SHOWN_MS", 200)  # how long a passing message stays
    w = make_window(scenario="normal", speed=60.0, first_status=True)
    filler = fill(db_path.parent)
    qtbot.waitUntil(lambda: not w.bridge.recorder.status().storage_ok, timeout=20_000)
    w.bridge.stop()
    assert w.end_status == "unfinished"
    recovery = w.bridge.recorder.recovery_file
    assert recovery is not None and Path(recovery).parent == data_dir()
    said = w.message.text()
    assert w.message.isVisible() and f"kept in {recovery}" in said, said
    assert f"'Write waiting rows' in the window's session list, or infusion-monitor write-held {recovery} --db " \
           f"{db_path}" in said, said
    qtbot.wait(600)
    assert w.message.isVisible() and w.message.text() == said  # it stays

    session_id = w.bridge.recorder.session.id
    with Store(db_path, readonly=True) as reader:
        stored_before = reader.reading_count(session_id)
        assert reader.status_of(reader.session_row(session_id)) == "unfinished"
    browser = SessionBrowser(db_path, SignedInUser(NURSE, "nurse"))
    qtbot.addWidget(browser)
    browser.show()
    [row] = [i for i, found in enumerate(browser.table.found) if found.summary.id == session_id]
    browser.table.selectRow(row)
    # Tried while the disk is still full: refused, saying why, and the file stays as it was.
    browser.write_button.click()
    browser.dialog.yes_button.click()
    assert browser.messages[-1].startswith(f"The waiting rows were not written: {recovery}: "), browser.messages
    assert "full" in browser.messages[-1] and Path(recovery).exists()
    # So is the command line (before: a traceback from write-held, and from sessions, which now lists them anyway).
    assert main(["write-held", recovery, "--db", str(db_path)], out=io.StringIO()) == 1
    said = capsys.readouterr().err
    assert said.startswith(f"infusion-monitor: error: {db_path} does not take the held rows: database or disk is full")
    listed = io.StringIO()
    assert main(["sessions", "--db", str(db_path)], out=listed) == 0
    assert session_id[:8] in listed.getvalue()
    assert "warning: who listed these sessions could not be recorded" in capsys.readouterr().err
    # The disk has room again: the session list says which session has rows waiting, and writes them in.
    filler.unlink()
    browser.refresh()
    browser.table.selectRow(row)
    assert browser.table.item(row, COLUMNS.index("Status")).text() == WAITING_TEXT
    assert "1 with rows waiting in a recovery file" in browser.summary.text()
    assert browser.write_button.isVisible() and browser.write_button.isEnabled()
    browser.close_button.click()  # closing it first would end it before its own last rows: refused, saying why
    assert browser.dialog is None and "is not closed yet" in browser.messages[-1]
    browser.write_button.click()
    browser.dialog.yes_button.click()
    said = browser.messages[-1]
    assert said.endswith(f"rows of session {session_id[:8]} written into the record from {Path(recovery).name}."), said
    written = int(said.split()[0])
    assert not Path(recovery).exists() and Path(f"{recovery}.written").exists()
    with Store(db_path, readonly=True) as reader:
        assert reader.reading_count(session_id) > stored_before
        [audited] = [a for a in reader.audit_log(session_id) if a["action"] == HELD_ROWS_WRITTEN]
        assert audited["user"] == NURSE
        status = reader.status_of(reader.session_row(session_id))
    # The recording's own end was among the rows: the session ended as the window ended it.
    assert status != "unfinished", status
    assert written > 0 and not browser.write_button.isVisible()
