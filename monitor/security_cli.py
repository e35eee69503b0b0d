"""Command-line parts of accounts, profile approval and verification.

``infusion-monitor users …`` manages accounts, ``profiles …`` approves alarm profiles,
``verify`` checks the record, ``keys`` shows where the key file is and copies it for a back-up.
A secret is never taken from the command line: it is read without echo from the terminal, or
from standard input, ``INFUSION_MONITOR_SECRET`` or ``--secret-file``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import shutil
import sqlite3
import stat
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from monitor.accounts import MAX_NAME_LENGTH, ROLES, Accounts, AuthError, Principal, os_user
from monitor.app.errors import AppError
from monitor.config import ENV_PREFIX
from monitor.keys import KeyFileError, Keys, load_keys
from monitor.store import StoreError, open_marks, witness
from monitor.store.errors import says_damaged

SECRET_ENV = ENV_PREFIX + "SECRET"


class SecurityCliError(AppError):
    """A problem the user can fix with an account, a key or an approval; printed as one line like any AppError."""


def add_identity_options(parser: argparse.ArgumentParser) -> None:
    """``--user`` and where its secret comes from (never the command line itself)."""
    parser.add_argument("--user", metavar="NAME",
                        help="account to act as; its PIN/password is read from the terminal (no echo), "
                             f"standard input, {SECRET_ENV} or --secret-file")
    parser.add_argument("--secret-file", metavar="FILE",
                        help="read the PIN/password of --user from this file (first line; owner-only file)")


def read_secret(args: argparse.Namespace, prompt: str = "PIN or password: ", *, stdin: TextIO | None = None) -> str:
    """The secret from --secret-file, INFUSION_MONITOR_SECRET, the terminal (no echo) or standard input."""
    path = getattr(args, "secret_file", None)
    if path:
        file = Path(path).expanduser()
        try:
            if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise SecurityCliError(f"{file}: a secret file must be readable by its owner only (chmod 600)")
            return file.read_text(encoding="utf-8").splitlines()[0] if file.stat().st_size else ""
        except OSError as exc:
            raise SecurityCliError(f"cannot read {file}: {exc.strerror or exc}") from None
    env = os.environ.get(SECRET_ENV)
    if env:
        return env
    stream = stdin or sys.stdin
    if stream.isatty():
        return getpass.getpass(prompt)
    line = stream.readline()
    if not line:
        raise SecurityCliError("no PIN/password given (terminal, standard input, "
                               f"{SECRET_ENV} or --secret-file)")
    return line.rstrip("\r\n")


def acting_principal(args: argparse.Namespace, store: Any, *, required: bool = False) -> Principal:
    """The authenticated ``--user``, or the operating-system user when none is given (and none is required)."""
    name = getattr(args, "user", None)
    if not name:
        if required:
            raise SecurityCliError("this needs a signed-in account: give --user NAME")
        return os_user()
    try:
        return Accounts(store).authenticate(name, read_secret(args, f"PIN or password for {name}: "))
    except AuthError as exc:
        raise SecurityCliError(f"sign-in as '{name}' refused: {exc}") from None


#: Said when a command that shows or takes out patients' records is asked for without a sign-in where the database
#: has accounts: the chair's operating-system login is shared, so it names nobody.
READ_NEEDS_ACCOUNT = "{what} needs a signed-in account on this database: give --user NAME"
#: Added where the database's record shows accounts but none is in it: removed outside the program, or a restore
#: from a backup older than them that nobody has accepted yet.
NO_ACCOUNT_LEFT = ("but its record shows accounts it no longer holds: `infusion-monitor verify` says what happened; "
                   "a restore of a database without accounts reads as before once accepted")


def reading_principal(args: argparse.Namespace, store: Any, what: str, action: str, **asked: Any) -> Principal:
    """Who reads patients' records out with ``what`` (an export, a course, a listing): the ``--user`` account,
    signed in (any role); else, on a database without accounts, the operating-system user.

    Where the database has accounts (as :func:`monitor.app.sessions.check_may_resume` tells) a try without
    ``--user`` is refused before anything is read, and recorded as ``{action}_refused`` with what was ``asked``,
    as a refused reading of the audit log is. So is a sign-in that fails (a wrong secret, none given), besides
    what the sign-in records of itself."""
    name = getattr(args, "user", None)
    if name:
        try:
            return acting_principal(args, store, required=True)
        except SecurityCliError:
            read_refused(store, action, reason="sign-in refused", account=name[:MAX_NAME_LENGTH], **asked)
            raise
    accounts = Accounts(store)
    if accounts.has_accounts():
        read_refused(store, action, reason="not signed in", **asked)
        refusal = READ_NEEDS_ACCOUNT.format(what=what)
        if accounts.removed_outside():
            # No account is left to sign in with: the message says why rather than ask for one.
            refusal += f" ({NO_ACCOUNT_LEFT})"
        raise SecurityCliError(refusal)
    return os_user()


def read_refused(store: Any, action: str, **detail: Any) -> None:
    """The audit entry of a refused reading, under the operating-system user (the one person known to be there)."""
    with contextlib.suppress(StoreError):  # refused all the same when the log cannot take it
        store.audit(f"{action}_refused", user=os_user().name, **detail)


def build_security_parsers(sub: Any) -> None:
    """Add ``users``, ``profiles``, ``verify`` and ``keys`` to the command line."""
    users = sub.add_parser("users", help="manage accounts (admin)")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    for action, text in (("list", "list accounts"), ("add", "add an account (the first one: the first admin)"),
                         ("set-secret", "set a new PIN/password"), ("set-role", "grant another role"),
                         ("disable", "disable an account"), ("enable", "enable an account again"),
                         ("unlock", "clear a lock-out after failed sign-ins"),
                         ("reset", "write an account again: role, new PIN/password, enabled (one altered outside "
                                   "the program)")):
        p = users_sub.add_parser(action, help=text)
        add_db_option(p)
        add_identity_options(p)
        if action != "list":
            p.add_argument("name", metavar="NAME")
        if action in ("add", "set-role", "reset"):
            p.add_argument("--role", required=True, choices=ROLES)
        if action in ("add", "set-secret", "reset"):
            p.add_argument("--new-secret-file", metavar="FILE",
                           help="read the new PIN/password from this file instead of asking")

    profiles = sub.add_parser("profiles", help="approve alarm profiles (admin) and list approvals")
    profiles_sub = profiles.add_subparsers(dest="profiles_command", metavar="ACTION", required=True)
    listing = profiles_sub.add_parser("list", help="approved profiles (who approved them: with --user of an admin)")
    add_db_option(listing)
    add_identity_options(listing)
    approve = profiles_sub.add_parser("approve", help="approve this exact profile content")
    approve.add_argument("file", metavar="FILE")
    approve.add_argument("--name", required=True, help="the name the screen and exports show")
    approve.add_argument("--below-floors", action="store_true",
                         help="confirm approving a profile that weakens high-priority alarms beyond the floors")
    add_db_option(approve)
    add_identity_options(approve)
    revoke = profiles_sub.add_parser("revoke", help="withdraw an approval")
    revoke.add_argument("sha256", metavar="HASH")
    add_db_option(revoke)
    add_identity_options(revoke)

    verify = sub.add_parser("verify", help="check the record's hash chains and the database's integrity")
    add_db_option(verify)
    verify.add_argument("--all", action="store_true", help="list every finding, not only the first")
    verify.add_argument("--accept-restore", action="store_true",
                        help="accept that the database was put back from a backup (an admin's --user; none when it "
                             "never had accounts), then verify")
    add_identity_options(verify)

    backup = sub.add_parser("backup", help="copy the database consistently, while it is in use (owner-only)")
    backup.add_argument("target", metavar="FILE", help="the copy to write (replaced whole)")
    add_db_option(backup)

    keys = sub.add_parser("keys", help="where the key file is; copy it for a back-up")
    keys.add_argument("--backup", metavar="FILE", help="copy the key file here (owner-only)")


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """``--db PATH``: the database every command that reads or writes the record takes."""
    parser.add_argument("--db", metavar="PATH",
                        help="database file (default: INFUSION_MONITOR_DB or the user data folder)")


def _new_secret(args: argparse.Namespace, name: str) -> str:
    path = getattr(args, "new_secret_file", None)
    if path:
        try:
            return Path(path).expanduser().read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise SecurityCliError(f"cannot read the new secret from {path}: {exc}") from None
    if sys.stdin.isatty():
        first = getpass.getpass(f"new PIN or password for {name}: ")
        if getpass.getpass("the same again: ") != first:
            raise SecurityCliError("the two entries differ; nothing was changed")
        return first
    line = sys.stdin.readline()
    if not line:
        raise SecurityCliError("no new PIN/password on standard input")
    return line.rstrip("\r\n")


def cmd_users(args: argparse.Namespace, out: TextIO, open_store: Callable[..., Any]) -> int:
    """``users list|add|set-secret|set-role|disable|enable|unlock|reset``."""
    store = open_store(args)
    with store:
        accounts = Accounts(store)
        action = args.users_command
        if action == "list":
            rows = accounts.listing()
            if not rows:
                out.write(f"{accounts.removed_reason()}\n" if accounts.removed_outside() else
                          "no accounts yet: `infusion-monitor users add NAME --role admin` creates the first admin\n")
                return 0
            # Which names exist, and which are admins, is for an admin: sign-in answers never tell it.
            viewer = acting_principal(args, store, required=True)
            if not viewer.may("manage_users"):
                raise SecurityCliError(f"only a signed-in admin may list the accounts ('{viewer.name}' is a "
                                       f"{viewer.role})")
            for r in rows:
                state = "disabled" if r.disabled else ("locked" if r.locked_until else "active")
                out.write(f"{r.name:20} {r.role:10} {state}\n")
            return 0
        try:
            if accounts.removed_outside():
                raise AuthError(accounts.removed_reason())
            if action == "add" and not accounts.has_accounts():
                by = None  # the first admin, created on first run
            else:
                # The admin signs in first (secret from the terminal or standard input), then the new secret.
                by = acting_principal(args, store, required=True)
            if action == "add":
                accounts.add(args.name, args.role, _new_secret(args, args.name), by=by)
                out.write(f"account '{args.name}' ({args.role}) added\n")
            elif action == "set-secret":
                accounts.set_secret(args.name, _new_secret(args, args.name), by=by)
                out.write(f"new PIN/password set for '{args.name}'\n")
            elif action == "set-role":
                accounts.set_role(args.name, args.role, by=by)
                out.write(f"'{args.name}' now has the role {args.role}\n")
            elif action in ("disable", "enable"):
                accounts.set_disabled(args.name, action == "disable", by=by)
                out.write(f"'{args.name}' {action}d\n")
            elif action == "unlock":
                accounts.unlock(args.name, by=by)
                out.write(f"'{args.name}' unlocked\n")
            elif action == "reset":
                accounts.reset(args.name, args.role, _new_secret(args, args.name), by=by)
                out.write(f"'{args.name}' written again: {args.role}, new PIN/password, enabled\n")
        except AuthError as exc:
            raise SecurityCliError(str(exc)) from None
    return 0


def cmd_profiles(args: argparse.Namespace, out: TextIO, open_store: Callable[..., Any]) -> int:
    """``profiles list|approve|revoke``."""
    from monitor.alarms.profile import ProfileError, load_profile
    from monitor.approval import ApprovalError, approvals, approve, revoke

    store = open_store(args)
    with store:
        if args.profiles_command == "list":
            # Who approved is an admin's name: like `users list`, it is told only to a signed-in admin.
            admin = False
            if getattr(args, "user", None):
                viewer = acting_principal(args, store, required=True)
                if not viewer.may("manage_users"):
                    raise SecurityCliError(f"only a signed-in admin may see who approved the profiles "
                                           f"('{viewer.name}' is a {viewer.role})")
                admin = True
            found = approvals(store)
            if not found:
                out.write("no approved profiles: only the built-in profile is used\n")
            for a in found:
                when = datetime.fromtimestamp(a.approved_at).astimezone().strftime("%Y-%m-%d %H:%M")
                floors = "  BELOW FLOORS" if a.below_floors else ""
                approver = f" by {a.approved_by}" if admin else ""
                out.write(f"{a.sha256[:12]}  {a.name:24} approved{approver} {when}{floors}\n")
            return 0
        by = acting_principal(args, store, required=True)
        try:
            if args.profiles_command == "approve":
                try:
                    profile = load_profile(args.file)
                    text = Path(args.file).expanduser().read_text(encoding="utf-8")
                except ProfileError as exc:
                    raise SecurityCliError(str(exc)) from None
                approval = approve(store, profile, text, args.name, by=by, accept_below_floors=args.below_floors)
                out.write(f"approved: {approval.label()}\n")
            else:
                revoke(store, args.sha256, by=by)
                out.write(f"approval {args.sha256} revoked\n")
        except ApprovalError as exc:
            raise SecurityCliError(str(exc)) from None
    return 0


def cmd_verify(args: argparse.Namespace, out: TextIO, open_store: Callable[..., Any]) -> int:
    """Check the chains and the database; exit 1 and name the first broken link when anything is wrong.
    ``--accept-restore`` first records an admin's acceptance of a database put back from a backup."""
    from monitor.integrity import ACCEPT_RESTORE, CHAIN_SCHEMA, verify

    if getattr(args, "accept_restore", False):
        _accept_restore(args, out, open_store)
    store = open_store(args, readonly=True)
    with store:
        schema = store.user_version()
        if schema == 0:
            # SQLite reads an empty or cut-short file as an empty database: nothing of the record is left.
            out.write(f"NOT VERIFIED: {store.path} holds no record of this program (the file is empty, was cut "
                      "short, or is another program's file); restore the database from its back-up\n")
            return 1
        claim = witness.why_not_pre_chain(_keys_of(store), store.path, store.db.conn)
        if claim is not None and store.keys is None:  # nothing sealed to walk: said as it is
            out.write(f"NOT VERIFIED: {claim}; restore the database from a backup made since it was sealed\n")
            return 1
        if schema < CHAIN_SCHEMA and claim is None:
            out.write(f"not verified: this database predates the record chain (schema {schema}); nothing in it can "
                      "show tampering. Opening it with this version (any command that writes, e.g. "
                      "`infusion-monitor sessions --db PATH`) upgrades it and seals what it holds, marked as found at "
                      "the upgrade; keep a copy of the old file first\n")
            return 1
        try:
            report = verify(store.db.conn, store.keys)
            # The chain cannot show the whole file put back to an older copy; the note beside the key file can.
            behind = witness.check(store.keys, store.path, store.db.conn) if store.keys is not None else None
        except sqlite3.DatabaseError as exc:
            # SQLite stops at a page it cannot make sense of (damage in place, which an open no longer reads for
            # where the file looks as it was left): refused as every other command refuses a damaged file.
            if not says_damaged(exc):
                raise
            raise SecurityCliError(str(store.found_damaged(str(exc)))) from None
        if report.integrity_check not in (None, "ok"):
            # Found damaged by reading it whole: every later open reads it whole again and refuses it.
            open_marks.note_damaged(store.path, report.integrity_check)
    out.write(f"database integrity check: {report.integrity_check}\n")
    out.write(f"hash chain: {report.links} links, {report.rows_checked} rows and ranges compared"
              + (f" ({report.upgraded_rows} sealed at the upgrade that introduced the chain)"
                 if report.upgraded_rows else "")
              + (f" ({report.recovered_rows} copied by `recover` from a damaged file: the audit log's "
                 "database_recovered entry says what that file's own check found)" if report.recovered_rows else "")
              + "\n")
    unchecked = report.unchecked_tables()
    if unchecked:
        out.write(f"schema {schema}, written by an older version: {', '.join(unchecked)} joined the chain later and "
                  "were not checked (opening the database with this version upgrades and seals them)\n")
    for found in report.restores:
        if found.accepted:
            out.write(f"restored from a backup: {found.text()}\n")
    older = [found.text() for found in report.restores_waiting]
    if behind is not None:
        older.append(f"found now: {behind}")
    if report.ok and not older:
        out.write("verified: nothing was changed, removed or added outside this program"
                  + (" (but the accepted restore above)" if report.restores else "") + "\n")
        return 0
    for line in older:
        out.write(f"NOT VERIFIED: records are missing: {line}\n")
    if older:
        out.write(f"if the database was restored from a backup on purpose, an admin accepts that: {ACCEPT_RESTORE} "
                  "(without --user when it never had an account)\n")
    if not report.findings and report.integrity_check == "ok":
        out.write("the chain itself verified: nothing else was changed, removed or added outside this program\n")
        return 1
    first = report.first_broken
    if first is not None:
        out.write(f"NOT VERIFIED: first broken link: {first.text()}\n")
        shown = report.findings[1:] if args.all else report.findings[1:6]
        for finding in shown:
            out.write(f"  also: {finding.text()}\n")
        if not args.all and len(report.findings) > 6:
            out.write(f"  … {len(report.findings) - 6} more (--all lists them)\n")
    return 1


