"""What a writer holds while its store refuses is in a recovery file from the first moments of the outage, so that
a crash, a kill or a power cut during it loses none of it; once the store takes the rows again the file goes; and
``write-held`` on a copy of it left by a crash writes only what the writer had not written itself, whatever moment
the crash came at."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import data_dir
from monitor.store import Store
from monitor.store import writer as writer_module
from monitor.store.held_file import HELD_ROWS_DRAINED, pending_recovery_files, read_held_file, write_held
from monitor.store.operations import AuditEntry, Batch
from monitor.store.writer import StoreWriter
from tests.conftest import leave_unfinished
from tests.faults.helpers import fill, small_disk
from tests.monitor.writing import T0, Switch, heart_rate, stored_times, switched_writer


def _outage(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, StoreWriter, Switch, list[float]]:
    """A session whose writer committed one reading, then held 60 more (and an audit entry) through an outage,
    in chunks of 10 rows, its recovery file written at every turn (not every second); the times of all 61."""
    monkeypatch.setattr(writer_module, "CHUNK_ROWS", 10)
    monkeypatch.setattr(writer_module, "SPILL_EVERY_S", 0.0)
    monkeypatch.setattr(writer_module, "SPILL_TIME_SHARE", 0.0)
    session_id, writer, switch = switched_writer(db_path)
    writer.put(Batch(readings=(heart_rate(T0),)))
    assert writer.pump(force=True)
    switch.broken = True
    times = [T0]
    for second in range(1, 61):
        writer.put(Batch(readings=(heart_rate(T0 + second),)))
        times.append(T0 + second)
        if second == 30:
            writer.put(AuditEntry(T0 + 30, "acknowledge", "RN", session_id, {"alarm": "a1"}))
        writer.pump()
    return session_id, writer, switch, times


def _drained(writer: StoreWriter, switch: Switch, db_path: Path, session_id: str) -> list[float]:
    """The store takes writes again and the writer writes everything held; the times then stored."""
    switch.broken = False
    assert writer.pump(force=True)
    writer.close()
    return stored_times(db_path, session_id)


def test_what_is_held_is_in_a_recovery_file_during_the_outage_and_the_file_goes_once_it_is_written(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, switch, times = _outage(db_path, monkeypatch)
    spilled = writer.spill_path
    assert spilled is not None and spilled.exists() and spilled.parent == db_path.parent
    assert pending_recovery_files(db_path, session_id) == [spilled]
    held = read_held_file(spilled, writer.keys)
    assert held.session_id == session_id and held.run == writer.run_id
    assert sum(op.rows() for op in held.ops) == 61  # written within the outage, not only at its end
    assert held.numbers == sorted(held.numbers or []) and len(held.numbers or []) == len(held.ops)
    switch.broken = False
    assert writer.pump(force=True)
    writer.close()
    assert not spilled.exists() and writer.spill_path is None
    assert stored_times(db_path, session_id) == times
    with Store(db_path, readonly=True) as reader:
        drained = [a for a in reader.audit_log(session_id) if a["action"] == HELD_ROWS_DRAINED]
    assert len(drained) == 7  # 61 operations in chunks of 10 rows, each chunk saying how far it reached


@pytest.mark.parametrize("chunks_before_the_crash", [0, 1, 3, 7])
def test_a_crash_at_any_point_of_the_drain_leaves_a_file_that_write_held_completes_without_writing_twice(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, chunks_before_the_crash: int
) -> None:
    session_id, writer, switch, times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    writer.spill()  # the last writing before the crash holds everything
    left_by_the_crash = db_path.parent / "copy" / writer.spill_path.name
    left_by_the_crash.parent.mkdir()
    shutil.copy(writer.spill_path, left_by_the_crash)
    switch.broken = False
    switch.fail_after = switch.transactions + chunks_before_the_crash  # the process dies after that many commits
    writer.pump(force=True)
    writer.close()  # as a killed process would: nothing more is written
    leave_unfinished(db_path, session_id)
    done = write_held(db_path, left_by_the_crash)
    assert done.session_id == session_id
    assert stored_times(db_path, session_id) == times  # each reading once, none missing
    with Store(db_path, readonly=True) as reader:
        assert [a["action"] for a in reader.audit_log(session_id)].count("acknowledge") == 1
    out = io.StringIO()
    assert main(["write-held", str(left_by_the_crash) + ".written", "--db", str(db_path)], out=out) == 0
    assert "nothing written again" in out.getvalue()
    assert stored_times(db_path, session_id) == times


def test_write_held_refuses_the_file_of_a_recording_that_still_runs(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is there while the outage lasts, where someone may find it: written in then, its rows would be
    written a second time by the recording itself once the disk is back."""
    session_id, writer, switch, times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    with pytest.raises(ValueError, match=f"session {session_id[:8]} is still recording"):
        write_held(db_path, writer.spill_path)
    assert writer.spill_path.exists()  # left as it was
    assert _drained(writer, switch, db_path, session_id) == times


