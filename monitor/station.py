"""The nurse station's data: every active chair's live status, pushed by PostgreSQL (LISTEN/NOTIFY).

:class:`StationFeed` keeps one listening connection: each chair's replicator updates its row in
``chairs`` and sends ``NOTIFY im_chairs, '<chair>'``; the feed reads that one row and hands a
:class:`ChairReport` to its callback. Every :data:`RECHECK_S` it also reads every chair's row again and the
sessions the server holds as recording whose chair's status does not reach it (:data:`UNREPORTED` below): what a
chair older than the server's schema sends changes the server's sessions, never a row the station is told of.

:class:`StationModel` turns reports into what the station shows, with two conditions only the
station can see:

* a chair whose session is live but which has said nothing for :data:`OFFLINE_AFTER_S` (network,
  computer or program gone) is a technical alarm at the station; chairs send at least every
  :data:`monitor.replication.replicator.HEARTBEAT_S` seconds;
* a chair that still sends its heartbeat but whose status has not moved on for :data:`STALLED_AFTER_S`
  (its recorder hangs or fails every turn: its clock ``now`` stands still) is a technical alarm too:
  its values are the last ones it had, not current;
* an alarm not acknowledged at the chair within ``escalate_after_s`` (default 60 s) is escalated;
* two chair databases reporting under one login (a chair's settings copied to another chair) are two
  tiles, each with its own values and alarms, and a technical alarm naming the shared login;
* a chair database whose status says its session ended while the server holds that session neither ended nor
  complete keeps its tile, as "session left without completing" (another connection of the chair's login
  may have ended the tile, and hold it so the chair cannot say otherwise);
* a chair database silent for :data:`~monitor.replication.schema.FORMER_AFTER_S` whose session the same chair
  (login and name) now records from another database, heard from since, leaves the station without an alarm: the
  chair was restored elsewhere and resumed the session there (:func:`moved_on`);
* a tile whose chair has fallen silent while the server holds its session ended or complete leaves the station
  (a chair older than the server's schema 8 ends its session without being able to take its tile off);
* a session the server holds as recording, its heartbeats arriving, whose chair's status does not reach the station
  (no row names it, or the one naming it stopped while the heartbeats went on: a chair older than the server's
  schema can no longer write its row) is a tile of what the server has of it, and a technical alarm saying so;
* a session that ended with rows its chair could not write to its database (its disk failed; they are not on
  the server either) leaves its tile, but not the screen: a low-priority alarm says how many rows wait in
  which file on which computer, until ``write-held`` there has sent them or the chair records again. It does
  not sound: nobody at the station can silence it, and it needs the clinic's IT, not a nurse at once.

The station shows; it never writes to the server, so it cannot silence or change a chair.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from monitor.alarms.model import Priority
from monitor.replication import server_store, tls, waits
from monitor.replication.live import LiveAlarm, LiveTile, parse_tile
from monitor.replication.replicator import CONNECT_TIMEOUT_S, redacted
from monitor.replication.schema import FORMER_AFTER_S, bound_waits
from monitor.replication.server_store import UnreportedSession

log = logging.getLogger(__name__)

OFFLINE_AFTER_S = 6.0
#: A chair's status moves on with every recorder turn (20 a second); standing still this long is a stall.
STALLED_AFTER_S = 6.0
ESCALATE_AFTER_S = 60.0
RETRY_S = 2.0
#: A server that has not answered the station's last request for this long is lost, even with the
#: connection still open (a hung server, a network path that drops everything).
UNANSWERED_S = 6.0
#: How often the station reads every chair's row and the sessions recording unreported, besides what it is told.
RECHECK_S = 2.0


@dataclass(frozen=True, slots=True)
class ChairReport:
    """One chair's row as the station read it."""

    chair: str
    name: str
    tile: LiveTile | None
    patient_mrn: str | None
    patient_name: str | None
    #: The chair database that reported (one login may, wrongly, serve several).
    origin: str = ""
    #: How long before this report was read the chair had last reported (the server's clock): a row read
    #: when the station (re)connects may be the last word of a chair that has since gone silent.
    silent_s: float = 0.0
    #: The session the status names is on the server and has neither ended nor completed there.
    session_open: bool = False
    #: The session the status names is on the server, ended or completed there, its heartbeats stopped.
    session_ended: bool = False
    #: The chair database the server holds that session as: the one that last sent the session's row.
    session_origin: str = ""

    @property
    def left_open(self) -> bool:
        """The status says the session left the station, but the server holds it still open: it is kept. (A session
        that ended with rows its chair could not keep lacks its end on the server too; its banner line says why.)"""
        return (self.tile is not None and not self.tile.active and self.session_open
                and self.tile.not_kept is None)

    @property
    def key(self) -> str:
        """What tells this chair's tile from every other: its login and its database (the login alone when the
        report names no database)."""
        return f"{self.chair}/{self.origin}" if self.origin else self.chair


