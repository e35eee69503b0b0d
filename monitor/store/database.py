"""The store's connection: opening (checks, migrations, keys), transactions, and the writes.

SQLite in WAL mode through sqlite-utils. The schema version lives in ``PRAGMA user_version``
and is raised by the ordered migrations of :mod:`monitor.store.schema`. An open runs ``PRAGMA quick_check``
when the file may have been damaged since this program left it whole (:mod:`monitor.store.open_marks`: a process
that ended without closing it, a file changed by something else); a damaged file is refused
(:class:`CorruptDatabase`) and never written into.
During a recording one thread owns the writing connection (see :mod:`monitor.store.writer`); readers
open their own connections. The reads are :class:`monitor.store.queries.Queries`.
Patient identifiers live only in ``patients``, encrypted (:mod:`monitor.identifiers`); every other
table refers to a random key. Audit entries, events, alarms, readings and waveforms are sealed
into a keyed hash chain in the transaction that writes them (:mod:`monitor.integrity`). The keys
are outside the database (:mod:`monitor.keys`); the file is created readable by its owner only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import json
import logging
import os
import socket
import sqlite3
import stat
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import sqlite_utils

from drivers.core.readings import Parameter, Reading, flags_text
from monitor import identifiers, integrity
from monitor.alarms.model import AlarmRecord
from monitor.keys import (
    KeyFileError,
    Keys,
    create_private_file,
    ensure_private_dir,
    load_keys,
    make_owner_only,
)
from monitor.session import Phase, SessionEvent
from monitor.store import open_marks, own_keys, witness
from monitor.store.elsewhere import moved_copy
from monitor.store.errors import CorruptDatabase, StoreError, WriteRefused
from monitor.store.queries import Queries
from monitor.store.restores import ROLLED_BACK_ACTION
from monitor.store.rows import alarm_row, waveform_row
from monitor.store.schema import MIGRATIONS, SCHEMA_VERSION
from monitor.store.shared_index import wait_while_index_lost

#: The WAL is truncated back to this size after a checkpoint.
WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024
#: How long a connection waits for another one's lock before it gives up ("database is locked").
BUSY_TIMEOUT_S = 10.0
log = logging.getLogger(__name__)

#: How often a writing store notes beside the key file how far the record reached (and when it closes).
WITNESS_EVERY_S = 10.0


def new_id() -> str:
    """A random key that says nothing about the patient."""
    return uuid.uuid4().hex


def _read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` for reading only.

    Where its folder cannot be written (read-only media, an archive share), SQLite cannot make the shared-memory
    file a WAL database needs, so the file is opened as immutable; a write-ahead log left beside it there holds
    committed rows that would then be missed, so such a copy is refused with the way out.
    """
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    if os.access(path.parent, os.W_OK):
        return uri
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"cannot read database {path}: its folder cannot be written and its write-ahead log ({wal.name}) holds "
            "rows not yet in the file; copy both files to a writable folder and open the copy"
        )
    return uri + "&immutable=1"


def _refuse_what_is_no_database(path: Path) -> None:
    """Refuse, before anything is changed, a path that names a folder, a device, a pipe or a socket: opening it
    would first make it owner-only (a folder whose owner could then no longer read the files in it; run as root
    with a typo, a system file such as /dev/null). Only its status is read: this process may hold SQLite's locks on
    the file, which closing any descriptor of it would drop (a regular file that is no database is refused once
    SQLite has read its header, :func:`_refuse_what_sqlite_cannot_read`)."""
    try:
        found = os.stat(path)
    except OSError as exc:
        raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(found.st_mode):
        raise StoreError(f"{path} is a folder, not a database file: name the database file in it (nothing was "
                         "changed)")
    if not stat.S_ISREG(found.st_mode):
        raise StoreError(f"{path} is not a file but a device, pipe or socket, so it cannot be a database (nothing "
                         "was changed)")


