"""An admin manages the chair's accounts in the window (before, only `infusion-monitor users` on the command line
could: the first admin made in the window had no way there to add the nurses)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.accounts import FREE_FAILURES, Accounts, AuthError, LockedOut
from monitor.store import Store
from tests.conftest import locked_out
from ui.accounts_window import COLUMNS, AccountsDialog
from ui.dialogs import SignedInUser

ADMIN = SignedInUser("Ada Admin", "admin")
ADMIN_PIN = "ada-pin-1"
NURSE_PIN = "ben-pin-1"


@pytest.fixture
def accounts_db(db_path: Path) -> Path:
    """A database with its first admin and a nurse."""
    with Store(db_path) as store:
        accounts = Accounts(store)
        admin = accounts.add(ADMIN.name, "admin", ADMIN_PIN, by=None)
        accounts.add("Ben Nurse", "nurse", NURSE_PIN, by=admin)
    return db_path


@pytest.fixture
def dialog(qtbot: Any, accounts_db: Path) -> AccountsDialog:
    shown = AccountsDialog(accounts_db, ADMIN)
    qtbot.addWidget(shown)
    shown.show()
    return shown


def _rows(dialog: AccountsDialog) -> list[tuple[str, str, str]]:
    state = COLUMNS.index("State")
    return [(dialog.table.item(r, 0).text(), dialog.table.item(r, 1).text(), dialog.table.item(r, state).text())
            for r in range(dialog.table.rowCount())]


def _audit(db_path: Path, action: str) -> list[dict[str, Any]]:
    with Store(db_path, readonly=True) as reader:
        return [{**a, "detail": json.loads(a["detail"])} for a in reader.audit_log() if a["action"] == action]


def _fill(dialog: AccountsDialog, name: str, role: str = "nurse", secret: str = "", admin: str = ADMIN_PIN) -> None:
    dialog.name_edit.setText(name)
    dialog.role_box.setCurrentText(role)
    dialog.secret_edit.setText(secret)
    dialog.again_edit.setText(secret)
    dialog.admin_secret.setText(admin)


def test_an_admin_adds_an_account_confirmed_with_their_own_pin_and_it_can_sign_in(
    dialog: AccountsDialog, accounts_db: Path
) -> None:
    assert _rows(dialog) == [("Ada Admin", "admin", "active"), ("Ben Nurse", "nurse", "active")]
    _fill(dialog, "Cy Physician", "physician", "cy-pin-12", admin="")
    assert not dialog.add_button.click() and dialog.messages[-1].startswith("Type the PIN or password of Ada Admin")
    _fill(dialog, "Cy Physician", "physician", "cy-pin-12")
    dialog.add_button.click()
    assert dialog.messages[-1] == "Account 'Cy Physician' (physician) added."
    assert ("Cy Physician", "physician", "active") in _rows(dialog)
    assert dialog.admin_secret.text() == "" and dialog.secret_edit.text() == ""  # typed again for each change
    added = _audit(accounts_db, "user_added")[-1]
    assert (added["user"], added["detail"]["account"], added["detail"]["role"]) == (ADMIN.name, "Cy Physician",
                                                                                   "physician")
    with Store(accounts_db) as store:
        assert Accounts(store).authenticate("Cy Physician", "cy-pin-12").role == "physician"


def test_refusals_are_said_and_change_nothing(dialog: AccountsDialog, accounts_db: Path) -> None:
    _fill(dialog, "Cy Physician", "physician", "cy-pin-12", admin="not-her-pin")
    dialog.add_button.click()
    assert dialog.messages[-1].startswith("Not changed: ") and "Cy Physician" not in str(_rows(dialog))
    dialog.name_edit.setText("Cy Physician")
    dialog.secret_edit.setText("cy-pin-12")
    dialog.again_edit.setText("cy-pin-13")
    dialog.admin_secret.setText(ADMIN_PIN)
    dialog.add_button.click()
    assert dialog.messages[-1] == "Not changed: the two entries of the new PIN or password differ"
    _fill(dialog, ADMIN.name, admin=ADMIN_PIN)
    dialog.disable_button.click()
    assert dialog.messages[-1] == "Not changed: this is the only admin: it cannot be disabled"
    _fill(dialog, ADMIN.name, role="nurse")
    dialog.role_button.click()
    assert dialog.messages[-1] == "Not changed: this is the only admin: grant another account the admin role first"
    assert _rows(dialog) == [("Ada Admin", "admin", "active"), ("Ben Nurse", "nurse", "active")]


def test_a_locked_out_nurse_is_unlocked_given_a_new_pin_disabled_and_enabled(
    dialog: AccountsDialog, accounts_db: Path
) -> None:
    with Store(accounts_db) as store:
        locked_out(Accounts(store), "Ben Nurse")
    dialog.refresh()
    [(_name, _role, state)] = [row for row in _rows(dialog) if row[0] == "Ben Nurse"]
    assert state.startswith("LOCKED until ") and state.endswith(f"({FREE_FAILURES} failed sign-ins)")
    dialog.select("Ben Nurse")
    assert dialog.name_edit.text() == "Ben Nurse" and dialog.role_box.currentText() == "nurse"
    dialog.admin_secret.setText(ADMIN_PIN)
    dialog.unlock_button.click()
    assert dialog.messages[-1] == "'Ben Nurse' unlocked."
    assert ("Ben Nurse", "nurse", "active") in _rows(dialog)

    _fill(dialog, "Ben Nurse", secret="ben-pin-2")
    dialog.secret_button.click()
    assert dialog.messages[-1] == "New PIN or password set for 'Ben Nurse'."
    with Store(accounts_db) as store:
        assert Accounts(store).authenticate("Ben Nurse", "ben-pin-2").name == "Ben Nurse"

    dialog.select("Ben Nurse")
    dialog.admin_secret.setText(ADMIN_PIN)
    dialog.disable_button.click()
    assert dialog.messages[-1] == "'Ben Nurse' disabled." and ("Ben Nurse", "nurse", "disabled") in _rows(dialog)
    with Store(accounts_db) as store, pytest.raises(AuthError):
        Accounts(store).authenticate("Ben Nurse", "ben-pin-2")
    dialog.select("Ben Nurse")
    assert dialog.disable_button.text() == "Enable"
    dialog.admin_secret.setText(ADMIN_PIN)
    dialog.disable_button.click()
    assert dialog.messages[-1] == "'Ben Nurse' enabled."
    actions = [a["action"] for a in _audit(accounts_db, "user_unlocked") + _audit(accounts_db, "user_disabled")
               + _audit(accounts_db, "user_enabled") + _audit(accounts_db, "user_secret_changed")]
    assert sorted(actions) == ["user_disabled", "user_enabled", "user_secret_changed", "user_unlocked"]


def test_a_wrong_pin_of_the_admin_counts_as_a_failed_sign_in(dialog: AccountsDialog, accounts_db: Path) -> None:
    """The dialog is no way round the lock-out: guessing the admin's PIN there locks the admin out as anywhere."""
    for _ in range(FREE_FAILURES):
        _fill(dialog, "Ben Nurse", admin="guess-1234")
        dialog.unlock_button.click()
    _fill(dialog, "Ben Nurse", admin=ADMIN_PIN)  # now the right one: refused all the same until the lock-out ends
    dialog.unlock_button.click()
    assert dialog.messages[-1].startswith("Not changed: too many failed attempts: try again in ")
    with Store(accounts_db) as store, pytest.raises(LockedOut):
        Accounts(store).authenticate(ADMIN.name, ADMIN_PIN)


