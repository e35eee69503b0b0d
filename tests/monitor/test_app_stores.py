"""Where the review side reads from: the local database, or the clinic's server named on the command line,
in the environment or in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.app.errors import AppError
from monitor.app.stores import RecordSource, record_source
from monitor.cli import build_parser

URL = "postgresql://reader@db.clinic.example/im?passfile=/etc/im/reader.pgpass"


def test_review_reads_the_local_database_unless_told_to_read_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "monitor.db"
    db.touch()
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", URL)  # the chair's replication target: not read by default
    args = build_parser().parse_args(["review", "--db", str(db)])
    assert record_source(args.db, args.server) == RecordSource(db)
    # --server alone: the configured server.
    args = build_parser().parse_args(["review", "--db", str(db), "--server"])
    source = record_source(args.db, args.server)
    assert source == RecordSource(db, URL) and source.from_server
    assert "reader.pgpass" not in source.describe() and "read-only" in source.describe()
    other = "postgresql://reader@elsewhere/im"
    assert record_source(str(db), other).server == other


def test_server_reading_is_refused_clearly_when_no_server_is_set_and_writing_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INFUSION_MONITOR_SERVER", raising=False)
    with pytest.raises(AppError, match="no server given"):
        record_source(str(tmp_path / "x.db"), "")
    with pytest.raises(AppError, match="no database at"):
        record_source(str(tmp_path / "missing.db"))
    with pytest.raises(AppError, match="read-only"):
        RecordSource(tmp_path / "x.db", URL).open_for_writing("An addendum")
