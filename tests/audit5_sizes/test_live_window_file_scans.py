"""The live window's thread never reads the whole database file while a session records.

`PRAGMA quick_check` reads every page of the file: about 3.5 ms per MiB on a two-core machine, so
some 14 s for a chair's year (~4 GiB). While the window's thread does it the monitoring screen
stands still, and after 3 s the recorder raises "screen not responding".
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from monitor.store import Store


@pytest.fixture
def checks_on_gui_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    found: list[str] = []
    original = Store.check_integrity

    def watched(self: Store) -> None:
        if threading.current_thread() is threading.main_thread():
            found.append(str(self.path))
        original(self)

    monkeypatch.setattr(Store, "check_integrity", watched)
    return found


def test_identifying_the_patient_during_recording_scans_no_file_on_the_window_thread(
    qtbot: Any, make_window: Any, checks_on_gui_thread: list[str]
) -> None:
    window = make_window(first_status=True)
    checks_on_gui_thread.clear()
    window._patient_identified()
    assert checks_on_gui_thread == [], "the window's thread ran PRAGMA quick_check over the whole database"


def test_opening_the_alarm_log_during_recording_scans_no_file_on_the_window_thread(
    qtbot: Any, make_window: Any, checks_on_gui_thread: list[str]
) -> None:
    window = make_window(first_status=True)
    checks_on_gui_thread.clear()
    window.show_alarm_log().close()
    assert checks_on_gui_thread == [], "the window's thread ran PRAGMA quick_check over the whole database"


def test_the_session_browser_beside_the_recording_scans_no_file_on_the_window_thread(
    qtbot: Any, make_window: Any, checks_on_gui_thread: list[str]
) -> None:
    window = make_window(first_status=True)
    checks_on_gui_thread.clear()
    browser = window.open_sessions()
    for char in "0012":  # each keystroke in the MRN filter searches again
        browser.mrn_edit.insert(char)
    assert checks_on_gui_thread == [], "the window's thread ran PRAGMA quick_check over the whole database"


def test_a_browser_of_its_own_reads_the_file_whole_once_not_at_each_keystroke(
    qtbot: Any, make_window: Any, db_path: Any, checks_on_gui_thread: list[str]
) -> None:
    from ui.dialogs import SignedInUser
    from ui.session_browser import SessionBrowser

    window = make_window(first_status=True)
    browser = SessionBrowser(db_path, SignedInUser("Dr", "physician"))
    qtbot.addWidget(browser)
    opened = len(checks_on_gui_thread)
    assert opened >= 1  # a damaged file is still refused when the browser opens
    for char in "0012":
        browser.mrn_edit.insert(char)
    assert len(checks_on_gui_thread) == opened, "each keystroke read the whole database file again"
    window.force_close()