def test_someone_who_is_not_an_admin_changes_nothing_even_with_the_dialog(qtbot: Any, accounts_db: Path) -> None:
    shown = AccountsDialog(accounts_db, SignedInUser("Ben Nurse", "nurse"))
    qtbot.addWidget(shown)
    _fill(shown, "Eve", "admin", "eve-pin-12", admin=NURSE_PIN)
    shown.add_button.click()
    assert shown.messages[-1] == "Not changed: only a signed-in admin can add the account 'Eve' (Ben Nurse (nurse))"
    assert "Eve" not in str(_rows(shown))


def test_the_settings_offer_the_accounts_to_an_admin_only(qtbot: Any, make_window: Any) -> None:
    from ui.settings_dialog import SettingsDialog

    nurse = make_window(role="nurse", first_status=True)
    nurse.open_settings()
    assert isinstance(nurse.dialog, SettingsDialog) and nurse.dialog.accounts_button is None
    nurse.dialog.reject()
    admin = make_window(role="admin", first_status=True)
    admin.open_settings()
    assert isinstance(admin.dialog, SettingsDialog) and admin.dialog.accounts_button is not None
    admin.dialog.accounts_button.click()
    assert isinstance(admin.accounts_dialog, AccountsDialog) and admin.accounts_dialog.isVisible()
    assert admin.accounts_dialog.db_path == admin.bridge.recorder.writer.path
    admin.accounts_dialog.reject()
    admin.dialog.reject()
