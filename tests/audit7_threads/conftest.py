"""The window fixtures of the UI tests."""

from tests.ui.conftest import _collector_on_the_gui_thread, make_window  # noqa: F401
