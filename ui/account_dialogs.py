"""Sign-in against accounts: the first admin, sign-in / shift hand-over / unlock, and emergency access.

The role comes from the account (granted by an admin), never from a list the person picks from.
Every attempt is checked on a short-lived connection of the dialog's own (the recorder's
connection belongs to its thread). An emergency (break-glass) sign-in is for a clinician without
an account: it needs a name and a reason, is audited, flagged on the session's timeline, and
never carries the admin role. It is also the way back to the controls of a recording whose database
cannot be used (its disk failed): no account can be checked then, and its audit entry goes with the
rows the recording holds (:attr:`AccountGate.recording`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from monitor.accounts import Accounts, AuthError, Principal, break_glass, emergency_principal
from monitor.store import Store, StoreError
from ui import theme
from ui.dialogs import SignedInUser, complain, form_footer, show_hint
from ui.plain_text import make_plain, plain_label

EMERGENCY_PREFIX = "EMERGENCY: "


class AccountGate:
    """Checks secrets against the accounts of one database, each time on a connection of its own.

    The first connection reads the whole file (``PRAGMA quick_check``: a damaged file is refused) where it may have
    been damaged since the program left it whole (:mod:`monitor.store.open_marks`), unless ``checked`` says this
    process has done so (the recording's own store); later ones do not, so a sign-in or an unlock does not hold the
    window for the seconds a year's database takes to read.
    """

    def __init__(
        self, db_path: Path, *, checked: bool = False, recording: Callable[[Principal, str], None] | None = None
    ) -> None:
        self.db_path = Path(db_path)
        self.checked = checked
        #: With a recording of this database: audits an emergency sign-in through it (its writer holds the entry
        #: with the session's rows) when the database cannot be used; called with the principal and the reason
        #: the database could not take it.
        self.recording = recording

    def _open(self) -> Store:
        store = Store(self.db_path, check=not self.checked)
        self.checked = True
        return store

    def has_accounts(self) -> bool:
        """True once the first admin exists."""
        with self._open() as store:
            return Accounts(store).has_accounts()

    def authenticate(self, name: str, secret: str) -> Principal:
        """The account, or :class:`AuthError` (wrong secret, locked out, disabled)."""
        try:
            with self._open() as store:
                return Accounts(store).authenticate(name, secret)
        except (StoreError, sqlite3.Error) as exc:
            hint = (" - no account can be checked; tick \"Emergency sign-in without an account\" to take the "
                    "controls (it is recorded with the session)") if self.recording is not None else ""
            raise AuthError(f"{exc}{hint}") from None

    def create_first_admin(self, name: str, secret: str) -> Principal:
        """The first run: the first account, an admin, created without anyone signed in."""
        with self._open() as store:
            return Accounts(store).add(name, "admin", secret, by=None)

    def emergency(self, name: str, reason: str, session_id: str | None) -> Principal:
        """An audited break-glass sign-in; while the database cannot be used, audited through the recording
        (:attr:`recording`), or refused saying why when there is none."""
        principal = emergency_principal(name, reason)
        try:
            with self._open() as store:
                return break_glass(store, name, reason, session_id=session_id)
        except (StoreError, sqlite3.Error) as exc:
            if self.recording is None:
                raise AuthError(f"{exc}; the emergency sign-in cannot be recorded") from None
            self.recording(principal, str(exc))
            return principal


def principal_of(user: SignedInUser) -> Principal:
    """The principal behind a signed-in user (an emergency sign-in keeps its kind)."""
    if user.name.startswith(EMERGENCY_PREFIX):
        return Principal(user.name[len(EMERGENCY_PREFIX):], user.role, "break_glass", user.reason)
    return Principal(user.name, user.role)


def sign_in_at_start(db_path: Path, args: Any, *, title: str) -> SignedInUser | None:
    """Who starts the program: ``--user`` (secret from the terminal, standard input or the environment),
    else the first-run admin creation when there are no accounts, then the sign-in dialog; None when cancelled."""
    from monitor.security_cli import SecurityCliError, acting_principal

    if getattr(args, "user", None):
        try:
            with Store(db_path) as store:
                return signed_in(acting_principal(args, store, required=True))
        except SecurityCliError as exc:
            raise AuthError(str(exc)) from None
    gate = AccountGate(db_path)
    if not gate.has_accounts():
        first = FirstAdminDialog(None, gate)
        first.setStyleSheet(theme.STYLE_SHEET)
        if first.exec() != QDialog.DialogCode.Accepted:
            return None
        return first.user()
    dialog = AccountSignInDialog(None, gate, title=title)
    dialog.setStyleSheet(theme.STYLE_SHEET)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    return dialog.user()


def emergency_note(user: SignedInUser) -> str | None:
    """The timeline note that flags an emergency sign-in on the session (None for an account)."""
    if not user.name.startswith(EMERGENCY_PREFIX):
        return None
    return f"Emergency sign-in without an account: {user.name[len(EMERGENCY_PREFIX):]} — reason: {user.reason}"


def signed_in(principal: Principal) -> SignedInUser:
    """What the window shows and records for a principal."""
    if principal.kind == "break_glass":
        return SignedInUser(EMERGENCY_PREFIX + principal.name, principal.role or "nurse", principal.reason)
    return SignedInUser(principal.name, principal.role or "nurse")


SIGN_IN_HINT = "Everything you do is recorded under your account."
EMERGENCY_HINT = "An emergency sign-in is recorded, with your name and reason, on the session and in the audit log."


def _footer(dialog: QDialog, form: QFormLayout, hint: str, on_ok: Callable[[], None]) -> QLabel:
    # Account errors quote what was typed and can be long: plain text, wrapped.
    message = form_footer(dialog, form, hint, on_ok)
    message.setTextFormat(Qt.TextFormat.PlainText)
    message.setWordWrap(True)
    return message


class _AccountDialog(QDialog):
    """A dialog that ends with an account signed in: its ``principal``, then :meth:`user`."""

    principal: Principal | None = None

    def _signed_in(self, principal: Principal, *secrets: QLineEdit) -> None:
        # What was typed as a secret does not stay in the widgets once it has been used.
        self.principal = principal
        for edit in secrets:
            edit.clear()
        self.accept()

    def user(self) -> SignedInUser:
        """The person signed in (call after the dialog was accepted)."""
        if self.principal is None:
            raise RuntimeError("nobody has signed in")
        return signed_in(self.principal)


class AccountSignInDialog(_AccountDialog):
    """Name and PIN/password (no echo); or, ticked, an emergency sign-in with a reason."""

    def __init__(self, parent: QWidget | None, gate: AccountGate, *, title: str = "Sign in",
                 session_id: str | None = None, allow_emergency: bool = True) -> None:
        super().__init__(parent)
        self.gate = gate
        self.session_id = session_id
        self.setWindowTitle(title)
        form = QFormLayout(self)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("account name")
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("PIN or password")
        self.secret_edit.setAccessibleName("PIN or password")
        self.emergency_box = QCheckBox("Emergency sign-in without an account (audited)")
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("why, e.g. covering nurse has no account yet")
        self.reason_edit.setAccessibleName("Reason for the emergency sign-in")
        self.reason_label = QLabel("Reason")
        form.addRow("Name", self.name_edit)
        self.secret_label = QLabel("PIN or password")
        form.addRow(self.secret_label, self.secret_edit)
        if allow_emergency:
            form.addRow(self.emergency_box)
            form.addRow(self.reason_label, self.reason_edit)
        self.emergency_box.toggled.connect(self._emergency_toggled)
        self._emergency_toggled(False)
        self.message = _footer(self, form, SIGN_IN_HINT, self._check)
        make_plain(self)

    def _emergency_toggled(self, on: bool) -> None:
        self.secret_edit.setVisible(not on)
        self.secret_label.setVisible(not on)
        self.reason_edit.setVisible(on)
        self.reason_label.setVisible(on)
        self.name_edit.setPlaceholderText("your full name" if on else "account name")
        message = getattr(self, "message", None)
        if message is not None:  # a complaint about the other way of signing in no longer applies
            message.setStyleSheet("")
            show_hint(message, EMERGENCY_HINT if on else SIGN_IN_HINT)

    def _check(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            complain(self.message, "Enter your name.")
            return
        try:
            if self.emergency_box.isChecked():
                principal = self.gate.emergency(name, self.reason_edit.text(), self.session_id)
            else:
                principal = self.gate.authenticate(name, self.secret_edit.text())
        except AuthError as exc:
            self.secret_edit.clear()
            complain(self.message, str(exc))
            return
        self._signed_in(principal, self.secret_edit)


class FirstAdminDialog(_AccountDialog):
    """The first run: create the first admin account (it then adds the others)."""

    def __init__(self, parent: QWidget | None, gate: AccountGate) -> None:
        super().__init__(parent)
        self.gate = gate
        self.setWindowTitle("Infusion Monitor — first run: create the admin account")
        form = QFormLayout(self)
        intro = plain_label("No accounts exist yet. Create the first admin account; it adds nurses and physicians "
                            "(Settings → Accounts…, or `infusion-monitor users add`) and approves alarm profiles.")
        intro.setWordWrap(True)
        form.addRow(intro)
        self.name_edit = QLineEdit()
        self.secret_edit = QLineEdit()
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.again_edit = QLineEdit()
        self.again_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Admin name", self.name_edit)
        form.addRow("PIN or password", self.secret_edit)
        form.addRow("The same again", self.again_edit)
        self.message = _footer(self, form, "At least 6 characters.", self._check)
        make_plain(self)

    def _check(self) -> None:
        if self.secret_edit.text() != self.again_edit.text():
            complain(self.message, "The two entries differ.")
            return
        try:
            principal = self.gate.create_first_admin(self.name_edit.text(), self.secret_edit.text())
        except (AuthError, StoreError) as exc:
            complain(self.message, str(exc))
            return
        self._signed_in(principal, self.secret_edit, self.again_edit)
