"""Signing a session off in the review window (Sign off…, Ctrl+Shift+S) and finding the sessions that wait for it
in the session browser."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from monitor.session import EventKind
from monitor.sign_off import sign_off
from monitor.store import Store
from tests.conftest import leave_unfinished
from tests.ui.review_sessions import START, record
from ui.dialogs import SignedInUser
from ui.review_window import ReviewWindow, SignOffDialog
from ui.session_browser import COLUMNS, SessionBrowser

PHYSICIAN = SignedInUser("Dr Mensah", "physician")
NURSE = SignedInUser("Rosa Alvarez", "nurse")
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """Two short finished sessions on two days; the second one's id last."""
    path = tmp_path_factory.mktemp("sign_off") / "monitor.db"
    first = record(path, mrn="MRN-1", plan="baseline:2,infusion:4,recovery:2")
    second = record(path, mrn="MRN-2", start=START + 86_400.0, plan="baseline:2,infusion:4,recovery:2", seed=4)
    return path, first, second


@pytest.fixture
def db(recorded: tuple[Path, str, str], tmp_path: Path) -> tuple[Path, str, str]:
    path = tmp_path / "monitor.db"
    shutil.copy(recorded[0], path)
    return path, recorded[1], recorded[2]


def _window(qtbot: Any, db: tuple[Path, str, str], user: SignedInUser) -> ReviewWindow:
    w = ReviewWindow(db[0], db[1], user)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=WAIT_MS)  # shortcuts reach the active window only
    return w


def _signed(db: tuple[Path, str, str]) -> list[Any]:
    with Store(db[0], readonly=True) as store:
        return [e for e in store.events(db[1]) if e.kind is EventKind.SIGNED_OFF]


def test_a_physician_signs_off_with_the_shortcut_and_the_header_and_timeline_say_so(
    qtbot: Any, db: tuple[Path, str, str]
) -> None:
    window = _window(qtbot, db, PHYSICIAN)
    assert window.sign_off_label.text() == "Not signed off by a physician yet"
    assert window.sign_off_button.isEnabled() and window.sign_off_button.toolTip().endswith("(Ctrl+Shift+S)")
    for modifiers in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier,
                      Qt.KeyboardModifier.ControlModifier):
        qtbot.keyClick(window, Qt.Key.Key_S, modifiers)  # a typed letter, or Ctrl+S alone, is not a sign-off
        assert window.dialog is None
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = window.dialog
    assert isinstance(dialog, SignOffDialog)
    qtbot.keyClicks(dialog.editor, "Reviewed; BP settled")
    with qtbot.waitSignal(window.sessions_changed, timeout=WAIT_MS):
        dialog.accept()
    [event] = _signed(db)
    assert (event.user, dict(event.detail)) == ("Dr Mensah", {"role": "physician", "comment": "Reviewed; BP settled"})
    header = window.sign_off_label.text()
    assert header.startswith("Signed off by Dr Mensah (physician) at ") and header.endswith(": “Reviewed; BP settled”")
    last = [window.event_table.item(window.event_table.rowCount() - 1, c).text() for c in range(5)]
    assert last[1:] == ["after completion", "SIGNED OFF", "Reviewed; BP settled", "Dr Mensah (physician)"]
    # Once is enough: the button says why it is off, and the shortcut says it too.
    assert not window.sign_off_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.dialog is None or not window.dialog.isVisible()
    assert "Dr Mensah signed this session off already; another physician may co-sign it" in window.messages[-1]
    assert len(_signed(db)) == 1


def test_keys_typed_into_an_addendum_never_sign_off(qtbot: Any, db: tuple[Path, str, str]) -> None:
    window = _window(qtbot, db, PHYSICIAN)
    window.add_addendum()
    addendum = window.dialog
    assert addendum is not None and not isinstance(addendum, SignOffDialog)
    qtbot.keyClicks(addendum.editor, "Seen. Sign off S")
    assert window.dialog is addendum
    addendum.reject()
    assert _signed(db) == []


def test_a_nurse_is_told_a_sign_off_is_a_physicians(qtbot: Any, db: tuple[Path, str, str]) -> None:
    window = _window(qtbot, db, NURSE)
    assert not window.sign_off_button.isEnabled()
    assert "Rosa Alvarez is signed in as nurse, not as a physician" in window.sign_off_button.toolTip()
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.dialog is None
    assert window.messages[-1] == ("A sign-off is a physician's: Rosa Alvarez is signed in as nurse, not as a "
                                   "physician")
    assert window.write_sign_off("x") is None  # refused below the window too
    assert "not signed off" in window.messages[-1]
    assert _signed(db) == []


def test_an_addendum_after_the_sign_off_is_marked_so(qtbot: Any, db: tuple[Path, str, str]) -> None:
    window = _window(qtbot, db, PHYSICIAN)
    window.write_sign_off("")
    window.write_addendum("Patient phoned: fine next day")
    rows = [[window.event_table.item(r, c).text() for c in range(5)] for r in range(window.event_table.rowCount())]
    assert rows[-2][1:3] == ["after completion", "SIGNED OFF"] and rows[-2][3] == "reviewed, no comment"
    assert rows[-1][1:3] == ["after sign-off", "ADDENDUM"]


