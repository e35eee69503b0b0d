"""The ``users`` table: account rows read and written for :mod:`monitor.accounts`.

Only rows go in and out here; the rules (roles, secrets, lock-out, the keyed hash each row
carries) are :mod:`monitor.accounts`' business. Names compare without regard to case (the
column is ``COLLATE NOCASE``), so ``Ann`` and ``ann`` are one account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlite_utils


@dataclass(frozen=True, slots=True)
class UserRow:
    """One stored account, secret hash and keyed hash included."""

    name: str
    role: str
    secret_hash: str
    disabled: bool
    failures: int
    locked_until: float | None
    created_at: float
    created_by: str | None
    changed_at: float
    mac: str


def create_table(db: sqlite_utils.Database) -> None:
    """The accounts table (part of a schema migration)."""
    db.execute(
        "CREATE TABLE users (name TEXT PRIMARY KEY COLLATE NOCASE, role TEXT NOT NULL, secret_hash TEXT NOT NULL, "
        "disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, locked_until REAL, "
        "created_at REAL NOT NULL, created_by TEXT, changed_at REAL NOT NULL, mac TEXT NOT NULL)"
    )


_CHANGEABLE = frozenset({"role", "secret_hash", "disabled", "failures", "locked_until", "changed_at", "mac"})
_COLUMNS = "name, role, secret_hash, disabled, failures, locked_until, created_at, created_by, changed_at, mac"


def _user(row: tuple[Any, ...]) -> UserRow:
    name, role, secret_hash, disabled, failures, locked_until, created_at, created_by, changed_at, mac = row
    return UserRow(
        str(name), str(role), str(secret_hash), bool(disabled), int(failures),
        None if locked_until is None else float(locked_until), float(created_at),
        None if created_by is None else str(created_by), float(changed_at), str(mac),
    )


def users_of(conn: Any) -> list[UserRow]:
    """Every account row of a database read through a plain connection (a damaged file being recovered)."""
    return [_user(row) for row in conn.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()]


def count_users(db: sqlite_utils.Database) -> int:
    """How many accounts exist (disabled ones included)."""
    return int(db.execute("SELECT COUNT(*) FROM users").fetchone()[0])


def count_enabled(db: sqlite_utils.Database, role: str) -> int:
    """How many accounts that are not disabled hold ``role``."""
    return int(db.execute("SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0", [role]).fetchone()[0])


def user(db: sqlite_utils.Database, name: str) -> UserRow | None:
    """The account called ``name`` (any case), or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", [name]).fetchone()
    return None if row is None else _user(row)


def users(db: sqlite_utils.Database) -> list[UserRow]:
    """Every account, by name."""
    return [_user(row) for row in db.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()]


def insert_user(db: sqlite_utils.Database, row: UserRow) -> None:
    """Add a new account (the name must be free)."""
    db.execute(
        f"INSERT INTO users ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row.name, row.role, row.secret_hash, int(row.disabled), row.failures, row.locked_until, row.created_at,
         row.created_by, row.changed_at, row.mac],
    )


def update_user(db: sqlite_utils.Database, row: UserRow, changed: Iterable[str]) -> None:
    """Write the ``changed`` columns of the account named ``row.name``, with its new keyed hash and change time.

    Only those columns: a failure count written meanwhile by another sign-in is not overwritten.
    """
    columns = [*dict.fromkeys(changed), "mac", "changed_at"]
    unknown = [c for c in columns if c not in _CHANGEABLE]
    if unknown:
        raise ValueError(f"not a changeable account column: {', '.join(unknown)}")
    values = [int(v) if isinstance(v, bool) else v for v in (getattr(row, c) for c in columns)]
    db.execute(f"UPDATE users SET {', '.join(f'{c} = ?' for c in columns)} WHERE name = ?", [*values, row.name])


def set_failures(db: sqlite_utils.Database, name: str, failures: int, locked_until: float | None) -> None:
    """Record failed sign-ins in a row and the lock-out they caused (not part of the keyed hash)."""
    db.execute("UPDATE users SET failures = ?, locked_until = ? WHERE name = ?", [failures, locked_until, name])


def audited(db: sqlite_utils.Database, action: str) -> bool:
    """Whether the audit log holds an entry of ``action``."""
    return db.execute("SELECT 1 FROM audit WHERE action = ? LIMIT 1", [action]).fetchone() is not None


def unknown_name_failures(db: sqlite_utils.Database, name: str) -> tuple[int, float | None]:
    """Failed sign-ins in a row with a name no account has, and the lock-out they caused, as the newest audit entry
    of such a sign-in gives them (the audit log is where those are counted: there is no row to keep them)."""
    row = db.execute(
        "SELECT detail FROM audit WHERE user = ? COLLATE NOCASE AND action IN ('sign_in_failed', 'sign_in_refused') "
        "AND json_extract(detail, '$.unknown_name') = 1 ORDER BY id DESC LIMIT 1", [name]
    ).fetchone()
    if row is None:
        return 0, None
    detail = json.loads(row[0])
    locked_until = detail.get("locked_until")
    return int(detail.get("failures", 0)), None if locked_until is None else float(locked_until)


def set_secret_hash(db: sqlite_utils.Database, name: str, secret_hash: str, mac: str) -> None:
    """Replace a secret's hash (re-hashed with stronger parameters) and the row's keyed hash with it."""
    db.execute("UPDATE users SET secret_hash = ?, mac = ? WHERE name = ?", [secret_hash, mac, name])
