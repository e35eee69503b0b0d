"""Window fixtures shared with the window tests."""

from tests.ui.conftest import _collector_on_the_gui_thread, make_window

__all__ = ["_collector_on_the_gui_thread", "make_window"]
