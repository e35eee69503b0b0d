"""Who records a session: an operating-system file lock that dies with its process.

Each recording process holds an exclusive ``flock`` on ``<db>.locks/<session id>`` for as long as
it records the session. The kernel releases it when the process ends, however it ends (kill -9,
power cut of the process, crash), so "the owner is alive" never depends on a heartbeat that a
stalled disk or a busy machine can delay. Resume and close take the same lock first and refuse
while someone else holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from monitor.keys import ensure_private_dir


class SessionOwned(Exception):
    """Another live process records this session."""


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
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
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
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

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
    path = lock_path(db_path, session_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing our own descriptor releases only our shared lock
    return False


def _read_owner(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    return ""
