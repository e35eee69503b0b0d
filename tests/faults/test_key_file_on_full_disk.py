"""The key file's first creation on a full filesystem (a real tmpfs, filled until ENOSPC), then space freed.

The creation cannot succeed while the disk is full; once space returns the program must be able to
create the key file, not refuse forever a half-written one that was never a key file ("restore it from the
back-up": there is no back-up of a key that was never written).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.keys import KeyFileError, create_keys, read_keys
from tests.faults.helpers import fill, small_disk


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small-disk", "256k") as folder:
        (folder / "keys").mkdir()
        fill(folder)
        yield folder


def test_a_key_file_not_written_for_lack_of_space_is_created_once_space_returns(full_disk: Path) -> None:
    key_file = full_disk / "keys" / "monitor.key"
    with pytest.raises((KeyFileError, OSError)):
        create_keys(key_file)
    (full_disk / "filler").unlink()
    keys = create_keys(key_file)  # space is back: a key file is made and read back
    assert read_keys(key_file).fingerprint == keys.fingerprint
