"""Identifiers protected at rest, owner-only files whatever the umask, and the upgrade of an older database."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from monitor.cli import main
from monitor.identifiers import PREFIX
from monitor.store import MIGRATIONS, Store

MRN = "MRN-ZZ-4711"
NAME = "Jane Quixotic-Doe"
BIRTH = "1961-07-23"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The default umask of many systems (files 0644, folders 0755), restored afterwards."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _files_of(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")) if p.exists()]


def _identified_session(db: Path) -> str:
    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder

    store = Store(db)
    source = SimulatedSource(scenario="normal", seed=1, speed=float("inf"), start_time=1_790_000_000.0)
    recorder = Recorder.new_session(store, source, driver="simulated", port=None,
                                    plan=parse_plan("baseline:1,infusion:2,recovery:1"), autopilot=True, nurse="RN")
    future = recorder.submit("identify_patient", "RN", mrn=MRN, patient_name=NAME, birth_date=BIRTH)
    recorder.step()
    assert future.result(0)
    # While the session is still open the WAL and shared-memory files exist: check them too.
    recorder.step()
    for path in _files_of(db):
        data = path.read_bytes()
        for secret in (MRN, NAME, BIRTH):
            assert secret.encode() not in data, f"{secret} readable in {path.name}"
        assert _mode(path) == 0o600, f"{path.name} is {_mode(path):o}"
    recorder.run()
    store.close()
    return recorder.session.id


def test_identifiers_are_encrypted_in_the_database_wal_and_journal(db_path: Path, open_umask: None) -> None:
    session_id = _identified_session(db_path)
    for path in _files_of(db_path):
        data = path.read_bytes()
        for secret in (MRN, NAME, BIRTH):
            assert secret.encode() not in data
    raw = sqlite3.connect(db_path).execute("SELECT mrn, name, birth_date FROM patients").fetchone()
    assert all(value.startswith(PREFIX) for value in raw)
    # The program itself reads them back with the key file.
    with Store(db_path, readonly=True) as store:
        row = store.session_row(session_id)
        patient = store.patient_row(row["patient_id"])
        assert patient is not None
        assert (patient["mrn"], patient["name"], patient["birth_date"]) == (MRN, NAME, BIRTH)
        assert store.sessions()[0].patient == MRN


def test_the_same_mrn_finds_the_same_patient(store: Store) -> None:
    first = store.create_patient(MRN, NAME)
    assert store.create_patient(MRN) == first
    assert store.create_patient("OTHER-1") != first


def test_a_ciphertext_moved_to_another_patient_does_not_decrypt(store: Store) -> None:
    a = store.create_patient(MRN, NAME)
    b = store.create_patient("OTHER-1", "Someone Else")
    stolen = store.db.execute("SELECT name FROM patients WHERE id = ?", [a]).fetchone()[0]
    store.db.execute("UPDATE patients SET name = ? WHERE id = ?", [stolen, b])
    patient = store.patient_row(b)
    assert patient is not None and patient["name"].startswith("(cannot be decrypted")


def test_files_are_owner_only_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "new-folder" / "monitor.db"
    with Store(db) as store:
        store.audit("probe", user="RN")
        for path in _files_of(db):
            assert _mode(path) == 0o600, path.name
    assert _mode(db.parent) == 0o700
    key = Path(os.environ["INFUSION_MONITOR_KEY_FILE"])
    assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
    out = tmp_path / "export.csv"
    sid = _identified_session(tmp_path / "other.db")
    assert main(["export", sid, "--db", str(tmp_path / "other.db"), "--out", str(out)]) == 0
    assert _mode(out) == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.keys import KeyFileError, forget_cached_keys, load_keys

    path = tmp_path / "k" / "monitor.key"
    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(path))
    forget_cached_keys()
    load_keys()
    path.chmod(0o644)
    forget_cached_keys()
    with pytest.raises(KeyFileError, match="can be read by other users"):
        load_keys()
    forget_cached_keys()


def _version_2_database(path: Path) -> str:
    """A database as the previous version wrote it, holding one recorded session with a patient."""
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for migration in MIGRATIONS[:2]:
        migration(db, None)  # version 2 had no keys
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO patients (id, mrn, name, birth_date, created_at) VALUES ('p1', ?, ?, ?, 1)",
                 [MRN, NAME, BIRTH])
    conn.execute("INSERT INTO sessions (id, patient_id, started_at, ended_at, status, phase, phases_reached, driver, "
                 "plan, nurse) VALUES ('s1', 'p1', 1000, 2000, 'complete', 'complete', '[\"setup\"]', 'simulated', "
                 "'', 'RN')")
    conn.executemany("INSERT INTO readings (session_id, t, parameter, value, unit, status, source) "
                     "VALUES ('s1', ?, 'spo2', ?, '%', '', 'sim')", [(1000 + i, 95 + i % 3) for i in range(300)])
    conn.execute("INSERT INTO events (session_id, t, kind, phase, user, detail) "
                 "VALUES ('s1', 1000, 'session_started', 'setup', 'RN', '{}')")
    conn.execute("INSERT INTO alarms (id, session_id, condition, parameter, priority, kind, started_at, message, "
                 "state) VALUES ('a1', 's1', 'spo2_low', 'spo2', 'medium', 'physiological', 1100, 'SpO2 low', 'ended')")
    conn.execute("INSERT INTO audit (at, user, action, session_id, detail) VALUES (1000, 'RN', 'session_started', "
                 "'s1', '{}')")
    conn.close()
    return "s1"


def test_upgrading_a_database_with_a_recorded_session(db_path: Path) -> None:
    session_id = _version_2_database(db_path)
    assert MRN.encode() in db_path.read_bytes()
    with Store(db_path) as store:
        assert store.user_version() == len(MIGRATIONS)
        assert store.reading_count(session_id) == 300
        patient = store.patient_row("p1")
        assert patient is not None and (patient["mrn"], patient["name"]) == (MRN, NAME)
        assert store.create_patient(MRN) == "p1"  # found again through the keyed MRN hash
    for path in _files_of(db_path):
        data = path.read_bytes()
        for secret in (MRN, NAME, BIRTH):
            assert secret.encode() not in data, f"{secret} still readable in {path.name} after the upgrade"
    out = io.StringIO()
    assert main(["verify", "--db", str(db_path)], out=out) == 0, out.getvalue()
    assert "sealed at the upgrade" in out.getvalue()
    with Store(db_path, readonly=True) as store:
        origins = {r[0] for r in store.db.execute("SELECT DISTINCT origin FROM chain")}
    assert "upgrade" in origins


def test_export_names_the_profile_and_says_whether_the_session_verified(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["record", "--db", str(db_path), "--speed", "max", "--quiet", "--patient", MRN,
                 "--plan", "baseline:1,infusion:2,recovery:1"], out=io.StringIO()) == 0
    sid = "latest"
    assert main(["export", sid, "--db", str(db_path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["session"]["verification"].startswith("verified")
    assert doc["session"]["alarm_profile"].startswith("built-in default (sha256 ")
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE readings SET value = 99 WHERE id = 5")
    conn.commit()
    conn.close()
    assert main(["export", sid, "--db", str(db_path), "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["session"]["verification"].startswith("NOT VERIFIED: readings 1-")
    # The CSV stays a bare table; the command says it on standard error for every format.
    assert main(["export", sid, "--db", str(db_path), "--format", "csv"]) == 0
    assert "export: record NOT VERIFIED: readings 1-" in capsys.readouterr().err


def test_a_missing_key_file_is_named_and_never_replaced_by_a_fresh_one(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.keys import forget_cached_keys
    from monitor.store import StoreError

    key = tmp_path / "own" / "monitor.key"
    monkeypatch.setenv("INFUSION_MONITOR_KEY_FILE", str(key))
    forget_cached_keys()
    with Store(db_path) as store:
        store.create_patient(MRN, NAME)
    backup = tmp_path / "backup.key"
    assert main(["keys", "--backup", str(backup)], out=io.StringIO()) == 0
    assert _mode(backup) == 0o600
    key.unlink()
    forget_cached_keys()
    with pytest.raises(StoreError, match="needs its key file"):
        Store(db_path)
    assert not key.exists()
    # Read-only (review) still opens: identifiers say the key is missing, verify says it cannot check.
    with Store(db_path, readonly=True) as store:
        [pid] = [r[0] for r in store.db.execute("SELECT id FROM patients")]
        assert store.patient_row(pid)["mrn"] == "(encrypted: key file missing)"
    # Recovery: the back-up put back.
    backup.replace(key)
    forget_cached_keys()
    with Store(db_path) as store:
        [pid] = [r[0] for r in store.db.execute("SELECT id FROM patients")]
        assert store.patient_row(pid)["mrn"] == MRN
    forget_cached_keys()


def test_missing_parent_folders_are_made_owner_only_too(tmp_path: Path) -> None:
    """Under umask 000 only the last folder was 0700: ~/.config/infusion-monitor was left 0777, and another user
    could put a config file there that sends the patient's data to a receiver of theirs."""
    from monitor.keys import ensure_private_dir
    from monitor.ownership import SessionLock

    old = os.umask(0)
    try:
        ensure_private_dir(tmp_path / "config" / "infusion-monitor" / "keys")
        lock = SessionLock(tmp_path / "data" / "monitor.db", "s1")
        lock.acquire()
        lock.release()
    finally:
        os.umask(old)
    for folder in ("config", "config/infusion-monitor", "config/infusion-monitor/keys", "data"):
        assert _mode(tmp_path / folder) == 0o700, folder
    assert _mode(lock.path.parent) == 0o700


