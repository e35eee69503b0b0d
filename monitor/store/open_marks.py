"""Whether a database may have been damaged since this program last left it whole, known without reading it.

``PRAGMA quick_check`` reads every page of the file: about a second per GiB, several seconds on a chair's year,
and it was run by every process at every opening (a recording's start, a window, each export), so every start
grew with the record. Each writing store now holds a mark in ``<db>.locks/`` while it is open: a file of its own,
locked (``flock``) for as long as the process holds it, removed when the store closes. The store that closes last
notes there how it left the file (size and modification time of the database and of its write-ahead log).

An opening reads the file whole only when it may be damaged since (:func:`needs_whole_check`):

- a mark whose lock nobody holds: a process ended without closing its store (killed, a crash, a power cut);
- no note: a database this version never closed (an older version's, one copied in, a folder emptied);
- the file or its log not as the note says, while no store of this program has it open: something else wrote it;
- a check or a write of this program found it damaged (:func:`note_damaged`), even while a store still has it open.

A page damaged in place with nothing else changed (the disk itself) is found by the check a recording runs in
the background (:mod:`monitor.store.writer`), and by ``verify`` and ``backup``, which read everything. What such a
check finds is noted beside the file and outlives the closes that follow: the file had not changed, so a note of
how it was left would otherwise let every later open take it as whole and write into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from pathlib import Path

from monitor.keys import ensure_private_dir, open_part
from monitor.ownership import lock_dir, lock_held

#: A store's mark: ``store-<random>.open``.
MARK_PREFIX = "store-"
MARK_SUFFIX = ".open"
#: How the last store to close left the file.
NOTE_NAME = "closed-whole.json"
#: What a check or a write found damaged in the file; kept until an open reads the file whole and finds it whole.
DAMAGE_NAME = "found-damaged.json"


def _file_state(path: Path) -> list[int] | None:
    """Inode, size and modification time (ns) of ``path``; None when there is no such file."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return [found.st_ino, found.st_size, found.st_mtime_ns]


def file_state(database: Path) -> dict[str, list[int] | None]:
    """How the database and its write-ahead log are now, as the note keeps it. An empty log holds nothing (a reader
    leaves one behind): it counts as none."""
    wal = _file_state(Path(f"{database}-wal"))
    return {"database": _file_state(database), "wal": None if wal is None or wal[1] == 0 else wal}


class OpenMark:
    """This store's mark beside the database: held (locked) while the store is open."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.folder = lock_dir(database)
        self._fd: int | None = None
        self.path: Path | None = None

    def take(self) -> None:
        """Make and lock the mark. It is locked under a name of its own first and only then given its mark name,
        so another process never finds it unlocked and takes it for one left by a crash."""
        ensure_private_dir(self.folder)
        handle, scratch = open_part(self.folder / f"{MARK_PREFIX}x{MARK_SUFFIX}", "w")
        fd = os.dup(handle.fileno())
        handle.close()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            target = self.folder / f"{MARK_PREFIX}{secrets.token_hex(8)}{MARK_SUFFIX}"
            os.replace(scratch, target)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                scratch.unlink()
            raise
        self._fd, self.path = fd, target

    def release(self) -> None:
        """Remove the mark (while still holding it) and let it go; idempotent."""
        if self._fd is None:
            return
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def others(self) -> tuple[list[Path], list[Path]]:
        """The other marks: those another open store holds, and those left by a process that ended without
        closing (nobody holds their lock, or it cannot be asked)."""
        held: list[Path] = []
        left: list[Path] = []
        try:
            names = sorted(os.listdir(self.folder))
        except OSError:
            return held, left
        for name in names:
            path = self.folder / name
            if not (name.startswith(MARK_PREFIX) and name.endswith(MARK_SUFFIX)) or path == self.path:
                continue
            (held if _locked_elsewhere(path) else left).append(path)
        return held, left

    def note_closed(self) -> None:
        """Note how the file is left, when no other store of this program holds it open (the last to close)."""
        held, left = self.others()
        if held or left:
            return  # the store still open notes it when it closes; a mark left by a crash keeps it unclean
        if (self.folder / DAMAGE_NAME).exists():
            return  # found damaged: not left whole, whatever its size and time say
        with contextlib.suppress(OSError):  # the file's folder gone meanwhile: nothing to note
            _write_note(self.folder / NOTE_NAME, file_state(self.database))

    def forget_left(self, left: list[Path]) -> None:
        """Remove marks left by ended processes once the file was checked whole after them."""
        for path in left:
            with contextlib.suppress(OSError):
                path.unlink()


def note_damaged(database: Path, finding: str) -> None:
    """Note beside ``database`` that a check or a write found it damaged (``finding``: what SQLite said), so that
    every later open, in any process, reads it whole and refuses it. The note of how it was left goes: a version
    that does not know this note then reads the file whole too. Nothing is said when the folder takes no note (a
    read-only medium): the file is refused all the same by whoever reads it whole."""
    folder = lock_dir(database)
    with contextlib.suppress(OSError):
        _write_note(folder / DAMAGE_NAME, {"finding": finding, **file_state(database)})
    with contextlib.suppress(OSError):
        (folder / NOTE_NAME).unlink()


def _write_note(target: Path, content: object) -> None:
    """Put ``content`` (JSON) at ``target`` whole or not at all (:class:`OSError` when the folder takes no note)."""
    ensure_private_dir(target.parent)
    handle, scratch = open_part(target, "w", encoding="utf-8")
    try:
        with handle:
            json.dump(content, handle)
        os.replace(scratch, target)
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


def forget_damage(database: Path) -> None:
    """Drop the note that ``database`` was found damaged: an open has just read it whole and found it whole (a good
    copy put back in its place)."""
    with contextlib.suppress(OSError):
        (lock_dir(database) / DAMAGE_NAME).unlink()


def _locked_elsewhere(path: Path) -> bool:
    """Whether another open store holds the mark at ``path`` (False also when it cannot be asked)."""
    held = lock_held(path)
    # Gone meanwhile: a store closing removed it, holding it until then.
    return held if held is not None else not path.exists()


def why_check_whole(mark: OpenMark) -> str | None:
    """Why the database should be read whole before it is used (None: it is as a store of this program left it,
    or one has it open now). ``mark`` is this store's own, taken already."""
    held, left = mark.others()
    if left:
        return f"{len(left)} store(s) ended without closing it"
    if (mark.folder / DAMAGE_NAME).exists():
        # Before the stores holding it: a recording that found it damaged goes on, holding its rows, and the check
        # it ran must not vouch for the file to the next open.
        return "found damaged by an earlier check or write"
    if held:
        return None  # open in another process of this program, which checked it, or whose recording checks it
    try:
        with open(mark.folder / NOTE_NAME, encoding="utf-8") as handle:
            noted = json.load(handle)
    except (OSError, ValueError):
        return "not closed by this version before"
    if noted != file_state(mark.database):
        return "changed since this program closed it"
    return None
