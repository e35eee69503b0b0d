"""The chair's replicator: ships the outbox to the clinic's PostgreSQL and publishes the live status.

One background thread with its own SQLite and PostgreSQL connections. Recording never waits for
it: the recorder commits to SQLite (the triggers queue each row) and carries on; the replicator
reads the outbox, upserts the named rows on the server and records, in the same server
transaction, the last outbox number it shipped and the batch's random id. Only after the server
committed does it drop those entries locally. A crash between the two replays a batch, and a replay
changes nothing because every row is keyed by its random id (or its file's random origin and local id).
On connecting, and in each batch's transaction, the server's progress is compared with the chair's own
record of it (:mod:`.progress`): a server restored from an older dump gets everything again, and a chair
file restored from a backup (or copied) takes a new origin id instead of overwriting the server's rows.

Alongside, it keeps the chair's row in ``chairs`` fresh: the latest live status handed to
:meth:`Replicator.publish` (numerics, phase, alarms), or at least a heartbeat every
:data:`HEARTBEAT_S`, each followed by a ``NOTIFY`` that the nurse station listens to. Another chair
database reporting under the same login is a warning (:attr:`ReplicationStatus.warning`) handed to
``on_warning``, which the recorder turns into a technical alarm.

It also asks the server whether the patient of the session being recorded is held under the same MRN with
another name or birth date at any chair (after a batch brought patients or sessions, when the session changes,
and every :data:`IDENTITY_EVERY_S`, since another chair may identify the MRN later): the answer, a sentence
naming the differing fields and where (never the other record's identifiers), goes to ``on_identity``, which
the recorder turns into a technical alarm. It is asked on this thread only, so a slow server never holds up
monitoring; while the link is down the question waits with the rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from monitor.replication import server_writes, tls, waits
from monitor.replication.progress import Judgement, Verdict, judge
from monitor.replication.schema import CHAIR_SCHEMA, CHANGING, INSERT_ONLY, bound_waits, server_version
from monitor.replication.server_writes import HeldElsewhere
from monitor.store import outbox
from monitor.text_rules import name_key

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
BATCH_ROWS = 2000
IDLE_WAIT_S = 0.5
RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
CONNECT_TIMEOUT_S = 3
#: A server that has not answered one round (a batch, the live status, a connection) for this long is lost,
#: even though the connection is still open (a hung server, a network path that drops everything).
UNANSWERED_S = 8.0
#: Rows waiting longer than this at a connected chair: the station's copy is behind (the header says so in
#: the warning colour).
STALE_BACKLOG_S = 10.0
#: The patient being recorded is looked up again this often: another chair may identify the same MRN meanwhile.
IDENTITY_EVERY_S = 15.0


@dataclass(frozen=True, slots=True)
class ReplicationStatus:
    """What the chair shows about its link to the server."""

    server: str
    connected: bool
    pending_rows: int
    #: Seconds since the oldest row still waiting was written (0 when nothing waits).
    behind_s: float
    last_shipped_at: float | None
    error: str | None
    running: bool = True
    #: A condition that lasts while it holds: another chair database reports under this chair's login.
    warning: str | None = None
    #: What the replicator last had to do about the server's copy (sent everything again, took a new origin).
    notice: str | None = None
    #: Why this chair's own database could not be read for what waits (a failing disk): ``pending_rows`` is then
    #: not known, and nothing may be said to be on the server.
    unreadable: str | None = None
    #: How many changes of this file the server refused as moving a finished session or an ended alarm back (an
    #: older copy of the chair's file): they stay in this file only.
    kept_on_server: int = 0
    #: The sessions they concern (the first eight characters of each id).
    kept_sessions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """One line for the status bar."""
        return "; ".join(t for t in (self._link_text(), self.warning, self.notice, self.kept_text) if t)

    @property
    def kept_text(self) -> str | None:
        """What the server kept of its own against this file's changes (None: nothing)."""
        if not self.kept_on_server:
            return None
        many = self.kept_on_server != 1
        sessions = ", ".join(self.kept_sessions)
        return (f"the server kept its own version of {self.kept_on_server} change{'s' if many else ''} made here to "
                f"session{'s' if len(self.kept_sessions) != 1 else ''} {sessions}, which it holds as finished (this "
                f"file is an older copy of the chair's database): {'they stay' if many else 'it stays'} here only")

    @property
    def brief(self) -> tuple[str, bool]:
        """A few words for a crowded header, and whether all is well (the whole story is :attr:`text`): a
        condition that keeps this chair off the nurse station's screen, or rows there out of date, is not."""
        if self.unreadable is not None:
            return "SERVER: what waits is not known", False
        if not self.running:
            if self.pending_rows:
                return f"server: {self.pending_rows} rows wait", False
            return "server: all sent", True
        if not self.connected:
            return "STATION CANNOT SEE THIS CHAIR", False
        if self.error:
            return "SERVER REFUSES THIS CHAIR'S ROWS", False
        if self.warning:
            return "LOGIN SHARED with another chair", False
        if self.pending_rows:
            return f"server: {self.pending_rows} rows to send", self.behind_s < STALE_BACKLOG_S
        return "server up to date", True

    def _link_text(self) -> str:
        if self.unreadable is not None:
            state = "" if not self.running else "connected, " if self.connected else "NOT CONNECTED, "
            return (f"Server {self.server}: {state}what waits to be sent is not known (this chair's database cannot "
                    f"be read: {self.unreadable}); the next start sends whatever waits")
        if not self.running:
            if self.pending_rows:
                # Why, as while it ran: the line `record` ends with once said only that rows waited, whatever kept
                # them (a wrong password, port or login), the cause long scrolled away.
                why = f"not sent ({self.error}); " if self.error else ""
                return f"Server {self.server}: {why}{self.pending_rows} rows wait here for the next start"
            return f"Server {self.server}: everything stored here is on the server"
        if not self.connected:
            reason = f" ({self.error})" if self.error else ""
            return (
                f"Server {self.server}: NOT CONNECTED{reason}; the nurse station cannot see this chair; "
                f"{self.pending_rows} rows kept here until it is back"
            )
        if self.error:
            return (f"Server {self.server}: connected, but it does not take this chair's rows ({self.error}); "
                    f"{self.pending_rows} rows ({self.behind_s:.0f} s) kept here until it does")
        if self.pending_rows:
            return f"Server {self.server}: connected, {self.pending_rows} rows ({self.behind_s:.0f} s) to send"
        return f"Server {self.server}: connected, up to date"


