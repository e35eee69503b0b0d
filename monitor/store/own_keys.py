"""Which key file a database needs, decided before anything is written into it.

From schema 4 on a database names the key file it was sealed with (its fingerprint, in ``security``); its
identifiers are encrypted and its rows sealed under that file's keys. Such a database is opened only with that
key file: with none, or another one, the open is refused before the first write, saying which key file it needs,
where this computer looked and how to point the program at it. Only a database that names no key file yet (a
new one, or one from before identifiers were encrypted) may have a key file made for it, and that is said, since
the new file must be backed up at once.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Final

from monitor.config import ENV_PREFIX
from monitor.keys import Keys, key_file_path, load_keys, saved_keys_path
from monitor.store.chain import key_fingerprint
from monitor.store.errors import StoreError

log = logging.getLogger(__name__)

#: The schema that began encrypting identifiers and sealing rows with the key file's keys.
FIRST_KEYED_VERSION: Final = 4
#: How the program is pointed at a key file kept elsewhere (a second chair's database on this computer).
POINT_AT_IT: Final = (f"point {ENV_PREFIX}KEY_FILE (or key_file in the config file) at it; `infusion-monitor keys` "
                      "shows which key file is in use")


def keys_for_writing(conn: sqlite3.Connection, db_path: Path, version: int) -> Keys:
    """The keys to migrate, seal and encrypt ``db_path`` with; :class:`StoreError` when they are not its own.

    Called before the first write: a database sealed with a key file is never changed under another one (a new
    key file made in the missing one's place once sealed an upgrade's rows with it, and the record could never
    be verified again, even with the right key file put back).
    """
    fingerprint = key_fingerprint(conn)
    keys = load_keys(create=False)
    if fingerprint is None and version < FIRST_KEYED_VERSION:
        return keys if keys is not None else _new_key_file(conn, db_path)
    if keys is None:
        raise StoreError(missing_text(db_path, fingerprint))
    if fingerprint is not None and fingerprint != keys.fingerprint:
        raise StoreError(other_text(db_path, fingerprint, keys))
    return keys


def keys_for_reading(conn: sqlite3.Connection, db_path: Path) -> Keys | None:
    """The keys to read ``db_path`` with (None: its key file is missing, identifiers stay unread);
    :class:`StoreError` when the key file is another database's."""
    fingerprint = key_fingerprint(conn)
    keys = load_keys(create=False)
    if keys is not None and fingerprint is not None and fingerprint != keys.fingerprint:
        raise StoreError(other_text(db_path, fingerprint, keys))
    return keys


def missing_text(db_path: Path, fingerprint: str | None) -> str:
    """What to do when the key file ``db_path`` was sealed with is not where this computer looks."""
    path = key_file_path()
    which = f"fingerprint {fingerprint}" if fingerprint else "its fingerprint is missing from the database"
    return (f"{db_path} needs its key file ({which}), which is not at {path}; nothing was changed in the database. "
            f"Put that key file there, or, kept elsewhere, {POINT_AT_IT}; " + _where_it_is(path, fingerprint))


def other_text(db_path: Path, fingerprint: str, keys: Keys) -> str:
    """What to do when the key file found is not the one ``db_path`` was sealed with: never to replace it, since
    the databases sealed with it need it too."""
    return (f"{db_path} was written with another key file (fingerprint {fingerprint}, this one {keys.fingerprint}"
            f" at {keys.path}); nothing was changed in the database. Do not replace {keys.path} if other databases "
            f"were written with it: keep this database's own key file elsewhere and {POINT_AT_IT}; "
            + _where_it_is(keys.path, fingerprint))


def _where_it_is(key_file: Path, fingerprint: str | None) -> str:
    """Where the key file with ``fingerprint`` can come from: a copy a recording saved beside the key file
    (:func:`monitor.keys.keep_key_file`), else its back-up."""
    saved = saved_keys_path(key_file, fingerprint) if fingerprint else None
    if saved is not None and saved.is_file():
        return (f"a recording saved those keys as {saved}: put that file at {key_file} if no other database needs "
                f"the one there now, else point {ENV_PREFIX}KEY_FILE at it (see the README, 'Identifiers and keys')")
    return ("the database's key file comes from its back-up (`infusion-monitor keys --backup`; see the README, "
            "'Identifiers and keys')")


def _new_key_file(conn: sqlite3.Connection, db_path: Path) -> Keys:
    """Make the key file for a database that names none yet, and say that it must be backed up."""
    keys = load_keys(create=True)
    assert keys is not None  # made when missing
    has_patients = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'patients'").fetchone()
    held = has_patients is not None and conn.execute("SELECT 1 FROM patients LIMIT 1").fetchone() is not None
    what = "its patients' identifiers are encrypted with it" if held else "the record will be sealed with it"
    log.warning("a new key file was created for %s at %s (fingerprint %s), and %s: back it up now, apart from the "
                "database (infusion-monitor keys --backup FILE); without it the identifiers cannot be read nor the "
                "record verified", db_path, keys.path, keys.fingerprint, what)
    return keys
