"""``verify`` on a database an older version wrote (a backup from before an upgrade): it is checked as far as that
version sealed it, and one from before the chain is said to be so, never called tampered."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from tests.monitor.old_schemas import old_database


def _verify(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return main(["verify", "--db", str(path), "--all"], out=out), out.getvalue()


@pytest.mark.parametrize(("version", "unchecked"), [(4, "sessions, users, profile_approvals"),
                                                    (5, "users, profile_approvals")])
def test_a_database_of_the_first_chained_schemas_verifies_as_far_as_it_was_sealed(
        db_path: Path, version: int, unchecked: str) -> None:
    old_database(db_path, version)
    code, text = _verify(db_path)
    assert code == 0, text
    assert "not in the chain" not in text and "NOT VERIFIED" not in text
    assert f"schema {version}, written by an older version: {unchecked} joined the chain later" in text
    assert "verified: nothing was changed" in text


def test_an_old_schema_database_changed_by_hand_is_still_found(db_path: Path) -> None:
    old_database(db_path, 5)
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET user = 'someone else' WHERE action = 'start_infusion'")
    conn.commit()
    conn.close()
    code, text = _verify(db_path)
    assert code == 1 and "changed after it was written" in text, text


@pytest.mark.parametrize("version", [1, 3])
def test_a_database_from_before_the_chain_is_said_to_predate_it(db_path: Path, version: int) -> None:
    old_database(db_path, version)
    code, text = _verify(db_path)
    assert code == 1, text
    assert f"predates the record chain (schema {version})" in text and "upgrades it" in text
    assert "NOT VERIFIED" not in text and "broken" not in text
