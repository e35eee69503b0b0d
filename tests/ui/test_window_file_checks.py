"""The live window's thread never reads the whole database file while a session records.

`PRAGMA quick_check` reads every page of the file: about 3.5 ms per MiB on a two-core machine, so
some 14 s for a chair's year (~4 GiB). While the window's thread does it the monitoring screen
stands still, and after 3 s the recorder raises "screen not responding".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import NURSE_SECRET


def _on_window_thread(checks: list[tuple[str, bool]]) -> list[str]:
    return [path for path, main_thread in checks if main_thread]


def _browse(window: Any) -> None:
    browser = window.open_sessions()
    for char in "0012":  # each keystroke in the MRN filter searches again
        browser.mrn_edit.insert(char)


def _identify(window: Any) -> None:
    window.identify_patient()
    window.dialog.mrn_edit.setText("MRN-0012")
    window.dialog.accept()


# What a nurse does at the recording window that reads the database: identifying the patient, the alarm log, the
# session browser beside the recording.
ACTIONS = {
    "identify": _identify,
    "alarm log": lambda window: window.show_alarm_log().close(),
    "session browser": _browse,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_reading_the_database_during_recording_scans_no_file_on_the_window_thread(
    qtbot: Any, make_window: Any, file_checks: list[tuple[str, bool]], action: str
) -> None:
    window = make_window(first_status=True)
    file_checks.clear()
    ACTIONS[action](window)
    assert _on_window_thread(file_checks) == [], "the window's thread ran PRAGMA quick_check over the whole database"


def test_a_browser_of_its_own_reads_the_file_whole_once_not_at_each_keystroke(
    qtbot: Any, make_window: Any, db_path: Any, file_checks: list[tuple[str, bool]]
) -> None:
    from ui.dialogs import SignedInUser
    from ui.session_browser import SessionBrowser

    window = make_window(first_status=True)
    browser = SessionBrowser(db_path, SignedInUser("Dr", "physician"))
    qtbot.addWidget(browser)
    opened = len(_on_window_thread(file_checks))
    # The recording's own stores hold the file open: the browser's opening reads it whole only where it may have
    # been damaged since this program left it whole (monitor.store.open_marks), as every opening does.
    assert opened == 0
    for char in "0012":
        browser.mrn_edit.insert(char)
    assert len(_on_window_thread(file_checks)) == opened, "each keystroke read the whole database file again"
    window.force_close()


def test_signing_in_at_the_recording_window_reads_no_whole_file(
    qtbot: Any, make_window: Any, db_path: Any, accounts_in: Any, file_checks: list[tuple[str, bool]]
) -> None:
    """Unlocking, a hand-over or a sign-in checks a secret on the window's thread: the file was checked by the
    recording's own store, and reading it whole again would hold the monitoring screen for seconds."""
    accounts_in(db_path)
    window = make_window(first_status=True)
    file_checks.clear()
    assert window.gate.authenticate("RN", NURSE_SECRET).name == "RN"
    assert window.gate.has_accounts()
    assert _on_window_thread(file_checks) == []
