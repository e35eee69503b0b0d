"""Two programs started on a new database at the same moment (the launcher double-clicked on the very first start,
two services started together): the second waits for the first to make the tables and finds them made.

Before, the schema version was read once, outside the write lock: the process that waited for the lock ran the
migrations the other had just committed, and failed with 'table "patients" already exists' (2 runs in 5).
"""

from __future__ import annotations

from pathlib import Path

from monitor.accounts import Accounts
from monitor.store import Store
from tests.faults.helpers import started_together

ROUNDS = 6


def _accounts(db: Path) -> list[tuple[str, str]]:
    with Store(db) as store:
        return [(a.name, a.role) for a in Accounts(store).listing()]


def test_two_recordings_started_together_on_a_new_database_both_find_its_tables(tmp_path: Path) -> None:
    for attempt in range(ROUNDS):
        db = tmp_path / f"round{attempt}" / "monitor.db"
        runs = started_together(*[["record", "--db", str(db), "--speed", "max", "--duration", "1", "--quiet"]] * 2)
        said = "\n".join(output for _code, output in runs)
        assert "already exists" not in said, said
        assert "cannot use database" not in said, said
        assert any(code == 0 for code, _output in runs), said


def test_two_first_admins_added_together_on_a_new_database_make_one_admin(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("first-admin-1\n")
    secret.chmod(0o600)
    for attempt in range(ROUNDS):
        db = tmp_path / f"round{attempt}" / "monitor.db"
        runs = started_together(*[["users", "add", name, "--role", "admin", "--db", str(db), "--new-secret-file",
                                   str(secret)] for name in ("alice", "mallory")])
        said = "\n".join(output for _code, output in runs)
        assert "already exists" not in said, said
        assert sorted(code for code, _output in runs) == [0, 1], said
        [(name, role)] = _accounts(db)
        assert role == "admin" and name in ("alice", "mallory")
