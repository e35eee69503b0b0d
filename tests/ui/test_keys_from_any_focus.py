"""A nurse's one-keystroke entries work wherever the keyboard focus happens to be in the live window."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget


def test_note_key_opens_the_note_from_every_focusable_widget(make_window: Any, qtbot: Any) -> None:
    window = make_window(first_status=True)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    focusable = [w for w in window.findChildren(QWidget)
                 if w.isVisible() and w.isEnabled() and w.focusPolicy() != Qt.FocusPolicy.NoFocus]
    assert focusable
    failed = []
    for widget in focusable:
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
        widget.setFocus()
        QApplication.processEvents()
        widget = QApplication.focusWidget() or widget  # a focus proxy takes it
        qtbot.keyClick(widget, Qt.Key.Key_N)
        QApplication.processEvents()
        if window.dialog is None or not window.dialog.isVisible():
            failed.append(f"{type(widget).__name__} {widget.objectName()!r} "
                          f"{getattr(widget, 'text', lambda: '')()!r}")
        elif window.dialog is not None:
            window.dialog.reject()
            qtbot.waitUntil(lambda: window.dialog is None, timeout=5_000)
            QApplication.sendPostedEvents(None, 0)
    assert not failed, f"N did nothing with focus on: {failed}"


def test_every_one_key_entry_fires_with_the_focus_on_the_chart_or_a_button(make_window: Any, qtbot: Any) -> None:
    from PySide6.QtGui import QKeySequence

    window = make_window(first_status=True)
    fired: list[str] = []
    for key, shortcut in window.shortcuts.items():
        shortcut.activated.connect(lambda k=key: fired.append(k))
    places = [window.chart, window.note_button, window.phase_buttons["start_infusion"], window.alarm_bar]
    missed = []
    for place in places:
        for key in window.shortcuts:
            window.activateWindow()
            qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
            place.setFocus()
            target = QApplication.focusWidget() or window
            fired.clear()
            sequence = QKeySequence(key)[0]
            qtbot.keyClick(target, sequence.key(), sequence.keyboardModifiers())
            if window.dialog is not None:
                window.dialog.reject()
                qtbot.waitUntil(lambda: window.dialog is None, timeout=5_000)
            if window.locked:
                window.set_locked(False)
            if key not in fired:
                missed.append((type(place).__name__, key))
    assert not missed, missed
