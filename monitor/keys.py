"""The installation's secret keys, kept outside the database, and owner-only files.

One key file holds two random 256-bit keys: one seals the record (keyed hash chains, see
:mod:`monitor.integrity`), the other encrypts patient identifiers (see :mod:`monitor.identifiers`).
The file lives in the user's config folder (``keys/monitor.key``), or where ``INFUSION_MONITOR_KEY_FILE``
or the config file's ``key_file`` says, and is created readable by its owner only (0600 in a 0700
folder) whatever the umask. Losing it makes the identifiers unreadable and the record
unverifiable; the README says how to back it up and restore it.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from monitor.config import ENV_PREFIX, ConfigError, UserConfig, config_dir

KEY_FILE_VERSION: Final = 1
KEY_BYTES: Final = 32
OWNER_ONLY_FILE: Final = 0o600
OWNER_ONLY_DIR: Final = 0o700


class KeyFileError(Exception):
    """The key file cannot be read, written or trusted; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The installation's two keys and where they came from."""

    integrity: bytes
    identifiers: bytes
    path: Path

    @property
    def fingerprint(self) -> str:
        """A short public value that tells which key file a database was written with."""
        digest = hmac.new(self.integrity, b"infusion-monitor key fingerprint", hashlib.sha256).hexdigest()
        return digest[:16]


def ensure_private_dir(path: Path, *, tighten_existing: bool = True) -> None:
    """Create ``path`` and any missing parents, each 0700 whatever the umask (a parent left 0777 would let
    another user put a config file or a key file of their own there); ``path`` itself ends up 0700.

    ``tighten_existing=False`` for a folder the user chose to put a file in (a key file's): one that exists is
    left as it is, since it may be shared (``/tmp``, ``/srv``, ``/etc``) and taking it from everyone else would
    break the computer; the file itself is made owner-only."""
    missing: list[Path] = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=OWNER_ONLY_DIR)
        with contextlib.suppress(PermissionError):
            os.chmod(folder, OWNER_ONLY_DIR)
    if tighten_existing:
        with contextlib.suppress(PermissionError):
            os.chmod(path, OWNER_ONLY_DIR)


#: Never opens what is already at a name: another user's file, or a symbolic link planted there, is never written.
_NEW_ONLY: Final = os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def create_private_file(path: Path) -> None:
    """Create ``path`` as a new, empty file only its owner can read (0600, umask ignored).

    Anything already at ``path`` (a file, a symbolic link even to nowhere) is an error (FileExistsError) and is
    left exactly as it was: it is never followed, opened or changed.
    """
    fd = os.open(path, os.O_WRONLY | _NEW_ONLY, OWNER_ONLY_FILE)
    try:
        os.fchmod(fd, OWNER_ONLY_FILE)
    finally:
        os.close(fd)


def make_owner_only(path: Path) -> None:
    """Take from an existing file of this program (a database) what others may do with it, by name; it gains
    nothing (a read-only file stays read-only).

    The file is never opened here: closing any descriptor of a file drops every POSIX lock this process holds on
    it, so opening and closing a database that SQLite connections of this process have open would let another
    process take it for unused, checkpoint it and delete its write-ahead log under them (their later commits then
    go to a log nobody can find). Only for a file already known to be this program's: a mode is changed through
    a symbolic link.
    """
    os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & OWNER_ONLY_FILE)


def open_private(path: Path, mode: str, **kwargs: Any) -> Any:
    """``open()`` for writing a new file that only its owner can read; anything already at ``path`` is an error
    (FileExistsError) and is left as it was, never followed or emptied."""
    fd = os.open(path, os.O_WRONLY | _NEW_ONLY, OWNER_ONLY_FILE)
    try:
        os.fchmod(fd, OWNER_ONLY_FILE)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, mode, **kwargs)


