"""Sign-in through the window: the first admin on first run, roles from accounts, refusals for the wrong role."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import Accounts
from monitor.store import Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET
from ui.account_dialogs import AccountGate, FirstAdminDialog, sign_in_at_start
from ui.settings_dialog import SettingsChoice

WAIT_MS = 20_000


def test_the_first_run_creates_the_first_admin(qtbot: Any, db_path: Path) -> None:
    gate = AccountGate(db_path)
    assert not gate.has_accounts()
    dialog = FirstAdminDialog(None, gate)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("AD")
    dialog.secret_edit.setText(ADMIN_SECRET)
    dialog.again_edit.setText("something else")
    dialog._check()
    assert "differ" in dialog.message.text() and not gate.has_accounts()
    dialog.again_edit.setText(ADMIN_SECRET)
    dialog.secret_edit.setText(ADMIN_SECRET)
    dialog._check()
    assert dialog.user().role == "admin" and gate.has_accounts()
    with Store(db_path) as store:
        assert Accounts(store).authenticate("AD", ADMIN_SECRET).role == "admin"


def test_ticking_the_emergency_sign_in_shows_its_hint_whole(qtbot: Any, db_path: Path) -> None:
    """The hint that comes with the emergency sign-in wraps to two lines: the dialog kept its one-line size and the
    second line was cut under the buttons (seen at 1280x800)."""
    from PySide6.QtWidgets import QApplication, QPushButton

    from ui.account_dialogs import AccountSignInDialog

    dialog = AccountSignInDialog(None, AccountGate(db_path), title="Infusion Monitor review — sign in")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.emergency_box.setChecked(True)
    QApplication.processEvents()
    message = dialog.message
    assert message.text().startswith("An emergency sign-in is recorded")
    assert message.heightForWidth(message.width()) > message.fontMetrics().height()  # it wraps here
    assert message.height() >= message.heightForWidth(message.width()), "the hint is cut"
    [ok] = [b for b in dialog.findChildren(QPushButton) if b.isVisible() and "OK" in b.text()]
    bottom = message.mapTo(dialog, message.rect().bottomLeft()).y()
    assert bottom < ok.mapTo(dialog, ok.rect().topLeft()).y(), "the hint runs under the buttons"


def test_user_option_signs_in_with_the_secret_from_the_environment(
    db_path: Path, accounts_in: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts_in(db_path)
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", NURSE_SECRET)
    user = sign_in_at_start(db_path, argparse.Namespace(user="RN", secret_file=None), title="t")
    assert user is not None and (user.name, user.role) == ("RN", "nurse")
    monkeypatch.setenv("INFUSION_MONITOR_SECRET", "wrong-secret")
    from monitor.accounts import AuthError

    with pytest.raises(AuthError, match="refused"):
        sign_in_at_start(db_path, argparse.Namespace(user="RN", secret_file=None), title="t")


def _sign_in(window: Any, name: str, secret: str) -> None:
    window.sign_in()
    window.dialog.name_edit.setText(name)
    window.dialog.secret_edit.setText(secret)
    window.dialog._check()


def test_a_nurse_signed_in_cannot_change_limits_or_switch_alarms_off_an_admin_can(
    qtbot: Any, make_window: Any, db_path: Path, accounts_in: Any
) -> None:
    w = make_window(speed=30.0)
    accounts_in(db_path)
    qtbot.waitUntil(lambda: w.last_snapshot is not None and bool(w.last_snapshot.limits), timeout=WAIT_MS)
    _sign_in(w, "RN", NURSE_SECRET)
    assert (w.user.name, w.user.role) == ("RN", "nurse")
    w.apply_settings(SettingsChoice(w.device, {}, {"hr_high": 130.0}), device_changed=False)
    qtbot.waitUntil(lambda: any("admin" in m for m in w.messages), timeout=WAIT_MS)
    w.send("alarms_off")
    qtbot.waitUntil(lambda: sum("admin" in m for m in w.messages) >= 2, timeout=WAIT_MS)
    assert not w.last_snapshot.alarms_off
    assert all(not (line.condition == "hr_high" and line.value == 130.0) for line in w.last_snapshot.limits)
    _sign_in(w, "AD", ADMIN_SECRET)  # shift hand-over to the admin
    assert w.user.role == "admin"
    w.apply_settings(SettingsChoice(w.device, {}, {"hr_high": 130.0}), device_changed=False)
    qtbot.waitUntil(
        lambda: any(line.condition == "hr_high" and line.value == 130.0 for line in w.last_snapshot.limits),
        timeout=WAIT_MS,
    )
    # Not even an admin takes SpO2 < 90 down to 50 % at the chair (the attack).
    w.apply_settings(SettingsChoice(w.device, {}, {"spo2_low_severe": 50.0}), device_changed=False)
    qtbot.waitUntil(lambda: any("clinical floor" in m for m in w.messages), timeout=WAIT_MS)


def test_starting_the_program_on_a_new_database_asks_for_the_first_admin_then_signs_it_in(
    qtbot: Any, tmp_path: Path
) -> None:
    """`python3 tasks.py run` from a fresh clone: no accounts yet, the first-run dialog creates the admin."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from monitor.cli import build_parser
    from ui.app import sign_in_at_start as start

    db = tmp_path / "fresh" / "monitor.db"
    args = build_parser().parse_args(["gui", "--db", str(db)])
    seen: list[str] = []

    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, FirstAdminDialog):
            QTimer.singleShot(20, fill)
            return
        seen.append(type(dialog).__name__)
        dialog.name_edit.setText("AD")
        dialog.secret_edit.setText(ADMIN_SECRET)
        dialog.again_edit.setText(ADMIN_SECRET)
        dialog._check()

    QTimer.singleShot(20, fill)
    user = start(args)
    assert seen == ["FirstAdminDialog"]
    assert user is not None and (user.name, user.role) == ("AD", "admin")
    assert AccountGate(db).has_accounts()


