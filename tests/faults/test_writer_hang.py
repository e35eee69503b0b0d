"""A store-writer thread that hangs (a write that never returns) inside a real ``record``."""

from __future__ import annotations

from pathlib import Path

from tests.faults.helpers import run_child, stored_counts


def test_a_hung_store_writer_is_a_technical_alarm(db_path: Path) -> None:
    child = run_child(Path(__file__).with_name("writer_hangs_child.py"), str(db_path))
    lines = child.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- writer hangs"))
    end = next(i for i, line in enumerate(lines) if line.startswith("-- writer runs again"))
    during = lines[start + 1:end]
    stored = stored_counts(during)
    assert len(stored) >= 5 and len(set(stored)) == 1  # nothing reached the disk for 10 s while values went on
    told = [line for line in during if line.startswith("\a") or "STORAGE FAILING" in line]
    assert told, "the writer wrote nothing for 10 s; the terminal said:\n" + "\n".join(during)
