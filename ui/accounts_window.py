"""The chair's accounts, for an admin, in the window: what ``infusion-monitor users`` does on the command line.

Listed: each account's name, role, state (active, locked after failed sign-ins, disabled) and who created it. An
admin adds an account, gives one a new PIN or password, changes its role, disables or enables it, and clears a
lock-out. Each change is made by the admin's account signed in again at that moment (the admin's PIN or password
typed here: a window left signed in is not enough to change who may do what), checked and audited by
:class:`~monitor.accounts.Accounts` exactly as the command line's; a refusal (the last admin, a short PIN, a
wrong PIN of the admin's) is said in the dialog and changes nothing. Every attempt uses a short-lived connection
of the dialog's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from monitor.accounts import ROLES, AccountInfo, Accounts, AuthError, Principal
from monitor.store import Store, StoreError
from ui import theme
from ui.dialogs import SignedInUser
from ui.plain_text import make_plain
from ui.session_text import local_time
from ui.wheel import wheel_turns_focused_fields_only

COLUMNS = ("Name", "Role", "State", "Created", "Created by")


def state_text(account: AccountInfo, now: float) -> str:
    """An account's state as the list shows it."""
    if account.disabled:
        return "disabled"
    if account.locked_until is not None and account.locked_until > now:
        return f"LOCKED until {time.strftime('%H:%M', time.localtime(account.locked_until))} " \
               f"({account.failures} failed sign-ins)"
    return "active"