def test_the_file_is_added_to_during_the_outage_not_written_again_whole(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written whole every 5 s before (an 8 h hold is some 20 MB at each writing), a crash lost up to the last 5 s
    and more; each writing now adds what came since, sealed, so it can come every second."""
    session_id, writer, switch, times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    first = writer.spill_path.stat()
    text = writer.spill_path.read_text()
    # Written whole at the pump after the first failure, then one part at each of the 58 pumps after it.
    assert text.count('"op": "file_seal"') == 59
    writer.put(Batch(readings=(heart_rate(T0 + 61),)))
    writer.spill()
    after = writer.spill_path.stat()
    assert after.st_ino == first.st_ino  # the same file, added to
    added = writer.spill_path.read_text()[len(text):]
    assert added.count("\n") == 2 and '"n": 63' in added  # the one new operation and its seal
    held = read_held_file(writer.spill_path, writer.keys)
    assert sum(op.rows() for op in held.ops) == 62 and held.unsealed_lines == 0
    assert _drained(writer, switch, db_path, session_id) == [*times, T0 + 61]


def test_an_addition_cut_off_by_a_crash_is_left_out_and_said_and_the_rest_is_written(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, _switch, times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    writer.put(Batch(readings=(heart_rate(T0 + 61),)))
    writer.put(Batch(readings=(heart_rate(T0 + 62),)))
    before = writer.spill_path.stat().st_size
    writer.spill()
    path = writer.spill_path
    writer.close()  # killed while adding: the last part is there in half, without its seal
    whole = path.read_bytes()
    path.write_bytes(whole[:before + (len(whole) - before) // 2])
    leave_unfinished(db_path, session_id)
    out = io.StringIO()
    assert main(["write-held", str(path), "--db", str(db_path)], out=out) == 0
    assert "at the end of the file, added as the program stopped and never sealed, were not written" in out.getvalue()
    assert stored_times(db_path, session_id) == times  # everything sealed; the cut-off part alone is not


def test_rows_changed_in_an_earlier_part_of_the_file_refuse_the_whole_file(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, _switch, _times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    path = writer.spill_path
    writer.close()
    lines = path.read_text().splitlines(keepends=True)
    [tenth] = [i for i, line in enumerate(lines) if line.rstrip().endswith('"n": 10}')]
    assert '70.0' in lines[tenth]
    lines[tenth] = lines[tenth].replace("70.0", "170.0")  # one heart rate, 50 parts before the last seal
    path.write_text("".join(lines))
    leave_unfinished(db_path, session_id)
    with pytest.raises(ValueError, match="the file was changed after this program wrote it"):
        write_held(db_path, path)
    assert path.exists()


def test_a_file_taken_away_during_the_outage_is_written_whole_again(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id, writer, switch, times = _outage(db_path, monkeypatch)
    assert writer.spill_path is not None
    writer.spill_path.unlink()
    writer.put(Batch(readings=(heart_rate(T0 + 61),)))
    assert writer.spill() == str(writer.spill_path)
    held = read_held_file(writer.spill_path, writer.keys)
    assert sum(op.rows() for op in held.ops) == 62  # everything held, not only what came since
    assert _drained(writer, switch, db_path, session_id) == [*times, T0 + 61]


def test_a_recovery_file_whose_disk_fills_during_the_outage_is_written_whole_in_the_next_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beside the database at first; then that disk fills (a real small filesystem) and adding to the file fails
    half-way: the whole hold goes to the user's data folder, and the half-added file beside the database goes."""
    with small_disk(tmp_path / "disk", "4m") as folder:
        session_id, writer, switch, times = _outage(folder / "monitor.db", monkeypatch)
        first = writer.spill_path
        assert first is not None and first.parent == folder
        filler = fill(folder)
        # More than the room left in the file's last page: the addition cannot fit.
        added = [T0 + 61 + i / 100 for i in range(200)]
        writer.put(Batch(readings=tuple(heart_rate(t) for t in added)))
        assert writer.spill() == str(writer.spill_path)
        assert writer.spill_path.parent == data_dir() and not first.exists()
        held = read_held_file(writer.spill_path, writer.keys)
        assert sum(op.rows() for op in held.ops) == 61 + 200 and held.unsealed_lines == 0  # all held, not only the new
        filler.unlink()
        assert _drained(writer, switch, folder / "monitor.db", session_id) == [*times, *added]
        assert writer.spill_path is None and pending_recovery_files(folder / "monitor.db", session_id) == []