def open_part(target: Path, mode: str, **kwargs: Any) -> tuple[Any, Path]:
    """A new owner-only file beside ``target``, open for writing, and its path: the copy is written whole there,
    then renamed onto ``target``.

    Its name cannot be guessed and it is made as the tempfile module makes one (O_CREAT|O_EXCL|O_NOFOLLOW): in a
    folder others may write (a shared backup folder, /tmp), a file or symbolic link planted at a predictable name
    once received the whole copy, owned by whoever planted it.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        os.fchmod(fd, OWNER_ONLY_FILE)
        return os.fdopen(fd, mode, **kwargs), Path(name)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def private_folder_beside(target: Path, suffix: str = ".part") -> Path:
    """A new folder beside ``target`` that only this user can enter (0700, a name nobody can guess, ending in
    ``suffix``), for a file SQLite writes by name (with its journal) before it is renamed onto ``target``;
    :func:`remove_private_folder` removes it. Nobody else can put a file or a link into it, whatever the folder
    around it allows."""
    return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix))  # made 0700


def remove_private_folder(folder: Path) -> None:
    """Remove a folder made by :func:`private_folder_beside` with what is left in it (never through a link)."""
    with contextlib.suppress(OSError):
        shutil.rmtree(folder)


def key_file_path(user: UserConfig | None = None) -> Path:
    """Where the key file is: INFUSION_MONITOR_KEY_FILE, config ``key_file``, else the config folder."""
    env = os.environ.get(ENV_PREFIX + "KEY_FILE")
    if env:
        return Path(env).expanduser()
    # A config file that cannot be read is an error here too: falling back to the default key file would
    # make (or use) a key the database was not sealed with.
    example = 'key_file = "/srv/monitor/keys/monitor.key"'
    try:
        config = UserConfig.load() if user is None else user
        value = config.text("key_file", "a file path", example)
    except ConfigError as exc:
        raise KeyFileError(str(exc)) from None
    if not value:
        return config_dir() / "keys" / "monitor.key"
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~someone" for a user this computer does not know
        raise KeyFileError(f"{config.describe('key_file')}: cannot find the home folder in '{value}'") from None
    if not path.is_absolute():
        # As for the database: a relative path would name another key file in every folder the program starts in,
        # and a new one would be made wherever none is found.
        raise KeyFileError(f"{config.describe('key_file')}: '{value}' is not a full path; give one, e.g. {example}")
    return path


def _decode(raw: dict[str, Any], name: str, path: Path) -> bytes:
    try:
        value = base64.b64decode(str(raw[name]), validate=True)
    except (KeyError, ValueError):
        raise KeyFileError(f"{path}: the key file has no valid '{name}' key (restore it from the back-up)") from None
    if len(value) != KEY_BYTES:
        raise KeyFileError(f"{path}: the '{name}' key has {len(value)} bytes, not {KEY_BYTES}")
    return value


def read_keys(path: Path) -> Keys:
    """Read an existing key file; refuses one that others could read."""
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(
                f"{path}: the key file can be read by other users (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run `chmod 600 {path}` and check who has seen it"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{path}: the key file is damaged (restore it from the back-up)") from None
    if not isinstance(raw, dict) or raw.get("version") != KEY_FILE_VERSION:
        raise KeyFileError(f"{path}: not a key file of this program (version {KEY_FILE_VERSION})")
    return Keys(_decode(raw, "integrity", path), _decode(raw, "identifiers", path), path)


def _key_file_text(integrity: bytes, identifiers: bytes) -> str:
    return json.dumps(
        {
            "version": KEY_FILE_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "integrity": base64.b64encode(integrity).decode(),
            "identifiers": base64.b64encode(identifiers).decode(),
            "note": "Back this file up apart from the database; without it identifiers cannot be read.",
        },
        indent=1,
    )


def create_keys(path: Path) -> Keys:
    """Write a new key file with fresh random keys (never overwrites one)."""
    ensure_private_dir(path.parent, tighten_existing=False)
    body = _key_file_text(secrets.token_bytes(KEY_BYTES), secrets.token_bytes(KEY_BYTES))
    if path.exists():
        return read_keys(path)
    try:
        _install(path, body)
    except FileExistsError:
        return read_keys(path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the key file ({exc.strerror or exc})") from None
    return read_keys(path)


def _install(path: Path, body: str) -> None:
    """Put a key file at ``path``, never over one (FileExistsError), on the disk when this returns.

    Written whole under a name of its own, then linked into place: a full disk or a process killed
    half-way never leaves a part of a key file at the key file's name.
    """
    part = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        _write_new(part, body)
        os.link(part, path)  # never replaces a key file made meanwhile
    except FileExistsError:
        raise
    except OSError as exc:
        if not part.exists() or exc.errno not in _NO_HARD_LINKS:
            raise
        # A folder without hard links (a FAT stick, some network shares): made at its name, as before.
        _write_new(path, body)
    finally:
        with contextlib.suppress(OSError):
            part.unlink()
    _sync_folder(path.parent)


@dataclass(frozen=True, slots=True)
class KeyFileNews:
    """What :func:`keep_key_file` found and did; ``kept``: the keys in use are on the disk again."""

    text: str
    kept: bool


def keep_key_file(keys: Keys) -> KeyFileNews | None:
    """Put the keys in use back on the disk when their file was deleted or replaced while this process holds them.

    This process may be the last holder of the keys its database was sealed with: without them the identifiers
    cannot be read and the record not verified, and the next start refuses the database. A key file that is
    missing (deleted, or its folder) is written back at its place; one that holds other keys or cannot be
    decoded is left as it is (a key file is never overwritten) and the keys in use are written beside it,
    ``<name>.<fingerprint>``. Returns what was found and done, for the alarm; None when nothing needed doing
    (the file holds these keys, or they were written beside it already).
    A key file that others can read is left to :func:`read_keys`, which refuses it at the next start.
    """
    path = keys.path
    ours = (keys.integrity, keys.identifiers)
    held = _keys_in(path)
    if held == ours:
        return None
    if held is None:
        where, found = path, "was deleted"
    else:
        where, found = saved_keys_path(path, keys.fingerprint), "holds other keys or is damaged"
        if _keys_in(where) == ours:
            return None  # written beside already
    try:
        ensure_private_dir(where.parent, tighten_existing=False)
        try:
            _install(where, _key_file_text(keys.integrity, keys.identifiers))
        except FileExistsError:
            # Made meanwhile: by another recording with the same keys, that is as good.
            if _keys_in(where) != ours:
                raise
    except OSError as exc:
        return KeyFileNews(f"The key file {path} {found}, and the keys in use could not be written to {where}: "
                           f"{exc}", kept=False)
    if held is None:
        return KeyFileNews(f"The key file {path} was deleted; the keys in use were written back to it (back it up "
                           "again)", kept=True)
    return KeyFileNews(f"The key file {path} {found}; the keys this database needs (fingerprint "
                       f"{keys.fingerprint}) were written to {where}", kept=True)


def saved_keys_path(key_file: Path, fingerprint: str) -> Path:
    """Where :func:`keep_key_file` saves the keys with ``fingerprint`` beside a key file that holds others."""
    return key_file.with_name(f"{key_file.name}.{fingerprint}")


def _keys_in(path: Path) -> tuple[bytes, bytes] | None:
    """The two keys a key file holds; None when there is no file; two empty keys when it cannot be read as one."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return (_decode(raw, "integrity", path), _decode(raw, "identifiers", path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError, UnicodeDecodeError, TypeError, KeyFileError):
        return (b"", b"")


#: What ``link()`` says on a filesystem that has no hard links.
_NO_HARD_LINKS: Final = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


def _write_new(path: Path, body: str) -> None:
    """Create ``path`` (never over an existing file), owner-only, with ``body``, on the disk when this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), OWNER_ONLY_FILE)
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make a new name in ``folder`` survive a power loss."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_cache: dict[Path, Keys] = {}
_lock = threading.Lock()


def load_keys(*, create: bool = True, path: Path | None = None) -> Keys | None:
    """The installation's keys (created on first use when ``create``); None when absent and not created."""
    where = path or key_file_path()
    with _lock:
        cached = _cache.get(where)
        if cached is not None and where.exists():
            return cached
        if where.exists():
            keys = read_keys(where)
        elif create:
            keys = create_keys(where)
        else:
            return None
        _cache[where] = keys
        return keys


def forget_cached_keys() -> None:
    """Drop keys held in memory (after a key file was restored or replaced)."""
    with _lock:
        _cache.clear()
