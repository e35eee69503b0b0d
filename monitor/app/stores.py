"""Opening the record: this computer's database, or the clinic's server for reading every chair's sessions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.app.errors import AppError
from monitor.config import ConfigError, UserConfig, database_path
from monitor.store import Reader, Store, StoreError

if TYPE_CHECKING:
    from monitor.replication.server_store import ServerStore


def database_file(db: str | None) -> Path:
    """The database file: ``--db``, INFUSION_MONITOR_DB, config ``db``, else the user data folder."""
    try:
        return database_path(db, UserConfig.load())
    except ConfigError as exc:
        raise AppError(str(exc)) from None


def open_store(
    db: str | Path | None, *, must_exist: bool = False, readonly: bool = False, check: bool = True
) -> Store:
    """This computer's database (``db`` as given on the command line, or its default); ``check=False`` where this
    process has just read the whole file (``PRAGMA quick_check``, about a second per GiB) and written nothing
    else into it."""
    path = db if isinstance(db, Path) else database_file(db)
    if (must_exist or readonly) and not path.exists():
        raise AppError(f"no database at {path} (record a session first, or give --db)")
    try:
        return Store(path, readonly=readonly, check=check)
    except StoreError as exc:
        raise AppError(str(exc)) from None


def configured_server(flag_value: str | None) -> str | None:
    """The clinic server's URL: ``--server``, INFUSION_MONITOR_SERVER or config ``server``; None when unset."""
    from monitor.replication.chair import ServerSettingError, server_url

    try:
        return server_url(flag_value)
    except (ServerSettingError, ConfigError) as exc:
        raise AppError(str(exc)) from None


def open_server(url: str) -> ServerStore:
    """The clinic's PostgreSQL for reading (connect as a reader login)."""
    from monitor.replication.server_store import ServerStore

    try:
        return ServerStore(url)
    except StoreError as exc:
        raise AppError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class RecordSource:
    """Where the review side reads sessions from: a database file here, or the clinic's server.

    Reading from the server shows every chair's sessions; it is read-only, so whatever writes
    (closing a session, an addendum) is done at the chair that recorded it.
    """

    db: Path
    server: str | None = None
    #: Whether each open reads the whole file first where it may be damaged (``PRAGMA quick_check``, seconds on a
    #: year's database; :mod:`monitor.store.open_marks`). A
    #: source whose file was already checked by this process (the recording's own store, a browser's first
    #: listing) reads without it, so a window's thread is not held by it again.
    check_file: bool = True

    @classmethod
    def of(cls, where: RecordSource | str | Path) -> RecordSource:
        """A source as given: already one, or a database file on this computer."""
        return where if isinstance(where, RecordSource) else cls(Path(where))

    @property
    def from_server(self) -> bool:
        """Whether this reads the clinic's server (every chair, read-only)."""
        return self.server is not None

    def describe(self) -> str:
        """Where the sessions come from, for the window (the server without its password)."""
        if self.server is None:
            return f"database {self.db}"
        from monitor.replication.replicator import redacted

        return f"clinic server {redacted(self.server)} (every chair, read-only)"

    def open(self) -> Reader:
        """A reader on the source (raises :class:`~monitor.store.StoreError` when it cannot be read)."""
        if self.server is not None:
            from monitor.replication.server_store import ServerStore

            return ServerStore(self.server)
        return Store(self.db, readonly=True, check=self.check_file)

    def record_read(self, action: str, user: str, **detail: Any) -> None:
        """Who read what, in this computer's database (a record read from the clinic's server as well, naming the
        server): ``sessions_listed`` with the sessions' ids, ``session_reviewed`` with the session's. StoreError
        when the database does not take it (a full or failing disk)."""
        if self.server is not None:
            from monitor.replication.replicator import redacted

            detail = {**detail, "server": redacted(self.server)}
        try:
            with Store(self.db, check=False) as local:
                local.audit(action, user=user, **detail)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.db}: {exc}") from None

    def open_for_writing(self, action: str) -> Store:
        """The local database for an action that writes; refused with a clear message on the server."""
        if self.server is not None:
            raise AppError(f"{action} is not possible while reading the clinic's server (read-only): "
                           "do it at the chair that recorded the session")
        try:
            return Store(self.db)
        except StoreError as exc:
            raise AppError(str(exc)) from None


def record_source(db: str | None, server: str | None = None, *, must_exist: bool = True) -> RecordSource:
    """The record to read: the clinic's server when ``server`` names one, else this computer's database."""
    path = database_file(db)
    if server is not None:
        url = configured_server(server or None)
        if url is None:
            raise AppError("--server: no server given and none set (INFUSION_MONITOR_SERVER or config 'server')")
        return RecordSource(path, url)
    if must_exist and not path.exists():
        raise AppError(f"no database at {path} (record a session first, or give --db)")
    return RecordSource(path)


def open_reader(db: str | None, server: str | None = None) -> Reader:
    """The local database, or with ``server`` the clinic's PostgreSQL (every chair's sessions)."""
    source = record_source(db, server)
    if source.server is not None:
        return open_server(source.server)
    return open_store(source.db, must_exist=True)