def _keys_of(store: Any) -> Keys | None:
    """The keys a note beside the key file is read with: the store's, or, for a file whose schema predates the
    chain (read without them), the key file's (None: it has none, or it cannot be used)."""
    keys: Keys | None = store.keys
    if keys is not None:
        return keys
    try:
        return load_keys(create=False)
    except KeyFileError:
        return None


def _accept_restore(args: argparse.Namespace, out: TextIO, open_store: Callable[..., Any]) -> None:
    """Record the acceptance of every restore waiting, saying what is accepted; :class:`SecurityCliError` when
    it is refused. Opening the database for writing records a restore found now first."""
    from monitor.accounts import Accounts
    from monitor.restore import accept, waiting

    store = open_store(args)
    with store:
        try:
            if not waiting(store):
                out.write("no restore to accept: the database was not found older than it had been\n")
                return
            needs_admin = bool(getattr(args, "user", None)) or Accounts(store).listing()
            accepted = accept(store, acting_principal(args, store, required=True) if needs_admin else None)
        except AuthError as exc:
            raise SecurityCliError(f"restore not accepted: {exc}") from None
    for each in accepted.restores:
        out.write(f"accepted as a restore from a backup (recorded in the audit log): {each.text()}\n")
    if accepted.accounts_differing:
        out.write("the copy's accounts now stand; these differ from what this computer saw before the restore "
                  "(check them with `infusion-monitor users`):\n")
        out.writelines(f"  {line}\n" for line in accepted.accounts_differing)
    if accepted.approvals_differing:
        out.write("the copy's profile approvals now stand; these differ from what this computer saw before the "
                  "restore (revoke again what should stay revoked: `infusion-monitor profiles revoke HASH`):\n")
        out.writelines(f"  {line}\n" for line in accepted.approvals_differing)


