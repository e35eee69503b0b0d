"""`infusion-monitor sessions` at a clinic's size: the newest 50 by default, and an audit entry that stays small.

At 12,004 sessions the command printed every one (3.4-4.1 s) and wrote every id into the append-only audit log:
432 KB an entry, never to be deleted."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from monitor.cli import SESSIONS_LISTED, main
from monitor.session_list import IDS_KEPT, listed_digest
from monitor.store import Store
from tests.conftest import many_sessions

SESSIONS = 120


@pytest.fixture
def clinic_db(db_path: Path) -> tuple[Path, list[str]]:
    """120 sessions of 20 patients (six each), oldest first."""
    return db_path, many_sessions(db_path, SESSIONS, lambda index: f"MRN-{index % 20:04d}")


def _listed(db_path: Path, *args: str) -> tuple[list[str], str]:
    """The session ids `sessions --json` printed, and what it said on standard error."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        err = io.StringIO()
        patch.setattr("sys.stderr", err)
        assert main(["sessions", "--db", str(db_path), "--json", *args], out=out) == 0
    return [row["id"] for row in json.loads(out.getvalue())], err.getvalue()


def _entries(db_path: Path) -> list[dict[str, object]]:
    with Store(db_path, readonly=True) as store:
        return [json.loads(a["detail"]) for a in store.audit_entries(action="sessions_listed")]


def test_the_newest_50_are_listed_and_the_rest_are_counted(clinic_db: tuple[Path, list[str]]) -> None:
    db_path, ids = clinic_db
    listed, said = _listed(db_path)
    assert listed == ids[::-1][:SESSIONS_LISTED] and SESSIONS_LISTED == 50
    assert "70 older sessions not listed" in said and "--all" in said
    text = io.StringIO()
    assert main(["sessions", "--db", str(db_path)], out=text) == 0
    lines = text.getvalue().splitlines()
    assert len(lines) == 1 + 50 + 1 and lines[-1].startswith("70 older sessions not listed"), lines[-3:]


def test_all_and_limit_list_as_many_as_asked(clinic_db: tuple[Path, list[str]]) -> None:
    db_path, ids = clinic_db
    assert _listed(db_path, "--all") == (ids[::-1], "")
    assert _listed(db_path, "--limit", "3") == (ids[::-1][:3], "117 older sessions not listed: --limit N lists "
                                                               "more, --all every one\n")
    with pytest.raises(SystemExit):
        main(["sessions", "--db", str(db_path), "--limit", "0"])


def test_a_listing_of_every_session_keeps_a_digest_not_every_id(clinic_db: tuple[Path, list[str]]) -> None:
    db_path, ids = clinic_db
    _listed(db_path, "--all")
    _listed(db_path, "--limit", "2")
    everything, two = _entries(db_path)
    assert everything == {
        "criteria": {"limit": None}, "shown": SESSIONS, "found": SESSIONS,
        "newest_start": "2026-01-20T20:00:00.000+00:00", "oldest_start": "2026-01-01T00:00:00.000+00:00",
        "sessions_sha256": listed_digest(ids[::-1]),
    }
    assert two["sessions"] == ids[::-1][:2] and (two["shown"], two["found"]) == (2, SESSIONS)
    with Store(db_path, readonly=True) as store:
        sizes = [len(a["detail"]) for a in store.audit_entries(action="sessions_listed")]
    # 50 ids at most (about 2 KB), whatever the number of sessions listed.
    assert max(sizes) < 200 + IDS_KEPT * 40, sizes


def test_one_patients_course_is_listed_whole_oldest_first(clinic_db: tuple[Path, list[str]]) -> None:
    db_path, ids = clinic_db
    listed, said = _listed(db_path, "--patient", "MRN-0007")
    assert listed == ids[7::20] and said == ""
    assert _listed(db_path, "--patient", "MRN-9999") == ([], "")
    assert _entries(db_path)[0] == {"criteria": {"one_patient": True}, "shown": 6, "found": 6,
                                    "newest_start": "2026-01-18T20:00:00.000+00:00",
                                    "oldest_start": "2026-01-02T04:00:00.000+00:00", "sessions": ids[7::20]}
