"""The disk under a live window's database fails while the screen is locked (the idle lock, or a nurse's Ctrl+L).

Monitoring goes on; what must not happen is that nobody can take the controls back: the accounts cannot be read
from a dead disk, so no account can be checked, but the emergency (break-glass) sign-in is there for exactly such
a moment. It must unlock the window, and its audit entry must be kept with the rows the recording holds, so that
it reaches the database with them once the disk is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.store import Store
from tests.conftest import held_open
from tests.faults.helpers import ext4_disk, fail_disk, written_back
from tests.faults.windows import WAIT_MS, recording_window


def test_a_locked_window_whose_disk_failed_is_unlocked_by_an_emergency_sign_in(qtbot: Any, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    with ext4_disk(tmp_path / "disk", image) as disk:
        db_path = disk / "monitor.db"
        store, recorder, window = recording_window(qtbot, db_path, scenario="normal", speed=10.0, autopilot=False)
        session_id = recorder.session.id
        try:
            window.set_locked(True)
            fail_disk(disk)
            qtbot.waitUntil(lambda: window.last_status is not None and not window.last_status.storage_ok,
                            timeout=WAIT_MS)
            # An account cannot be checked: the sign-in says why, and points to the emergency sign-in.
            window.sign_in()
            dialog: Any = window.dialog
            dialog.name_edit.setText("AB")
            dialog.secret_edit.setText("123456")
            dialog._check()
            assert window.locked
            text = dialog.message.text()
            assert "Input/output error" in text or "disk I/O error" in text, text
            assert "Emergency sign-in" in text, text
            dialog.emergency_box.setChecked(True)
            dialog.name_edit.setText("Dr Cover")
            dialog.reason_edit.setText("chair locked, its disk failed")
            dialog._check()
            assert not window.locked, dialog.message.text()
            assert window.user.name == "EMERGENCY: Dr Cover" and window.controls.isEnabled()
        finally:
            window.force_close()
            store.close()
        # Nothing of this process holds the dead disk any more: it can be unmounted and replaced.
        assert held_open(f"{disk}/") == []
        recovery = recorder.recovery_file
        assert recovery is not None, "the held rows went nowhere"
        held = Path(recovery).read_text()
        assert '"break_glass"' in held and "chair locked, its disk failed" in held
    # The disk back: write-held puts the emergency sign-in into the audit log with the session's rows.
    with written_back(image, tmp_path / "disk", recovery, db_path), Store(db_path, readonly=True) as reader:
        [entry] = [a for a in reader.audit_log(session_id) if a["action"] == "break_glass"]
        assert entry["user"] == "EMERGENCY: Dr Cover" and "chair locked, its disk failed" in entry["detail"]
