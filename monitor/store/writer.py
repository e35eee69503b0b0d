"""The store's writer: its own thread, its own queue and its own database connection.

The recorder hands everything it wants written (reading batches, audit entries, session-row
changes) to :class:`StoreWriter` and never waits for the disk: a full disk, a file lock held by
another process or a slow fsync delays only this thread. What cannot be written is held in
order and written, oldest first, in bounded chunks once the store accepts writes again.

Memory is bounded while the store fails: the waveform is given up first (the oldest held
samples beyond :data:`PLETH_HOLD_S` of signal), numerics, events, alarms and audit entries are
held up to :data:`MAX_HELD_NUMERICS` rows (8 h of a busy monitor). What was given up is counted,
and the recorder puts it on the timeline.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import itertools
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from drivers.core.readings import PLETH_RATE_HZ, Parameter, Reading
from monitor.keys import (
    Keys,
    create_private_file,
    ensure_private_dir,
    keep_key_file,
    private_folder_beside,
    remove_private_folder,
)
from monitor.ownership import SessionLock
from monitor.store import open_marks, runs
from monitor.store.database import Store
from monitor.store.elsewhere import copy_name, fallback_folders
from monitor.store.errors import CorruptDatabase, StoreError
from monitor.store.file_check import WholeFileCheck
from monitor.store.held_file import HELD_ROWS_DRAINED, RecoveryText, append_to, write_whole
from monitor.store.operations import AuditEntry, Batch, Operation, StoreCall, apply_operation

log = logging.getLogger(__name__)

#: How often the writer commits while data flow (each commit is an fsync).
COMMIT_INTERVAL_S = 0.25
#: Pause between attempts while the store refuses writes.
RETRY_INTERVAL_S = 1.0
#: Rows written per transaction when catching up, so a long backlog never needs one huge journal.
CHUNK_ROWS = 5000
#: Waveform kept while the store fails, in seconds of signal; older samples are given up first.
PLETH_HOLD_S = 600.0
#: Numeric readings held while the store fails: 8 h at 12 values a second.
MAX_HELD_NUMERICS = 8 * 3600 * 12
#: How often the writer looks whether its database file is still where it was opened.
FILE_CHECK_S = 1.0
#: While the store refuses, what is held is in a recovery file: written whole at the first failure, then what came
#: since is added to it this often (at the least: when writing takes longer, less often, so that it takes at most a
#: twentieth of the time), so that a crash or a power cut during the outage loses at most this much.
SPILL_EVERY_S = 1.0
#: The share of the time the writer may spend writing that file.
SPILL_TIME_SHARE = 0.05
#: Below this much free space on the disk holding the database a low-priority technical alarm says so, before the
#: disk fills: a 90-minute session with the pleth takes about 5 MB, a write-back of the database its own size.
LOW_SPACE_BYTES = 100 * 1024 * 1024
#: What a 90-minute session with the pleth takes in the database (measured: 5.0 MB), to say how many more fit.
SESSION_BYTES = 5 * 1000 * 1000
#: The alarm ends once there is this much more (so that it does not come and go at the edge).
LOW_SPACE_CLEAR = 1.2
#: How often the writer looks at the free space there.
SPACE_CHECK_S = 30.0
#: After a write-back that failed, the next attempt waits this long (each attempt copies the whole database).
WRITE_BACK_RETRY_S = 5.0
#: The index identity of a connection that found no "<db>-shm" at the name (never a real file's).
_NO_INDEX = (-1, -1)
#: Where Linux lists the files this process holds open (one link per descriptor).
_OPEN_FILES = "/proc/self/fd"
#: Busy timeout of the writer's own connection (a lock held by another process delays only the writer).
WRITER_BUSY_TIMEOUT_MS = 5000
#: A write that has not returned for this long has hung (a disk or file system that stopped answering): longer
#: than the busy timeout, so a lock held by another process is reported as the write failure it ends in.
WRITE_HUNG_S = WRITER_BUSY_TIMEOUT_MS / 1000 + 1.0



#: What a write that the database refused raises. ValueError: a row SQLite cannot bind (text that is not UTF-8, a
#: number out of its range).
_REFUSALS = (sqlite3.Error, StoreError, OSError, ValueError, OverflowError)

#: What a database refuses for what a row holds, not for the state of its disk or file (a constraint, a value it
#: cannot bind, text that is not UTF-8, detail that is not JSON): refused again at every try. Such a row is set
#: aside in a file of its own with the reason, and the rows after it are written.
_CONTENT_REFUSALS = (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, ValueError, OverflowError,
                     TypeError)

#: Faults after which the file at the configured name is still this one, and its data are written back to it.
OWN_FILE_FAULTS = ("truncated", "left without its write-ahead log", "left without its shared-memory index")


class _DamagedCopy(sqlite3.DatabaseError):
    """The copy of the database read back damaged: what the open connection reads is damaged."""


@dataclass(frozen=True, slots=True)
class FileIncident:
    """The open database was deleted or moved; where its complete data were written."""

    #: "deleted or moved away" (the name is free), "moved or replaced" (another file has it), or
    #: "left without its write-ahead log" (its "-wal" file was deleted or replaced), "left without its
    #: shared-memory index" (its "-shm" file was), or "truncated"
    what: str
    written_to: str | None  # None: the data could not be written anywhere (kept in memory)
    error: str | None = None

    def message(self, configured: Path) -> str:
        """The alarm text."""
        if self.written_to is None:
            return f"The database {configured} was {self.what} and could not be written back: {self.error}"
        if self.written_to == str(configured):
            return f"The database {configured} was {self.what}; its complete data were written back to it"
        return f"The database {configured} was {self.what}; the complete data are now in {self.written_to}"


@dataclass(frozen=True, slots=True)
class SetAside:
    """Rows the database refused for what they hold, set aside in a file so that the rows after them are written."""

    rows: int
    #: Why the database refused them (the first reason, where several rows were refused at once).
    error: str
    #: The file that holds them.
    path: str

    def message(self) -> str:
        """The alarm text."""
        what = f"{self.rows} row{'s' if self.rows != 1 else ''}"
        return (f"The database refused {what} for what {'they hold' if self.rows != 1 else 'it holds'} "
                f"({self.error}): set aside in {self.path}, recording goes on")


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """How the writer is doing, for the recorder's status and alarms."""

    ok: bool
    error: str | None
    held_rows: int
    stored_numerics: int
    dropped_pleth: int
    dropped_pleth_s: float
    dropped_numerics: int
    alive: bool
    incidents: tuple[FileIncident, ...] = ()
    #: What was found and done about the key file, oldest first (see :func:`monitor.keys.keep_key_file`).
    key_incidents: tuple[str, ...] = ()
    #: Free space on the disk holding the database at the last look (None: not looked at, or it could not be).
    free_bytes: int | None = None
    #: Rows the database refused for what they hold, each time some were set aside, oldest first.
    set_aside: tuple[SetAside, ...] = ()


