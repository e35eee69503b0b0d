"""The whole-file check of a recording's database, run beside the recording instead of before it.

An opening reads the file whole only where it may have been damaged since this program left it whole
(:mod:`monitor.store.open_marks`). A page the disk itself damaged, with nothing else changed, is found here: a
recording starts at once and this thread reads the file (``PRAGMA quick_check``) on a connection of its own,
while the readings are shown and stored. What it finds damaged is handed to the writer, which writes nothing more
into the file from then on (the rows are held and kept in the recovery file, under the storage alarm), and noted
beside the file (:func:`open_marks.note_damaged`) for every later open.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from monitor.store import open_marks
from monitor.store.chain import connect_read_only
from monitor.store.errors import CorruptDatabase, says_damaged

log = logging.getLogger(__name__)

#: How many of SQLite's findings are kept (the first few say what is damaged).
FINDINGS_KEPT = 20


class WholeFileCheck:
    """``PRAGMA quick_check`` of one database on a thread of its own; :attr:`damage` once it found the file
    damaged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: What was found damaged (None: nothing, or not yet).
        self.damage: CorruptDatabase | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="store-file-check", daemon=True)

    def start(self) -> None:
        """Begin reading the file."""
        self._thread.start()

    @property
    def finished(self) -> bool:
        """True once the check has answered (or was stopped)."""
        return not self._thread.is_alive() and self._thread.ident is not None

    def stop(self) -> None:
        """Stop reading (the recording ended first) and wait for the thread."""
        with self._lock:
            self._stopped = True
            if self._conn is not None:
                self._conn.interrupt()
        if self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            with self._lock:
                if self._stopped:
                    return
                self._conn = connect_read_only(self.path)
            rows = [str(row[0]) for row in self._conn.execute(f"PRAGMA quick_check({FINDINGS_KEPT})")]
            if rows != ["ok"]:
                self.damage = CorruptDatabase(self.path, "; ".join(rows[:3]))
        except sqlite3.DatabaseError as exc:
            # SQLite stops at a page it cannot make sense of; "interrupted": the recording ended first. A disk that
            # does not answer is said by the writes themselves.
            if says_damaged(exc):
                self.damage = CorruptDatabase(self.path, str(exc))
            elif "interrupt" not in str(exc):
                log.warning("%s: the whole-file check could not run: %s", self.path, exc)
        except OSError as exc:
            log.warning("%s: the whole-file check could not run: %s", self.path, exc)
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        if self.damage is not None:
            log.error("%s", self.damage)
            # Noted at once: the recording's close must not note the file as left whole, and every later open, in
            # any process, reads it whole and refuses it (the file looks as it was left: nothing else would tell).
            open_marks.note_damaged(self.path, self.damage.problem)