class AccountsDialog(QDialog):
    """Add, change, disable, enable and unlock the accounts of one database (for a signed-in admin)."""

    def __init__(self, db_path: str | Path, user: SignedInUser, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.user = user
        self.accounts: list[AccountInfo] = []
        self.messages: list[str] = []
        self.setWindowTitle("Accounts")
        self.setStyleSheet(theme.STYLE_SHEET)
        theme.fit_to_screen(self, 980, 620)
        layout = QVBoxLayout(self)

        intro = QLabel(f"Each change is made as {user.name} and recorded in the audit log: type your PIN or "
                       "password to confirm it.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.admin_secret = QLineEdit()
        self.admin_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.admin_secret.setPlaceholderText(f"PIN or password of {user.name}")
        layout.addWidget(self.admin_secret)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        theme.read_only_rows(self.table)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected_changed)
        layout.addWidget(self.table, 1)

        form = QFormLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("the account's name (selected above, or a new one)")
        self.role_box = QComboBox()
        self.role_box.addItems(list(ROLES))
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("a new PIN or password: at least 6 characters")
        self.again_edit = QLineEdit()
        self.again_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Name", self.name_edit)
        form.addRow("Role", self.role_box)
        form.addRow("New PIN or password", self.secret_edit)
        form.addRow("The same again", self.again_edit)
        layout.addLayout(form)

        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(f"color: {theme.WARNING_TEXT}; font-weight: bold;")
        layout.addWidget(self.message)

        row = QHBoxLayout()
        self.add_button = QPushButton("Add account")
        self.add_button.clicked.connect(self.add_account)
        self.secret_button = QPushButton("Set new PIN")
        self.secret_button.clicked.connect(self.set_secret)
        self.role_button = QPushButton("Set role")
        self.role_button.clicked.connect(self.set_role)
        self.disable_button = QPushButton("Disable")
        self.disable_button.clicked.connect(self.toggle_disabled)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.clicked.connect(self.unlock)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        for button in (self.add_button, self.secret_button, self.role_button, self.disable_button,
                       self.unlock_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(close)
        for button in (self.add_button, self.secret_button, self.role_button, self.disable_button,
                       self.unlock_button, close):
            button.setAutoDefault(False)  # Enter in a field changes nothing: each change is a button pressed
        layout.addLayout(row)
        make_plain(self)  # account names are shown literally
        wheel_turns_focused_fields_only(self)
        self.refresh()

    # -- the list ------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the accounts again."""
        try:
            with Store(self.db_path, check=False) as store:
                self.accounts = Accounts(store).listing()
        except StoreError as exc:
            self.accounts = []
            self.say(f"The accounts cannot be read: {exc}")
        now = time.time()
        self.table.setRowCount(len(self.accounts))
        for index, account in enumerate(self.accounts):
            cells = (account.name, account.role, state_text(account, now), local_time(account.created_at),
                     account.created_by or "first run")
            for column, text in enumerate(cells):
                self.table.setItem(index, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self._selected_changed()

    def selected(self) -> AccountInfo | None:
        """The account of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.accounts):
            return None
        return self.accounts[rows[0].row()]

    def select(self, name: str) -> None:
        """Select an account's row by name."""
        for index, account in enumerate(self.accounts):
            if account.name == name:
                self.table.selectRow(index)

    def _selected_changed(self) -> None:
        account = self.selected()
        if account is not None:
            self.name_edit.setText(account.name)
            self.role_box.setCurrentText(account.role)
        self.disable_button.setText("Enable" if account is not None and account.disabled else "Disable")

    def say(self, text: str) -> None:
        """A line for the admin (what was done, or why not)."""
        self.messages.append(text)
        self.message.setText(text)

    # -- changes -------------------------------------------------------------------------------------

    def _change(self, action: Callable[[Accounts, Principal], str]) -> bool:
        """Sign the admin in again with the secret typed, then make the change; say what was done or why not."""
        secret = self.admin_secret.text()
        if not secret:
            self.say(f"Type the PIN or password of {self.user.name} first: each change is made as that account.")
            self.admin_secret.setFocus()
            return False
        try:
            with Store(self.db_path, check=False) as store:
                accounts = Accounts(store)
                admin = accounts.authenticate(self.user.name, secret)
                done = action(accounts, admin)
        except AuthError as exc:
            self.say(f"Not changed: {exc}")
            return False
        except StoreError as exc:
            self.say(f"Not changed: the database does not take it ({exc})")
            return False
        finally:
            self.admin_secret.clear()  # typed again for each change
        self.secret_edit.clear()
        self.again_edit.clear()
        self.refresh()
        self.select(self.name_edit.text().strip())
        self.say(done)
        return True

    def _new_secret(self) -> str:
        first = self.secret_edit.text()
        if first != self.again_edit.text():
            raise AuthError("the two entries of the new PIN or password differ")
        return first

    def add_account(self) -> bool:
        """Add the account named in the form, with the role and the new PIN or password typed."""
        name, role = self.name_edit.text(), self.role_box.currentText()

        def add(accounts: Accounts, admin: Principal) -> str:
            accounts.add(name, role, self._new_secret(), by=admin)
            return f"Account '{name.strip()}' ({role}) added."
        return self._change(add)

    def set_secret(self) -> bool:
        """Give the named account the new PIN or password typed (its lock-out cleared)."""
        name = self.name_edit.text()

        def renew(accounts: Accounts, admin: Principal) -> str:
            accounts.set_secret(name, self._new_secret(), by=admin)
            return f"New PIN or password set for '{name.strip()}'."
        return self._change(renew)

    def set_role(self) -> bool:
        """Give the named account the role chosen (the last admin stays one)."""
        name, role = self.name_edit.text(), self.role_box.currentText()

        def grant(accounts: Accounts, admin: Principal) -> str:
            accounts.set_role(name, role, by=admin)
            return f"'{name.strip()}' now has the role {role}."
        return self._change(grant)

    def toggle_disabled(self) -> bool:
        """Disable the named account, or enable it again (the last admin cannot be disabled)."""
        name = self.name_edit.text().strip()
        account = next((a for a in self.accounts if a.name == name), None)
        disable = not (account is not None and account.disabled)

        def switch(accounts: Accounts, admin: Principal) -> str:
            accounts.set_disabled(name, disable, by=admin)
            return f"'{name}' {'disabled' if disable else 'enabled'}."
        return self._change(switch)

    def unlock(self) -> bool:
        """Clear the named account's lock-out after failed sign-ins."""
        name = self.name_edit.text().strip()

        def clear(accounts: Accounts, admin: Principal) -> str:
            accounts.unlock(name, by=admin)
            return f"'{name}' unlocked."
        return self._change(clear)