def _refuse_read_only_media(path: Path) -> None:
    """An existing database on a read-only filesystem (an archived copy) cannot be opened for writing: raised as
    the system says it (EROFS), before SQLite tries, so the message can say what to do. Only the filesystem's flags
    are read, never the file."""
    try:
        flags = os.statvfs(path).f_flag
    except OSError:
        return  # said by whatever opens it next
    if flags & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))


#: Tables every database of this program has had since its first schema.
OWN_TABLES: Final = frozenset({"sessions", "readings", "events", "alarms", "audit"})


def _refuse_what_sqlite_cannot_read(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a regular file that is no database (a text file, a link to one) before anything of it is changed.

    SQLite reads its header through its own descriptor: this process may already hold SQLite's locks on the file,
    which closing a descriptor of its own would drop. Reading the header changes nothing in a file that is no
    database (no journal is made for it)."""
    try:
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        if "not a database" not in str(exc):
            raise
        raise StoreError(f"{path} is not a database file (SQLite finds no database in it); nothing was changed: "
                         "name the database file") from None
    # Another program's SQLite file (a browser's history, a typo in --db) would have had this program's tables
    # migrated into it and been made owner-only; an empty one is taken as new.
    if tables and not tables >= OWN_TABLES:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise StoreError(f"{path} is another program's SQLite database (its tables: {shown}); nothing was "
                         "changed: name this program's database file")


def _make_journals_owner_only(path: Path) -> None:
    """Make the database's -wal, -shm and -journal owner-only (SQLite makes them with the database's mode; ones left
    by an older version, or made while the file was opened before its own mode was changed, are tightened here).
    A link at one of those names is left alone: its target is not this program's."""
    for suffix in ("-wal", "-shm", "-journal"):
        journal = f"{path}{suffix}"
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(journal).st_mode):
                os.chmod(journal, 0o600)


