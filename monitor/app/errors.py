"""The one error type of the application layer."""

from __future__ import annotations


class AppError(Exception):
    """A problem the user can fix (a setting, a file, a refused action); shown as one line, never a traceback."""