class _OutOfStep(Exception):
    """The server's progress for this origin is not the one this file last confirmed."""


def redacted(url: str) -> str:
    """The URL without any password, for display and logs."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(unreadable server address)"
    host = str(info.get("host") or "localhost")
    user = str(info.get("user") or "")
    return f"{user + '@' if user else ''}{host}/{info.get('dbname') or ''}"


class Replicator:
    """Ships one chair database's outbox to a PostgreSQL server (see the module doc)."""

    def __init__(
        self,
        db_path: str | Path,
        url: str,
        *,
        chair_name: str | None = None,
        batch_rows: int = BATCH_ROWS,
        heartbeat_s: float = HEARTBEAT_S,
        identity_every_s: float = IDENTITY_EVERY_S,
    ) -> None:
        self.db_path = Path(db_path)
        self.url = url
        self.chair_name = chair_name or socket.gethostname()
        self.batch_rows = batch_rows
        self.heartbeat_s = heartbeat_s
        self.identity_every_s = identity_every_s
        self._local = outbox.connect(self.db_path)
        self.origin = outbox.install(self._local)
        self._server: psycopg.Connection | None = None
        #: The connection's progress was compared with this file's (:meth:`_reconcile`): rows may be shipped on it.
        self._reconciled = False
        self._server_columns: dict[str, set[str]] = {}
        self._warned_columns: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # the local SQLite connection
        # The live status has its own lock: the recorder thread hands it over and must never wait for the outbox.
        self._live_lock = threading.Lock()
        self._live: dict[str, Any] | None = None
        self._live_dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._follow_to: Path | None = None
        self._thread: threading.Thread | None = None
        self._connected = False
        self._error: str | None = None
        #: "server link lost" was said and "server link back" not yet: back is said once a live status went through
        #: (a chair whose row is held locked connects again and again, and is back only when the station sees it).
        self._loss_said = False
        self._last_shipped_at: float | None = None
        self._last_heartbeat = 0.0
        self._retry_s = RETRY_MIN_S
        #: When the round with the server now under way began (None: the thread waits, nothing is asked).
        self._busy_since: float | None = None
        self._final: ReplicationStatus | None = None
        #: Added to the last live status when the recording ends (see :meth:`stop`).
        self._ended_with: dict[str, Any] = {}
        self._warning: str | None = None
        self._notice: str | None = None
        #: Called (on the replicator's thread) with the warning whenever it changes (None: it ended).
        self.on_warning: Callable[[str | None], None] | None = None
        #: Called (on the replicator's thread) with a condition and a sentence when the copy needed repair.
        self.on_notice: Callable[[str, str], None] | None = None
        #: What the server said of the recorded patient's identity (None: no other record of the MRN differs).
        self._identity: str | None = None
        #: The session whose patient was last looked up, when, and whether a batch since calls for a new look.
        self._identity_session: str | None = None
        self._identity_asked_at = 0.0
        self._identity_due = False
        #: Called (on the replicator's thread) with the identity conflict whenever it changes (None: it ended).
        self.on_identity: Callable[[str | None], None] | None = None
        #: Changes of this file the server refused as moving a finished record back, and the sessions they concern
        #: (each said once, through ``on_notice``, as ``server_kept_finished``).
        self._kept_on_server = 0
        self._kept_sessions: list[str] = []

    # -- any thread ------------------------------------------------------------------------

    def publish(self, live: dict[str, Any]) -> None:
        """Hand over the chair's latest live status (JSON-ready); only the newest one is sent."""
        with self._live_lock:
            self._live = live
            self._live_dirty = True
        self._wake.set()

    def follow(self, path: str | Path) -> None:
        """The chair's database was written back to ``path`` (its file was deleted, moved, truncated or left
        without its log, and the writer carried on in a new one): ship from that file from the next round on."""
        self._follow_to = Path(path)
        self._wake.set()

    def nudge(self) -> None:
        """Rows were committed: ship them now rather than at the next idle tick."""
        self._wake.set()

    def status(self) -> ReplicationStatus:
        """Link state and backlog (reads the outbox; cheap)."""
        if self._final is not None:
            return self._final
        unreadable = None
        try:
            with self._lock:
                pending = outbox.state(self._local)
        except sqlite3.Error as exc:
            pending = outbox.OutboxState(0, None)
            unreadable = str(exc)
        behind = 0.0 if pending.oldest_queued_at is None else max(0.0, time.time() - pending.oldest_queued_at)
        busy_since = self._busy_since
        unanswered = 0.0 if busy_since is None else time.monotonic() - busy_since
        stuck = self._connected and unanswered >= UNANSWERED_S
        return ReplicationStatus(
            server=redacted(self.url),
            connected=self._connected and not stuck,
            pending_rows=pending.pending,
            behind_s=behind,
            last_shipped_at=self._last_shipped_at,
            error=f"the server has not answered for {unanswered:.0f} s" if stuck else self._error,
            warning=self._warning,
            notice=self._notice,
            unreadable=unreadable,
            kept_on_server=self._kept_on_server,
            kept_sessions=tuple(s[:8] for s in self._kept_sessions),
        )

    def start(self) -> None:
        """Run on a background thread."""
        self._thread = threading.Thread(target=self._run, name="replicator", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0, *, goodbye: bool = True, ended_with: dict[str, Any] | None = None) -> None:
        """Ship what can be shipped within ``timeout``, say goodbye to the station, and close.

        ``ended_with`` goes into the last live status (the session's tile leaves the station): what the station
        must still know of the chair after its session ended (:func:`monitor.replication.live.not_kept_document`).
        """
        self._flush_deadline = time.monotonic() + timeout
        self._goodbye = goodbye
        self._ended_with = dict(ended_with or {})
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout + 2.0)
            self._thread = None
        final = self.status()
        self._final = ReplicationStatus(
            final.server, False, final.pending_rows, final.behind_s, final.last_shipped_at, final.error,
            running=False, notice=final.notice, unreadable=final.unreadable, kept_on_server=final.kept_on_server,
            kept_sessions=final.kept_sessions,
        )
        with self._lock:
            self._local.close()

    def send_waiting(self, timeout: float = 5.0, *, ended_session: str | None = None) -> bool:
        """Without a recording (no thread running): ship what waits now rather than at the next recording (a
        sign-off written at the chair); with ``ended_session`` (closed after a crash), also take that session's
        tile off the nurse station. True when everything reached the server."""
        assert self._thread is None
        deadline = time.monotonic() + timeout
        try:
            self._ready()
            assert self._server is not None
            while self.ship_once():
                if time.monotonic() >= deadline:
                    return False
            if ended_session is not None:
                with self._server.transaction():
                    server_writes.end_session_tile(self._server, self.origin, ended_session)
            return True
        except (psycopg.Error, OSError) as exc:
            self._disconnect(exc)
            return False
        finally:
            self._disconnect(None)

    # -- the thread ------------------------------------------------------------------------

    def _pause(self, seconds: float, stopping: bool) -> None:
        """Wait before trying again: until asked to stop, or (while the last flush runs, when the stop event no
        longer waits) a real pause within the flush's deadline, so a refusing server is not tried in a tight loop."""
        self._busy_since = None
        if not stopping:
            self._stop.wait(seconds)
            return
        time.sleep(max(0.0, min(seconds, getattr(self, "_flush_deadline", 0.0) - time.monotonic())))

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            self._busy_since = time.monotonic()
            try:
                if self._follow_to is not None:
                    self._open_followed()
                self._ready()
                try:
                    shipped = self.ship_once()
                except psycopg.Error as exc:
                    if not self._link_intact():
                        raise
                    # The server refused the batch (its disk full, a row it cannot take) over a link that still
                    # works: the rows wait here, and the live status still goes, so the station keeps this chair.
                    self._refused(exc)
                    self._send_live(final=stopping and getattr(self, "_goodbye", True))
                    if stopping and time.monotonic() >= getattr(self, "_flush_deadline", 0.0):
                        self._disconnect(None)
                        return
                    self._pause(min(self._retry_s, self.heartbeat_s), stopping)
                    self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
                    continue
                self._error = None
                self._send_live(final=stopping and getattr(self, "_goodbye", True))
                self._check_identity()
                self._retry_s = RETRY_MIN_S
            except (psycopg.Error, OSError) as exc:
                self._disconnect(exc)
                if stopping and time.monotonic() >= getattr(self, "_flush_deadline", 0.0):
                    return
                self._pause(self._retry_s, stopping)
                self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
                continue
            except sqlite3.Error as exc:
                # The chair's own file is busy or failing (its disk gone); the recorder reports that. The chair
                # monitors on: the station goes on seeing it, its values and that alarm, over a link that works.
                self._send_live_over_intact_link(stopping)
                if stopping and time.monotonic() >= getattr(self, "_flush_deadline", 0.0):
                    # Past the flush's time (stop() may have closed the file under a slow batch): what is not
                    # shipped stays in the outbox for the next start.
                    self._disconnect(None)
                    return
                log.warning("replicator cannot read the outbox: %s", exc)
                self._pause(RETRY_MIN_S, stopping)
                continue
            except Exception as exc:
                # Anything else (a row this version cannot send, a fault in this code): never end the thread, which
                # would leave the chair saying "connected" while nothing goes. Shown as a lost link, tried again.
                log.exception("replication failed; it tries again")
                self._disconnect(None)
                self._error = f"replication failed: {type(exc).__name__}: {str(exc)[:200]}"
                if stopping and time.monotonic() >= getattr(self, "_flush_deadline", 0.0):
                    return
                self._pause(self._retry_s, stopping)
                self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
                continue
            if stopping:
                if not shipped or time.monotonic() >= getattr(self, "_flush_deadline", 0.0):
                    self._disconnect(None)
                    return
                continue
            if shipped:
                continue  # more may be waiting: a backlog drains at full speed
            self._busy_since = None
            self._wake.wait(IDLE_WAIT_S)
            self._wake.clear()

    def _open_followed(self) -> None:
        """Switch the outbox connection to the file the writer carries on in, between two batches.

        The copy holds every row of the old file as the writer saw it when it wrote it back; what the server
        confirmed since through the old file is carried over, so nothing is sent twice or taken for another
        file's history.
        """
        path = self._follow_to
        assert path is not None
        new = outbox.connect(path)  # a failure leaves the request in place for the next round
        with self._lock:
            try:
                carried = outbox.carry_progress(self._local, new)
            except sqlite3.Error as exc:  # the old file cannot be read any more: the progress check decides
                carried = False
                log.warning("what the server confirmed could not be carried over to %s: %s", path, exc)
            if not carried:
                log.warning("%s: the progress check decides what the server still needs", path)
            old, self._local, self.db_path = self._local, new, path
        if self._follow_to == path:
            self._follow_to = None
        old.close()
        log.warning("sending from %s from now on (the chair's database was written back there)", path)

    def _connect(self) -> None:
        conn = psycopg.connect(
            self.url, connect_timeout=CONNECT_TIMEOUT_S, application_name="infusion-monitor chair", autocommit=True
        )
        try:
            # A statement kept waiting (its row held locked by another connection of this login, a table locked
            # whole) fails within seconds and is said, instead of holding up the replicator without a word.
            bound_waits(conn, lock_s=waits.CHAIR_LOCK_WAIT_S, statement_s=waits.CHAIR_STATEMENT_S)
            # A station's login given to a chair (a config copied from the station) was refused batch after batch,
            # "permission denied for table replication_progress", naming neither the login nor the way out.
            if server_writes.writes_as_chair(conn) is False:
                raise psycopg.OperationalError(server_writes.not_a_chair_text(conn.info.user))
            version = server_version(conn)
        except psycopg.Error:
            conn.close()
            raise
        if version < CHAIR_SCHEMA:
            conn.close()
            raise psycopg.OperationalError(
                f"the server's schema is version {version}; run 'infusion-monitor server migrate' "
                f"(needs {CHAIR_SCHEMA})"
            )
        try:
            self._server_columns = {t: server_writes.columns_of(conn, t) for t in outbox.TABLES}
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                conn.close()
            raise
        self._server = conn
        # Nothing is shipped on it before this file's progress is compared with the server's (:meth:`_ready`);
        # the live status goes at once, even while this chair's own file cannot be read.
        self._reconciled = False
        self._connected = True
        self._error = None
        self._last_heartbeat = 0.0
        with self._live_lock:
            self._live_dirty = True
        if not self._loss_said:
            log.info("replicating to %s", redacted(self.url))

    def _ready(self) -> None:
        """A server connection whose progress was compared with this file's: connects and compares as needed."""
        if self._server is None:
            self._connect()
        if not self._reconciled:
            assert self._server is not None
            self._reconcile(self._server)
            self._reconciled = True

    def _link_intact(self) -> bool:
        """The server connection still works (a statement failed, not the link)."""
        conn = self._server
        return conn is not None and not conn.closed and not conn.broken

    def _described(self, exc: BaseException, what: str) -> str:
        """One line for a failed statement or connection: a statement the server kept waiting is named as such."""
        if waits.kept_waiting(exc):
            return waits.kept_waiting_text(exc, what=what, lock_s=waits.CHAIR_LOCK_WAIT_S,
                                           statement_s=waits.CHAIR_STATEMENT_S)
        return tls.describe_failure(exc, self.url)

    def _refused(self, exc: BaseException) -> None:
        message = self._described(exc, "this chair's rows")
        if self._error != message:
            log.warning("the server refused a batch: %s", message)
        self._error = message

    def _disconnect(self, exc: BaseException | None) -> None:
        if exc is not None:
            message = self._described(exc, "this chair's live status")
            if not self._loss_said or self._error != message:
                log.warning("server link lost: %s", message)
            self._loss_said = True
            self._error = message
        self._connected = False
        if self._server is not None:
            with contextlib.suppress(psycopg.Error):
                self._server.close()
            self._server = None

    def _reconcile(self, conn: psycopg.Connection) -> None:
        """Compare the server's progress for this origin with this file's record of it, and act on it."""
        server = server_writes.progress(conn, self.origin)
        with self._lock:
            found = judge(outbox.progress(self._local), server)
        if found.verdict is Verdict.IN_STEP:
            if found.acknowledge_up_to is not None and server is not None:
                # Entries the server already committed (the chair died before forgetting them) are dropped.
                with self._lock:
                    outbox.acknowledge(self._local, server)
            return
        if found.verdict is Verdict.SERVER_BEHIND:
            with self._lock:
                queued = outbox.queue_everything_again(self._local, server)
            self._tell("server_copy_incomplete",
                       f"the server holds less of this chair than it confirmed before (restored from an older "
                       f"backup?): sending again everything this chair holds ({queued} rows), each under the origin it "
                       f"first reached the server as")
            return
        old = self.origin
        with self._lock:
            self.origin = outbox.take_new_origin(self._local)
        with conn.transaction():
            server_writes.leave_station(conn, old)
        self._tell("database_origin_renewed",
                   f"the server holds rows from this database's origin {old[:8]} that this file never wrote "
                   f"(restored from a backup, or a copy recording elsewhere): the server keeps them as they are; "
                   f"this file now sends as origin {self.origin[:8]}")

    def _tell(self, condition: str, message: str) -> None:
        log.warning("%s: %s", redacted(self.url), message)
        self._notice = message
        if self.on_notice is not None:
            self.on_notice(condition, message)

    def ship_once(self, *, checked: bool = False) -> int:
        """Send one batch of the outbox in one server transaction; returns how many entries it covered."""
        assert self._server is not None
        with self._lock:
            entries = outbox.take(self._local, self.batch_rows)
        if not entries:
            return 0
        # Runs of the same table go together; the batch is one transaction so its order is kept.
        by_table: dict[str, list[str]] = {}
        for entry in entries:
            keys = by_table.setdefault(entry.table, [])
            keys.append(entry.key)
        with self._lock:
            rows = {table: outbox.rows_for(self._local, table, list(dict.fromkeys(keys)))
                    for table, keys in by_table.items()}
            earlier = outbox.earlier_origins(self._local)
        if rows.get("patients"):
            # Encrypted at the chair with its key file; the server gets them readable (no key file there).
            from monitor.identifiers import readable_patient_row
            from monitor.keys import load_keys

            chair_keys = load_keys(create=False)
            rows["patients"] = [_with_name_key(readable_patient_row(chair_keys, row)) for row in rows["patients"]]
        conn = self._server
        mark = outbox.Mark(entries[-1].seq, outbox.new_batch_id())
        with self._lock:
            outbox.begin_batch(self._local, mark)
        try:
            with conn.transaction():
                # The server's progress must be the one this file last confirmed: otherwise another file
                # sends as this origin, or the server was restored (the row stays locked until commit).
                server = server_writes.progress(conn, self.origin, lock=True)
                with self._lock:
                    in_step = judge(outbox.progress(self._local), server) == Judgement(Verdict.IN_STEP)
                if not in_step:
                    raise _OutOfStep
                kept: list[tuple[str, server_writes.KeptOnServer]] = []
                for table in outbox.TABLES:  # dependency order: patients, sessions, then their rows
                    if rows.get(table):
                        kept.extend((table, k) for k in self._upsert(conn, table, rows[table], earlier))
                server_writes.mark_shipped(conn, self.origin, mark)
        except _OutOfStep:
            if checked:
                raise psycopg.OperationalError("the server's progress for this chair keeps changing") from None
            self._reconcile(conn)
            return self.ship_once(checked=True)
        with self._lock:
            outbox.acknowledge(self._local, mark)
        self._last_shipped_at = time.time()
        for table, refused in kept:
            self._kept(table, refused)
        if rows.get("patients") or rows.get("sessions"):
            self._identity_due = True  # a patient identified or attached: look the MRN up at every chair
        return len(entries)

    def _kept(self, table: str, refused: server_writes.KeptOnServer) -> None:
        """The server refused a change of this file to a finished session or an ended alarm, and kept its own version
        (the change stays in this file, its outbox entry is done with): counted, and said once per session."""
        self._kept_on_server += 1
        session = refused.session_id
        if session in self._kept_sessions:
            return
        self._kept_sessions.append(session)
        message = (f"the server holds session {session[:8]} as finished and kept its own version of it: this file's "
                   f"change to its {table} stays here only (this file is an older copy of the chair's database, "
                   f"restored from a backup?); the server said: {refused.reason}")
        log.warning("%s: %s", redacted(self.url), message)
        if self.on_notice is not None:
            self.on_notice("server_kept_finished", message)

    def _upsert(self, conn: psycopg.Connection, table: str, rows: Sequence[dict[str, object]],
                earlier: Sequence[outbox.EarlierOrigin]) -> list[server_writes.KeptOnServer]:
        """Send ``rows`` of ``table``; a row keyed by a local number goes under the origin it first reached the
        server as (``earlier``: the origins this file sent as before, :func:`monitor.store.outbox.origin_of`),
        so sending it again after a server restore, or after a change, leaves the server's row as it is rather
        than adding a second one under this file's newer origin. Returns the rows of a session or an alarm the server
        refused as moving a finished one back (schema 12): the rest are written."""
        known = self._server_columns.get(table, set())
        local_key = outbox.TABLES[table] == "local"
        names = [c for c in rows[0] if c != "id" and c in known]
        for column in rows[0]:
            if column != "id" and column not in known and (table, column) not in self._warned_columns:
                self._warned_columns.add((table, column))
                log.warning("the server has no column %s.%s; run 'infusion-monitor server migrate'", table, column)
        key_columns = ["origin", "local_id"] if local_key else ["id"]
        columns = [*key_columns, *([] if local_key else ["origin"]), *names]
        values = [
            [outbox.origin_of(earlier, self.origin, table, int(str(row["id"]))), row["id"], *(row[n] for n in names)]
            if local_key
            else [row["id"], self.origin, *(row[n] for n in names)]
            for row in rows
        ]
        if table in CHANGING:
            return server_writes.upsert_changing(conn, table, key_columns, columns, values)
        server_writes.upsert(conn, table, key_columns, columns, values, keep_first=table in INSERT_ONLY)
        return []

    def _send_live(self, *, final: bool = False) -> None:
        """Refresh this chair's row and tell the station, when there is news or a heartbeat is due."""
        assert self._server is not None
        now = time.monotonic()
        with self._live_lock:
            dirty = self._live_dirty
            live = self._live
        if not (dirty or final or now - self._last_heartbeat >= self.heartbeat_s):
            return
        if final:
            live = dict(live or {}, active=False, **self._ended_with)
        payload = json.dumps(live, default=str) if live is not None else None
        conn = self._server
        with conn.transaction():
            others = server_writes.publish_chair(conn, self.chair_name, self.origin, socket.gethostname(), payload)
        self._set_warning(None if not others else (
            f"LOGIN SHARED: the login {conn.info.user} is also used by "
            + ", ".join(f"{name} on {host}" for name, host in others)
            + "; the nurse station shows them as separate chairs under one login; give each chair its own "
            "login (server add-chair)"
        ))
        self._last_heartbeat = now
        if self._loss_said:
            # Said as loudly as its loss was ("server link lost"), and only once the station has this chair's
            # status again: a log that says only the loss leaves the reader believing the station cannot see it.
            self._loss_said = False
            log.warning("server link back: replicating to %s again (what waited here is sent now)", redacted(self.url))
        with self._live_lock:
            if self._live is live or final:
                self._live_dirty = False

    def _send_live_over_intact_link(self, stopping: bool) -> None:
        """The live status (the last one when ``stopping``), while the chair's file cannot be read: a lost link is
        handled as anywhere else."""
        if self._server is None or not self._connected:
            return
        try:
            self._send_live(final=stopping and getattr(self, "_goodbye", True))
        except (psycopg.Error, OSError) as exc:
            self._disconnect(exc)
        except Exception:  # raised here, it would end the thread (this runs in the loop's error handler)
            log.exception("the live status could not be sent")
            self._disconnect(None)

    def _set_warning(self, warning: str | None) -> None:
        if self._changed(self._warning, warning):
            self._warning = warning
            if self.on_warning is not None:
                self.on_warning(warning)

    def _changed(self, before: str | None, now: str | None) -> bool:
        """Whether a lasting condition's words changed (logged when it holds, so the log says what the chair saw)."""
        if now == before:
            return False
        if now:
            log.warning("%s: %s", redacted(self.url), now)
        return True

    def _live_session(self) -> str | None:
        """The session this chair is recording now, as its latest live status says (None: none)."""
        with self._live_lock:
            live = self._live
        if not live or live.get("active") is False or not live.get("session_id"):
            return None
        return str(live["session_id"])

    def _check_identity(self) -> None:
        """Ask the server whether the recorded patient's MRN is held with another name or birth date, when a
        batch brought patients or sessions, the session changed, or :attr:`identity_every_s` passed."""
        session_id = self._live_session()
        if session_id is None or self._server is None:
            return
        now = time.monotonic()
        if not (self._identity_due or session_id != self._identity_session
                or now - self._identity_asked_at >= self.identity_every_s):
            return
        held = server_writes.identity_held_elsewhere(self._server, session_id)
        self._identity_due, self._identity_session, self._identity_asked_at = False, session_id, now
        self._set_identity(identity_conflict_text(held))

    def _set_identity(self, conflict: str | None) -> None:
        if self._changed(self._identity, conflict):
            self._identity = conflict
            if self.on_identity is not None:
                self.on_identity(conflict)


