"""The one error type of the application layer."""

from __future__ import annotations


class AppError(Exception):
    """A problem the user can fix (a setting, a file, a refused action); shown as one line, never a traceback."""


class OtherRecordingGoesOn(AppError):
    """A start refused because another recording already does what it would (records a session in this database,
    reads this device's port): that recording goes on untouched."""
