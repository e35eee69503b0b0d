"""A consistent copy of the database while it is in use, for the clinic's back-ups.

Copying ``monitor.db`` alone while a recording writes misses what its write-ahead log holds (SQLite folds the log
into the file only now and then: up to about 75 s of a recording were missing from such a copy, and the copy
still verified). SQLite's online backup reads the file and its log as one snapshot; the copy is written
owner-only beside the target, checked, turned into a single file (no log of its own) and renamed over the target,
so an earlier back-up there is replaced only by a complete one. It is written inside a new folder only this user can
enter (:func:`monitor.keys.private_folder_beside`): the target's folder may be shared, and a link planted there at
the predictable name the copy once had received the whole database, owned by whoever planted it. That folder is
locked while the copy is written, so what a killed backup left is found and removed by the next
(:mod:`monitor.unfinished`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from monitor.keys import create_private_file, private_folder_beside, remove_private_folder
from monitor.store.chain import connect_read_only, count, names
from monitor.store.errors import StoreError
from monitor.unfinished import BACKUP_MARK, hold_folder, remove_left_over


def copy_database(source: Path, target: Path) -> int:
    """Copy the database at ``source`` to ``target`` (0600); how many links of its record the copy holds.

    :raises StoreError: no database at ``source``, ``target`` is it (or its log), or the copy failed.
    """
    if not source.is_file():
        raise StoreError(f"no database at {source}")
    own = {Path(f"{source}{suffix}").resolve() for suffix in ("", "-wal", "-shm", "-journal")}
    if target.resolve() in own:
        raise StoreError(f"{target} is the database itself; name a file elsewhere (another disk, the clinic's share)")
    remove_left_over(target.parent, BACKUP_MARK, "backup")
    folder: Path | None = None
    held: int | None = None
    try:
        folder = private_folder_beside(target, BACKUP_MARK)
        held = hold_folder(folder)  # locked while written: a killed backup's folder is found by the next
        part = folder / target.name
        create_private_file(part)  # owner-only before SQLite writes a byte of it
        reading = connect_read_only(source)
        try:
            copy = sqlite3.connect(str(part))
            try:
                reading.backup(copy)
                checked = str(copy.execute("PRAGMA quick_check").fetchone()[0])
                if checked != "ok":
                    raise StoreError(f"the copy of {source} read back damaged ({checked}); nothing was replaced")
                # One file: restored with a plain copy, with no log beside it to be forgotten.
                copy.execute("PRAGMA journal_mode = DELETE")
                links = count(copy) if "chain" in names(copy, "table") else 0
            finally:
                copy.close()
        finally:
            reading.close()
        with open(part, "rb") as written:
            os.fsync(written.fileno())
        os.replace(part, target)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot copy {source} to {target}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        if folder is not None:
            remove_private_folder(folder)
        if held is not None:
            os.close(held)
    return links
