"""The live window's fixtures (tests/ui) for the tests here."""

from tests.ui.conftest import _collector_on_the_gui_thread, make_window

__all__ = ["_collector_on_the_gui_thread", "make_window"]
