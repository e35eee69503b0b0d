"""Reviewing a finished session while the disk under its database is full (a real small filesystem, filled while
another connection holds the database open, as a recording at the chair does when its disk fills).

Before, the session list did not open at all (recording who listed the sessions raised SQLite's "database or disk
is full" out of the window), an addendum vanished without a word (the error went to standard error), and an
export was written and kept although the audit log could not record it. Now the record is shown, each write that
the disk refuses says so, and an export the audit log cannot record is not made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.session import EventKind
from monitor.store import Store
from tests.faults.helpers import fill, small_disk
from tests.ui.review_sessions import record
from ui.dialogs import SignedInUser
from ui.review_window import ReviewWindow
from ui.session_browser import SessionBrowser

REVIEWER = SignedInUser("Dr Mensah", "physician")
FULL = "database or disk is full"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[tuple[Path, str, Path]]:
    """A recorded session on a real 8 MB filesystem, then filled while a connection holds the database open: the
    database, the session and the filler. (Opened afresh on a disk with no byte free, the database cannot be read at
    all, as SQLite needs room for its shared-memory index: the window says so, with "free space there".)"""
    with small_disk(tmp_path / "small-disk", "8m") as folder:
        db_path = folder / "monitor.db"
        session_id = record(db_path, mrn="MRN-8080", plan="baseline:2,infusion:10,recovery:4")
        with Store(db_path):
            yield db_path, session_id, fill(folder)


def test_a_full_disk_lets_the_record_be_read_and_says_what_it_refuses(
    qtbot: Any, full_disk: tuple[Path, str, Path], tmp_path: Path
) -> None:
    db_path, session_id, filler = full_disk
    browser = SessionBrowser(db_path, REVIEWER)
    qtbot.addWidget(browser)
    assert [f.summary.id for f in browser.table.found] == [session_id], browser.messages
    assert browser.messages == [f"Who listed these sessions could not be recorded: {db_path}: {FULL}"]

    window = ReviewWindow(db_path, session_id, REVIEWER)
    qtbot.addWidget(window)
    window.show()
    assert window.messages[0] == f"Who opened this session could not be recorded: {db_path}: {FULL}"

    assert window.write_addendum("Reviewed: uneventful") is None
    assert window.messages[-1] == f"The addendum was not stored: {FULL}"
    with Store(db_path, readonly=True) as reader:
        assert not [e for e in reader.events(session_id) if e.kind is EventKind.ADDENDUM]

    out = tmp_path / "exports"
    out.mkdir()
    window.choose_export_path = lambda fmt, suggested: str(out / suggested)
    with qtbot.waitSignal(window.export_finished, timeout=60_000) as done:
        window.pdf_button.click()
    _fmt, path, error = done.args
    assert error == f"the export was not made: the audit log could not record it ({FULL}); nothing was written"
    assert list(out.iterdir()) == []  # neither the report nor a temporary file of it

    # Room again: the same steps are recorded and done.
    filler.unlink()
    assert window.write_addendum("Reviewed: uneventful") is not None
    with qtbot.waitSignal(window.export_finished, timeout=60_000) as done:
        window.pdf_button.click()
    _fmt, path, error = done.args
    assert error == "" and Path(path).exists()
    with Store(db_path, readonly=True) as reader:
        actions = [a["action"] for a in reader.audit_log(session_id)]
    assert actions[-2:] == ["addendum", "export"]
