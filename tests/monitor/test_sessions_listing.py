"""`infusion-monitor sessions` at a clinic's size: the newest 50 by default, and an audit entry that stays small.

At 12,004 sessions the command printed every one (3.4-4.1 s) and wrote every id into the append-only audit log:
432 KB an entry, never to be deleted."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

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


def _audit_lines(db_path: Path, signed_in_as: Any) -> list[str]:
    """What `audit --action sessions_listed` shows a physician, line by line."""
    signed_in_as(db_path, "DR", "physician")
    out = io.StringIO()
    assert main(["audit", "--db", str(db_path), "--action", "sessions_listed", "--user", "DR"], out=out) == 0
    return out.getvalue().splitlines()


def test_audit_checks_a_listings_digest_and_reports_a_session_changed_since(
        clinic_db: tuple[Path, list[str]], signed_in_as: Any) -> None:
    """A listing of over 50 sessions keeps their digest only; `audit` makes the listing again (the sessions started
    between the oldest and newest shown) and says whether they are still the ones listed. Before, it showed the
    digest and nothing else: a session re-dated or removed after it was listed went unremarked."""
    db_path, ids = clinic_db
    _listed(db_path, "--limit", "80")
    _listed(db_path, "--unsigned", "--all")
    lines = _audit_lines(db_path, signed_in_as)
    assert lines[2].strip() == ("listing checked: its digest matches the 80 sessions started from "
                                "2026-01-07T16:00:00.000+00:00 to 2026-01-20T20:00:00.000+00:00"), lines
    # A work queue selects by what changes (sign-offs): the entry cannot make it again, and audit says so.
    assert lines[4].strip() == "listing not checked: made with unsigned, which its entry cannot make again", lines
    with Store(db_path) as store:  # a row altered behind the program's back: one listed session moved a year back
        store.db.execute("UPDATE sessions SET started_at = started_at - 365 * 86400 WHERE id = ?", [ids[100]])
    lines = _audit_lines(db_path, signed_in_as)
    assert lines[2].strip() == ("LISTING DOES NOT MATCH its digest: the 79 sessions started from "
                                "2026-01-07T16:00:00.000+00:00 to 2026-01-20T20:00:00.000+00:00 are not the 80 "
                                "listed (a session was removed, added or its start changed since)"), lines
    out = io.StringIO()
    assert main(["audit", "--db", str(db_path), "--action", "sessions_listed", "--user", "DR", "--format", "json"],
                out=out) == 0
    entry, queue = json.loads(out.getvalue())["entries"]
    assert entry["check"].startswith("LISTING DOES NOT MATCH") and queue["check"].startswith("listing not checked")