def test_a_key_file_put_in_a_shared_folder_leaves_that_folder_as_it_was(tmp_path: Path) -> None:
    """A key file configured straight into a shared folder (``/tmp/monitor.key``, ``/srv/monitor.key``): the file
    is owner-only, the folder keeps its mode (taking /tmp from everyone else stopped other programs working)."""
    from monitor.keys import forget_cached_keys, load_keys

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    keys = load_keys(path=shared / "monitor.key")
    assert keys is not None
    assert _mode(shared / "monitor.key") == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777, oct(shared.stat().st_mode)
    forget_cached_keys()


def test_a_config_file_another_user_could_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.config import ConfigError, UserConfig

    path = tmp_path / "config.toml"
    path.write_text('feed = "127.0.0.1:29999"\n', encoding="utf-8")
    monkeypatch.setenv("INFUSION_MONITOR_CONFIG", str(path))
    path.chmod(0o600)
    assert UserConfig.load().values == {"feed": "127.0.0.1:29999"}
    path.chmod(0o666)
    with pytest.raises(ConfigError, match=r"other users may change it \(mode 666\); make it private: chmod 600"):
        UserConfig.load()
    path.chmod(0o644)
    if os.getuid() == 0:  # as root the test can hand the file to another user, as that user would have made it
        os.chown(path, 65534, 65534)
        with pytest.raises(ConfigError, match="owned by another user"):
            UserConfig.load()


def test_course_exports_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "course.db"
    _identified_session(db)
    out = tmp_path / "course.json"
    old = os.umask(0)
    try:
        assert main(["course", MRN, "--db", str(db), "--format", "json", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert _mode(out) == 0o600
