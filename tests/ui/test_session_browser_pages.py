"""The session browser at a clinic's size: a page of the newest sessions, filters in the query, small audit entries.

At 12,004 sessions the browser listed every one (2.6-4.6 s to open, up to 1.5 s a keystroke), wrote every id into
the append-only audit log on its first listing, and read the whole audit log at each refresh to mark the sessions
closed after a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.app.sessions import close_unfinished
from monitor.session_list import IDS_KEPT, listed_digest
from monitor.store import Store
from tests.conftest import leave_unfinished, many_sessions
from ui.dialogs import SignedInUser
from ui.session_browser import COLUMNS, CRASH_CLOSED_TEXT, PAGE, SessionBrowser

SESSIONS = PAGE + 30
REVIEWER = SignedInUser("Dr Mensah", "physician")


@pytest.fixture(scope="module")
def clinic_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """230 sessions, one patient each (MRN-0000 the oldest), four hours apart; their ids oldest first."""
    path = tmp_path_factory.mktemp("pages") / "monitor.db"
    return path, many_sessions(path, SESSIONS, lambda index: f"MRN-{index:04d}")


@pytest.fixture
def browser(qtbot: Any, clinic_db: tuple[Path, list[str]], tmp_path: Path) -> SessionBrowser:
    path = tmp_path / "monitor.db"
    path.write_bytes(clinic_db[0].read_bytes())
    widget = SessionBrowser(path, REVIEWER)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def _listed(browser: SessionBrowser) -> list[str]:
    return [entry.summary.id for entry in browser.table.found]


def _entries(browser: SessionBrowser) -> list[dict[str, Any]]:
    with Store(browser.db_path, readonly=True) as store:
        return [json.loads(a["detail"]) for a in store.audit_entries(action="sessions_listed")]


def test_the_newest_page_is_listed_and_show_more_lists_the_rest(browser: SessionBrowser,
                                                                 clinic_db: tuple[Path, list[str]]) -> None:
    newest_first = clinic_db[1][::-1]
    assert _listed(browser) == newest_first[:PAGE] and browser.table.rowCount() == PAGE == 200
    assert browser.more_button.isVisible() and "newest 200 of 230 sessions" in browser.summary.text()
    browser.more_button.click()
    assert _listed(browser) == newest_first and not browser.more_button.isVisible()
    assert browser.summary.text().startswith("230 sessions ·")


def test_a_filter_is_searched_in_the_database_and_starts_from_the_first_page(
        browser: SessionBrowser, clinic_db: tuple[Path, list[str]]) -> None:
    ids = clinic_db[1]
    browser.more_button.click()
    browser.mrn_edit.setText("mrn-000")  # MRN-0000 ... MRN-0009: the ten oldest, beyond the first page
    assert _listed(browser) == ids[:10][::-1] and not browser.more_button.isVisible()
    browser.mrn_edit.setText("")
    assert len(_listed(browser)) == PAGE and browser.more_button.isVisible()
    browser.alarm_box.setCurrentIndex(browser.alarm_box.findText("no alarms"))
    assert len(_listed(browser)) == PAGE
    browser.alarm_box.setCurrentIndex(browser.alarm_box.findText("*** high"))
    assert _listed(browser) == [] and browser.summary.text().startswith("0 sessions")


def test_each_listing_entry_keeps_at_most_50_ids_or_a_digest(browser: SessionBrowser,
                                                             clinic_db: tuple[Path, list[str]]) -> None:
    newest_first = clinic_db[1][::-1]
    browser.more_button.click()
    browser.mrn_edit.setText("MRN-00")  # only sessions listed already: nothing more to record
    first, more = _entries(browser)
    assert first == {"criteria": {"new_in_window": True}, "shown": PAGE, "found": SESSIONS,
                     "newest_start": "2026-02-08T04:00:00.000+00:00",
                     "oldest_start": "2026-01-06T00:00:00.000+00:00",
                     "sessions_sha256": listed_digest(newest_first[:PAGE])}
    assert (more["shown"], more["sessions"]) == (30, newest_first[PAGE:])
    with Store(browser.db_path, readonly=True) as store:
        sizes = [len(a["detail"]) for a in store.audit_entries(action="sessions_listed")]
    assert max(sizes) < 300 + IDS_KEPT * 40, sizes


def test_a_refresh_reads_only_the_crash_closed_marks_of_the_listed_sessions(
        qtbot: Any, clinic_db: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "monitor.db"
    path.write_bytes(clinic_db[0].read_bytes())
    crashed = clinic_db[1][-1]
    leave_unfinished(path, crashed)
    with Store(path) as store:
        close_unfinished(store, crashed, "RN Lee")

    def whole_log(*_args: object, **_kwargs: object) -> list[dict[str, Any]]:
        raise AssertionError("the browser read the whole audit log")

    monkeypatch.setattr(Store, "audit_log", whole_log)
    widget = SessionBrowser(path, REVIEWER)
    qtbot.addWidget(widget)
    widget.refresh()
    status = COLUMNS.index("Status")
    assert widget.table.item(0, status).text() == CRASH_CLOSED_TEXT
    assert widget.table.item(1, status).text() == "complete"