@dataclass(frozen=True, slots=True)
class StationAlarm:
    """A condition raised by the station itself (the chair cannot raise it)."""

    chair: str
    # chair_offline | chair_stalled | chair_left_open | chair_unreported | login_shared | escalated | record_not_kept
    condition: str
    priority: Priority
    message: str
    alarm_id: str | None = None

    @property
    def sounds(self) -> bool:
        """Whether the station sounds it (a record not kept by an ended session is shown only)."""
        return self.condition != "record_not_kept"


@dataclass(frozen=True, slots=True)
class ChairView:
    """One tile: the chair's last report, how old it is, and the station's own conditions."""

    chair: str
    name: str
    patient: str
    tile: LiveTile
    silent_s: float
    offline: bool
    escalated: frozenset[str]
    #: Seconds since the station first received this status (the chair's ``now``).
    status_age_s: float = 0.0
    #: The chair still answers but its status has not moved on for ``STALLED_AFTER_S``.
    stalled: bool = False
    #: The tile's key (:attr:`ChairReport.key`).
    key: str = ""
    #: Names of the other chair databases reporting under this tile's login (empty: the login is its own).
    shared_with: tuple[str, ...] = ()
    #: Logins of the other chairs that report under the same name (empty: the name is this chair's alone).
    named_alike: tuple[str, ...] = ()
    #: The tile was ended while the server holds its session neither ended nor complete (for ``offline_after_s``).
    left_open: bool = False
    #: The server holds this session as recording, but the chair's status does not reach the station: the tile is
    #: what the server has of it (values, phase, open alarms), ``silent_s`` since its last heartbeat arrived.
    unreported: bool = False

    @property
    def called(self) -> str:
        """What the station calls the chair: its name, with its login when another chair has the same name (a nurse
        sent to "Chair 1" must find the right one)."""
        return f"{self.name} (login {self.chair})" if self.named_alike else self.name

    @property
    def current(self) -> bool:
        """The chair's status is live: it reports, its recorder moves on, and it did not leave mid-session."""
        return not (self.offline or self.stalled or self.left_open or self.unreported)

    def alarm_age_s(self, alarm: LiveAlarm) -> float:
        """How long an alarm has been active, in the chair's clock, up to now."""
        return max(0.0, self.tile.now - alarm.started_at + self.status_age_s)

    @property
    def nibp_age_s(self) -> float | None:
        """How old the chair's last cuff is, up to now (None: the chair has none)."""
        age = self.tile.nibp_age_s
        return None if age is None else max(0.0, age + self.status_age_s)

    def value_age_s(self, name: str) -> float | None:
        """How old the chair's latest value of ``name`` is, up to now (None: the chair sent no time)."""
        at = self.tile.value_times.get(name)
        return None if at is None else max(0.0, self.tile.now - at + self.status_age_s)


def chair_order(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for chair names as people count them: "Chair 2" before "Chair 10", letters without case."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.casefold())
                 for part in re.split(r"(\d+)", name) if part)


def initials(name: str | None) -> str:
    """``Jane van Doe`` → ``J.v.D.`` (what a clinic may prefer on a screen others can see)."""
    if not name:
        return "—"
    return "".join(part[0] + "." for part in name.split() if part)


