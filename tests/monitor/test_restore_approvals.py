"""An older copy of the database put back brings its profile approvals back with a correct chain: one a physician
withdrew since (revoked, or replaced by a newer version) would run the chair's alarms again. Until an admin accepts
the restore, a profile is used only where both the copy and the approvals noted beside the key file say it is
approved; the chair says why in its technical alarm, and the acceptance names the approvals that differ. Through
the commands a clinic runs: `profiles`, `backup`, the file copied back, `record`, `verify --accept-restore`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from monitor.accounts import Accounts
from monitor.alarms.profile import default_profile_text, load_profile
from monitor.approval import revoke
from monitor.store import RESTORE_ACCEPTED_ACTION, Store, witness
from tests.monitor import test_restore_accounts as accounts_case
from tests.monitor.test_restore_accounts import ALICE, Run, _clinic, _ok, _put_back

run = accounts_case.run  # the same fixture: one command, with what is typed

PLAN = "baseline:1,infusion:2,recovery:1"


def _profile(tmp_path: Path, name: str, spo2_below: int) -> tuple[Path, str]:
    """A clinic profile with the SpO2 low limit at ``spo2_below``; its file and its hash."""
    text = default_profile_text().replace("below = 92", f"below = {spo2_below}", 1)
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path, load_profile(str(path)).sha256


def _approve(run: Run, db: Path, profile: Path, name: str) -> None:
    _ok(run, db, "profiles", "approve", str(profile), "--name", name, "--user", "alice", stdin=f"{ALICE}\n")


def _listed(run: Run, db: Path) -> list[str]:
    """The hashes ``profiles list`` shows (first 12 characters)."""
    text = _ok(run, db, "profiles", "list")
    return [] if text.startswith("no approved profiles") else [line.split()[0] for line in text.splitlines()]


def _record(run: Run, db: Path, profile: Path) -> tuple[str, list[str]]:
    """A short recording with ``profile`` by alice: what it printed, and its "profile not used" alarms."""
    text = _ok(run, db, "record", "--speed", "max", "--plan", PLAN, "--quiet", "--profile", str(profile),
               "--user", "alice", stdin=f"{ALICE}\n")
    with Store(db, readonly=True) as store:
        session = store.sessions()[0]
        alarms = [a.message for a in store.alarms(session.id) if a.condition == "profile_not_used"]
    return text, alarms


def _revoked_then_put_back(run: Run, db: Path, tmp_path: Path) -> tuple[Path, str]:
    """North approved, the database backed up, the approval revoked since, the backup copied back."""
    _clinic(run, db)
    north, sha = _profile(tmp_path, "north", 91)
    _approve(run, db, north, "North 2026")
    _ok(run, db, "backup", str(tmp_path / "old.db"))
    _ok(run, db, "profiles", "revoke", sha[:12], "--user", "alice", stdin=f"{ALICE}\n")
    _put_back(tmp_path / "old.db", db)
    return north, sha


def test_an_approval_revoked_since_the_copy_is_not_in_force_until_the_restore_is_accepted(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    north, sha = _revoked_then_put_back(run, db_path, tmp_path)
    with Store(db_path, readonly=True) as store:
        assert [row[0] for row in store.db.execute("SELECT sha256 FROM profile_approvals WHERE revoked_at IS NULL")
                ] == [sha], "the copy itself still says approved"
    for _ in range(2):  # found once; put back again, the note still keeps the revocation
        assert _listed(run, db_path) == []
        text, alarms = _record(run, db_path, north)
        assert "alarm profile built-in default (sha256 " in text, text
        [alarm] = alarms
        assert f"the approval of 'North 2026' (sha256 {sha[:12]}) was revoked by alice on " in alarm, alarm
        assert "until an admin accepts the restore ('infusion-monitor verify --accept-restore" in alarm, alarm
        _put_back(tmp_path / "old.db", db_path)


def test_the_acceptance_names_the_approvals_that_differ_and_the_note_then_learns_the_copy(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    """Superseded: North 2 approved and North revoked after the backup; the acceptance lists both, and from
    then on the copy's approvals stand, for the admin to put right."""
    _clinic(run, db_path)
    north, sha = _profile(tmp_path, "north", 91)
    newer, newer_sha = _profile(tmp_path, "north2", 90)
    _approve(run, db_path, north, "North")
    _ok(run, db_path, "backup", str(tmp_path / "old.db"))
    _approve(run, db_path, newer, "North 2")
    _ok(run, db_path, "profiles", "revoke", sha[:12], "--user", "alice", stdin=f"{ALICE}\n")
    _put_back(tmp_path / "old.db", db_path)
    assert _listed(run, db_path) == []
    text = _ok(run, db_path, "verify", "--accept-restore", "--user", "alice", stdin=f"{ALICE}\n")
    by_hash = {sha: f"North (sha256 {sha[:12]}): approved by alice in the copy, revoked by alice before",
               newer_sha: f"North 2 (sha256 {newer_sha[:12]}): not in the copy (was approved by alice)"}
    differing = [by_hash[each] for each in sorted(by_hash)]
    assert "".join(f"  {line}\n" for line in differing) in text, text
    with Store(db_path) as store:
        (accepted,) = [row for row in store.audit_log() if row["action"] == RESTORE_ACCEPTED_ACTION]
    assert json.loads(accepted["detail"])["approvals_differing"] == differing
    assert _listed(run, db_path) == [sha[:12]]
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    noted = witness.recall(keys, db_path)
    assert noted is not None and noted.approvals is not None
    assert [(a.sha256, a.approved) for a in noted.approvals] == [(sha, True)]