def _with_name_key(row: dict[str, object]) -> dict[str, object]:
    """A patient row as the server takes it: with the form its name is compared in (the server cannot fold names
    itself; :func:`monitor.text_rules.name_key`)."""
    name = row.get("name")
    return {**row, "name_key": name_key(name) if isinstance(name, str) and name.strip() else None}


def identity_conflict_text(held: Sequence[HeldElsewhere]) -> str | None:
    """What the chair says of other records of its patient's MRN (None: none differs): the differing fields and
    where they are, never their values (the other record is another chair's, and may be another person's)."""
    if not held:
        return None
    fields = " and ".join(f for f in ("name", "birth date") if any(h.field == f for h in held))
    places = []
    for chair in dict.fromkeys(h.chair for h in held):
        sessions = sorted({s[:8] for h in held if h.chair == chair for s in h.sessions})
        called = next((h.chair_name for h in held if h.chair == chair and h.chair_name), None) or chair
        which = f"session{'s' if len(sessions) > 1 else ''} {', '.join(sessions)}" if sessions else "no session"
        places.append(f"{called} ({which})")
    return (f"IDENTITY CONFLICT: this patient's MRN is on the clinic's server with another {fields} at "
            f"{'; '.join(places)}: check the MRN, name and birth date against the wristband; if they are right, "
            "the other record is wrong: tell the clinic's IT (infusion-monitor server identities)")