class Store(Queries):
    """One connection to the monitor's database (create one per thread)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, check: bool = True, wal: bool = True) -> None:
        self.path = Path(path)
        self.readonly = readonly
        #: What was found when this database turned out older than it had been (None: it did not).
        self.rolled_back: str | None = None
        self._noted_at = time.monotonic()
        self._noted_seq = 0
        self.keys: Keys | None = None
        self._identifiers_encrypted: bool | None = None
        #: This store's mark beside the file while it is open (writing stores only: :mod:`open_marks`).
        self._mark: open_marks.OpenMark | None = None
        #: Why this open read the whole file (None: it did not need to, or was told not to).
        self.checked_whole: str | None = None
        existed = self.path.exists()
        try:
            if readonly:
                if not self.path.exists():
                    raise StoreError(f"no database at {self.path}")
                # A reader takes no mark (its folder may be read-only media) but asks the same, before SQLite opens.
                why_whole = open_marks.why_check_whole(open_marks.OpenMark(self.path)) if check else None
                conn = sqlite3.connect(_read_only_uri(self.path), uri=True, check_same_thread=False,
                                       timeout=BUSY_TIMEOUT_S)
            else:
                if not existed:
                    self._refuse_over_a_moved_database()
                else:
                    _refuse_what_is_no_database(self.path)
                    _refuse_read_only_media(self.path)
                if not self.path.parent.exists():
                    ensure_private_dir(self.path.parent)
                if not existed:
                    try:
                        # Owner-only before SQLite writes a byte; SQLite gives -wal, -shm and -journal its mode.
                        create_private_file(self.path)
                    except FileExistsError:  # made meanwhile by another process: taken as found
                        _refuse_what_is_no_database(self.path)
                        existed = True
                # Never write into a log whose index another process lost (see shared_index).
                wait_while_index_lost(self.path)
                # Asked before SQLite opens the file: opening it makes its log, which the note compares.
                why_whole = open_marks.why_check_whole(open_marks.OpenMark(self.path)) if existed and check else None
                conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None)
            self.db = sqlite_utils.Database(conn)
            if not readonly:
                if existed:
                    # Made owner-only once SQLite has read it as a database, never before (a typo such as
                    # --db /etc/hosts once made that file 0600 for every other account, then was refused).
                    _refuse_what_sqlite_cannot_read(self.db.conn, self.path)
                    make_owner_only(self.path)
                _make_journals_owner_only(self.path)
                # Only once SQLite has read it as a database: nothing is made beside a file that is refused.
                why_whole = self._take_mark(why_whole, existed and check)
            self.db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not readonly:
                if why_whole is not None:
                    self._check_whole(why_whole)
                # Before the first write (even the switch to WAL): a database is changed only with its own keys.
                self.keys = own_keys.keys_for_writing(self.db.conn, self.path, self._understood_version())
                self._refuse_a_false_claim_to_predate_the_chain(self.keys)
                # Asked before anything is sealed: a chain emptied outside this program begins again at this
                # opening under another first link, which the note would then take for another database's.
                found_at_open = witness.behind(self.keys, self.path, self.db.conn)
                if wal:
                    self._enter_wal_mode()
                # FULL: a committed reading survives power loss, not only a crash of this process.
                self.db.execute("PRAGMA synchronous = FULL")
                self.db.execute("PRAGMA foreign_keys = ON")
                # Deleted or rewritten pages are zeroed, so no old plaintext lingers in free pages.
                self.db.execute("PRAGMA secure_delete = ON")
                # A bounded journal: after each checkpoint the WAL is cut back to this size, so a
                # disk that filled up once is not kept full by the journal.
                self.db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
                self._migrate(self.keys)
                with _Transaction(self.db.conn):  # not self.transaction(): subclasses may not be ready yet
                    # Rows found unsealed were written by something else since the last write.
                    integrity.seal(self.db.conn, self._writing_keys(), origin=integrity.ORIGIN_OUTSIDE,
                                   versions=integrity.EVERY_VERSION)
                self._compare_with_witness(found_at_open)
            else:
                if why_whole is not None:
                    self._check_whole(why_whole)
                version = self.user_version()
                if version > SCHEMA_VERSION:
                    raise StoreError(f"{self.path} was written by a newer version (schema {version})")
                # One whose version was set back below the chain's is read with its keys too: its chain names what
                # else was changed.
                if version >= own_keys.FIRST_KEYED_VERSION or integrity.tables_of_the_chain(self.db.conn):
                    self.keys = own_keys.keys_for_reading(self.db.conn, self.path)
        # Whatever refuses the file, the connection opened on it is closed: left open, each refused attempt (a
        # sign-in on a failing disk) would keep a descriptor and a mapping on the file until the process ends.
        except KeyFileError as exc:
            self.close_quietly()
            raise StoreError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            self.close_quietly()
            if "malformed" in str(exc):
                raise self.found_damaged(str(exc)) from exc
            raise StoreError(f"cannot use database {self.path}: {exc}{_full_disk_hint(self.path)}") from exc
        except OSError as exc:
            self.close_quietly()
            hint = _full_disk_hint(self.path)
            if exc.errno == errno.EROFS:
                hint = (" (a read-only medium: `verify` checks it where it is; to list, review or export its sessions,"
                        " which records who read them in it, copy it with its key file to a writable folder)")
            raise StoreError(f"cannot open database {self.path}: {exc.strerror or exc}{hint}") from exc
        except BaseException:
            self.close_quietly()
            raise

    # -- lifecycle ------------------------------------------------------------------------

    def close_quietly(self) -> None:
        """Close the connection if it was opened (used when opening fails half-way); the mark goes with it, the file
        not noted as left whole."""
        db = getattr(self, "db", None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.conn.close()
        mark = getattr(self, "_mark", None)
        if mark is not None:
            mark.release()

    def _enter_wal_mode(self) -> None:
        """``PRAGMA journal_mode = WAL``, waiting for other connections' locks as every statement does.

        SQLite reads the file's header before it takes the writer's lock for the switch, and a connection that
        holds a read does not wait for that lock: on a file in rollback mode that another process is writing
        (one a recording wrote back) the switch would fail at once with "database is locked" whenever it met a
        commit. It is tried again until :data:`BUSY_TIMEOUT_S`.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.02)

    def _take_mark(self, why_whole: str | None, asked: bool) -> str | None:
        """Hold this store's mark beside the file; why the file should be read whole (``why_whole`` as found before
        SQLite opened it, when ``asked``). A folder that takes no mark (another account's) costs the whole check at
        each open, as before, rather than the open."""
        mark = open_marks.OpenMark(self.path)
        try:
            mark.take()
        except OSError as exc:
            log.warning("%s: cannot keep a mark beside it (%s); reading it whole at each open", self.path, exc)
            return (why_whole or "no mark can be kept beside it") if asked else None
        self._mark = mark
        return why_whole

    def _check_whole(self, why: str) -> None:
        """Read the whole file (:meth:`check_integrity`) because it may have been damaged since this program left it
        whole (``why``, :func:`open_marks.why_check_whole`). Not at every open: it costs about a second per GiB, and
        a chair's file grows by several GiB a year."""
        log.info("%s: reading the whole file (%s)", self.path, why)
        self.checked_whole = why
        self.check_integrity()
        open_marks.forget_damage(self.path)
        if self._mark is not None:
            self._mark.forget_left(self._mark.others()[1])

    def check_integrity(self) -> None:
        """``PRAGMA quick_check``; a damaged file raises :class:`CorruptDatabase` and is not used."""
        rows = [str(r[0]) for r in self.db.execute("PRAGMA quick_check(20)").fetchall()]
        if rows != ["ok"]:
            self.close_quietly()
            raise self.found_damaged("; ".join(rows[:3]))

    def found_damaged(self, finding: str) -> CorruptDatabase:
        """The refusal of a file a check or a write found damaged (``finding``: what SQLite said), noted beside the
        file first: the file may look as it was left whole, and the next open, in any process, must read it whole
        and refuse it too instead of writing into it."""
        open_marks.note_damaged(self.path, finding)
        return CorruptDatabase(self.path, finding)

    def _understood_version(self) -> int:
        """The file's schema version; :class:`StoreError` when it is newer than this program's."""
        version = self.user_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {version}, newer than this program understands ({SCHEMA_VERSION})"
            )
        return version

    def _migrate(self, keys: Keys) -> None:
        """Run the migrations the file has not had, each in its own transaction, with the database's own keys.

        The version is read again inside each write transaction: another process started at the same moment (the
        launcher double-clicked on a new database) may have run the migration while this one waited for the lock,
        and running it twice failed with "table … already exists". That process is then found to have done it.
        """
        checked_for = self._understood_version()
        while True:
            with self.transaction():
                version = self._understood_version()
                if version >= SCHEMA_VERSION:
                    return
                if version != checked_for:
                    # Migrated meanwhile by another process: its rows must be this key file's too.
                    keys = self.keys = own_keys.keys_for_writing(self.db.conn, self.path, version)
                    checked_for = version
                MIGRATIONS[version](self.db, keys)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
                checked_for = version + 1

    def _refuse_a_false_claim_to_predate_the_chain(self, keys: Keys) -> None:
        """Refuse, before anything is written, a file whose version says it predates the record chain when it
        cannot (:func:`witness.why_not_pre_chain`): upgrading it would seal whatever it holds, rows edited without
        the key included, and offer the first run to make an admin. Logged, as a database found older than it had
        been is; it cannot be recorded in the file's own audit log, which nothing seals."""
        why = witness.why_not_pre_chain(keys, self.path, self.db.conn)
        if why is None:
            return
        log.warning("%s: %s; refused, nothing changed in it", self.path, why)
        raise StoreError(
            f"{self.path}: {why}. Nothing was changed in it and it is not upgraded (that would seal whatever it holds "
            f"now). `infusion-monitor verify --db {self.path}` says what is known. Restore the database from a backup "
            "made since it was sealed (an older copy of it is then named, and an admin accepts a legitimate restore "
            f"with `{integrity.ACCEPT_RESTORE}`); a file from before the chain that is to be kept is opened under "
            "another name, where it is a database of its own"
        )

    def _refuse_over_a_moved_database(self) -> None:
        """A new database is not begun where this computer saw one that a recording had to move elsewhere."""
        try:
            keys = load_keys(create=False)
        except KeyFileError:
            return  # said when the keys are needed
        moved = moved_copy(keys, self.path) if keys is not None else None
        if moved is not None:
            raise StoreError(
                f"{self.path} is missing: the database this computer saw there left it while recording and is now "
                f"{moved}. Put it back before recording (mv {moved} {self.path}); to begin a new database here "
                "instead, move that copy somewhere else first"
            )

    def _sealing(self, added: dict[str, int], alarm_ids: Iterable[str] = (), session_ids: Iterable[str] = ()
                 ) -> _Sealing:
        """Seal what this transaction writes (``added``: rows per table; the alarms and sessions it wrote);
        other unsealed rows are marked as written from outside."""
        return _Sealing(self, added, {"alarms": alarm_ids, "sessions": session_ids})

    @contextlib.contextmanager
    def sealed_write(self, table: str, row_keys: Iterable[str]) -> Iterator[None]:
        """A write transaction whose new versions of the rows ``row_keys`` of ``table`` (accounts, profile
        approvals: :data:`monitor.integrity.VERSIONED_TABLES`) are sealed when it ends."""
        with self.transaction(), _Sealing(self, {}, {table: row_keys}):
            yield
        if table in integrity.ACCOUNT_TABLES and not self.readonly:
            # Noted at once, not within the next 10 s: a demotion, a disabled account or a revoked profile approval
            # is what an older copy put back would undo, and the note is what holds the copy to it until the restore
            # is accepted.
            with contextlib.suppress(sqlite3.Error):
                self._note_witness()

    def close(self) -> None:
        """Close the connection (idempotent), also when the file can no longer be read (a failed disk): noting how
        far the record reached must not keep the connection, its descriptors and its mapping of the file, open."""
        try:
            if not self.readonly and self.keys is not None:
                with contextlib.suppress(sqlite3.Error, OSError):
                    self._note_witness()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.db.conn.close()
            if self._mark is not None:
                # After the connection: SQLite's last close folds the log into the file, and the note says how
                # the file was left after that.
                self._mark.release()
                self._mark.note_closed()
                self._mark = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE … COMMIT, rolled back on error."""
        return _Transaction(self.db.conn, self._committed)

    # -- how far the chain reached, noted outside the database -----------------------------------

    def _compare_with_witness(self, found_at_open: witness.Behind | None = None) -> None:
        """Name, log and audit a database put back to an older copy of itself (as found now, or, before anything
        was sealed at this opening, ``found_at_open``); then note where it is now."""
        keys = self._writing_keys()
        found = witness.behind(keys, self.path, self.db.conn) or found_at_open
        if found is not None:
            problem = found.text()
            self.rolled_back = problem
            log.warning("%s: %s", self.path, problem)
            # The note is renewed below: from now on this entry is what says what the note knew, so it keeps the
            # numbers an admin accepting the restore is shown.
            detail = {"found": problem, "missing": found.missing(), **dataclasses.asdict(found)}
            with _Transaction(self.db.conn):
                self.db.execute(
                    "INSERT INTO audit (at, user, action, session_id, detail) VALUES (?, NULL, ?, NULL, ?)",
                    [time.time(), ROLLED_BACK_ACTION, json.dumps(detail)],
                )
                integrity.seal(self.db.conn, keys, expected={"audit": 1})
        self._note_witness(after_finding=True)

    def _note_witness(self, *, after_finding: bool = False) -> None:
        """Note beside the key file how far the record reached, its accounts and its profile approvals
        (``after_finding``: just after a finding that it is behind the note was recorded, which the note may then
        follow)."""
        self._noted_at = time.monotonic()
        keys = self.keys
        seen = witness.reached(self.db.conn) if keys is not None else None
        if seen is None or keys is None or seen.seq == self._noted_seq:
            return
        previous = witness.recall(keys, self.path)
        if not after_finding and witness.behind(keys, self.path, self.db.conn, previous) is not None:
            # The file was put back to an older copy under this open store: the note keeps what it saw, so the next
            # opening still finds and records that, instead of the note following the copy.
            return
        waiting = functools.cache(lambda: self._restore_waiting(keys))
        seen = dataclasses.replace(
            seen, users=witness.kept_to_note(previous, seen, None if previous is None else previous.users,
                                             witness.accounts_now(self.db.conn), waiting),
            approvals=witness.kept_to_note(previous, seen, None if previous is None else previous.approvals,
                                           witness.approvals_now(self.db.conn), waiting))
        try:
            witness.note(keys, self.path, seen)
        except OSError as exc:
            if self._noted_seq >= 0:  # said once per store
                log.warning("cannot note how far %s's record reached beside the key file: %s", self.path, exc)
            self._noted_seq = -1
        else:
            self._noted_seq = seen.seq

    def _restore_waiting(self, keys: Keys) -> bool:
        """Whether the database was found older than it had been and nobody accepted that yet."""
        return any(not found.accepted for found in integrity.found_restores(self.db.conn, keys))

    def _committed(self) -> None:
        if self.readonly or time.monotonic() - self._noted_at < WITNESS_EVERY_S:
            return
        with contextlib.suppress(sqlite3.Error):
            self._note_witness()

    # -- writing --------------------------------------------------------------------------

    def create_patient(
        self, mrn: str | None, name: str | None = None, birth_date: str | None = None, patient_id: str | None = None
    ) -> str:
        """Register a patient (or return the existing one with that MRN); ``patient_id`` if chosen beforehand.

        :raises ValueError: an identifier with a control character (:func:`monitor.identifiers.check_typed`).
        """
        mrn = identifiers.check_typed(mrn, "MRN")
        name = identifiers.check_typed(name, "patient's name")
        keys = self._writing_keys()
        lookup = identifiers.mrn_lookup(keys, mrn) if mrn else None
        if lookup:
            row = self.db.execute("SELECT id FROM patients WHERE mrn_lookup = ?", [lookup]).fetchone()
            if row:
                return str(row[0])
        patient_id = patient_id or new_id()
        with self.transaction():
            self.db.table("patients").insert(
                {"id": patient_id, "mrn": identifiers.encrypt(keys, patient_id, "mrn", mrn),
                 "name": identifiers.encrypt(keys, patient_id, "name", name),
                 "birth_date": identifiers.encrypt(keys, patient_id, "birth_date", birth_date),
                 "mrn_lookup": lookup, "created_at": time.time()}
            )
        return patient_id

    def _writing_keys(self) -> Keys:
        if self.keys is None:
            raise StoreError(f"{self.path}: opened read-only or without its key file; cannot write")
        return self.keys

    def create_session(
        self,
        *,
        started_at: float,
        patient_id: str | None,
        driver: str,
        port: str | None,
        plan: str,
        nurse: str | None = None,
        device: str | None = None,
        protocol: str | None = None,
        protocol_sha256: str | None = None,
        session_id: str | None = None,
    ) -> str:
        """Open a new session owned by this process (following the named protocol)."""
        session_id = session_id or new_id()
        with self.transaction(), self._sealing({}, session_ids=[session_id]):
            self.db.table("sessions").insert(
                {
                    "id": session_id,
                    "patient_id": patient_id,
                    "started_at": started_at,
                    "status": "recording",
                    "phase": Phase.SETUP.value,
                    "phases_reached": json.dumps([Phase.SETUP.value]),
                    "driver": driver,
                    "port": port,
                    "device": device,
                    "plan": plan,
                    "nurse": nurse,
                    "protocol": protocol,
                    "protocol_sha256": protocol_sha256,
                    "owner_pid": os.getpid(),
                    "owner_host": socket.gethostname(),
                    "heartbeat_at": time.time(),
                }
            )
        return session_id

    def attach_patient(
        self, session_id: str, mrn: str, name: str | None = None, birth_date: str | None = None, *, patient_id: str
    ) -> str:
        """Put the patient on file (under ``patient_id``, chosen beforehand) unless one with this MRN is on file
        already, and attach the session to whichever it is, in one transaction; returns that patient's key.

        One step, so that it cannot fail for a patient key the database lacks: a run that queued this before an
        earlier run's patient with the same MRN reached the file (a recovery file written back later) attaches
        the session to the patient on file."""
        with self.transaction():
            found = self.create_patient(mrn, name, birth_date, patient_id=patient_id)
            self.assign_patient(session_id, found)
        return found

    def assign_patient(self, session_id: str, patient_id: str) -> None:
        """Attach a session to a patient (identified at the chair after the recording started)."""
        with self.transaction(), self._sealing({}, session_ids=[session_id]):
            self.db.execute("UPDATE sessions SET patient_id = ? WHERE id = ?", [patient_id, session_id])

    def claim_session(self, session_id: str) -> None:
        """Take over an unfinished session so that this process continues it."""
        self.session_row(session_id)
        with self.transaction(), self._sealing({}, session_ids=[session_id]):
            self.db.execute(
                "UPDATE sessions SET status='recording', ended_at=NULL, owner_pid=?, owner_host=?, "
                "heartbeat_at=? WHERE id=?",
                [os.getpid(), socket.gethostname(), time.time(), session_id],
            )

    def write_batch(
        self,
        session_id: str,
        readings: Sequence[Reading] = (),
        events: Sequence[SessionEvent] = (),
        alarms: Sequence[AlarmRecord] = (),
        session_update: dict[str, Any] | None = None,
    ) -> None:
        """Write everything pending in one transaction (all or nothing)."""
        numeric_rows = []
        wave_blocks: dict[tuple[str, str], list[Reading]] = {}
        for r in readings:
            if r.parameter is Parameter.PLETH:
                wave_blocks.setdefault((r.parameter.value, r.source), []).append(r)
            else:
                numeric_rows.append(
                    (session_id, r.t, r.parameter.value, r.value, r.unit, flags_text(r.flags), r.source)
                )
        added = {"readings": len(numeric_rows), "waveforms": len(wave_blocks), "events": len(events)}
        with self.transaction(), self._sealing(added, [a.id for a in alarms], [session_id] if session_update else []):
            conn = self.db.conn
            if numeric_rows:
                conn.executemany(
                    "INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    numeric_rows,
                )
            for (parameter, source), samples in wave_blocks.items():
                conn.execute(
                    "INSERT INTO waveforms (session_id, parameter, t0, rate_hz, n, samples, source, status) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    waveform_row(session_id, parameter, source, samples),
                )
            if events:
                conn.executemany(
                    "INSERT INTO events (session_id, t, kind, phase, user, detail) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (session_id, e.t, e.kind.value, e.phase.value, e.user, json.dumps(dict(e.detail)))
                        for e in events
                    ],
                )
            for alarm in alarms:
                self.db.table("alarms").upsert(dict(alarm_row(alarm), session_id=session_id), pk="id")
            if session_update:
                sets = ", ".join(f"{key} = ?" for key in session_update)
                conn.execute(f"UPDATE sessions SET {sets} WHERE id = ?", [*session_update.values(), session_id])

    def audit(
        self, action: str, *, user: str | None, session_id: str | None = None, at: float | None = None, **detail: Any
    ) -> None:
        """Append to the audit log (who did what, when, wall-clock time; ``at`` when it was held)."""
        with self.transaction(), self._sealing({"audit": 1}):
            self.db.execute(
                "INSERT INTO audit (at, user, action, session_id, detail) VALUES (?, ?, ?, ?, ?)",
                [time.time() if at is None else at, user, action, session_id, json.dumps(detail, default=str)],
            )

    def set_course_plan(self, patient_id: str, planned_sessions: int, interval_days: float,
                        booster_interval_days: float, note: str | None, *, at: float, user: str | None) -> None:
        """Set (or replace) a patient's planned course (the caller checks and audits it)."""
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO course_plans (patient_id, planned_sessions, interval_days, "
                "booster_interval_days, note, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [patient_id, planned_sessions, interval_days, booster_interval_days, note, at, user],
            )

    def add_rems_submission(self, session_id: str, at: float, user: str, reference: str | None) -> None:
        """Record that a session's REMS form was submitted (the caller audits it)."""
        with self.transaction():
            self.db.execute(
                "INSERT INTO rems_submissions (session_id, submitted_at, submitted_by, reference) VALUES (?, ?, ?, ?)",
                [session_id, at, user, reference],
            )

    def end_session(self, session_id: str, status: str, ended_at: float) -> None:
        """Mark a session complete or closed and release ownership."""
        with self.transaction(), self._sealing({}, session_ids=[session_id]):
            self.db.execute(
                "UPDATE sessions SET status=?, ended_at=?, owner_pid=NULL WHERE id=?",
                [status, ended_at, session_id],
            )

