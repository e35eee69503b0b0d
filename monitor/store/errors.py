"""What the store raises: a file it cannot use, a session it does not have, a damaged database."""

from __future__ import annotations

from pathlib import Path


class StoreError(Exception):
    """The database cannot be opened or used; the message says which file and why."""


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