def test_the_window_names_the_alarm_profile_by_its_name_and_hash(make_window: Any) -> None:
    w = make_window(speed=10.0)
    assert "alarm profile default (sha256 " in w.windowTitle()
    w.bridge.recorder.profile_label = "built-in default (sha256 " + w.bridge.recorder.alarms.profile.sha256[:12] + ")"
    assert w.profile_label().startswith("built-in default (sha256 ")
    assert "built-in default" in w.current_rules()[1]


def test_a_database_that_cannot_be_used_refuses_sign_ins_saying_why_and_the_emergency_one_goes_with_the_recording(
    tmp_path: Path
) -> None:
    """The database's place is a folder (as unusable as a file on a dead disk): no account can be checked. Without a
    recording the emergency sign-in cannot be recorded either, and says so (before, the store's error escaped the
    dialog and nothing was said); with one, it is handed to the recording to audit."""
    from monitor.accounts import AuthError

    broken = tmp_path / "monitor.db"
    broken.mkdir()
    alone = AccountGate(broken)
    with pytest.raises(AuthError, match="cannot") as refused:
        alone.authenticate("AB", NURSE_SECRET)
    assert "Emergency sign-in" not in str(refused.value)
    with pytest.raises(AuthError, match="the emergency sign-in cannot be recorded"):
        alone.emergency("Dr Cover", "night cover", None)
    handed: list[tuple[Any, str]] = []
    recording = AccountGate(broken, checked=True, recording=lambda principal, why: handed.append((principal, why)))
    with pytest.raises(AuthError, match='tick "Emergency sign-in without an account"'):
        recording.authenticate("AB", NURSE_SECRET)
    with pytest.raises(AuthError, match="reason"):  # still a name and a reason, as always
        recording.emergency("Dr Cover", " ", "s1")
    assert handed == []
    principal = recording.emergency("Dr Cover", "night cover", "s1")
    assert principal.label == "EMERGENCY: Dr Cover" and principal.role == "nurse"
    [(given, why)] = handed
    assert given == principal and "cannot" in why