def cmd_backup(args: argparse.Namespace, out: TextIO, database: Path) -> int:
    """``backup FILE``: a consistent, owner-only copy of the database, with what it does not hold (the key file)."""
    from monitor.keys import key_file_path
    from monitor.store.backup import copy_database
    from monitor.store.errors import StoreError

    target = Path(args.target).expanduser()
    try:
        links = copy_database(database, target)
    except StoreError as exc:
        raise SecurityCliError(str(exc)) from None
    out.write(f"copied {database} to {target} (owner-only, one file, {links} links of its record)\n"
              f"the key file is not in it: without {key_file_path()} the copy's identifiers cannot be read nor its "
              "record verified; copy it once with `infusion-monitor keys --backup FILE` and keep it apart\n")
    return 0


def cmd_keys(args: argparse.Namespace, out: TextIO) -> int:
    """Print the key file's place and fingerprint; ``--backup FILE`` copies it (owner-only)."""
    from monitor.keys import KeyFileError, key_file_path, load_keys, open_part

    try:
        path = key_file_path()
        keys = load_keys(create=False)
    except KeyFileError as exc:
        raise SecurityCliError(str(exc)) from None
    if keys is None:
        out.write(f"no key file yet at {path} (it is created with the first database)\n")
        return 0
    out.write(f"key file: {keys.path}\nfingerprint: {keys.fingerprint}\n")
    if args.backup:
        target = Path(args.backup).expanduser()
        if target.exists() and os.path.samefile(target, keys.path):
            raise SecurityCliError(f"{target} is the key file itself; name a file elsewhere (e.g. offline media)")
        # Written whole beside the target, then renamed over it: an earlier back-up there is replaced only
        # by a complete copy, and a write that fails (a full stick) leaves it as it was.
        part: Path | None = None
        try:
            copy, part = open_part(target, "wb")
            with keys.path.open("rb") as source, copy:
                shutil.copyfileobj(source, copy)
                copy.flush()
                os.fsync(copy.fileno())
            os.replace(part, target)
        except OSError as exc:
            if part is not None:
                with contextlib.suppress(OSError):
                    part.unlink()
            raise SecurityCliError(f"cannot write {target}: {exc.strerror or exc}") from None
        out.write(f"copied to {target} (owner-only); keep it apart from the database, e.g. offline\n")
    return 0
