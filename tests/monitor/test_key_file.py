"""The key file: made whole, and never emptied by a backup.

``infusion-monitor keys --backup FILE`` where FILE is the key file itself (its own path, or a link to it:
a backup folder that is a link to the keys folder, ``--backup monitor.key`` typed inside the keys folder).

The key file is the one thing the README says cannot be recreated: without it the identifiers cannot be read
and the record cannot be verified. A backup command must never leave it empty.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from monitor import keys as keys_module
from monitor.keys import create_keys, forget_cached_keys, keep_key_file, read_keys
from monitor.store import Store, StoreError
from tests.faults.helpers import REPO_ROOT


@pytest.mark.parametrize("how", ["same-path", "symlink"])
def test_a_backup_onto_the_key_file_itself_leaves_the_key_file_whole(tmp_path: Path, how: str) -> None:
    key_file = tmp_path / "keys" / "monitor.key"
    fingerprint = create_keys(key_file).fingerprint
    target = key_file
    if how == "symlink":
        target = tmp_path / "backup.key"
        target.symlink_to(key_file)
    run = subprocess.run([sys.executable, "-m", "monitor.cli", "keys", "--backup", str(target)], cwd=REPO_ROOT,
                         env=dict(os.environ, INFUSION_MONITOR_KEY_FILE=str(key_file)),
                         capture_output=True, text=True, timeout=60, check=False)
    print(run.stdout, run.stderr)
    assert key_file.stat().st_size > 0, f"the key file was emptied; the command said: {run.stdout.strip()}"
    assert read_keys(key_file).fingerprint == fingerprint


def test_a_key_file_is_made_in_a_folder_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new key file is written under a name of its own and linked into place; where the filesystem has no hard
    links (a FAT stick, some network shares) it is made at its name, as exclusive and private as ever."""
    import errno
    import stat

    def no_links(_source: object, _target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key_file = tmp_path / "keys" / "monitor.key"
    keys = create_keys(key_file)
    assert read_keys(key_file).fingerprint == keys.fingerprint
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["monitor.key"]  # no part file left behind
    assert create_keys(key_file).fingerprint == keys.fingerprint  # an existing one is never replaced


def test_a_deleted_key_file_is_written_back_from_the_keys_in_use(tmp_path: Path) -> None:
    """A recording holds its keys in memory: it may be the last holder once the file is deleted."""
    key_file = tmp_path / "keys" / "monitor.key"
    keys = create_keys(key_file)
    assert keep_key_file(keys) is None  # in place: nothing to do
    shutil.rmtree(key_file.parent)
    news = keep_key_file(keys)
    assert news is not None and news.kept and "was deleted; the keys in use were written back" in news.text
    assert read_keys(key_file) == keys
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert keep_key_file(keys) is None
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["monitor.key"]  # no part file left


@pytest.mark.parametrize("replacement", ["other keys", "damaged"])
def test_a_replaced_key_file_is_left_alone_and_the_keys_in_use_are_written_beside_it(
    tmp_path: Path, replacement: str
) -> None:
    key_file = tmp_path / "keys" / "monitor.key"
    keys = create_keys(key_file)
    key_file.unlink()
    if replacement == "other keys":
        create_keys(key_file)
    else:
        key_file.write_text("{not json")
    before = key_file.read_bytes()
    news = keep_key_file(keys)
    beside = key_file.with_name(f"monitor.key.{keys.fingerprint}")
    assert news is not None and news.kept and str(beside) in news.text and keys.fingerprint in news.text
    assert key_file.read_bytes() == before  # a key file is never overwritten
    assert read_keys(beside).fingerprint == keys.fingerprint
    assert (read_keys(beside).integrity, read_keys(beside).identifiers) == (keys.integrity, keys.identifiers)
    assert keep_key_file(keys) is None  # written beside already


def test_keys_that_cannot_be_written_back_are_said_so(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "monitor.key"
    keys = create_keys(key_file)
    shutil.rmtree(key_file.parent)
    key_file.parent.write_text("a file where the folder was")
    news = keep_key_file(keys)
    assert news is not None and not news.kept and "could not be written" in news.text


def test_the_next_start_names_the_keys_a_recording_saved_beside_a_replaced_key_file(
    own_key_file: Path, db_path: Path
) -> None:
    key_file = own_key_file
    with Store(db_path) as store:
        keys = store.keys
        assert keys is not None
        key_file.unlink()
        create_keys(key_file)  # the wrong back-up put back while the recording runs
        news = keep_key_file(keys)
    assert news is not None
    saved = key_file.with_name(f"monitor.key.{keys.fingerprint}")
    forget_cached_keys()
    with pytest.raises(StoreError, match=f"a recording saved those keys as {saved}: put that file at {key_file}"):
        Store(db_path)
    os.replace(saved, key_file)  # as the message says
    forget_cached_keys()
    with Store(db_path) as reopened:
        assert reopened.keys == read_keys(key_file) and reopened.keys.fingerprint == keys.fingerprint


def test_a_key_file_another_recording_wrote_back_first_is_as_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two recordings sharing the key file both find it deleted; the one that links second is told the name is
    taken, which is no failure when the file there holds the same keys."""
    key_file = tmp_path / "keys" / "monitor.key"
    keys = create_keys(key_file)
    key_file.unlink()
    real_install = keys_module._install

    def the_other_recording_first(path: Path, body: str) -> None:
        real_install(path, body)
        raise FileExistsError(path)

    monkeypatch.setattr(keys_module, "_install", the_other_recording_first)
    news = keep_key_file(keys)
    assert news is not None and news.kept and "written back" in news.text
    assert read_keys(key_file) == keys