class _Sealing:
    """Seals this transaction's rows on exit; unsealed rows beyond them are marked as written from outside."""

    def __init__(self, store: Store, added: dict[str, int], versions: dict[str, Iterable[str]]) -> None:
        self.store = store
        self.added = added
        self.versions = versions

    def __enter__(self) -> None:
        self.store._writing_keys()  # refuse before writing anything that could not be sealed

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            integrity.seal(self.store.db.conn, self.store._writing_keys(), expected=self.added,
                           versions={table: list(keys) for table, keys in self.versions.items()})


class _Transaction:
    def __init__(self, conn: sqlite3.Connection, after_commit: Callable[[], None] | None = None) -> None:
        self.conn = conn
        self.nested = False
        self.after_commit = after_commit

    def __enter__(self) -> sqlite3.Connection:
        self.nested = self.conn.in_transaction
        if not self.nested:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as refused:  # locked too long, a disk that stopped answering
                raise WriteRefused.of(refused) from refused
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.nested:
            return
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as refused:
                # A COMMIT that fails (a full disk) may leave the transaction open: nothing of it is kept.
                if self.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.execute("ROLLBACK")
                raise WriteRefused.of(refused) from refused
            if self.after_commit is not None:
                self.after_commit()
            return
        if self.conn.in_transaction:  # SQLite ends some transactions itself on an error (a full disk)
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and not isinstance(exc, WriteRefused):
            raise WriteRefused.of(exc) from exc


#: Below this much free space the disk holding a database counts as full (SQLite needs room for its
#: journal, its shared-memory index and the pages a write adds).
FULL_DISK_BYTES = 1 << 20


def _full_disk_hint(path: Path) -> str:
    """Why opening failed when the disk holding ``path`` is full (SQLite names only "disk I/O error")."""
    try:
        info = os.statvfs(path.parent)
    except OSError:
        return ""
    free = info.f_bavail * info.f_frsize
    if free >= FULL_DISK_BYTES:
        return ""
    return f" (the disk holding it is full: {free} bytes free; free space there, then start again)"
