"""Who records a session: an operating-system file lock that dies with its process.

Each recording process holds an exclusive ``flock`` on ``<db>.locks/<session id>`` for as long as
it records the session. The kernel releases it when the process ends, however it ends (kill -9,
power cut of the process, crash), so "the owner is alive" never depends on a heartbeat that a
stalled disk or a busy machine can delay. Resume and close take the same lock first and refuse
while someone else holds it.

The lock files are readable by anyone who may enter the folder (only its owner, and root): asking whether a
recording is alive needs only a read-only open, so the account the database belongs to can tell that a session a
run as root left behind is unfinished, and resume it (the lock is taken through a read-only descriptor then). The
folder stays owner-only, so nobody else can plant or remove a lock. A session that ends (closed, complete) removes
its file: see :meth:`SessionLock.end`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import threading
from pathlib import Path
from typing import Final

from monitor.keys import ensure_private_dir

#: Readable by the accounts that may enter the owner-only folder (see the module's docstring).
LOCK_FILE_MODE: Final = 0o644


class SessionOwned(Exception):
    """Another live process records this session, or its lock cannot be taken by this account."""


def lock_dir(db_path: str | Path) -> Path:
    """The folder beside the database that holds one lock file per session."""
    path = Path(db_path)
    return path.with_name(path.name + ".locks")


def lock_path(db_path: str | Path, session_id: str) -> Path:
    """The lock file of one session."""
    return lock_dir(db_path) / f"{session_id}.lock"


class SessionLock:
    """An exclusive lock on one session, held until :meth:`release` or the end of the process."""

    def __init__(self, db_path: str | Path, session_id: str) -> None:
        self.path = lock_path(db_path, session_id)
        self.session_id = session_id
        self._fd: int | None = None
        #: The recorder takes and gives up the lock; its writer thread keeps it (:meth:`keep`).
        self._guard = threading.RLock()

    def acquire(self) -> None:
        """Take the lock now or raise :class:`SessionOwned` naming the owner's pid."""
        with self._guard:
            self._acquire()

    def _acquire(self) -> None:
        ensure_private_dir(self.path.parent)  # nobody else may remove or plant a session's lock
        fd, writable = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_owner(fd)
            os.close(fd)
            raise SessionOwned(
                f"session {self.session_id[:8]} is being recorded by a running process"
                + (f" (pid {owner})" if owner else "")
                + "; stop that recording first"
            ) from None
        if writable:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            with contextlib.suppress(OSError):  # one an older version made owner-only
                os.fchmod(fd, LOCK_FILE_MODE)
        self._fd = fd

    def _open(self) -> tuple[int, bool]:
        """The lock file's descriptor and whether it could be opened for writing (its pid written).

        Another account's file (a recording run as root) is locked through a read-only descriptor: flock does not
        care. One this account may not even read is refused, naming whose it is (:func:`_not_ours`).
        """
        flags = os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | flags, LOCK_FILE_MODE), True
        except PermissionError:
            pass
        try:
            return os.open(self.path, os.O_RDONLY | flags), False
        except PermissionError:
            raise SessionOwned(_not_ours(self.path, self.session_id)) from None

    def end(self) -> None:
        """Remove the lock file of a session that has ended (its end committed), then give the lock up.

        Removed while still held: a process that opened the file before, and takes the lock once it is given up,
        finds the session ended and refuses to resume it, as does one that makes the file anew. Only a session
        that did not end keeps its file: unlocked, it says at once that nobody records it.
        """
        with self._guard:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                        os.unlink(self.path)
            self.release()

    def keep(self) -> bool:
        """Hold the lock at its path again when its file was deleted under it (alone, or with the database's folder).

        Until then anyone could take the session by making the file anew; the store's writer looks every second.
        False when that cannot be done (another process took the new file first, or it cannot be made); the
        lock on the old file is kept meanwhile.
        """
        with self._guard:
            if self._fd is None:
                return False
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(self._fd), os.stat(self.path)):
                    return True
            old, self._fd = self._fd, None
            try:
                self._acquire()
            except (SessionOwned, OSError):
                self._fd = old
                return False
            os.close(old)
            return True

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays; an unlocked file means "no owner"."""
        with self._guard:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None


def owner_alive(db_path: str | Path, session_id: str) -> bool | None:
    """True when a live process holds the session's lock, False when nobody does.

    None when the session has no lock file (recorded by an older version, or on another host):
    the caller then falls back to the heartbeat.
    """
    return lock_held(lock_path(db_path, session_id))


def lock_held(path: Path) -> bool | None:
    """True when a live process holds an exclusive ``flock`` on the file at ``path``, False when nobody does; None
    when the file cannot be opened (not there, or not readable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing our own descriptor releases only our shared lock
    return False


def _not_ours(path: Path, session_id: str) -> str:
    """Why this account cannot take a session's lock: whose the file (or its folder) is, and what to do."""
    where = path
    try:
        found = os.stat(path)
    except OSError:
        where = path.parent
        try:
            found = os.stat(where)
        except OSError:
            return (f"session {session_id[:8]}: its lock file {path} cannot be reached by this account; run as the "
                    "account that records on this database")
    try:
        owner = pwd.getpwuid(found.st_uid).pw_name
    except KeyError:
        owner = f"uid {found.st_uid}"
    return (f"session {session_id[:8]} cannot be taken over by this account: {where} belongs to {owner} (a "
            f"recording run as {owner} made it) and this account may not read it. If no recording of it runs any "
            f"more, remove {path} (as {owner}, or as the owner of its folder) and try again, or resume it as "
            f"{owner}")


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    return ""
