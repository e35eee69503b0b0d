"""Opening a database whose shared-memory index was deleted while another process has it open.

In WAL mode every connection finds the log's frames through ``<db>-shm``. When that file is deleted
under a running recording (a clean-up of "temporary" files), the next process to open the database makes
a new index of its own, takes the writer's lock in it and writes its frames over the ones the recording
adds: both lose. The recording notices before its next commit and writes its data back to a fresh file;
a process of this program that opens the database meanwhile waits for that, and otherwise refuses with a
clear error instead of writing into a log shared that way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from monitor.store.errors import StoreError

#: How long an opener waits for the program holding the database to write it back.
LOST_INDEX_WAIT_S = 10.0
#: Where Linux lists the file locks held on this machine.
_LOCKS = "/proc/locks"


def wait_while_index_lost(path: str | Path, wait_s: float | None = None) -> None:
    """Return once ``path`` can be opened without a second index: its log has its index, or no other process
    holds the database. Raises :class:`StoreError` naming the processes when that does not come about in
    ``wait_s`` (default :data:`LOST_INDEX_WAIT_S`)."""
    path = Path(path)
    deadline = time.monotonic() + (LOST_INDEX_WAIT_S if wait_s is None else wait_s)
    while True:
        holders = _other_holders(path) if _index_lost(path) else []
        if not holders:
            return
        if time.monotonic() >= deadline:
            raise StoreError(
                f"{path} is open in another process ({', '.join(map(str, holders))}) and its shared-memory "
                f"index {path}-shm was deleted; opening it now could write over what that process records. "
                "Try again once it has written its data back (it says so) or has closed"
            )
        time.sleep(0.1)


def _index_lost(path: Path) -> bool:
    return os.path.exists(f"{path}-wal") and not os.path.exists(f"{path}-shm")


def _other_holders(path: Path) -> list[int]:
    """Processes other than this one that hold a lock on the database file (every open SQLite connection
    does); empty where the system does not list locks."""
    try:
        stat = os.stat(path)
        with open(_LOCKS, encoding="ascii", errors="replace") as listing:
            lines = listing.read().splitlines()
    except OSError:
        return []
    wanted = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
    holders: set[int] = set()
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  READ 1234 fe:00:2154919 1073741826 1073742335"; a waiter's line has "->" after
        # its number.
        if "->" in fields[:2] or len(fields) < 6:
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            found = (int(major, 16), int(minor, 16), int(inode))
        except ValueError:
            continue
        if found == wanted and pid not in (os.getpid(), -1):
            holders.add(pid)
    return sorted(holders)
