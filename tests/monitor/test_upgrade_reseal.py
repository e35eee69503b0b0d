"""Rows changed or added by hand (no key file), then the schema version turned back so that the program's own
upgrade seals them: what verification and the session's export say."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store, StoreError
from tests.conftest import record_simulated


def _by_hand(db_path: Path, *statements: str) -> None:
    conn = sqlite3.connect(db_path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def _through_the_upgrade(db_path: Path) -> None:
    """Schema 4 again: opening runs the upgrade that sealed sessions (committed), then the next one stops the
    open; the version is put back afterwards."""
    _by_hand(db_path, "PRAGMA user_version = 4")
    with pytest.raises(StoreError):
        Store(db_path).close()
    _by_hand(db_path, "PRAGMA user_version = 6")


def _verify(db_path: Path) -> tuple[int, str]:
    out = io.StringIO()
    return main(["verify", "--all", "--db", str(db_path)], out=out), out.getvalue()


def test_a_session_row_changed_by_hand_is_not_sealed_as_found_at_an_upgrade(db_path: Path, tmp_path: Path) -> None:
    record_simulated(db_path)
    _by_hand(db_path, "UPDATE sessions SET nurse = 'Somebody Else', "
                      "baseline = json_set(baseline, '$.spo2', 85.0, '$.heart_rate', 130.0)")
    _through_the_upgrade(db_path)
    code, text = _verify(db_path)
    assert code == 1, f"the session's baseline and nurse were rewritten by hand and verify says: {text}"


def test_an_event_added_by_hand_is_not_sealed_as_found_at_an_upgrade(db_path: Path) -> None:
    session_id = record_simulated(db_path)
    _by_hand(db_path, "INSERT INTO events (session_id, t, kind, phase, user, detail) "
                      f"SELECT '{session_id}', MAX(t), 'note', 'recovery', 'AD', "
                      "'{\"text\": \"Patient alert, vitals reviewed\"}' FROM events")
    _through_the_upgrade(db_path)
    code, text = _verify(db_path)
    assert code == 1, f"a note added by hand under AD's name and verify says: {text}"
