"""How far each database's hash chain is known to have reached, kept beside the key file.

The chain shows a row changed, removed or added; it cannot show the whole file put back to an older copy of
itself (a backup restored over it, an earlier copy written back to undo what was recorded since, a recovered
copy that lost rows): that copy holds a correct chain, only a shorter one. So a writing store notes outside the
database, under the integrity key, the database's first link, the furthest link it has seen and when
(:func:`note`), and opening the database again, or ``verify``, compares (:func:`check`).

Databases are told apart by where they are (a file moved elsewhere is simply not compared) and by their first
link (another database that took the name is not an older copy). The note lives with the key file, which the
threat model keeps from those who can write the database; it is written after the commit it describes, so a
failed commit (a full disk) never leaves it ahead of the file.

The note also keeps the accounts as this computer last vouched for them (name, role, disabled, secret hash:
:func:`accounts_now`). An older copy put back brings its own accounts with it, an admin since demoted or an account
since disabled among them; until an admin accepts the restore, sign-in holds each account to the stricter of the
copy and the note (:mod:`monitor.accounts`), and the note keeps what it saw before the copy came back
(:func:`kept_to_note`) rather than learning the copy's accounts.

It keeps the profile approvals the same way (content hash, name, approved or revoked, by whom, when:
:func:`approvals_now`): an older copy brings back an approval revoked since, and until the restore is accepted a
profile is used only where both the copy and the note say it is approved (:mod:`monitor.approval`). A note
written before either was kept has None for it (not known) and still reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from monitor import integrity
from monitor.keys import Keys, ensure_private_dir, open_part
from monitor.store import chain
from monitor.store.accounts import users_of
from monitor.store.approvals import states_of

#: The folder beside the key file that holds one note per database file.
FOLDER = "chain-witness"


@dataclass(frozen=True, slots=True)
class AccountSeen:
    """An account as a note saw it: what it grants and the hash of its secret (the database holds the same)."""

    name: str
    role: str
    disabled: bool
    secret_hash: str


@dataclass(frozen=True, slots=True)
class ApprovalSeen:
    """A profile approval as a note saw it: the content's hash and name, whether it was in force, and who approved
    it and when (or, revoked, who revoked it and when)."""

    sha256: str
    name: str
    approved: bool
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class Reached:
    """A chain's first link and its furthest one, as keyed hashes, and when that was seen."""

    first_mac: str
    seq: int
    mac: str
    at: float
    #: How many links of accounts and profile approvals the chain held then (None: a note from before it was kept),
    #: so that a restore that lost accounts is told from one that lost none.
    accounts: int | None = None
    #: The accounts as they were then, by name (None: a note from before they were kept, or not known).
    users: tuple[AccountSeen, ...] | None = None
    #: The profile approvals as they were then, by hash (None: a note from before they were kept, or not known).
    approvals: tuple[ApprovalSeen, ...] | None = None


def reached(conn: sqlite3.Connection) -> Reached | None:
    """Where the database's chain is now (None: nothing sealed yet, or its chain's tables are gone)."""
    if not {"chain", "chain_head"} <= chain.names(conn, "table"):
        return None
    head = chain.head(conn)
    first = chain.mac_at(conn, 1)
    if head is None or first is None:
        return None
    return Reached(first, head.seq, head.mac, time.time(), head.account_count)


@dataclass(frozen=True, slots=True)
class Behind:
    """A database found behind the furthest point noted for it: how much of what this computer saw it lacks."""

    #: How many links the database holds, and when the newest of them was written (None: it holds none).
    links_held: int
    held_until: float | None
    #: The furthest link this computer saw, and when.
    links_seen: int
    seen_at: float
    #: Links of accounts and approvals the note counted (None: a note from before they were counted).
    account_links_seen: int | None
    #: The database holds as many links as were seen or more, but not the one seen: written since it was put back,
    #: so how many of the links seen it lacks is not known.
    diverged: bool

    def missing(self) -> str:
        """What the note says existed that the database lacks: how many links, written when."""
        seen = _when(self.seen_at, seconds=True)
        if self.diverged:
            return f"an unknown number of links written up to {seen} (it was written again since)"
        since = "" if self.held_until is None else f"between {_when(self.held_until, seconds=True)} and "
        return f"{self.links_seen - self.links_held} links written {since}{seen}"

    def text(self) -> str:
        """The finding, as ``verify`` and the audit entry say it."""
        when = _when(self.seen_at)
        if self.diverged:
            return (f"link {self.links_seen} of the database's record is not the one this computer saw on {when}: it "
                    f"was replaced by an older copy of itself and written since; missing: {self.missing()}")
        return (f"the database holds {self.links_held} links of its record, but this computer saw link "
                f"{self.links_seen} on {when}: it was replaced by an older or partial copy of itself (a backup "
                f"restored, a recovered copy, or what was recorded since undone); missing: {self.missing()}")


