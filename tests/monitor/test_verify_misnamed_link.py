"""A reading changed by hand with the sqlite3 module (no key file): what the session's export says of it."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from monitor import integrity
from monitor.cli import main
from tests.conftest import record_simulated


def test_a_changed_reading_is_not_called_verified_when_its_link_names_another_session(
    db_path: Path, tmp_path: Path
) -> None:
    session_id = record_simulated(db_path, scenario="desaturation")
    conn = sqlite3.connect(db_path)
    seq, key = conn.execute(
        "SELECT seq, row_key FROM chain WHERE tbl = 'readings' AND session_id = ? ORDER BY seq LIMIT 1", [session_id]
    ).fetchone()
    lo, _, hi = key.partition("-")
    [(rid, value)] = conn.execute("SELECT id, value FROM readings WHERE id BETWEEN ? AND ? AND parameter = 'spo2' "
                                  "LIMIT 1", [int(lo), int(hi)]).fetchall()
    conn.execute("UPDATE readings SET value = ? WHERE id = ?", [value - 30, rid])
    # The link's content is a plain SHA-256 anyone can compute; the link is then told to belong elsewhere.
    conn.execute("UPDATE chain SET content = ?, session_id = 'elsewhere' WHERE seq = ?",
                 [integrity.row_content(conn, "readings", key), seq])
    conn.commit()
    conn.close()

    out = tmp_path / "session.csv"
    code = main(["export", session_id, "--db", str(db_path), "--format", "csv", "--out", str(out)],
                out=io.StringIO())
    assert code == 0
    statement = out.read_text(encoding="utf-8").splitlines()[0]
    assert "NOT VERIFIED" in statement, f"SpO2 {value:g} rewritten to {value - 30:g} and the export says: {statement}"