def test_approving_and_revoking_without_a_restore_work_as_before_and_are_noted_at_once(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    _clinic(run, db_path)
    north, sha = _profile(tmp_path, "north", 91)
    _approve(run, db_path, north, "North 2026")
    assert _listed(run, db_path) == [sha[:12]]
    text, alarms = _record(run, db_path, north)
    assert "alarm profile North 2026 (approved, sha256 " in text and alarms == [], text
    with Store(db_path) as store:
        keys = store.keys
        assert keys is not None
        revoke(store, sha, by=Accounts(store).authenticate("alice", ALICE))
        # Noted before the store closes: a revocation is what an older copy put back would undo.
        noted = witness.recall(keys, db_path)
        assert noted is not None and noted.approvals is not None
        assert [(a.sha256, a.name, a.approved, a.by) for a in noted.approvals] == [(sha, "North 2026", False,
                                                                                    "alice")]
    assert _listed(run, db_path) == []
    _approve(run, db_path, north, "North 2026")  # approved again: in force again
    assert _listed(run, db_path) == [sha[:12]]


def test_a_note_from_before_the_approvals_were_kept_still_reads_and_holds_nothing(
        run: Run, db_path: Path, tmp_path: Path) -> None:
    """After an upgrade the first note has no approvals (not known): the copy's are used as before."""
    _north, sha = _revoked_then_put_back(run, db_path, tmp_path)
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    noted = witness.recall(keys, db_path)
    assert noted is not None and noted.approvals is not None
    witness.note(keys, db_path, dataclasses.replace(noted, approvals=None))
    path = witness.note_path(keys, db_path)
    raw = json.loads(path.read_text())
    assert raw.pop("approvals") is None
    path.write_text(json.dumps(raw))  # as the earlier version wrote it: no approvals at all
    old = witness.recall(keys, db_path)
    assert old is not None and old.approvals is None and old.users == noted.users
    assert _listed(run, db_path) == [sha[:12]]


def test_the_approvals_in_the_note_are_under_its_keyed_hash(run: Run, db_path: Path, tmp_path: Path) -> None:
    _clinic(run, db_path)
    north, sha = _profile(tmp_path, "north", 91)
    _approve(run, db_path, north, "North 2026")
    _ok(run, db_path, "profiles", "revoke", sha[:12], "--user", "alice", stdin=f"{ALICE}\n")
    with Store(db_path, readonly=True) as store:
        keys = store.keys
    assert keys is not None
    path = witness.note_path(keys, db_path)
    raw = json.loads(path.read_text())
    assert [(a["sha256"], a["approved"]) for a in raw["approvals"]] == [(sha, False)]
    raw["approvals"][0]["approved"] = True
    path.write_text(json.dumps(raw))
    assert witness.recall(keys, db_path) is None
