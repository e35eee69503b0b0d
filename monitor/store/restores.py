"""The audit entries that say a database was found older than it had been, and those that accept such a restore.

A database put back to an older copy of itself is recorded at its next opening (``database_rolled_back``, see
:mod:`monitor.store.witness`); an admin who knows it was a legitimate restore accepts it
(``database_restore_accepted``, naming the entries it accepts). The rules are in :mod:`monitor.integrity` and
:mod:`monitor.restore`; the SQL is here.
"""

from __future__ import annotations

import sqlite3
from typing import Final

#: The audit action that records a database found older than it had been.
ROLLED_BACK_ACTION: Final = "database_rolled_back"
#: The audit action by which a restore is accepted; its detail's ``accepted`` lists the entries it accepts.
RESTORE_ACCEPTED_ACTION: Final = "database_restore_accepted"


def rolled_back_entries(conn: sqlite3.Connection) -> list[tuple[int, float, str]]:
    """Every ``database_rolled_back`` entry as (id, when, detail JSON), oldest first."""
    return [(int(i), float(at), str(detail or "{}")) for i, at, detail in conn.execute(
        "SELECT id, at, detail FROM audit WHERE action = ? ORDER BY id", [ROLLED_BACK_ACTION])]


def acceptances(conn: sqlite3.Connection) -> list[tuple[int, float, str | None, list[int]]]:
    """Every acceptance of a restore as (id, when, who, the ids of the entries it accepts), oldest first."""
    found: dict[int, tuple[int, float, str | None, list[int]]] = {}
    for entry_id, at, user, accepted in conn.execute(
            "SELECT audit.id, audit.at, audit.user, accepted.value FROM audit "
            "LEFT JOIN json_each(audit.detail, '$.accepted') AS accepted WHERE audit.action = ? ORDER BY audit.id",
            [RESTORE_ACCEPTED_ACTION]):
        entry = found.setdefault(int(entry_id), (int(entry_id), float(at), user, []))
        if isinstance(accepted, int):
            entry[3].append(accepted)
    return list(found.values())