def _when(at: float, *, seconds: bool = False) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M", time.localtime(at))


def note_path(keys: Keys, database: Path) -> Path:
    """Where the note for the database file ``database`` is kept."""
    name = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:32]
    return keys.path.parent / FOLDER / f"{name}.json"


def accounts_now(conn: sqlite3.Connection) -> tuple[AccountSeen, ...] | None:
    """The database's accounts as a note keeps them, by name; None when it has no accounts table (an old schema)."""
    try:
        found = users_of(conn)
    except sqlite3.OperationalError:
        return None
    return tuple(AccountSeen(row.name, row.role, row.disabled, row.secret_hash) for row in found)


def approvals_now(conn: sqlite3.Connection) -> tuple[ApprovalSeen, ...] | None:
    """The database's profile approvals as a note keeps them, revoked ones too, by hash; None when it has no
    approvals table (an old schema)."""
    try:
        found = states_of(conn)
    except sqlite3.OperationalError:
        return None
    return tuple(ApprovalSeen(sha256, name, revoked_at is None, approved_by if revoked_at is None else str(revoked_by),
                              approved_at if revoked_at is None else revoked_at)
                 for sha256, name, approved_by, approved_at, revoked_by, revoked_at in found)


def _users_text(users: tuple[AccountSeen, ...]) -> str:
    """The accounts in one exact text, for the note's keyed hash."""
    return json.dumps([[a.name, a.role, int(a.disabled), a.secret_hash] for a in users], separators=(",", ":"))


def _approvals_text(approvals: tuple[ApprovalSeen, ...]) -> str:
    """The approvals in one exact text, for the note's keyed hash."""
    return json.dumps([[a.sha256, a.name, int(a.approved), a.by, repr(a.at)] for a in approvals],
                      separators=(",", ":"))


def _mac(keys: Keys, database: Path, seen: Reached) -> str:
    text = f"{database.resolve()}|{seen.first_mac}|{seen.seq}|{seen.mac}|{seen.at!r}"
    if seen.accounts is not None:  # a note from before the count was kept still verifies
        text += f"|{seen.accounts}"
    if seen.users is not None:  # and one from before the accounts were kept
        text += "|users:" + hashlib.sha256(_users_text(seen.users).encode()).hexdigest()
    if seen.approvals is not None:  # and one from before the approvals were kept
        text += "|approvals:" + hashlib.sha256(_approvals_text(seen.approvals).encode()).hexdigest()
    return hmac.new(keys.integrity, b"chain witness\0" + text.encode(), hashlib.sha256).hexdigest()


def recall(keys: Keys, database: Path) -> Reached | None:
    """The furthest point noted for ``database``; None when none was, or the note does not verify."""
    try:
        with open(note_path(keys, database), encoding="utf-8") as handle:
            raw = json.load(handle)
        accounts = raw.get("accounts")
        users = raw.get("users")
        approvals = raw.get("approvals")
        seen = Reached(str(raw["first_mac"]), int(raw["seq"]), str(raw["mac"]), float(raw["at"]),
                       None if accounts is None else int(accounts), None if users is None else tuple(
                           AccountSeen(str(a["name"]), str(a["role"]), bool(a["disabled"]), str(a["secret_hash"]))
                           for a in users), None if approvals is None else tuple(
                           ApprovalSeen(str(a["sha256"]), str(a["name"]), bool(a["approved"]), str(a["by"]),
                                        float(a["at"])) for a in approvals))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return seen if hmac.compare_digest(str(raw.get("hmac", "")), _mac(keys, database, seen)) else None


def note(keys: Keys, database: Path, seen: Reached) -> None:
    """Record ``seen`` for ``database`` (atomically: the note is whole or the old one stays)."""
    target = note_path(keys, database)
    ensure_private_dir(target.parent)
    handle, scratch = open_part(target, "w", encoding="utf-8")  # a name of its own for every writer
    try:
        with handle:
            json.dump({**asdict(seen), "hmac": _mac(keys, database, seen)}, handle)
        os.replace(scratch, target)
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink()


