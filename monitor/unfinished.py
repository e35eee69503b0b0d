"""What a stopped export or backup leaves beside its target, and how the next one finds and removes it.

An export or a backup is written under a temporary name beside its target and renamed when complete. A process
killed half-way (SIGKILL, a power cut) never renames it, and the temporary stays: incomplete, and holding patient
data, perhaps in a shared folder. The temporaries are therefore named with a mark of their own (:data:`EXPORT_MARK`,
:data:`BACKUP_MARK`), owner-only from creation, and locked (``flock``) for as long as they are written; the kernel
drops the lock when the process dies however it dies. The next export or backup into the same folder removes those
of its own kind that belong to this account and that no running process holds, and says which; anything else is
left alone (another program's file, another account's, a link, one still being written).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

#: The end of an export's temporary file's name: ``.<target>.<random>.export.part``.
EXPORT_MARK: Final = ".export.part"
#: The end of a backup's temporary folder's name: ``.<target>.<random>.backup.part`` (the copy is inside).
BACKUP_MARK: Final = ".backup.part"


def hold(fd: int) -> None:
    """Lock the open temporary ``fd`` as being written (released when it is closed or the process ends)."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def hold_folder(folder: Path) -> int:
    """Lock a temporary folder as being written; returns the descriptor to close when done with it."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        hold(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_left_over(folder: Path, mark: str, what: str) -> list[Path]:
    """Remove the temporaries named with ``mark`` that a stopped run of this account left in ``folder``, each said
    in a warning naming it (``what``: "export" or "backup"); returns their paths."""
    try:
        names = [name for name in os.listdir(folder) if name.startswith(".") and name.endswith(mark)]
    except OSError:
        return []  # a folder that cannot be listed is the export's own error to report, not this one's
    removed = [folder / name for name in sorted(names) if _remove_if_abandoned(folder / name)]
    for path in removed:
        log.warning("removed %s: an unfinished %s left by a run that was stopped (incomplete, and it may hold "
                    "patient data)", path, what)
    return removed


def _remove_if_abandoned(path: Path) -> bool:
    """Remove ``path`` when it is this account's own file or folder (never a link) and no process holds it."""
    try:
        seen = os.lstat(path)
        if seen.st_uid != os.geteuid() or not (stat.S_ISREG(seen.st_mode) or stat.S_ISDIR(seen.st_mode)):
            return False
        flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if stat.S_ISDIR(seen.st_mode) else 0)
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (seen.st_dev, seen.st_ino):
            return False  # replaced between the look and the open
        try:
            hold(fd)
        except BlockingIOError:
            return False  # still being written by a running export or backup
        if stat.S_ISDIR(seen.st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