class StationModel:
    """What the station shows, from the reports it received (thread-safe)."""

    def __init__(
        self,
        *,
        show: str = "mrn",
        escalate_after_s: float = ESCALATE_AFTER_S,
        offline_after_s: float = OFFLINE_AFTER_S,
        stalled_after_s: float = STALLED_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.show = show
        self.escalate_after_s = escalate_after_s
        self.offline_after_s = offline_after_s
        self.stalled_after_s = stalled_after_s
        self.clock = clock
        self._lock = threading.Lock()
        # chair key -> (report, when the chair was last heard from, when this report's chair time was first seen)
        self._reports: dict[str, tuple[ChairReport, float, float]] = {}
        # chair key -> the last report of a session that ended with rows its chair could not keep
        self._not_kept: dict[str, ChairReport] = {}
        # session id -> (what the server has of a session recording unreported, when its heartbeat last arrived,
        # when the station first found it so)
        self._unreported: dict[str, tuple[UnreportedSession, float, float]] = {}

    def apply(self, report: ChairReport, received_at: float | None = None) -> None:
        """Take a chair's newest report (a chair whose session ended leaves the screen, unless the server holds that
        session still open; the word of rows it could not keep stays until a later report no longer carries it)."""
        at = (self.clock() if received_at is None else received_at) - max(0.0, report.silent_s)
        with self._lock:
            if report.tile is not None and report.tile.not_kept is not None and not report.tile.active:
                self._not_kept[report.key] = report
            else:
                self._not_kept.pop(report.key, None)
            if report.tile is None or not (report.tile.active or report.left_open):
                self._reports.pop(report.key, None)
                return
            previous = self._reports.get(report.key)
            # A heartbeat repeating the same status proves the chair is alive, not that time stood still.
            same = previous is not None and previous[0].tile is not None and previous[0].tile.now == report.tile.now
            self._reports[report.key] = (report, at, previous[2] if same and previous else at)

    def apply_unreported(self, sessions: Iterable[UnreportedSession], received_at: float | None = None) -> None:
        """Take the sessions the server now holds as recording whose chair's status does not reach the station
        (every one of them: a session no longer among them is reported again, or ended)."""
        received = self.clock() if received_at is None else received_at
        with self._lock:
            before = self._unreported
            self._unreported = {
                found.session_id: (found, received - max(0.0, found.heartbeat_age_s),
                                   before[found.session_id][2] if found.session_id in before else received)
                for found in sessions
            }

    def views(self, now: float | None = None) -> list[ChairView]:
        """One view per active chair, by name."""
        now = self.clock() if now is None else now
        out = []
        with self._lock:
            reports = list(self._reports.values())
            unreported = dict(self._unreported)
        left_behind = moved_on(reports, now)
        reports = [entry for entry in reports if entry[0].key not in left_behind]
        names: dict[str, list[tuple[str, str]]] = {}
        logins: dict[str, set[str]] = {}
        for report, _at, _fresh in reports:
            names.setdefault(report.chair, []).append((report.key, report.name))
            logins.setdefault(_name_key(report.name), set()).add(report.chair)
        for report, at, fresh_at in reports:
            assert report.tile is not None
            silent = max(0.0, now - at)
            status_age = max(0.0, now - fresh_at)
            if report.tile.active and report.session_ended and silent >= self.offline_after_s:
                continue  # its session ended at the chair, which could not take the tile off (an earlier version)
            found = unreported.get(report.tile.session_id or "")
            if found is not None and found[0].chair == report.chair and silent >= self.offline_after_s:
                # The chair's status stopped while the server still hears from its session: what the server has.
                del unreported[found[0].session_id]
                out.append(self._unreported_view(found[0], found[1], now, report.key, report.name))
                continue
            view = ChairView(
                chair=report.chair,
                name=report.name,
                patient=self._patient(report),
                tile=report.tile,
                silent_s=silent,
                offline=silent >= self.offline_after_s,
                escalated=frozenset(),
                status_age_s=status_age,
                stalled=(silent < self.offline_after_s and status_age >= self.stalled_after_s
                         and not report.left_open),
                key=report.key,
                shared_with=tuple(sorted(name for key, name in names[report.chair] if key != report.key)),
                named_alike=tuple(sorted(logins[_name_key(report.name)] - {report.chair})),
                # Said once it stood as long as silence does: a chair's last status may come a round before the batch
                # that ends its session on the server.
                left_open=report.left_open and status_age >= self.offline_after_s,
            )
            escalated = frozenset(
                a.id for a in report.tile.alarms
                if not a.acknowledged and view.alarm_age_s(a) >= self.escalate_after_s
            )
            out.append(replace(view, escalated=escalated))
        reported = {(r.chair, r.tile.session_id) for r, _at, _fresh in reports if r.tile is not None}
        for session, heard_at, first_seen in unreported.values():
            # Given the time a silent chair is given: a chair of this version puts its status up just after the
            # batch that brought its session.
            if (session.chair, session.session_id) not in reported and now - first_seen >= self.offline_after_s:
                key = f"{session.chair}/{session.origin}/{session.session_id}"
                out.append(self._unreported_view(session, heard_at, now, key, session.chair_name or session.chair))
        return sorted(out, key=lambda v: (chair_order(v.name), v.key))

    def _unreported_view(self, found: UnreportedSession, heard_at: float, now: float, key: str,
                         name: str) -> ChairView:
        """The tile of a session recording unreported: what the server has of it, aged from its last heartbeat."""
        nibp_at = found.value_times.get("nibp_sys")
        nibp_age = None if nibp_at is None else max(0.0, found.heartbeat_at - nibp_at)
        heart_rate = next((p for p in ("hr", "pr") if found.values.get(p) is not None), None)
        tile = LiveTile(
            active=True, session_id=found.session_id, now=found.heartbeat_at, phase=found.phase,
            elapsed_s=max(0.0, found.heartbeat_at - found.started_at), infusion_elapsed_s=0.0,
            infusion_plan_min=0.0, recovery_remaining_s=None, values=found.values, value_times=found.value_times,
            heart_rate_source=heart_rate, nibp_age_s=nibp_age,
            alarms=found.alarms, storage_ok=True, device_link="",
        )
        silent = max(0.0, now - heard_at)
        view = ChairView(chair=found.chair, name=name, patient=self._patient_of(found.patient_mrn, found.patient_name),
                         tile=tile, silent_s=silent, offline=False, escalated=frozenset(), status_age_s=silent,
                         key=key, unreported=True)
        return replace(view, escalated=frozenset(
            a.id for a in tile.alarms if not a.acknowledged and view.alarm_age_s(a) >= self.escalate_after_s))

    def _patient(self, report: ChairReport) -> str:
        return self._patient_of(report.patient_mrn, report.patient_name)

    def _patient_of(self, mrn: str | None, name: str | None) -> str:
        return (mrn or "—") if self.show == "mrn" else initials(name)

    def mrns_shown(self, views: Iterable[ChairView]) -> dict[str, str]:
        """The sessions whose MRN the screen shows (session id -> MRN): the tiles ``views`` and the banner's lines of
        ended sessions whose rows were not kept. Empty with ``show`` initials."""
        if self.show != "mrn":
            return {}
        with self._lock:
            ended = list(self._not_kept.values())
        shown = {(r.tile.session_id or f"chair {r.key}"): r.patient_mrn for r in ended
                 if r.tile is not None and r.patient_mrn}
        for view in views:
            if view.patient != "—":
                shown[view.tile.session_id or f"chair {view.key}"] = view.patient
        return shown

    def records_not_kept(self) -> list[StationAlarm]:
        """One low-priority alarm per ended session whose chair could not keep all of its rows, by chair name."""
        with self._lock:
            reports = sorted(self._not_kept.values(), key=lambda r: (chair_order(r.name), r.key))
        alarms = []
        for report in reports:
            assert report.tile is not None and report.tile.not_kept is not None
            lost = report.tile.not_kept
            where = (f"they wait in {lost.file} on {lost.host or 'the chair computer'}: write them in there "
                     "('Write waiting rows' in its session list, or 'infusion-monitor write-held')" if lost.file
                     else "no file could hold them: they are lost")
            session = (report.tile.session_id or "")[:8]
            alarms.append(StationAlarm(
                report.chair, "record_not_kept", Priority.LOW,
                f"{report.name}: session {session} of patient {self._patient(report)} ended with {lost.rows} rows "
                f"NOT in the chair's database, so not on the server either; {where}",
            ))
        return alarms

    def station_alarms(self, now: float | None = None) -> list[StationAlarm]:
        """The station's own conditions: chairs gone silent, alarms left unacknowledged, records not kept."""
        alarms = self.records_not_kept()
        for view in self.views(now):
            if view.offline:
                alarms.append(
                    StationAlarm(view.chair, "chair_offline", Priority.MEDIUM,
                                 f"{view.called}: not reporting for {view.silent_s:.0f} s")
                )
            elif view.stalled:
                alarms.append(
                    StationAlarm(view.chair, "chair_stalled", Priority.MEDIUM,
                                 f"{view.called}: monitoring stalled at the chair - its status has not moved on "
                                 f"for {view.status_age_s:.0f} s; values are not current")
                )
            if view.left_open:
                alarms.append(StationAlarm(view.chair, "chair_left_open", Priority.MEDIUM, left_open_text(view)))
            if view.unreported:
                alarms.append(StationAlarm(view.chair, "chair_unreported", Priority.MEDIUM, unreported_text(view)))
            if view.shared_with:
                alarms.append(
                    StationAlarm(view.chair, "login_shared", Priority.MEDIUM,
                                 f"{view.called}: {shared_login_text(view)}")
                )
            if view.named_alike:
                alarms.append(StationAlarm(view.chair, "name_shared", Priority.MEDIUM, same_name_text(view)))
            for alarm in view.tile.alarms:
                if alarm.id in view.escalated:
                    alarms.append(
                        StationAlarm(
                            view.chair, "escalated", Priority(min(3, alarm.priority + 1)),
                            f"{view.called}: {alarm.message} not acknowledged for {view.alarm_age_s(alarm):.0f} s",
                            alarm.id,
                        )
                    )
        return alarms

    def sounding(self, now: float | None = None) -> Priority | None:
        """The loudest priority the station sounds: unacknowledged chair alarms and its own conditions."""
        levels = [a.priority for a in self.station_alarms(now) if a.sounds]
        for view in self.views(now):
            levels.extend(Priority(a.priority) for a in view.tile.alarms if not a.acknowledged)
        return max(levels, default=None)


def not_a_reader_text(login: str) -> str:
    """Why a station does not show the clinic under ``login``."""
    return (f"the login {login} is not a reader's (a chair's login sees only that chair's rows, so the other chairs "
            "would be missing without a sign); start the station with a reader login: infusion-monitor server "
            "add-reader")


def _name_key(name: str) -> str:
    """A chair's name as a nurse hears it: case and spacing do not tell two chairs apart."""
    return " ".join(name.casefold().split())


def same_name_text(view: ChairView) -> str:
    """What the station says of a name two chairs report under."""
    return (f"NAME {view.name} ALSO USED by login {', '.join(view.named_alike)}: this tile is login {view.chair}; "
            f"give each chair its own name")


def shared_login_text(view: ChairView) -> str:
    """What the station says of a login two chair databases report under (under one name too: one of the tiles
    may be made up by someone holding the chair's login)."""
    if all(_name_key(name) == _name_key(view.name) for name in view.shared_with):
        return (f"TWO TILES named {view.name} under login {view.chair}: only one is this chair's own status "
                "(a copied chair database, or another program writing as its login); check at the chair")
    return (f"LOGIN {view.chair} SHARED with {', '.join(view.shared_with)}: each chair has its own tile; "
            f"give each chair its own login")


def left_open_text(view: ChairView) -> str:
    """What the station says of a tile ended while the server holds its session open."""
    session = (view.tile.session_id or "")[:8]
    return (f"{view.called}: SESSION LEFT WITHOUT COMPLETING - the tile was ended, but session {session} is "
            f"neither ended nor complete on the server; values from {view.silent_s:.0f} s ago; check the chair")


def unreported_text(view: ChairView) -> str:
    """What the station says of a session recording on the server whose chair's status does not reach it."""
    return (f"{view.called}: recording, but its live status does not reach this station - the chair's program is "
            f"older than the server: update it (shown: what the server has, heard from {view.silent_s:.0f} s ago)")


def moved_on(reports: Iterable[tuple[ChairReport, float, float]], now: float) -> set[str]:
    """The keys of the tiles their chair has left behind: a chair database silent for
    :data:`~monitor.replication.schema.FORMER_AFTER_S` (on the station's clock, from when each was last heard of),
    whose session the same login under the same name now reports live from another database, heard from since,
    and which the server holds as that other database's (its rows now come from there).

    That is a chair restored from its backup onto another computer or path and its session resumed there: the
    server ends the former database's row (on the same computer only), and the station had kept it as a session
    left open, "not reporting" beside the live tile. A made-up tile of the same login does not take the real one
    off while the real chair reports: the real one is never silent that long, and the server keeps every change of
    a session's row, by whom (``server history``)."""
    reports = list(reports)
    # (login, name, session) -> when the newest database holding that session was heard of, and which it is
    holders: dict[tuple[str, str, str], tuple[float, str]] = {}
    for report, at, _fresh in reports:
        tile = report.tile
        if tile is None or not tile.active or not tile.session_id or report.session_origin != report.origin:
            continue
        chair = (report.chair, _name_key(report.name), tile.session_id)
        if chair not in holders or at > holders[chair][0]:
            holders[chair] = (at, report.origin)
    left = set()
    for report, at, _fresh in reports:
        tile = report.tile
        if tile is None or not tile.session_id:
            continue
        holder = holders.get((report.chair, _name_key(report.name), tile.session_id))
        if (holder is not None and holder[1] != report.origin and holder[0] > at
                and now - at >= FORMER_AFTER_S):
            left.add(report.key)
    return left


def report_from_row(row: server_store.ChairRow) -> ChairReport:
    """A chair database's row as the station takes it (an unreadable status is logged and left out)."""
    tile = None
    if row.live is not None:
        document = row.live if isinstance(row.live, dict) else json.loads(row.live)
        try:
            tile = parse_tile(document)
        except ValueError as exc:
            log.warning("chair %s sent an unreadable status: %s", row.chair, exc)
    return ChairReport(row.chair, row.name or row.chair, tile, row.patient_mrn, row.patient_name, row.origin,
                       row.silent_s, row.session_open, row.session_ended, row.session_origin)


class StationFeed:
    """Listens for chairs' notifications and reads their rows (a background thread)."""

    def __init__(self, url: str, on_report: Callable[[ChairReport], None],
                 on_link: Callable[[bool, str | None], None] | None = None,
                 on_unreported: Callable[[list[UnreportedSession]], None] | None = None,
                 recheck_s: float = RECHECK_S) -> None:
        self.url = url
        self.on_report = on_report
        self.on_link = on_link
        self.on_unreported = on_unreported
        self.recheck_s = recheck_s
        #: The sessions found recording unreported at the last look (kept while the server holds them recording).
        self._unreported: set[str] = set()
        self.connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch: threading.Thread | None = None
        self._conn: psycopg.Connection | None = None
        #: When the request to the server now under way was sent (None: none is).
        self._busy_since: float | None = None
        self._unanswered = False
        #: The chair databases reported so far, by key: their login and origin.
        self._known: dict[str, tuple[str, str]] = {}
        self._rechecked_at = 0.0

    @property
    def server(self) -> str:
        """The server, for display (no password)."""
        return redacted(self.url)

    def start(self) -> None:
        """Listen on a background thread."""
        self._thread = threading.Thread(target=self._run, name="station-feed", daemon=True)
        self._thread.start()
        self._watch = threading.Thread(target=self._watch_answers, name="station-feed-watch", daemon=True)
        self._watch.start()

    def stop(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._watch is not None:
            self._watch.join(5.0)
            self._watch = None
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _link(self, up: bool, error: str | None) -> None:
        self.connected = up
        if self.on_link is not None:
            self.on_link(up, error)

    def _watch_answers(self) -> None:
        """Say the server is lost when a request has waited :data:`UNANSWERED_S` for its answer (the feed's own
        thread is then blocked in it and cannot)."""
        while not self._stop.wait(0.25):
            busy_since = self._busy_since
            if busy_since is not None and self.connected and time.monotonic() - busy_since >= UNANSWERED_S:
                self._unanswered = True
                self._link(False, f"the server has not answered for {time.monotonic() - busy_since:.0f} s")

    def _ask(self, request: Callable[..., Any], *args: Any) -> Any:
        """One request to the server, timed by :meth:`_watch_answers`; its answer."""
        self._busy_since = time.monotonic()
        try:
            answer = request(*args)
        finally:
            self._busy_since = None
        if self._unanswered:
            self._unanswered = False
            self._link(True, None)
        return answer

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                     application_name="infusion-monitor station") as conn:
                    # A read kept waiting (a table locked by a login that may change it) fails within seconds,
                    # and the banner says why, rather than every chair going "not reporting" without a cause.
                    bound_waits(conn, lock_s=waits.STATION_LOCK_WAIT_S, statement_s=waits.STATION_STATEMENT_S)
                    if not server_store.reads_every_chair(conn):
                        self._link(False, not_a_reader_text(conn.info.user))
                        self._stop.wait(RETRY_S)
                        continue
                    server_store.listen_for_chairs(conn)
                    self._recheck(conn)
                    self._link(True, None)
                    self._listen(conn)
            except psycopg.Error as exc:
                message = (waits.kept_waiting_text(exc, what="the station's read of the chairs",
                                                   lock_s=waits.STATION_LOCK_WAIT_S,
                                                   statement_s=waits.STATION_STATEMENT_S)
                           if waits.kept_waiting(exc) else tls.describe_failure(exc, self.url))
                if self.connected:
                    log.warning("station lost the server: %s", message)
                self._link(False, message)
                self._stop.wait(RETRY_S)
        self._link(False, None)

    def _deliver(self, rows: Iterable[server_store.ChairRow], chairs: set[str] | None) -> None:
        """Hand on the rows read (of every chair, or of the logins ``chairs``); a chair database reported before
        whose row is no longer there (an admin removed it) leaves the screen, where it stayed through every
        reconnection."""
        reports = [report_from_row(row) for row in rows]
        for report in reports:
            self.on_report(report)
        seen = {report.key for report in reports}
        for key, (chair, origin) in list(self._known.items()):
            if key not in seen and (chairs is None or chair in chairs):
                del self._known[key]
                self.on_report(ChairReport(chair, chair, None, None, None, origin))
        self._known.update({report.key: (report.chair, report.origin) for report in reports})

    def _recheck(self, conn: psycopg.Connection) -> None:
        """Read every chair's row, and the sessions recording on the server whose chair's status does not reach it."""
        self._deliver(self._ask(server_store.chair_rows, conn), None)
        found = self._ask(lambda: server_store.unreported_sessions(conn, silent_after_s=OFFLINE_AFTER_S,
                                                                   known=self._unreported))
        self._unreported = {session.session_id for session in found}
        if self.on_unreported is not None:
            self.on_unreported(found)
        self._rechecked_at = time.monotonic()

    def _listen(self, conn: psycopg.Connection) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._rechecked_at >= self.recheck_s:
                self._recheck(conn)
            chairs: set[str] = set()
            for notify in conn.notifies(timeout=0.5):
                chairs.add(notify.payload)
                # Gather what arrived together; a burst of 20 chairs becomes one query.
                break
            if not chairs:
                self._ask(server_store.ping, conn)  # notices a dead server within the wait
                continue
            for notify in conn.notifies(timeout=0.0):
                chairs.add(notify.payload)
            self._deliver(self._ask(server_store.chair_rows, conn, chairs), chairs)