def behind(keys: Keys, database: Path, conn: sqlite3.Connection, seen: Reached | None = None) -> Behind | None:
    """How far the database is behind the furthest point noted for it (``seen``, when already recalled); None when
    it is not."""
    seen = recall(keys, database) if seen is None else seen
    if seen is None:
        return None
    now = reached(conn)
    if now is not None and now.first_mac != seen.first_mac:
        return None  # another database under this name, not an older copy of this one
    held = 0 if now is None else now.seq
    if now is None or now.seq < seen.seq:
        return Behind(held, chain.at_of(conn, held) if held else None, seen.seq, seen.at, seen.accounts, False)
    if chain.mac_at(conn, seen.seq) != seen.mac:
        return Behind(held, chain.at_of(conn, held), seen.seq, seen.at, seen.accounts, True)
    return None


def why_not_pre_chain(keys: Keys | None, database: Path, conn: sqlite3.Connection) -> str | None:
    """Why the file at ``database``, whose version says it predates the record chain, cannot be such a file: it
    holds tables only a database with the chain has, or this computer saw the database under this name sealed (a
    note for it verifies). None when neither holds (a real old file, or a new one): it is upgraded as before.

    Upgrading such a file would seal whatever it holds, rows edited without the key included, as found at the
    upgrade, and its chain would begin with another first link, which the note takes for another database."""
    version = chain.schema_version(conn)
    if version >= integrity.CHAIN_SCHEMA:
        return None
    tables = integrity.tables_of_the_chain(conn)
    if tables:
        return integrity.set_back_text(version, tables)
    seen = None if keys is None else recall(keys, database)
    if seen is None or not chain.names(conn, "table"):
        return None
    return (f"this computer saw the database under this name sealed (its record reached link {seen.seq} on "
            f"{_when(seen.at)}), and it now says it predates the record chain (schema {version}): it was replaced "
            "or tampered with")


def check(keys: Keys, database: Path, conn: sqlite3.Connection) -> str | None:
    """What is wrong when the database is behind the furthest point noted for it; None when it is not."""
    found = behind(keys, database, conn)
    return None if found is None else found.text()


Kept = TypeVar("Kept", tuple[AccountSeen, ...], tuple[ApprovalSeen, ...])


def kept_to_note(previous: Reached | None, now: Reached, before: Kept | None, current: Kept | None,
                 restore_waiting: Callable[[], bool]) -> Kept | None:
    """What a new note keeps of what grants something (the accounts, the profile approvals): the database's
    ``current`` ones, unless the database is an older copy of itself put back that nobody accepted yet
    (``restore_waiting``, asked only when they differ from those the ``previous`` note kept, ``before``): the note
    then keeps what it saw before, so that copy's (an admin since demoted, an approval since revoked) never becomes
    what this computer vouches for without an admin's acceptance."""
    if previous is None or before is None or previous.first_mac != now.first_mac:
        return current  # nothing vouched for yet, or another database under this name
    if before == current or not restore_waiting():
        return current
    return before


def restore_unaccepted(keys: Keys, database: Path, conn: sqlite3.Connection) -> bool:
    """Whether the database is an older copy of itself put back that nobody accepted yet: found so at an opening
    and not accepted, or behind the note now (put back under a store still open, not yet found)."""
    if any(not found.accepted for found in integrity.found_restores(conn, keys)):
        return True
    return behind(keys, database, conn) is not None


def _held(keys: Keys, database: Path, conn: sqlite3.Connection, noted: Callable[[Reached], Kept | None],
          now: Callable[[sqlite3.Connection], Kept | None]) -> Kept | None:
    """What the note for ``database`` kept (``noted`` of it) while the database is an older copy put back that
    nobody accepted yet and its own (``now``) differ; None otherwise, or when the note kept none (written by an
    earlier version) or is another database's."""
    seen = recall(keys, database)
    kept = None if seen is None else noted(seen)
    if seen is None or kept is None or seen.first_mac != chain.mac_at(conn, 1):
        return None
    if kept == now(conn) or not restore_unaccepted(keys, database, conn):
        return None
    return kept


def held_accounts(keys: Keys, database: Path, conn: sqlite3.Connection) -> dict[str, AccountSeen] | None:
    """The accounts the note for ``database`` holds sign-in to, by name (:func:`_held`)."""
    kept = _held(keys, database, conn, lambda seen: seen.users, accounts_now)
    return None if kept is None else {account.name: account for account in kept}


def held_approvals(keys: Keys, database: Path, conn: sqlite3.Connection) -> dict[str, ApprovalSeen] | None:
    """The profile approvals the note for ``database`` holds the copy's to, by hash (:func:`_held`)."""
    kept = _held(keys, database, conn, lambda seen: seen.approvals, approvals_now)
    return None if kept is None else {approval.sha256: approval for approval in kept}
