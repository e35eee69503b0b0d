"""Where a database goes when it cannot stay where it was, and finding it there again.

A recording whose database file is deleted writes the complete data back to its name; where no copy can be
made there (a full disk, a folder that cannot be made again) it writes ``<name>.recovered-<time>.db`` to the
user's data folder, else the temporary folder (:class:`monitor.store.writer.StoreWriter`); rows a recording could
not write go the same way (:func:`monitor.store.held_file.write_recovery_file`). The next start
at the old name must not begin a new, empty database there while that copy holds the record: it names the
copy instead (:func:`moved_copy`), found through the chain's first link this computer noted for the name
(:mod:`monitor.store.witness`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from pathlib import Path

from monitor.config import data_dir
from monitor.keys import Keys
from monitor.store import witness


def fallback_folders() -> tuple[Path, ...]:
    """Where the data go when they cannot be written back where they were, in order: the user's data folder
    (kept), then the temporary folder (as for a recovery file; some systems empty it at a restart)."""
    return (data_dir(), Path(tempfile.gettempdir()))


def places_for(database: Path) -> tuple[Path, ...]:
    """Where what belongs with ``database`` is written (a copy of it, rows it could not take) and looked for
    afterwards, in order: its own folder, then :func:`fallback_folders`, each once."""
    return tuple(dict.fromkeys((database.parent, *fallback_folders())))


def copy_name(database: Path, stamp: str) -> str:
    """The file name of a copy of ``database`` made at ``stamp``."""
    return f"{database.name}.recovered-{stamp}.db"


def moved_copy(keys: Keys, database: Path) -> Path | None:
    """A copy of the database this computer last saw at ``database`` that holds at least as much of its record
    (the same first link, as far or further); None when there is none, or this computer never saw one there."""
    seen = witness.recall(keys, database)
    if seen is None:
        return None
    candidates: set[Path] = set()
    for folder in places_for(database):
        with contextlib.suppress(OSError):
            candidates.update(p for p in folder.glob(copy_name(database, "*")) if p.is_file())
    for candidate in sorted(candidates, key=lambda p: p.name, reverse=True):  # the newest first
        try:
            conn = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            found = witness.reached(conn)
        except sqlite3.Error:
            found = None
        finally:
            conn.close()
        if found is not None and found.first_mac == seen.first_mac and found.seq >= seen.seq:
            return candidate
    return None
