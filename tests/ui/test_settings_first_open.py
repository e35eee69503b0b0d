"""The first Settings of a session imported every driver on the window's thread (0.3 to 1 s standing still, a
starting alarm with it): the window has them imported on a thread of its own when it starts."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from drivers import registry


def test_the_drivers_settings_lists_are_imported_apart_from_the_window(
    qtbot: Any, make_window: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed_on: list[threading.Thread] = []
    listing = registry.listing

    def noted() -> list[registry.DriverListing]:
        listed_on.append(threading.current_thread())
        return listing()

    monkeypatch.setattr(registry, "listing", noted)
    w = make_window(first_status=True)
    qtbot.waitUntil(lambda: bool(listed_on), timeout=20_000)
    assert threading.main_thread() not in listed_on
    w.settings_button.click()  # the dialog lists them again, by then without importing anything
    assert [row.name for row in registry.registered().values()] == [
        w.dialog.driver_box.itemData(i) for i in range(w.dialog.driver_box.count())]
