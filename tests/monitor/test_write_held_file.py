"""write-held names the recovery file it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store.held_file import read_recovery_file


def test_a_recovery_file_that_is_not_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db.recovery-1234abcd-1700000000.jsonl"
    path.write_bytes(b'{"op": "audit"}\n\x9b\xff\x00binary\n')
    with pytest.raises(ValueError, match="recovery-1234abcd"):
        read_recovery_file(path)