class StoreWriter:
    """Writes operations to the database in order; holds them while the database refuses.

    ``pump`` writes what is held on the calling thread; ``start`` runs it on a thread of its own.
    """

    def __init__(
        self,
        path: str | Path,
        session_id: str,
        *,
        stored_numerics: int = 0,
        pleth_hold_s: float = PLETH_HOLD_S,
        max_held_numerics: int = MAX_HELD_NUMERICS,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        retry_interval_s: float = RETRY_INTERVAL_S,
        opener: Callable[[Path], Store] | None = None,
    ) -> None:
        self.path = Path(path)
        self.session_id = session_id
        self.pleth_hold_s = pleth_hold_s
        self.max_held_numerics = max_held_numerics
        self.commit_interval_s = commit_interval_s
        self.retry_interval_s = retry_interval_s
        self._opener = opener or _open_writer_store
        self._store: Store | None = None
        self._held: deque[Operation] = deque()
        #: The number of each held operation (in order, from 1 for this writer): what a recovery file and the
        #: audit log say was written, so that nothing is written twice from it.
        self._held_numbers: deque[int] = deque()
        self._next_number = 1
        #: The number of the last operation any transaction of this writer tried to write: what the database says
        #: this run wrote is believed up to there only.
        self._attempted_through = 0
        #: This writer's run, named in its recovery file and in the audit entries and the row that say how far it was
        #: written: never the same for two writers of a session (a process resumes a session it ended in the same
        #: second), or the second would take the first one's operations for its own.
        self.run_id = f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(4)}"
        #: The recovery file what was held during the outage now under way was last written to (None: none).
        self.spill_path: Path | None = None
        #: The text of that file so far, sealed (None: the next spill writes the file whole).
        self._spill_text: RecoveryText | None = None
        #: The number of the last operation in that file.
        self._spilled_through = 0
        #: One writing of that file at a time (the recorder's last one may meet a writer thread that hung).
        self._spill_lock = threading.Lock()
        self._next_spill = 0.0
        self._spill_every_s = SPILL_EVERY_S
        #: The keys the recovery file is sealed with before the writer ever opened the database (the recorder's).
        self.keys: Keys | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ok = True
        self._error: str | None = None
        self._stored_numerics = stored_numerics
        self._held_rows = 0
        self._held_pleth = 0
        #: Operations at the head of ``_held`` being written right now (never given up).
        self._in_flight = 0
        #: Monotonic time the write under way began (None: no write under way).
        self._writing_since: float | None = None
        self._held_numerics = 0
        self._dropped_pleth = 0
        self._dropped_pleth_s = 0.0
        self._dropped_numerics = 0
        self._retry_at = 0.0
        self._identity: tuple[int, int] | None = None
        #: The open connection's "<db>-wal" file, once it exists (WAL mode only).
        self._wal_identity: tuple[int, int] | None = None
        #: The "<db>-shm" index the open connection shares with every other connection (WAL mode only).
        self._index_identity: tuple[int, int] | None = None
        #: The main file's size at the last check: it never shrinks while this program writes it.
        self._size = 0
        self._next_file_check = 0.0
        self._free_bytes: int | None = None
        self._next_space_check = 0.0
        self._incidents: list[FileIncident] = []
        #: The lock of the session being written, held again at its path if its file is deleted.
        self.session_lock: SessionLock | None = None
        #: The keys the database is sealed with, kept on the disk while this writer holds them.
        self._keys: Keys | None = None
        self._next_held_check = 0.0
        self._key_incidents: list[str] = []
        #: A failure to keep the key file that was said already (said again only once it changes).
        self._key_trouble: str | None = None
        #: The fault whose write-back failed, tried again from ``_write_back_at`` on (None: nothing outstanding).
        self._unresolved: str | None = None
        self._write_back_at = 0.0
        self._wal = True
        #: The path the database was configured with (``path`` moves to a recovery file if need be).
        self.configured_path = self.path
        #: Called on the writer thread after a chunk was committed (the file watch uses it).
        self.after_commit: Callable[[Store], None] | None = None
        #: The file of rows the database refused for what they hold (None: none yet), and its text so far.
        self.set_aside_path: Path | None = None
        self._aside_text: RecoveryText | None = None
        #: What was set aside, each time.
        self._set_aside: list[SetAside] = []
        #: The parts already in that file, by operation number and part: a transaction that failed after the file
        #: was written adds them only once when it is tried again.
        self._aside_parts: set[tuple[int, int]] = set()
        #: The whole-file check begun with the writer's thread (None: not begun).
        self.file_check: WholeFileCheck | None = None

    # -- any thread ---------------------------------------------------------------------

    def put(self, op: Operation) -> None:
        """Queue an operation; never blocks on the disk."""
        with self._lock:
            self._held.append(op)
            self._held_numbers.append(self._next_number)
            self._next_number += 1
            self._count(op, +1)
            if not self._ok:
                self._bound_memory()
        if isinstance(op, AuditEntry | StoreCall) or (isinstance(op, Batch) and (op.events or op.alarms)):
            # Timeline events, alarm changes and audit entries reach the disk at once; readings ride the next
            # commit. An alarm the screen showed and the bell rang for must survive a crash that follows it: held
            # for the next commit, an alarm shown less than 0.25 s before a power cut was in no record, and a
            # resumed recording had nothing to carry over as latched.
            self._wake.set()

    def status(self) -> WriterStatus:
        """A consistent snapshot of the writer's state (a write that has hung counts as a failing store)."""
        with self._lock:
            since = self._writing_since
            hung_s = 0.0 if since is None else time.monotonic() - since
            hung = hung_s > WRITE_HUNG_S
            return WriterStatus(
                ok=self._ok and not hung,
                error=f"a write to the database has not returned for {hung_s:.0f} s" if hung else self._error,
                held_rows=self._held_rows,
                stored_numerics=self._stored_numerics,
                dropped_pleth=self._dropped_pleth,
                dropped_pleth_s=round(self._dropped_pleth_s, 1),
                dropped_numerics=self._dropped_numerics,
                alive=self._thread is None or self._thread.is_alive(),
                incidents=tuple(self._incidents),
                key_incidents=tuple(self._key_incidents),
                free_bytes=self._free_bytes,
                set_aside=tuple(self._set_aside),
            )

    @property
    def threaded(self) -> bool:
        """True while the writer runs on its own thread."""
        return self._thread is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The writer thread (for the watchdog), if started."""
        return self._thread

    def start(self) -> None:
        """Write on a thread of its own from now on."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
            self._thread.start()
        if self.file_check is None:
            # Beside the recording, never before it: the opening read the file whole only where it may have been
            # damaged since it was left whole, and a chair's year takes seconds to read.
            self.file_check = WholeFileCheck(self.path)
            self.file_check.start()

    def stop(self, drain_s: float = 5.0) -> int:
        """Stop the thread after trying for up to ``drain_s`` to write what is held; returns rows left."""
        deadline = time.monotonic() + drain_s
        if self.file_check is not None:
            self.file_check.stop()
        if self._thread is not None:
            self._stop.set()
            self._wake.set()
            self._thread.join(drain_s + 12.0)
            self._thread = None
        if self._store is not None:
            # A file deleted since the last look, or a write-back still outstanding: a last try before the
            # connection, the only holder of the data then, is closed.
            self._write_back_at = 0.0
            self.check_file(force=True)
        while self.held_rows() and time.monotonic() < deadline:
            if self.pump(force=True):
                break
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
        self.close()
        return self.held_rows()

    def held_rows(self) -> int:
        """Rows waiting to be written."""
        with self._lock:
            return self._held_rows

    def held_operations(self) -> list[Operation]:
        """A copy of what is waiting, oldest first (for a recovery file)."""
        with self._lock:
            return list(self._held)

    def spill(self) -> str | None:
        """Put everything held in this run's recovery file: what came since the last time is added to it, or, the
        first time (or when adding failed), the file is written whole (in place of what it held before); its path,
        or None when no folder could take it. A crash from now on loses none of it: ``write-held`` puts it in,
        skipping what the audit log says this run wrote since."""
        with self._spill_lock:
            return self._spill()

    def _spill(self) -> str | None:
        with self._lock:
            ops = list(self._held)
            numbers = list(self._held_numbers)
        started = time.monotonic()
        keys = self._keys or self.keys
        written: str | None = None
        text = self._spill_text
        if self.spill_path is not None and text is not None and text.sealed == (keys is not None):
            first_new = bisect.bisect_right(numbers, self._spilled_through)  # numbers rise: what came since
            try:
                if first_new < len(numbers):
                    append_to(self.spill_path, text.part(self.session_id, ops[first_new:], keys, numbers[first_new:]))
                    self._spilled_through = numbers[-1]
                written = str(self.spill_path)
            except OSError as exc:
                log.error("cannot add to the recovery file %s (%s): it is written whole", self.spill_path, exc)
        if written is None:
            whole = write_whole(self.configured_path, self.session_id, ops, keys, run=self.run_id, numbers=numbers,
                                 replacing=self.spill_path)
            if whole is not None:
                self.spill_path, self._spill_text = whole
                self._spilled_through = numbers[-1] if numbers else 0
                written = str(self.spill_path)
            else:
                self._spill_text = None  # whatever the file holds now, the next try writes it whole
        if written is None and self.spill_path is not None:
            log.error("what is held could not be written to any recovery file; %s keeps what was held at its last "
                      "writing", self.spill_path)
            written = str(self.spill_path)
        # Never more than its share of the time in writing it (an 8 h hold written whole is some 20 MB).
        took = time.monotonic() - started
        self._spill_every_s = max(SPILL_EVERY_S, took / SPILL_TIME_SHARE if SPILL_TIME_SHARE > 0 else 0.0)
        self._next_spill = time.monotonic() + self._spill_every_s
        return written

    def close(self) -> None:
        """Close the writer's connection."""
        if self._store is not None:
            self._store.close()
            self._store = None
        self._index_identity = None  # the next connection finds its own

    # -- writing ------------------------------------------------------------------------

    def pump(self, force: bool = False) -> bool:
        """Write everything held, chunk by chunk; True when nothing is left.

        While the store refuses, a new attempt is made only every ``retry_interval_s``
        (unless ``force``). The database file is checked first (see :meth:`check_file`).
        """
        self.check_file()
        self.check_held_files()
        self.check_space()
        if not self._ok and self.held_rows() and time.monotonic() >= self._next_spill:
            self.spill()
        if not force and not self._ok and time.monotonic() < self._retry_at:
            return False
        while True:
            if self._index_lost():
                self.check_file(force=True)
                if self._index_lost():
                    # Not written back (the incident says why): nothing more goes into a log shared that way. The
                    # connection stays open, since another one would be given the same orphaned index.
                    lost = f"{self.configured_path}-shm was deleted or replaced and the data could not be written back"
                    self._failed(StoreError(lost + "; holding them"), reopen=False)
                    return False
            if self._unresolved is not None:
                # The whole database is only in the open connection (its file gone or broken, no copy in place):
                # nothing more goes there, where closing would lose it; rows are held until a write-back succeeds.
                self._failed(StoreError(f"{self.configured_path} was {self._unresolved} and could not be written "
                                        "back; holding them"), reopen=False)
                return False
            damage = None if self.file_check is None else self.file_check.damage
            if damage is not None:
                # Found damaged while recording: nothing more is written into it (rows are held, kept in the
                # recovery file, and the storage alarm names the recovery command).
                self._failed(damage, reopen=False)
                return False
            if self._store is None and self._holding():
                # Opened before a chunk is taken: what the database has of this run already is not held any more.
                try:
                    self._connection()
                except _REFUSALS as exc:
                    self._failed(exc)
                    return False
            with self._lock:
                if not self._held:
                    self._spill_done()
                    return True
                chunk = _take_chunk(self._held)
                numbers = list(itertools.islice(self._held_numbers, len(chunk)))
                self._attempted_through = max(self._attempted_through, numbers[-1])
                # Being written outside the lock: what these hold must not be given up meanwhile.
                self._in_flight = len(chunk)
                self._writing_since = time.monotonic()
            try:
                store = self._connection()
                try:
                    aside = self._commit(store, chunk, numbers, careful=False)
                except _CONTENT_REFUSALS as refused:
                    # One row the database will never take must not hold up the rest: each is tried on its own,
                    # and what is refused is set aside.
                    log.error("the database refused a row for what it holds (%s): trying each row on its own",
                              _reason(refused))
                    aside = self._commit(store, chunk, numbers, careful=True)
            except (*_REFUSALS, TypeError) as exc:
                # The disk's own refusals (full, locked, failing), also met in the careful try, or a set-aside file
                # no folder took: the chunk is held with the rest, alarmed, and tried again.
                with self._lock:
                    self._in_flight = 0
                    self._writing_since = None
                self._failed(exc)
                return False
            except BaseException:
                with self._lock:
                    self._in_flight = 0
                    self._writing_since = None
                raise
            self._written(chunk, aside)
            if self.after_commit is not None and self._store is not None:
                self.after_commit(self._store)

    def _commit(self, store: Store, chunk: list[Operation], numbers: list[int], *, careful: bool) -> list[Operation]:
        """Write ``chunk`` in one transaction. ``careful``: each part of each operation in a savepoint of its own,
        and the parts the database refuses for what they hold set aside in their file before the commit; those
        parts are returned."""
        aside: list[tuple[int, int, Operation, str]] = []
        with store.transaction():
            for op, number in zip(chunk, numbers, strict=True):
                if not careful:
                    apply_operation(store, self.session_id, op)
                    continue
                for index, part in enumerate(_parts(op)):
                    store.db.execute("SAVEPOINT set_aside")
                    try:
                        apply_operation(store, self.session_id, part)
                    except _CONTENT_REFUSALS as exc:
                        store.db.execute("ROLLBACK TO set_aside")
                        aside.append((number, index, part, _reason(exc)))
                    store.db.execute("RELEASE set_aside")
            # In the same transaction: a commit reported failed that went in all the same is known by it.
            runs.note(store.db.conn, self.session_id, self.run_id, numbers[-1])
            if self.spill_path is not None:
                # In the same transaction: how far this run's recovery file is in the database now.
                store.audit(HELD_ROWS_DRAINED, user=None, session_id=self.session_id, run=self.run_id,
                            through=numbers[-1])
            if aside:
                # Before the commit: a part left out of the database is in its file first (else none is left out).
                self._keep_aside(aside)
        if aside:
            entry = SetAside(sum(part.rows() for _, _, part, _ in aside), aside[0][3], str(self.set_aside_path))
            log.error("%s", entry.message())
            with self._lock:
                self._set_aside.append(entry)
        return [part for _, _, part, _ in aside]

    def _keep_aside(self, aside: list[tuple[int, int, Operation, str]]) -> None:
        """Put the refused parts in the set-aside file (added to it, or written whole the first time); OSError when
        no folder takes it."""
        new = [(number, index, part, reason) for number, index, part, reason in aside
               if (number, index) not in self._aside_parts]
        keys = self._keys or self.keys
        parts = [part for _, _, part, _ in new]
        reasons = [reason for _, _, _, reason in new]
        if new:
            text = self._aside_text
            if self.set_aside_path is not None and text is not None:
                append_to(self.set_aside_path, text.part(self.session_id, parts, keys, None, refusals=reasons))
            else:
                whole = write_whole(self.configured_path, self.session_id, parts, keys, run=f"{self.run_id}-aside",
                                    numbers=None, replacing=None, refusals=reasons)
                if whole is None:
                    raise OSError(f"the database refused rows ({reasons[0]}) and no folder could take them")
                self.set_aside_path, self._aside_text = whole
            self._aside_parts.update((number, index) for number, index, _, _ in new)

    def _holding(self) -> bool:
        """True while something is held."""
        with self._lock:
            return bool(self._held)

    def _connection(self) -> Store:
        if self._store is None:
            self._store = self._opener(self.path) if self._wal else _open_writer_store(self.path, wal=False)
            self._skip_written(self._store)
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)
            self._size = stat.st_size
            self._wal_identity = self._wal_file_identity()
            # A connection in WAL mode has just found or made its index at the name; none there means the one it
            # was given (another connection of this process still holds it) is not at the name any more.
            self._index_identity = self._wal_file_identity("-shm") or (_NO_INDEX if self._wal else None)
            self._keys = self._keys or self._store.keys
        return self._store

    def check_held_files(self, force: bool = False) -> str | None:
        """Keep on the disk what the recording holds besides the database: the session's lock file (taken again
        if it was deleted, :meth:`SessionLock.keep`) and the key file (written back from memory,
        :func:`monitor.keys.keep_key_file`). What was done about the key file, when it is news (a failure
        that stays the same is said once)."""
        now = time.monotonic()
        if not force and now < self._next_held_check:
            return None
        self._next_held_check = now + FILE_CHECK_S
        lock = self.session_lock
        if lock is not None and lock.held and not lock.keep():
            log.error("session %s: its lock file %s was deleted and could not be taken again", self.session_id,
                      lock.path)
        if self._keys is None:
            return None
        found = keep_key_file(self._keys)
        if found is None:
            self._key_trouble = None
            return None
        if found.text == self._key_trouble:
            return None  # the same failure again: said already
        self._key_trouble = None if found.kept else found.text
        with self._lock:
            self._key_incidents.append(found.text)
        log.error("%s", found.text)
        return found.text

    def _wal_file_identity(self, suffix: str = "-wal") -> tuple[int, int] | None:
        if not self._wal:
            return None
        try:
            stat = os.stat(self.path.with_name(self.path.name + suffix))
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def _index_lost(self) -> bool:
        """True once the "<db>-shm" index this connection shares with other processes was deleted or replaced.

        The index is how connections agree on which frames of the log are theirs. A process that opens the
        database after it was deleted makes a new one from the log as it finds it, takes the writer's lock in
        that new file and writes its frames over the ones this connection adds meanwhile: everything committed
        here after that process opened would be lost. Looked at before every commit, so not one goes into a
        log shared that way.
        """
        if self._index_identity is None:
            return False
        try:
            stat = os.stat(self.path.with_name(self.path.name + "-shm"))
        except (FileNotFoundError, NotADirectoryError):
            return True
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) != self._index_identity

    def check_space(self) -> int | None:
        """Look at the free space on the disk holding the database (every :data:`SPACE_CHECK_S`); the bytes free
        at the last look."""
        now = time.monotonic()
        if now >= self._next_space_check:
            self._next_space_check = now + SPACE_CHECK_S
            try:
                info = os.statvfs(self.path.parent)
            except OSError:
                pass  # a folder gone or a disk not answering: the file watch and the writes say so
            else:
                with self._lock:
                    self._free_bytes = info.f_bavail * info.f_frsize
        return self._free_bytes

    def check_file(self, force: bool = False) -> FileIncident | None:
        """Notice a deleted or moved database and write its complete data back (or to a recovery file).

        SQLite's backup API reads through the open connection, which still sees the whole
        database (main file and journal) however the name was taken away from it.
        """
        now = time.monotonic()
        if self._store is None or self._identity is None or (not force and now < self._next_file_check):
            return None
        self._next_file_check = now + FILE_CHECK_S
        self._follow_journal_mode()
        try:
            stat = os.stat(self.path)
            shrunk = stat.st_size < self._size
            self._size = stat.st_size
            if (stat.st_dev, stat.st_ino) != self._identity:
                what = "moved or replaced"
            elif shrunk:
                # Pages already checkpointed into the file are gone from the disk; the connection's
                # cache and log may still hold them.
                what = "truncated"
            elif self._index_lost():
                what = "left without its shared-memory index"
            elif not self._wal or self._wal_intact():
                # A file written back is in rollback mode: no log of its own to lose (a log still open in
                # another connection of this process belongs to the file it replaced).
                return None
            else:
                # Commits go on into a log nobody else can open: a restart would find none of them.
                what = "left without its write-ahead log"
        except (FileNotFoundError, NotADirectoryError):
            what = "deleted or moved away" if self.path.parent.is_dir() else "deleted with its folder"
        except OSError:
            return None
        if self._unresolved is not None and now < self._write_back_at:
            return None
        incident = self._write_back(what, own_name=what in OWN_FILE_FAULTS)
        if incident.written_to is None:
            # Tried again later; the same fault still not written back is no news (said once; new rows are held
            # meanwhile, under the storage alarm).
            self._write_back_at = now + WRITE_BACK_RETRY_S
            repeated, self._unresolved = self._unresolved == what, what
            if repeated:
                log.warning("%s (still)", incident.message(self.configured_path))
                return incident
        else:
            self._unresolved = None
        with self._lock:
            self._incidents.append(incident)
        log.error("%s", incident.message(self.configured_path))
        return incident

    def _follow_journal_mode(self) -> None:
        """Watch the log and its index from the moment this connection commits into a log.

        A file written back is in rollback mode, but the next start of this program on it (a listing, an export)
        puts it in WAL mode, and this connection follows at its next transaction. Its log deleted then would take
        with it everything committed since, as with a file opened in WAL mode.
        """
        if self._wal or self._store is None:
            return
        try:
            mode = str(self._store.db.execute("PRAGMA journal_mode").fetchone()[0])
        except sqlite3.Error:
            return
        if mode.lower() == "wal":
            self._wal = True
            self._wal_identity = self._wal_file_identity()
            self._index_identity = self._wal_file_identity("-shm") or _NO_INDEX

    def _wal_intact(self) -> bool:
        """False once this connection's "<db>-wal" file was deleted or replaced under it.

        Where the system lists a process's open files (Linux ``/proc/self/fd``), exactly that is asked: does this
        process hold the log it opened with the database (same device and inode) under a name that no longer
        exists. Another connection of this process may still hold the log of a file written back earlier; that
        one is not this connection's. Elsewhere, the identity of the file at the name is compared with the one
        seen when the connection opened.
        """
        wal = os.path.realpath(self.path) + "-wal"
        try:
            descriptors = os.listdir(_OPEN_FILES)
        except OSError:
            current = self._wal_file_identity()
            if self._wal_identity is None:
                self._wal_identity = current
                return True
            return current == self._wal_identity
        for name in descriptors:
            link = os.path.join(_OPEN_FILES, name)
            with contextlib.suppress(OSError):
                if os.readlink(link) == wal + " (deleted)":
                    stat = os.stat(link)
                    if self._wal_identity is None or (stat.st_dev, stat.st_ino) == self._wal_identity:
                        return False
        return True

    def _write_back(self, what: str, own_name: bool = False) -> FileIncident:
        """Copy the complete data out of the open connection to the configured name (or beside it, when another
        file has taken the name); where that cannot be done, to the user's data folder, else the temporary folder.
        Until a copy is in place the connection is the only holder of the whole database, and closing it would
        lose everything."""
        assert self._store is not None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        free = own_name or not self.path.exists()
        target = self.path if free else self.path.with_name(copy_name(self.path, stamp))
        elsewhere = [folder / copy_name(self.configured_path, stamp) for folder in fallback_folders()]
        errors: list[str] = []
        for place in (target, *elsewhere):
            if errors and place.parent == target.parent:
                continue  # the same folder again: no better
            folder: Path | None = None
            try:
                if not place.parent.exists():
                    # The folder went with the file: it is made again, owner-only, as at the first start.
                    ensure_private_dir(place.parent)
                # Written in a folder of its own (0700, a name nobody can guess) beside the place: the fallback is the
                # temporary folder, everyone's, where a link planted at a predictable name would receive the copy.
                folder = private_folder_beside(place)
                part = folder / place.name
                self._copy_to(part)
                self.close()
                # The journal files at the configured name belong to the vanished file, whether the name is free
                # or another database has taken it (a file renamed onto the name does not bring its own): a new
                # connection must not read them as its own, or the vanished file's pages would be laid over the
                # newcomer. They are moved aside, not deleted.
                for suffix in ("-wal", "-shm"):
                    stale = self.path.with_name(self.path.name + suffix)
                    if stale.exists():
                        os.replace(stale, stale.with_name(f"{stale.name}.orphaned-{stamp}"))
                os.replace(part, place)
                remove_private_folder(folder)
            except (sqlite3.Error, OSError) as exc:
                errors.append(str(exc) if not errors else f"{place.parent}: {exc}")
                if self._store is None:
                    # Closed after a whole, checked copy; only its move failed: the copy is where the data are.
                    place = part
                else:
                    if folder is not None:
                        remove_private_folder(folder)
                    if isinstance(exc, _DamagedCopy):
                        break  # what the connection reads is damaged: another place makes it no better
                    continue
            self.path = place
            self._identity = None
            self._index_identity = None
            self._wal = False
            return FileIncident(what, str(place))
        return FileIncident(what, None, "; ".join(errors))

    def _copy_to(self, part: Path) -> None:
        """A checked copy of the whole database, through the open connection, at ``part`` (owner-only)."""
        assert self._store is not None
        create_private_file(part)  # owner-only from the start, like the file it stands in for
        destination = sqlite3.connect(str(part))
        try:
            self._store.db.conn.backup(destination)
            checked = str(destination.execute("PRAGMA quick_check").fetchone()[0])
            if checked != "ok":
                raise _DamagedCopy(f"the copy read back damaged ({checked})")
            # Rollback journal until the next start of the program on the file puts it back in WAL mode (the
            # writer then follows, :meth:`_follow_journal_mode`): a SQLite without the moved-file check
            # (SQLITE_FCNTL_HAS_MOVED) lets connections still open on the vanished file delete "<db>-wal" and
            # "<db>-shm" by name when they close (3.40 leaves them, measured).
            destination.execute("PRAGMA journal_mode = DELETE")
        finally:
            destination.close()

    def _failed(self, exc: BaseException, reopen: bool = True) -> None:
        damage = _damage_in(exc, self.path)
        # A refusal raised as damage keeps SQLite's words, naming the disk where the file cannot be read.
        error = str(damage) if damage is not None and damage is not exc else naming_the_disk(str(exc), self.path)
        if damage is not None and error != self._error:
            # Once per finding, not at each retry: the file may look as it was left whole, and the close must not
            # note it so (every later open reads it whole and refuses it).
            open_marks.note_damaged(damage.path, damage.problem)
        with self._lock:
            self._retry_at = time.monotonic() + self.retry_interval_s
            if self._ok:
                log.error("storage write failed, holding %d rows in memory: %s", self._held_rows, error)
            self._ok = False
            self._error = error
            self._bound_memory()
        # A connection that saw a disk error may keep a stale view; the next attempt opens afresh.
        if reopen and isinstance(exc, sqlite3.OperationalError | StoreError | OSError):
            self.close()

    def _skip_written(self, store: Store) -> None:
        """Give up holding what the database says this run wrote already (:mod:`monitor.store.runs`): a commit
        reported failed that went in all the same, found when the next connection opens."""
        done = runs.written_through(store.db.conn, self.session_id, self.run_id)
        if done > self._attempted_through:
            # Never tried: not this writer's (a row written by something else); what is held is written.
            log.error("the database says run %s wrote %d operations, but it tried %d only: not believed", self.run_id,
                      done, self._attempted_through)
            done = self._attempted_through
        with self._lock:
            count = bisect.bisect_right(self._held_numbers, done)
            if count:
                self._pop_written(count)
                if not self._held:  # nothing else was held: the store takes writes again, as far as is known
                    self._ok = True
                    self._error = None
        if count:
            log.warning("the database holds %d operations whose commit was reported failed; they are not written "
                        "again", count)

    def _pop_written(self, count: int) -> None:
        """The oldest ``count`` held operations are in the database. Lock held."""
        for _ in range(count):
            op = self._held.popleft()
            self._held_numbers.popleft()
            self._count(op, -1)
            if isinstance(op, Batch):
                self._stored_numerics += sum(1 for r in op.readings if r.parameter is not Parameter.PLETH)

    def _written(self, chunk: list[Operation], aside: list[Operation]) -> None:
        recovered = False
        with self._lock:
            self._in_flight = 0
            self._writing_since = None
            self._pop_written(len(chunk))
            for part in aside:  # set aside, not stored
                if isinstance(part, Batch):
                    self._stored_numerics -= sum(1 for r in part.readings if r.parameter is not Parameter.PLETH)
            if not self._ok:
                recovered = True
            self._ok = True
            self._error = None
        if recovered and self._store is not None:
            # Give back what the journal took while the store failed (bounded WAL).
            try:
                self._store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning("checkpoint after recovery failed: %s", exc)

    def _spill_done(self) -> None:
        """Everything the recovery file held is in the database (the audit log says so): the file goes. Lock held."""
        path, self.spill_path = self.spill_path, None
        self._spill_text = None
        self._spilled_through = 0
        self._next_spill = 0.0
        if path is not None:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # harmless: write-held finds every row of it written and writes none again
                log.warning("the recovery file %s, written to the database since, could not be removed: %s", path, exc)

    def _count(self, op: Operation, sign: int) -> None:
        self._held_rows += sign * op.rows()
        if isinstance(op, Batch):
            pleth = sum(1 for r in op.readings if r.parameter is Parameter.PLETH)
            self._held_pleth += sign * pleth
            self._held_numerics += sign * (len(op.readings) - pleth)

    def _bound_memory(self) -> None:
        """Give up the oldest waveform first, then (past 8 h) the oldest numerics. Lock held."""
        pleth_limit = int(self.pleth_hold_s * PLETH_RATE_HZ)
        if self._held_pleth > pleth_limit:
            self._drop_oldest(lambda r: r.parameter is Parameter.PLETH, self._held_pleth - pleth_limit, pleth=True)
        if self._held_numerics > self.max_held_numerics:
            self._drop_oldest(lambda r: r.parameter is not Parameter.PLETH,
                              self._held_numerics - self.max_held_numerics, pleth=False)

    def _drop_oldest(self, which: Callable[[Reading], bool], excess: int, *, pleth: bool) -> None:
        for index, op in enumerate(self._held):
            if excess <= 0:
                return
            if index < self._in_flight or not isinstance(op, Batch):
                continue
            kept: list[Reading] = []
            dropped: list[Reading] = []
            for r in op.readings:
                if excess > 0 and which(r):
                    dropped.append(r)
                    excess -= 1
                else:
                    kept.append(r)
            if not dropped:
                continue
            self._count(op, -1)
            new = replace(op, readings=tuple(kept))
            self._held[index] = new
            self._count(new, +1)
            if pleth:
                self._dropped_pleth += len(dropped)
                self._dropped_pleth_s += len(dropped) / PLETH_RATE_HZ
            else:
                self._dropped_numerics += len(dropped)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.commit_interval_s)
            self._wake.clear()
            try:
                self.pump()
            except Exception:  # never end the writer: log and try again later
                log.exception("store writer error")
                with self._lock:
                    self._ok = False
                    self._retry_at = time.monotonic() + self.retry_interval_s


