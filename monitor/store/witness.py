"""How far each database's hash chain is known to have reached, kept beside the key file.

The chain shows a row changed, removed or added; it cannot show the whole file put back to an older copy of
itself (a backup restored over it, an earlier copy written back to undo what was recorded since, a recovered
copy that lost rows): that copy holds a correct chain, only a shorter one. So a writing store notes outside the
database, under the integrity key, the database's first link, the furthest link it has seen and when
(:func:`note`), and opening the database again, or ``verify``, compares (:func:`check`).

Databases are told apart by where they are (a file moved elsewhere is simply not compared) and by their first
link (another database that took the name is not an older copy). The note lives with the key file, which the
threat model keeps from those who can write the database; it is written after the commit it describes, so a
failed commit (a full disk) never leaves it ahead of the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from monitor.keys import Keys, ensure_private_dir, open_private
from monitor.store import chain

#: The folder beside the key file that holds one note per database file.
FOLDER = "chain-witness"


@dataclass(frozen=True, slots=True)
class Reached:
    """A chain's first link and its furthest one, as keyed hashes, and when that was seen."""

    first_mac: str
    seq: int
    mac: str
    at: float


def reached(conn: sqlite3.Connection) -> Reached | None:
    """Where the database's chain is now (None: nothing sealed yet)."""
    head = chain.head(conn)
    first = chain.mac_at(conn, 1)
    if head is None or first is None:
        return None
    return Reached(first, head.seq, head.mac, time.time())


def note_path(keys: Keys, database: Path) -> Path:
    """Where the note for the database file ``database`` is kept."""
    name = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:32]
    return keys.path.parent / FOLDER / f"{name}.json"


def _mac(keys: Keys, database: Path, seen: Reached) -> str:
    text = f"{database.resolve()}|{seen.first_mac}|{seen.seq}|{seen.mac}|{seen.at!r}"
    return hmac.new(keys.integrity, b"chain witness\0" + text.encode(), hashlib.sha256).hexdigest()


def recall(keys: Keys, database: Path) -> Reached | None:
    """The furthest point noted for ``database``; None when none was, or the note does not verify."""
    try:
        with open(note_path(keys, database), encoding="utf-8") as handle:
            raw = json.load(handle)
        seen = Reached(str(raw["first_mac"]), int(raw["seq"]), str(raw["mac"]), float(raw["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return seen if hmac.compare_digest(str(raw.get("hmac", "")), _mac(keys, database, seen)) else None


def note(keys: Keys, database: Path, seen: Reached) -> None:
    """Record ``seen`` for ``database`` (atomically: the note is whole or the old one stays)."""
    target = note_path(keys, database)
    ensure_private_dir(target.parent)
    scratch = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer
    try:
        with open_private(scratch, "w", encoding="utf-8") as handle:
            json.dump({**asdict(seen), "hmac": _mac(keys, database, seen)}, handle)
        os.replace(scratch, target)
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


def check(keys: Keys, database: Path, conn: sqlite3.Connection) -> str | None:
    """What is wrong when the database is behind the furthest point noted for it; None when it is not."""
    seen = recall(keys, database)
    if seen is None:
        return None
    now = reached(conn)
    if now is not None and now.first_mac != seen.first_mac:
        return None  # another database under this name, not an older copy of this one
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(seen.at))
    if now is None or now.seq < seen.seq:
        found = 0 if now is None else now.seq
        return (f"the database holds {found} links of its record, but this computer saw link {seen.seq} on {when}: "
                "it was replaced by an older or partial copy of itself (a backup restored, a recovered copy, "
                "or what was recorded since undone)")
    if chain.mac_at(conn, seen.seq) != seen.mac:
        return (f"link {seen.seq} of the database's record is not the one this computer saw on {when}: it was "
                "replaced by an older copy of itself and written since")
    return None
