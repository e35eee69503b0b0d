"""Wiring a recording chair to the clinic's server: which server, under which name, and the live status.

The server comes from ``--server URL``, ``INFUSION_MONITOR_SERVER`` or ``server = "postgresql://…"``
in the config file (in that order). A password never goes on the command line: a URL given with
``--server`` that contains one is refused; the password comes from a libpq password file
(``PGPASSFILE`` or ``?passfile=`` in the URL) or ``PGPASSWORD``.
"""

from __future__ import annotations

import logging
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from monitor.config import ENV_PREFIX, ConfigError, UserConfig, server_address_problem, setting
from monitor.replication import server_writes
from monitor.replication.live import live_document
from monitor.replication.replicator import CONNECT_TIMEOUT_S, Replicator, redacted
from monitor.store import outbox
from monitor.wall_clock import clock_text

log = logging.getLogger(__name__)

#: The live status goes to the server at most this often (the readings themselves go with the outbox).
LIVE_INTERVAL_S = 0.2


class ServerSettingError(Exception):
    """The server setting cannot be used; the message says where it came from and why."""


#: A server address as it is given, for the messages that refuse one.
EXAMPLE_URL = "postgresql://chair2@clinic-db/im"


def server_url(flag_value: str | None, user: UserConfig | None = None) -> str | None:
    """The clinic server's URL, or None when this chair works alone; :class:`ServerSettingError` naming where an
    address that cannot be used was given (the option, the variable, or the config file and line) and why."""
    try:
        config = user if user is not None else UserConfig.load()
        value = setting("server", flag_value, None, config)
        if not isinstance(value, str | None):
            config.text("server", "a URL", f'server = "{EXAMPLE_URL}"')  # raises, naming the line
    except ConfigError as exc:
        raise ServerSettingError(str(exc)) from None
    if not isinstance(value, str) or not value:
        return None
    if flag_value is not None and _has_password(value):
        raise ServerSettingError(
            "a password on the command line is visible to every user of this computer; "
            "put it in a password file (PGPASSFILE or ?passfile=...) or in PGPASSWORD"
        )
    problem = server_address_problem(value)
    if problem:
        where, example = _given_as(flag_value, config)
        raise ServerSettingError(f"{where}: {problem}; e.g. {example}")
    return value


def _has_password(value: str) -> bool:
    """Whether libpq reads a password in ``value`` (in any form it reads)."""
    try:
        return bool(psycopg.conninfo.conninfo_to_dict(value).get("password"))
    except psycopg.ProgrammingError:
        return False


def _given_as(flag_value: str | None, config: UserConfig) -> tuple[str, str]:
    """Where the server address in force was given (``--server``, the variable, or the config file and line), and a
    valid one written there."""
    if flag_value is not None:
        return "--server", f"--server {EXAMPLE_URL}"
    variable = ENV_PREFIX + "SERVER"
    return (variable, f"{variable}={EXAMPLE_URL}") if config.origin("server") == variable else (
        config.describe("server"), f'server = "{EXAMPLE_URL}"')


def chair_name(flag_value: str | None, user: UserConfig | None = None) -> str:
    """How the station names this chair (``--chair``, ``INFUSION_MONITOR_CHAIR``, config ``chair``, host name)."""
    value = setting("chair", flag_value, None, user if user is not None else UserConfig.load())
    return str(value) if value else socket.gethostname()


class LivePublisher:
    """A recorder listener that hands the live status to the replicator, at most every :data:`LIVE_INTERVAL_S`.

    A change in the active alarms or of the phase goes at once: the station must not learn of an alarm late, nor
    miss that a session completed (the recording ends right after it, and the last word sent stays).
    """

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator
        self._last = 0.0
        self._said: tuple[object, ...] = ()

    def __call__(self, update: Any) -> None:
        """Called on the recorder thread after each loop turn."""
        now = time.monotonic()
        active = getattr(update.alarms, "active", ())
        said = (update.status.phase, *((a.id, a.silenced) for a in active))
        if now - self._last < LIVE_INTERVAL_S and said == self._said:
            return
        self._last = now
        self._said = said
        self.replicator.publish(live_document(update))


class FileFollower:
    """A recorder listener that points the replicator at the file the writer carries on in when the database
    was written back (after it was deleted, moved, truncated or left without its log): otherwise every row
    recorded after that would wait for the next start of the program to reach the server."""

    def __init__(self, replicator: Replicator) -> None:
        self.replicator = replicator

    def __call__(self, update: Any) -> None:
        """Called on the recorder thread after each loop turn."""
        for event in update.events:
            detail = event.detail
            if detail.get("condition") == "database_moved" and detail.get("written_to"):
                self.replicator.follow(Path(detail["written_to"]))


def start_replication(url: str, db_path: Path, recorder: Any, name: str) -> Replicator:
    """Queue every row of ``db_path`` for the server, publish the recorder's live status, start shipping.

    A login shared with another chair database, and the patient's MRN held with other details at another chair,
    become the recorder's technical alarms; a repair of the
    server's copy (everything sent again, a new origin) goes on the session's timeline.
    """
    replicator = Replicator(db_path, url, chair_name=name)
    replicator.on_warning = recorder.warn_server_link
    replicator.on_identity = recorder.warn_identity
    replicator.on_notice = lambda condition, message: recorder.submit(
        "technical_event", None, condition=condition, detail=message
    )
    recorder.add_listener(LivePublisher(replicator))
    recorder.add_listener(FileFollower(replicator))
    replicator.start()
    return replicator