def _open_writer_store(path: Path, wal: bool = True) -> Store:
    if not path.exists():
        # Never create an empty database in place of one that vanished: the file watch handles that.
        raise StoreError(f"the database {path} is missing")
    store = Store(path, check=False, wal=wal)
    store.db.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_TIMEOUT_MS}")
    return store


def _parts(op: Operation) -> list[Operation]:
    """``op`` in the parts the database can refuse one by one: a batch's waveform, each numeric reading, each event,
    each alarm change and its session-row change; any other operation whole."""
    if not isinstance(op, Batch):
        return [op]
    pleth = tuple(r for r in op.readings if r.parameter is Parameter.PLETH)
    return [
        *([Batch(readings=pleth)] if pleth else []),
        *(Batch(readings=(r,)) for r in op.readings if r.parameter is not Parameter.PLETH),
        *(Batch(events=(e,)) for e in op.events),
        *(Batch(alarms=(a,)) for a in op.alarms),
        *([Batch(session_update=op.session_update)] if op.session_update else []),
    ]


def _reason(exc: BaseException) -> str:
    """Why the database refused a row, in one line."""
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _take_chunk(held: deque[Operation]) -> list[Operation]:
    chunk: list[Operation] = []
    rows = 0
    for op in held:
        if chunk and rows + op.rows() > CHUNK_ROWS:
            break
        chunk.append(op)
        rows += op.rows()
    return chunk


