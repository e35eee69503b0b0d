"""The ``profile_approvals`` table: approved alarm-profile contents, read and written for :mod:`monitor.approval`.

Rows only; who may approve, the clinical floors and the keyed hash that makes a row trusted are
:mod:`monitor.approval`'s business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    """One approval in force (not revoked), as stored, with its keyed hash still to be checked."""

    sha256: str
    name: str
    approved_by: str
    approved_at: float
    below_floors: bool
    mac: str


def create_table(db: sqlite_utils.Database) -> None:
    """The approvals table (part of a schema migration)."""
    db.execute(
        "CREATE TABLE profile_approvals (sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, approved_by TEXT NOT NULL, "
        "approved_at REAL NOT NULL, below_floors INTEGER NOT NULL, text TEXT NOT NULL, revoked_at REAL, "
        "revoked_by TEXT, mac TEXT NOT NULL)"
    )


def save(db: sqlite_utils.Database, row: ApprovalRow, text: str) -> None:
    """Store an approval of the profile ``text``; approving the same content again replaces (and un-revokes) it."""
    db.execute(
        "INSERT INTO profile_approvals (sha256, name, approved_by, approved_at, below_floors, text, mac) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, "
        "approved_by = excluded.approved_by, approved_at = excluded.approved_at, "
        "below_floors = excluded.below_floors, mac = excluded.mac, revoked_at = NULL, revoked_by = NULL",
        [row.sha256, row.name, row.approved_by, row.approved_at, int(row.below_floors), text, row.mac],
    )


def matching_in_force(db: sqlite_utils.Database, sha256_prefix: str) -> list[str]:
    """The hashes of the approvals in force that start with ``sha256_prefix``."""
    return [str(r[0]) for r in db.execute(
        "SELECT sha256 FROM profile_approvals WHERE substr(sha256, 1, ?) = ? AND revoked_at IS NULL",
        [len(sha256_prefix), sha256_prefix])]


def revoke(db: sqlite_utils.Database, hashes: list[str], at: float, by: str) -> None:
    """Mark the approvals of exactly these hashes revoked."""
    db.conn.executemany("UPDATE profile_approvals SET revoked_at = ?, revoked_by = ? WHERE sha256 = ?",
                        [(at, by, sha256) for sha256 in hashes])


_SELECT = "SELECT sha256, name, approved_by, approved_at, below_floors, mac FROM profile_approvals"


def _approval(row: tuple[Any, ...]) -> ApprovalRow:
    sha256, name, approved_by, approved_at, below, mac = row
    return ApprovalRow(str(sha256), str(name), str(approved_by), float(approved_at), bool(below), str(mac))


def in_force(db: sqlite_utils.Database, sha256: str) -> ApprovalRow | None:
    """The approval of exactly this content unless revoked, or None."""
    row = db.execute(f"{_SELECT} WHERE sha256 = ? AND revoked_at IS NULL", [sha256]).fetchone()
    return None if row is None else _approval(row)


def states_of(conn: Any) -> list[tuple[str, str, str, float, str | None, float | None]]:
    """Every approval, revoked ones too, read through a plain connection, by hash: (sha256, name, approved_by,
    approved_at, revoked_by, revoked_at)."""
    return [(str(sha256), str(name), str(approved_by), float(approved_at),
             None if revoked_by is None else str(revoked_by), None if revoked_at is None else float(revoked_at))
            for sha256, name, approved_by, approved_at, revoked_by, revoked_at in conn.execute(
                "SELECT sha256, name, approved_by, approved_at, revoked_by, revoked_at FROM profile_approvals "
                "ORDER BY sha256").fetchall()]


def all_in_force(db: sqlite_utils.Database) -> list[ApprovalRow]:
    """Every approval not revoked, by approved name."""
    return [_approval(row) for row in db.execute(f"{_SELECT} WHERE revoked_at IS NULL ORDER BY name").fetchall()]