def _send_ended(url: str, db_path: Path, session_id: str | None, timeout: float) -> tuple[bool, str, str | None]:
    """Ship what waits in ``db_path`` and mark the station's row of ``session_id`` ended (None: leave the station's
    rows as they are); whether everything reached the server, what to say first (the server's name, or why nothing,
    or not everything, was sent), and what the server kept of its own against this file's changes (None: nothing)."""
    replicator = Replicator(db_path, url)
    try:
        sent = replicator.send_waiting(timeout, ended_session=session_id)
        status = replicator.status()
    finally:
        replicator.stop(timeout=0.0)
    if sent:
        return True, f"Server {status.server}", status.kept_text
    why = f" ({status.error})" if status.error else ""
    return (False, f"Server {status.server}: not sent{why}; {status.pending_rows} rows wait here for the next start",
            status.kept_text)


def _and_kept(line: str, kept: str | None) -> str:
    return line if kept is None else f"{line}; but {kept}"


def send_closed_session(url: str, db_path: Path, session_id: str, timeout: float = 5.0) -> str:
    """Tell the server that a session left unfinished by a crash was closed at the chair (its rows, and its tile
    off the nurse station, which otherwise keeps reporting the chair silent); one line saying how it went."""
    sent, said, kept = _send_ended(url, db_path, session_id, timeout)
    if sent and kept:
        # "Closed there too" would be untrue: the server holds the session as finished, with its own end.
        return f"{said}: {kept}; the nurse station no longer shows the session"
    if sent:
        return f"{said}: the session is closed there too; the nurse station no longer shows it"
    return _and_kept(f"{said}; the nurse station shows this chair as not reporting until it records again", kept)


def send_sign_off(url: str, db_path: Path, timeout: float = 5.0) -> tuple[bool, str]:
    """Send a sign-off written at the chair (with whatever else waits in ``db_path``) to the server at once: the
    server's lists of sessions awaiting a sign-off would otherwise count it until the chair records again. The
    session stays as it is on the nurse station. Whether everything reached the server, and one line saying so."""
    sent, said, kept = _send_ended(url, db_path, None, timeout)
    if sent:
        return True, _and_kept(f"{said}: the sign-off is on the server too", kept)
    return False, _and_kept(f"{said}; the server lists the session as awaiting a sign-off until they are sent (at the "
                            "next sign-off, close or recording with a server)", kept)


def send_written_held(url: str, db_path: Path, session_id: str, timeout: float = 5.0) -> str:
    """Send the rows ``write-held`` put into ``db_path`` for the ended session ``session_id``, and take the nurse
    station's word that they were not kept off; one line saying how it went."""
    sent, said, kept = _send_ended(url, db_path, session_id, timeout)
    if sent:
        return _and_kept(f"{said}: they are on the server too; the nurse station no longer reports them missing", kept)
    return _and_kept(f"{said}; the nurse station reports them missing until they are sent (write-held --server again, "
                     "or the next recording with --server)", kept)


@dataclass(frozen=True, slots=True)
class FinishedOnServer:
    """A session this file holds as unfinished that the server holds as finished: the file is an older copy."""

    session_id: str
    status: str
    ended_at: float | None
    #: The origin id this file sends as since it found it was a copy.
    origin: str

    def refusal(self, verb: str) -> str:
        """Why the session is not ``verb`` ("closed", "resumed") here."""
        when = "at an unknown time" if self.ended_at is None else f"at {clock_text(self.ended_at, '%Y-%m-%d %H:%M:%S')}"
        return (f"session {self.session_id[:8]} cannot be {verb} from this file: the clinic's server holds it as "
                f"{self.status}, finished {when}, and this file is an older copy of the chair's database (restored "
                f"from a backup: it sends as origin {self.origin[:8]} since); the server keeps its version, which "
                "this file would overwrite. Nothing was changed; read the session from the server (sessions --server)")


def finished_on_server(url: str, db_path: Path, session_id: str) -> FinishedOnServer | None:
    """Whether the server holds ``session_id`` as finished, asked only when this file took a new origin id (it found
    it was an older copy of the chair's file, ``database_origin_renewed``): None otherwise, and when the server cannot
    be asked (offline the session is closed or resumed here, and the server keeps its own version: schema 12)."""
    try:
        local = outbox.connect(db_path)
        try:
            known = outbox.origins(local) if outbox.installed(local) else []
        finally:
            local.close()
    except sqlite3.Error as exc:
        log.warning("%s: whether this file is an older copy could not be read: %s", db_path, exc)
        return None
    if len(known) < 2:
        return None
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True,
                             application_name="infusion-monitor chair") as conn:
            found = server_writes.finished_session(conn, session_id)
    except (psycopg.Error, OSError) as exc:
        log.warning("%s: not asked whether session %s is finished there (%s); the server keeps its own version",
                    redacted(url), session_id[:8], str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
        return None
    return None if found is None else FinishedOnServer(session_id, found.status, found.ended_at, known[0])