def naming_the_disk(error: str, path: Path) -> str:
    """SQLite's ``error`` about the database at ``path``, with why the file cannot be read where it cannot. SQLite
    words a disk that stopped answering as it meets it ("disk I/O error", or "database disk image is malformed" for
    a page it could not read): the file itself is asked, so that what is shown names the disk."""
    unreadable = _unreadable(path)
    return error if unreadable is None or unreadable in error else f"{error}; its file cannot be read: {unreadable}"


def _damage_in(exc: BaseException, path: Path) -> CorruptDatabase | None:
    """The damage in the file a failed write met, said as an opening says it (with the recovery command): a page
    SQLite cannot make sense of on a disk that reads. None for any other failure (SQLite's words are shown then,
    naming the disk where the file cannot be read: :func:`naming_the_disk`)."""
    if isinstance(exc, CorruptDatabase):
        return exc
    if "malformed" in str(exc) and _unreadable(path) is None:
        return CorruptDatabase(path, str(exc))
    return None


def _unreadable(path: Path) -> str | None:
    """Why the beginning of the file at ``path`` cannot be read (a failing disk: "Input/output error"); None when
    it can, or when there is no file to read.

    Read through a descriptor this process already holds on the file (SQLite's), never one opened and closed for
    it: closing any descriptor of a file drops every POSIX lock the process holds on it, and a database whose
    shared lock was dropped so had its ``-wal`` and ``-shm`` deleted by the next process that closed it (a
    backup holding the write lock for 8 s made the writer ask, and raised a false "database moved" alarm).
    Where this process holds no descriptor of the file it holds no lock on it, and the file is opened to ask.
    Where the system does not list open files, nothing is asked.
    """
    try:
        wanted = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    held = _held_descriptor(wanted.st_dev, wanted.st_ino)
    if held is False:
        return None
    try:
        if held is None:
            with open(path, "rb", buffering=0) as handle:
                handle.read(100)
        else:
            os.pread(held, 100, 0)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.EBADF:  # SQLite closed it meanwhile: nothing learnt
            return None
        return exc.strerror or str(exc)
    return None


def _held_descriptor(device: int, inode: int) -> int | Literal[False] | None:
    """A descriptor this process holds on the file (device, inode); None when it holds none; False when the
    system does not say (no ``/proc/self/fd``)."""
    try:
        names = os.listdir(_OPEN_FILES)
    except OSError:
        return False
    for name in names:
        with contextlib.suppress(OSError, ValueError):
            stat = os.fstat(int(name))
            if (stat.st_dev, stat.st_ino) == (device, inode) and stat.st_mode & 0o170000 == 0o100000:
                return int(name)
    return None
