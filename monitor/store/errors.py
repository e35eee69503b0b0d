"""What the store raises: a file it cannot use, a session it does not have, a damaged database."""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


class WriteRefused(StoreError, sqlite3.OperationalError):
    """SQLite refused a write (a full or failing disk, a lock held too long): the transaction was rolled back and
    nothing of it was written. Both a StoreError, which the windows and the command line show as a message, and
    the sqlite3.OperationalError it replaces (same text), for code that looks at SQLite's words."""

    @classmethod
    def of(cls, error: sqlite3.OperationalError) -> WriteRefused:
        """The refusal ``error`` stands for, with its text and SQLite's error code and name."""
        refused = cls(*error.args)
        for name in ("sqlite_errorcode", "sqlite_errorname"):
            if hasattr(error, name):
                setattr(refused, name, getattr(error, name))
        return refused


class SessionNotFound(StoreError):
    """No session has the given id."""


class CorruptDatabase(StoreError):
    """The file failed SQLite's integrity check; nothing may write into it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"the database {path} is damaged ({problem}); it is not used. Copy what can still be read "
            f"into a new file with `infusion-monitor recover {path} NEW.db`, then use NEW.db"
        )


def says_damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite's ``error`` says the file's pages make no sense (damage in the file), rather than that it
    could not be reached or was interrupted."""
    return "malformed" in str(error) or "not a database" in str(error)
