"""Rows held in a recovery file come into the sealed record only as the program wrote them."""

from __future__ import annotations

import json
from pathlib import Path

from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmState, Priority
from monitor.integrity import verify
from monitor.store import Store
from monitor.store.held_file import write_held, write_recovery_file
from monitor.store.operations import AuditEntry, Batch, Operation

T0 = 1_790_000_000.0


def test_a_recovery_file_changed_before_it_is_written_back_does_not_verify(store: Store, db_path: Path) -> None:
    session_id = store.create_session(started_at=T0, patient_id=None, driver="simulated", port=None, plan="")
    alarm = AlarmRecord(
        "a1", "spo2_low", "spo2", Priority.HIGH, AlarmKind.PHYSIOLOGICAL, "SpO2 86 < 90 %", T0 + 5,
        ended_at=T0 + 80, limit=90.0, peak_value=86.0, state=AlarmState.ENDED,
    )
    ops: list[Operation] = [Batch(alarms=(alarm,)), AuditEntry(T0 + 22, "note", "RN", session_id)]
    path = write_recovery_file(db_path, session_id, ops, store.keys)
    assert path is not None
    # Someone who can write beside the database (not the key file) rewrites the held rows: the desaturation
    # went no lower than 89 %, and it was acknowledged within a second by the nurse.
    lines = Path(path).read_text().splitlines()
    batch = json.loads(lines[0])
    text = json.dumps(batch).replace("86.0", "89.0").replace("SpO2 86", "SpO2 89")
    Path(path).write_text(text + "\n" + "\n".join(lines[1:]) + "\n")
    try:
        write_held(db_path, path)
    except ValueError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:
        assert "changed after this program wrote it" in refused and store.alarms(session_id) == []
        return
    [stored] = store.alarms(session_id)
    report = verify(store.db.conn, store.keys)
    assert not report.ok, (f"the alarm was written back as peak {stored.peak_value} ({stored.message!r}), not the "
                           f"86 % held, and the record verified ({report.links} links)")
