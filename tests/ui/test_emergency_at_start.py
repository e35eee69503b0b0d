"""An emergency sign-in made when the program starts is flagged on the session it records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from monitor.app.launch import DeviceSpec, ServiceSpec, SessionSpec
from monitor.cli import build_parser
from monitor.store import Store
from ui.account_dialogs import AccountSignInDialog, sign_in_at_start


def test_an_emergency_sign_in_at_start_is_on_the_sessions_timeline(
    qtbot: Any, db_path: Path, accounts_in: Any
) -> None:
    from dataclasses import replace

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from ui.app import start_live

    accounts_in(db_path)  # the clinic has accounts; this clinician has none

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, AccountSignInDialog):
            QTimer.singleShot(20, fill)
            return
        dialog.emergency_box.setChecked(True)
        dialog.name_edit.setText("Dr Cover")
        dialog.reason_edit.setText("night cover, no account yet")
        dialog._check()

    QTimer.singleShot(20, fill)
    args = build_parser().parse_args(["gui", "--db", str(db_path)])
    user = sign_in_at_start(db_path, args, title="t")
    assert user is not None and user.name == "EMERGENCY: Dr Cover"
    store = Store(db_path)
    spec = replace(SessionSpec(device=DeviceSpec(driver="simulated", speed=10.0)), nurse=user.name)
    run = start_live(spec, ServiceSpec(), user, store)
    qtbot.addWidget(run.window)
    try:
        qtbot.waitUntil(lambda: run.window.last_status is not None, timeout=20_000)
        qtbot.wait(1_500)
    finally:
        run.shutdown()
        store.close()
    with Store(db_path, readonly=True) as reader:
        [summary] = reader.sessions()
        texts = [json.dumps(e.detail) for e in reader.events(summary.id)]
        audit = [dict(a) for a in reader.audit_log() if a["action"] == "break_glass"]
    assert audit, "no break_glass audit entry"
    assert any("night cover" in t for t in texts), (
        f"the session's timeline does not show the emergency sign-in or its reason; its break_glass audit entry "
        f"names session {audit[0].get('session_id')!r}; events: {[t[:60] for t in texts]}")
