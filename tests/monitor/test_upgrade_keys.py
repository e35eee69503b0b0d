"""An older database opened on a computer without its key file, or with another chair's: refused before anything is
written (README, "Identifiers and keys").

The upgrades to schemas 5 and 6 once ran before the key check: they made a new key file in the missing one's place,
sealed the old rows with it and committed, and only then was the open refused. With the right key file put back,
`verify` called the record forged and every account was refused at sign-in, for good.
"""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import identifiers, integrity
from monitor.accounts import Accounts
from monitor.cli import main
from monitor.keys import Keys, create_keys, forget_cached_keys, load_keys
from monitor.store import SCHEMA_VERSION, Store, StoreError, feed_queue
from tests.conftest import ADMIN_SECRET
from tests.monitor.old_schemas import MRN, NAME, QUEUED, QUEUED_IDENTIFIERS, files_beside, old_database

KEY_FILE = "INFUSION_MONITOR_KEY_FILE"
#: The schemas that sealed with a key file (and named it), before this program's.
SEALED_VERSIONS = range(4, SCHEMA_VERSION)


@pytest.fixture
def chair_a_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The key file of the computer that wrote the old database."""
    key_file = tmp_path / "chair-a" / "monitor.key"
    _use_key_file(monkeypatch, key_file)
    yield key_file
    forget_cached_keys()


def _use_key_file(monkeypatch: pytest.MonkeyPatch, key_file: Path) -> None:
    monkeypatch.setenv(KEY_FILE, str(key_file))
    forget_cached_keys()


def _keys(key_file: Path) -> Keys:
    keys = load_keys(create=False, path=key_file)
    assert keys is not None
    return keys


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _written_at_chair_a(db_path: Path, chair_a_keys: Path, version: int) -> tuple[str, str, Path]:
    """An old database written at the first chair: the fingerprint of its key file, the file's SHA-256, and where
    the second chair keeps its key file."""
    old_database(db_path, version)
    return _keys(chair_a_keys).fingerprint, _sha256(db_path), chair_a_keys.parent.parent / "chair-b" / "monitor.key"


def _opens_with_its_own_key_file(db_path: Path) -> None:
    """The upgrade runs with the right key file: the record verifies and the old admin signs in."""
    with Store(db_path) as store:
        assert store.user_version() == SCHEMA_VERSION
        report = integrity.verify(store.db.conn, store.keys)
        assert report.ok, [f.text() for f in report.findings]
        assert Accounts(store).authenticate("AD", ADMIN_SECRET).role == "admin"
        patient = store.patient_row("p1")
        assert patient is not None and patient["mrn"] == MRN


@pytest.mark.parametrize("version", SEALED_VERSIONS)
def test_an_older_database_without_its_key_file_is_refused_before_anything_is_written(
    chair_a_keys: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    fingerprint, before, chair_b_keys = _written_at_chair_a(db_path, chair_a_keys, version)
    _use_key_file(monkeypatch, chair_b_keys)
    with pytest.raises(StoreError) as refused:
        Store(db_path)
    said = str(refused.value)
    for named in (f"fingerprint {fingerprint}", str(chair_b_keys), KEY_FILE, "`infusion-monitor keys`",
                  "nothing was changed"):
        assert named in said, said
    assert _sha256(db_path) == before
    assert not chair_b_keys.exists(), "a new key file was made in the missing one's place"
    # The right key file put where the message says.
    chair_b_keys.parent.mkdir()
    shutil.copy2(chair_a_keys, chair_b_keys)
    forget_cached_keys()
    _opens_with_its_own_key_file(db_path)


@pytest.mark.parametrize("version", SEALED_VERSIONS)
def test_an_older_database_with_another_chairs_key_file_is_refused_and_neither_is_changed(
    chair_a_keys: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, version: int
) -> None:
    fingerprint, before, chair_b_keys = _written_at_chair_a(db_path, chair_a_keys, version)
    own = create_keys(chair_b_keys).fingerprint  # this computer's own key file, for its own database
    own_bytes = chair_b_keys.read_bytes()
    _use_key_file(monkeypatch, chair_b_keys)
    for readonly in (False, True):
        with pytest.raises(StoreError) as refused:
            Store(db_path, readonly=readonly)
        said = str(refused.value)
        # Never an invitation to replace this computer's key file: pointed at the database's own one instead.
        for named in (f"fingerprint {fingerprint}", f"this one {own}", f"Do not replace {chair_b_keys}", KEY_FILE,
                      "key_file in the config file"):
            assert named in said, said
    assert _sha256(db_path) == before
    assert chair_b_keys.read_bytes() == own_bytes
    _use_key_file(monkeypatch, chair_a_keys)  # as the message says
    _opens_with_its_own_key_file(db_path)


@pytest.mark.parametrize("version", [2, 3])
def test_a_database_from_before_identifiers_were_encrypted_gets_a_key_file_and_says_to_back_it_up(
    chair_a_keys: Path, db_path: Path, caplog: pytest.LogCaptureFixture, version: int
) -> None:
    old_database(db_path, version)
    assert not chair_a_keys.exists()
    with caplog.at_level(logging.WARNING), Store(db_path) as store:
        patient = store.patient_row("p1")
        assert patient is not None and (patient["mrn"], patient["name"]) == (MRN, NAME)
    fingerprint = _keys(chair_a_keys).fingerprint
    said = caplog.text
    for named in ("a new key file was created", str(chair_a_keys), fingerprint, "identifiers are encrypted with it",
                  "back it up now", "infusion-monitor keys --backup"):
        assert named in said, said
    caplog.clear()
    with caplog.at_level(logging.WARNING), Store(db_path):
        pass
    assert "new key file" not in caplog.text  # said once, when it is made


def test_a_new_database_says_its_new_key_file_must_be_backed_up(
    chair_a_keys: Path, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Store(db_path):
        pass
    assert f"a new key file was created for {db_path} at {chair_a_keys}" in caplog.text
    assert "back it up now" in caplog.text


def test_live_feed_messages_set_aside_before_encryption_are_encrypted_at_the_upgrade(db_path: Path) -> None:
    old_database(db_path, 6)
    conn = sqlite3.connect(db_path, isolation_level=None)  # the feed made its dead-letter table when it first ran
    conn.execute(feed_queue.DEAD_LETTER_TABLE)
    conn.execute("INSERT INTO feed_dead_letter (session_id, control_id, observed_at, queued_at, message, attempts, "
                 "dead_at) VALUES ('s1', 'c2', 1, 2, ?, 5, 3)", [QUEUED.replace("|c1|", "|c2|")])
    conn.close()
    with Store(db_path) as store:
        stored = [r[0] for r in store.db.execute("SELECT message FROM feed_queue UNION ALL "
                                                  "SELECT message FROM feed_dead_letter")]
        assert len(stored) == 2 and all(m.startswith(identifiers.PREFIX) for m in stored), stored
        feed_queue.requeue(store, feed_queue.dead_letters(store))
        first = feed_queue.oldest(store)
        assert first is not None and first[1:] == ("c1", QUEUED)
        feed_queue.delivered(store, first[0])
        second = feed_queue.oldest(store)
        assert second is not None and second[1:] == ("c2", QUEUED.replace("|c1|", "|c2|"))
    for path in files_beside(db_path):
        for secret in QUEUED_IDENTIFIERS:
            assert secret.encode() not in path.read_bytes(), f"{secret} still readable in {path.name}"


def test_a_course_without_the_key_file_names_the_key_file(
    chair_a_keys: Path, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    with Store(db_path) as store:
        store.create_patient(MRN, NAME)
    fingerprint = _keys(chair_a_keys).fingerprint
    _use_key_file(monkeypatch, tmp_path / "elsewhere" / "monitor.key")
    assert main(["course", MRN, "--db", str(db_path)], out=io.StringIO()) == 1
    said = capsys.readouterr().err
    assert f"needs its key file (fingerprint {fingerprint})" in said and KEY_FILE in said, said
    assert "no patient" not in said


def test_verify_of_an_older_database_says_it_is_to_be_upgraded_first(db_path: Path) -> None:
    """verify only reads: on a schema-5 file the accounts are not sealed yet (schema 6 seals them at the upgrade),
    which it must not call "added outside this program" once the right key file is back."""
    old_database(db_path, 5)
    out = io.StringIO()
    assert main(["verify", "--db", str(db_path)], out=out) == 0, out.getvalue()
    assert "schema 5, written by an older version: " in out.getvalue() and "outside this program" not in (
        out.getvalue().replace("nothing was changed, removed or added outside this program", ""))
    Store(db_path).close()
    out = io.StringIO()
    assert main(["verify", "--db", str(db_path)], out=out) == 0, out.getvalue()
    assert "written by an older version" not in out.getvalue()