def test_the_browser_shows_who_signed_and_lists_the_sessions_awaiting_a_sign_off(
    qtbot: Any, db: tuple[Path, str, str]
) -> None:
    browser = SessionBrowser(db[0], PHYSICIAN)
    qtbot.addWidget(browser)
    column = COLUMNS.index("Signed off")

    def shown() -> dict[str, str]:
        return {f.summary.id: browser.table.item(row, column).text() for row, f in enumerate(browser.table.found)}

    assert shown() == {db[1]: "awaiting", db[2]: "awaiting"}
    assert "2 awaiting a physician's sign-off" in browser.summary.text()
    review = browser.open_review(db[1])
    assert isinstance(review, ReviewWindow)
    qtbot.addWidget(review)
    review.write_sign_off("Fine")
    browser.refresh()
    assert shown() == {db[1]: "Dr Mensah", db[2]: "awaiting"}
    row = next(r for r, f in enumerate(browser.table.found) if f.summary.id == db[1])
    assert browser.table.item(row, column).toolTip().endswith(": Fine")
    browser.unsigned_filter.setChecked(True)
    assert [f.summary.id for f in browser.table.found] == [db[2]]


def test_a_session_left_unfinished_cannot_be_signed_off_from_the_window(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    session_id = record(path, mrn="MRN-3", plan="baseline:2,infusion:6,recovery:2", stop_after_infusion_min=2)
    leave_unfinished(path, session_id)
    window = _window(qtbot, (path, session_id, ""), PHYSICIAN)
    assert not window.sign_off_button.isEnabled()
    assert window.sign_off_label.text() == "Not signed off: a session is signed off once its recording has ended"
    qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.dialog is None and "still being recorded, or left unfinished" in window.messages[-1]
    assert window.write_sign_off("") is None
    assert "resume or close it before signing it off" in window.messages[-1]


def test_the_awaiting_count_is_of_every_session_found_not_of_the_page(
    qtbot: Any, db: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("ui.session_browser.PAGE", 1)  # one session listed of the two found
    browser = SessionBrowser(db[0], PHYSICIAN)
    qtbot.addWidget(browser)
    assert [f.summary.id for f in browser.table.found] == [db[2]]
    assert browser.summary.text().startswith("The newest 1 of 2 sessions (Show more lists older ones) · 2 awaiting "
                                             "a physician's sign-off · ")
    with Store(db[0]) as store:  # the listed one signed off: the older one, not listed, still waits
        sign_off(store, db[2], user="Dr Mensah", role="physician")
    browser.refresh()
    assert "· 1 awaiting a physician's sign-off · " in browser.summary.text()
    browser.unsigned_filter.setChecked(True)
    assert [f.summary.id for f in browser.table.found] == [db[1]]
    assert browser.summary.text().startswith("1 session · 1 awaiting a physician's sign-off · ")


def test_the_window_and_the_sign_off_dialog_fit_a_1280_pixel_wide_screen(
    qtbot: Any, db: tuple[Path, str, str]
) -> None:
    # Sessions… shown, as `infusion-monitor review` opens the window: with Sign off… in the toolbar it needed 1354 px.
    window = ReviewWindow(db[0], db[1], PHYSICIAN, on_sessions=lambda: None)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.sessions_button.isVisible() and window.sign_off_button.isVisible()
    # A window manager's frame takes a few pixels of the screen's 1280 too.
    assert window.minimumSizeHint().width() <= 1270
    signer = SignedInUser("Dr Maria-Fernanda Castellanos-Villanueva", "physician")
    dialog = SignOffDialog(window, signer)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    # On one line its prompt made the dialog 1344 px wide, with Cancel beyond the screen's right edge.
    assert dialog.sizeHint().width() <= 800 and dialog.width() <= 800
    assert dialog.prompt.wordWrap() and signer.name in dialog.prompt.text()
    cancel = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Cancel")
    assert cancel.isVisible() and cancel.geometry().right() < dialog.width()


def test_a_sign_off_from_the_window_goes_to_the_clinics_server_and_the_window_says_what_it_said(
    qtbot: Any, db: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[Path, bool]] = []

    def unreachable(path: Path, *, still_recording: bool) -> tuple[bool, str]:
        asked.append((path, still_recording))
        return False, "Server clinic-db: not sent (connection refused); 4 rows wait here for the next start"

    monkeypatch.setattr("ui.review_window.send_sign_off_to_server", unreachable)
    window = _window(qtbot, db, PHYSICIAN)
    assert window.write_sign_off("Fine") is not None
    assert window.server_thread is not None  # the window goes on at once; the answer comes from this thread
    window.server_thread.join(5)
    assert asked == [(Path(db[0]), False)]
    qtbot.waitUntil(lambda: bool(window.messages) and "not sent (connection refused)" in window.messages[-1],
                    timeout=WAIT_MS)
    assert window.message.isVisible()
    assert len(_signed(db)) == 1  # signed here all the same; the rows wait for the next chance


def test_a_session_ended_early_from_its_window_takes_a_sign_off_and_addenda(qtbot: Any, tmp_path: Path) -> None:
    """Stopped before completion from its own window (a `session_closed` on its timeline), the session is shown as
    closed in its window, and was taken for one still recording: Addendum… and Sign off… were greyed out."""
    path = tmp_path / "monitor.db"
    session_id = record(path, mrn="MRN-4", plan="baseline:2,infusion:6,recovery:2", stop_after_infusion_min=2)
    with Store(path, readonly=True) as store:
        assert store.session_row(session_id)["status"] == "closed"
        assert any(e.kind is EventKind.SESSION_CLOSED for e in store.events(session_id))
    window = _window(qtbot, (path, session_id, ""), PHYSICIAN)
    assert window.sign_off_label.text() == "Not signed off by a physician yet"
    assert window.sign_off_button.isEnabled() and window.addendum_button.isEnabled()
