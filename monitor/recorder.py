"""The recorder: one thread that moves data one way, source -> session -> alarms -> store -> listeners.

It owns the session while it runs (an OS file lock says so to other processes, see
:mod:`monitor.ownership`). Everything a user does (phase changes, notes, scores,
acknowledgments) reaches it as a command through a queue and is carried out on the recorder's
thread, so the session has a single owner. Rows and audit entries are handed to the store's
writer (:mod:`monitor.store.writer`), which writes them on its own thread: the loop never waits for the
disk, and no exception - from the store, a command, a listener - ends it. Listeners get one
:class:`RecorderUpdate` per loop turn, a batch rather than a call per sample.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.base import (
    NIBP_NOT_STARTED,
    CuffStartRefused,
    LinkCounters,
    LinkEvent,
    LinkEventKind,
    OpenOptions,
    Source,
)
from drivers.core.clock import SECONDS_PER_MINUTE, AnchoredClock, process_clock, since_boot
from drivers.core.readings import PLETH_RATE_HZ, Flag, Parameter, Reading, is_plausible
from monitor import chair, identifiers, rems, text_rules
from monitor.alarms.model import AlarmRecord
from monitor.approval import CommandGuard
from monitor.birth_date import check_birth_date
from monitor.constants import FLUSH_INTERVAL_S, HEARTBEAT_INTERVAL_S
from monitor.ownership import SessionLock, SessionOwned
from monitor.plan import SessionPlan
from monitor.port_released import PortReleased
from monitor.protocols import Anchor, ScoreMoment, load_protocol
from monitor.protocols import Protocol as TreatmentProtocol
from monitor.readiness import (
    COMPLETE,
    START_INFUSION,
    START_RECOVERY,
    Blocker,
    CareRules,
    StepCheck,
    discharge_score_blockers,
    step_check,
)
from monitor.session import Baseline, EventKind, NibpSchedule, Phase, Session, SessionEvent, SessionRuleError
from monitor.store import Store, StoreError, new_id
from monitor.store.operations import AuditEntry, Batch, StoreCall
from monitor.store.writer import LOW_SPACE_BYTES, LOW_SPACE_CLEAR, SESSION_BYTES, StoreWriter, naming_the_disk
from monitor.unreadable import UnreadableWatch
from monitor.watchdog import STALL_LIMIT_S

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.05
# Command arguments that identify a patient: they go to the patients table, never to the audit log.
IDENTIFYING_ARGS = frozenset({"mrn", "patient_name", "birth_date"})
#: Commands whose text is taken as typed: the identifiers (refused, not changed, by their own rule) and the names
#: of a device or a file, which must reach the system unchanged.
_TAKEN_AS_TYPED = frozenset({"identify_patient", "change_source", "load_profile"})
#: At close, the writer tries this long to write what it still holds before the session is left unfinished.
CLOSE_DRAIN_S = 5.0
#: A pause between two turns longer than this means the recorder itself stood still; the window's silence
#: during it is not held against the window (see :meth:`Recorder.screen_alive`).
SCREEN_WATCH_RESTART_S = 1.0
#: Waveform samples stamped up to this long before the session start are kept (the first frame's).
PLETH_BEFORE_START_KEPT_S = 2.0
#: A planned session takes its discharge cuff this long before the recovery watch ends.
DISCHARGE_CUFF_LEAD_S = 60.0
#: What the plan of a demonstration (the simulated monitor) steps past, recording each as an override: the
#: entries a person makes (checklist, dose plan, scores, the discharge score) and the protocol's minimum
#: times. It waits, like any plan, for what the vital signs say (baseline, hold pressure, fresh discharge
#: values, a high alarm) and for the REMS form.
DEMONSTRATION_SKIPS = frozenset({
    "checklist", "dose_plan", "required_score", "score_not_met", "infusion_too_short", "recovery_too_short",
    "observation_too_short", "discharge_not_scored", "discharge_criteria",
})
#: The override reason the plan of a demonstration records.
DEMONSTRATION_REASON = "demonstration plan on the simulated monitor"
#: What a part beside the recorder may put on the timeline as ``technical_event``: the live feed's
#: set-aside messages and errors, the window's frozen spells and its guard's end. The conditions the alarm
#: engine acts on (a missed check, a lost link) are recorded by the recorder alone.
REPORTED_TECHNICAL_EVENTS = frozenset({"feed_dead_letter", "feed_error", "screen_not_responding", "guard_ended",
                                       "server_copy_incomplete", "database_origin_renewed",
                                       "server_kept_finished"})

#: How far before a crash the parameters with readings count as watched when the session resumes: the no-data
#: alarms judge the same parameters afterwards (a minute is several times the longest no-data time).
RESUME_WATCH_LOOKBACK_S = 120.0


def _spec_detail(spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an event says of the device spec: its driver settings in plain view, and the whole spec."""
    if spec is None:
        return {}
    return {"settings": dict(spec.get("settings") or {}), "device_spec": dict(spec)}


class AlarmEngineLike(Protocol):
    """What the recorder needs from an alarm engine (see :mod:`monitor.alarms`)."""

    def observe(self, reading: Reading, session: Session) -> None: ...

    def on_event(self, event: SessionEvent, session: Session) -> None: ...

    def tick(self, now: float, session: Session) -> None: ...

    def command(self, name: str, at: float, user: str | None, **args: Any) -> Any: ...

    def report(self, name: str, at: float, **args: Any) -> None: ...

    def take_changes(self) -> list[AlarmRecord]: ...

    def snapshot(self, now: float) -> Any: ...

    @property
    def care_rules(self) -> CareRules: ...

    def high_priority_alarms(self) -> tuple[str, ...]: ...

    def to_check_at_discharge(self) -> tuple[str, ...]: ...

    def nibp_confirm_due(self, now: float) -> bool: ...

    def watch_resumed(self, readings: Iterable[Reading], at: float) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the screen and the terminal show about the session at one moment."""

    session_id: str
    now: float
    phase: Phase
    #: What the session's protocol calls the phase (``dosing`` for a nasal spray's infusion phase).
    phase_label: str
    phases_reached: tuple[Phase, ...]
    elapsed_s: float
    infusion_elapsed_s: float
    infusion_paused: bool
    infusion_stopped: bool
    infusion_plan_min: float
    recovery_remaining_s: float | None
    baseline: Baseline | None
    baseline_missing: tuple[str, ...]
    latest: tuple[Reading, ...]
    heart_rate: Reading | None
    nibp_age_s: float | None
    nibp_next_due: float | None
    nibp_interval_s: float | None
    link: LinkCounters
    device: str
    can_start_nibp: bool
    storage_ok: bool
    pending_rows: int
    stored_readings: int
    #: Whether the next phase step (start infusion, complete) is ready, and what blocks it.
    step_check: StepCheck | None = None
    #: Scales the protocol asks for now that are not scored yet (:func:`monitor.chair.scores_due`).
    scores_due: tuple[str, ...] = ()
    #: Which of a due scale's scores is due, (scale, words), where the protocol asks it at more than one moment
    #: (:func:`monitor.chair.due_moment_words`: "before discharge").
    scores_due_for: tuple[tuple[str, str], ...] = ()
    #: The newest usable reading of each parameter (``latest`` may hold a failed cuff or dashes after it): what
    #: the discharge score rests on, as the readiness check does.
    latest_valid: tuple[Reading, ...] = ()


@dataclass(frozen=True, slots=True)
class RecorderUpdate:
    """One loop turn's worth of news for listeners."""

    readings: tuple[Reading, ...]
    events: tuple[SessionEvent, ...]
    alarm_changes: tuple[AlarmRecord, ...]
    status: SessionStatus
    alarms: Any = None


@dataclass(frozen=True, slots=True)
class Command:
    """An action requested by a user, carried out on the recorder thread."""

    name: str
    user: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    readings: list[Reading] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    alarms: dict[str, AlarmRecord] = field(default_factory=dict)
    session_update: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.readings) + len(self.events) + len(self.alarms)

    def clear(self) -> None:
        self.readings = []
        self.events = []
        self.alarms = {}
        self.session_update = {}


class Recorder:
    """Runs one session: reads the source, applies the rules, stores everything, tells listeners."""

    def __init__(
        self,
        store: Store,
        source: Source,
        session: Session,
        *,
        alarms: AlarmEngineLike | None = None,
        autopilot: bool = False,
        nurse: str | None = None,
        protocol: TreatmentProtocol | None = None,
        writer: StoreWriter | None = None,
        lock: SessionLock | None = None,
        clock: AnchoredClock | None = None,
    ) -> None:
        self.store = store
        self.writer = writer or StoreWriter(store.path, session.id)
        # Its recovery file is sealed with the database's keys even before it first opens the database itself.
        self.writer.keys = self.writer.keys or store.keys
        self.lock = lock
        self.writer.session_lock = lock  # kept at its path by the writer thread
        self.clock = clock or process_clock()
        self.clock.take_step()  # a step before the session started is not this session's business
        #: Monotonic time at the end of the last loop turn that completed (the watchdog reads it from other
        #: threads): turns that fail one after another are no sign of life.
        self.last_beat = time.monotonic()
        #: The error of the last turn while turns fail (None once a turn completes), for the watchdog's alarm.
        self.turn_error: str | None = None
        #: Monotonic time of the last sign of life from the window showing this session (None: no window has
        #: asked to be watched; see :meth:`screen_alive`).
        self.screen_beat: float | None = None
        self._screen_watched_from = 0.0
        self._screen_alarmed = False
        self._unreadable = UnreadableWatch()
        #: The device's link was reported lost and not yet restored.
        self._link_lost = False
        #: The server link's warning (another chair database uses this chair's login), set from its thread.
        self.server_warning: str | None = None
        self._server_warned: str | None = None
        #: What the clinic's server says of this patient's MRN at other chairs (None: no record differs), set from
        #: the replicator's thread.
        self.identity_conflict: str | None = None
        self._identity_alarmed: str | None = None
        #: Where held rows went when the store never came back before the end (None: nothing left over).
        self.recovery_file: str | None = None
        #: Rows the store never took before the recording ended (in :attr:`recovery_file`, or lost without one).
        self.rows_not_written = 0
        self._dropped_reported = (0, 0)
        self._device_offset_reported: float | None = None
        #: Readings a device stamped before the session started: skipped, counted, said on the timeline.
        self.before_start_skipped = 0
        self._before_start_reported = 0
        self._before_start_earliest: float | None = None
        self._incidents_seen = 0
        self._key_incidents_seen = 0
        self._set_aside_seen = 0
        self.source = source
        self.session = session
        self.alarms = alarms
        self.autopilot = autopilot
        self.nurse = nurse
        self.protocol = protocol or load_protocol(None)
        # The timeline and the few readings the protocol's timed checks and gates look at.
        self.watch = chair.ProtocolWatch(self.protocol)
        self._rems_cache: tuple[tuple[int, int, int], str | None] | None = None
        self._scores_due: tuple[tuple[int, int, Phase, int], tuple[str, ...], tuple[tuple[str, str], ...]] | None = None
        #: The phase reported as running past the protocol's maximum (None: none is).
        self._too_long: Phase | None = None
        self._commands: queue.Queue[tuple[Command, Future[Any]]] = queue.Queue()
        self._listeners: list[Callable[[RecorderUpdate], None]] = []
        self._pending = _Pending()
        self._last_flush = 0.0
        self._last_heartbeat = 0.0
        self._storage_ok = True
        #: The database's disk has little room left (its low-priority alarm is on).
        self._space_low = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._phases_written: tuple[Phase, ...] = ()
        self._baseline_written = False
        # The last cuff time at which nibp_overdue was put on the timeline (reported once per gap).
        self._overdue_reported_for: float | None = None
        self._overdue_reported = False
        # A cuff start the device refused is put on the timeline once, until a start is taken again.
        self._cuff_refusal_reported = False
        self.finished = threading.Event()
        #: Set when the recorder begins closing the session (monitoring then ends on purpose).
        self.closed = threading.Event()
        self.error: BaseException | None = None
        self.end_status: str | None = None
        # Checks a command may not pass (approval, clinical floors; see monitor.approval), who started
        # the recording, and the alarm profile's approved name.
        self.guard: Callable[[Command, Any], Command] | None = CommandGuard(store, alarms)
        self.principal: Any = None
        self.profile_label = ""
        #: True when the session's patient could not be read at the start (then ``patient`` is None, not known).
        self.patient_unread = False
        #: Every option of the device being read, as plain values (None: not told), kept up to date by a change.
        self.device_record: Mapping[str, Any] | None = None
        #: The session's patient as this recorder knows it (None: not identified), whether or not the writer has
        #: put it on file yet.
        self.patient = self._patient_on_file()
        #: The patients this run identified, by MRN: one identified again before the writer has put it on file
        #: (a slow or failing disk) is the same patient, under the same key.
        self._identified: dict[str, identifiers.PatientOnFile] = {}
        # A listener that serves one patient learns who, when the session already knows.
        self.source.set_patient(self._patient_mrn())

    def _patient_on_file(self) -> identifiers.PatientOnFile | None:
        """The session's patient as the database holds it (None: not identified, or not readable)."""
        try:
            row = self.store.session_row(self.session.id)
            return identifiers.PatientOnFile.of_row(self.store.patient_row(row.get("patient_id")))
        except (StoreError, sqlite3.Error) as exc:
            log.warning("cannot read the session's patient: %s", exc)
            self.patient_unread = True
            return None

    def _patient_mrn(self) -> str | None:
        """The MRN of the session's identified patient, None before identification."""
        return None if self.patient is None else self.patient.mrn

    # -- construction --------------------------------------------------------------------

    @classmethod
    def new_session(
        cls,
        store: Store,
        source: Source,
        *,
        driver: str,
        port: str | None,
        plan: SessionPlan,
        patient_id: str | None = None,
        nurse: str | None = None,
        nibp_schedule: NibpSchedule | None = None,
        protocol: TreatmentProtocol | None = None,
        device_spec: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Recorder:
        """Open the source, create a session row, and return a recorder for it.

        ``device_spec`` (every option the device was opened with, as plain values) goes on the timeline, where a
        resume after a crash finds it.
        """
        protocol = protocol or load_protocol(None)
        # A new session starts on the wall clock as it is now (one recording per process).
        (kwargs.get("clock") or process_clock()).rebase()
        session_id = new_id()
        lock = SessionLock(store.path, session_id)
        lock.acquire()
        try:
            source.open()
        except BaseException:
            lock.release()
            raise
        started = source.now()
        try:
            store.create_session(
                session_id=session_id,
                started_at=started,
                patient_id=patient_id,
                driver=driver,
                port=port,
                plan=plan.text(),
                nurse=nurse,
                device=source.device,
                protocol=protocol.name,
                protocol_sha256=protocol.sha256,
            )
        except BaseException:
            source.close()
            lock.release()
            raise
        session = Session(session_id, started, plan, nibp_schedule)
        session.record(EventKind.SESSION_STARTED, started, nurse, driver=driver, port=port or "",
                       protocol=protocol.name, **_spec_detail(device_spec))
        store.audit("session_started", user=nurse, session_id=session_id, driver=driver)
        recorder = cls(store, source, session, nurse=nurse, protocol=protocol, lock=lock, **kwargs)
        recorder.device_record = device_spec
        return recorder

    @classmethod
    def resume_session(
        cls,
        store: Store,
        source: Source,
        session_id: str,
        *,
        nurse: str | None = None,
        nibp_schedule: NibpSchedule | None = None,
        protocol: TreatmentProtocol | None = None,
        device_spec: Mapping[str, Any] | None = None,
        changed_from: str | None = None,
        **kwargs: Any,
    ) -> Recorder:
        """Continue an unfinished session in this process, rebuilding its state from the store.

        The resume names the device it continues with (``device_spec`` as plain values); ``changed_from`` is the
        device the session was last recorded from when the person confirmed another one, recorded as a change.
        """
        from monitor.plan import parse_plan

        row = store.session_row(session_id)
        session_id = row["id"]
        plan = parse_plan(row["plan"]) if row["plan"] else SessionPlan()
        session = Session(session_id, row["started_at"], plan, nibp_schedule)
        events = store.events(session_id)
        baseline_start = max((e.t for e in events if e.kind is EventKind.BASELINE_STARTED), default=None)
        recent = list(store.readings(session_id, since=baseline_start)) if baseline_start else []
        session.replay(events, recent)
        if session.phase is Phase.COMPLETE:
            # Nothing is left to record; taking the session over would only reopen a finished record.
            raise SessionRuleError(
                "this session had already reached 'complete' when it stopped; close it instead of resuming"
            )
        lock = SessionLock(store.path, session_id)
        try:
            lock.acquire()
        except SessionOwned as exc:
            raise SessionRuleError(str(exc)) from None
        # The gap is measured from the newest thing stored, before the session clock moves on.
        last = max(store.last_data_at(session_id) or session.now, session.now)
        # Continues on the wall clock as it is now, never before what is stored: a clock set back meanwhile
        # would stamp every new reading before the session's start, and nothing would be stored or judged.
        (kwargs.get("clock") or process_clock()).rebase(not_before=last)
        try:
            source.open()
            store.claim_session(session_id)
        except BaseException:
            lock.release()
            raise
        resumed_at = source.now()
        session.advance(resumed_at)
        lost_cuff = {} if session.cuff_lost_at is None else {"cuff_lost_at": session.cuff_lost_at}
        # The device resumed on is named: it may not be the one in use when the recording stopped, and the exports
        # name the device of each value from these events.
        session.record(EventKind.SESSION_RESUMED, session.now, nurse, gap_s=round(max(0.0, resumed_at - last), 1),
                       last_data_at=last, driver=source.name, device=source.device, **lost_cuff,
                       **_spec_detail(device_spec))
        store.audit("session_resumed", user=nurse, session_id=session_id, device=source.device)
        if changed_from is not None:
            port = str((device_spec or {}).get("port") or "")
            session.record(EventKind.DEVICE_CHANGED, session.now, nurse, driver=source.name, port=port,
                           device=source.device, previous_device=changed_from, at_resume=True,
                           **_spec_detail(device_spec))
            store.audit("change_source", user=nurse, session_id=session_id, at_resume=True,
                        **_spec_detail(device_spec))
        writer = StoreWriter(store.path, session_id, stored_numerics=store.reading_count(session_id))
        protocol = protocol or load_protocol(row.get("protocol"))
        recorder = cls(store, source, session, nurse=nurse, protocol=protocol, lock=lock, writer=writer, **kwargs)
        for event in events:
            recorder.watch.on_event(event)
        for reading in store.readings(session_id, since=min((e.t for e in events), default=None)):
            recorder.watch.observe(reading)
        if recorder.alarms is not None:
            # What the session was watching before the gap is still watched: a device that no longer sends it
            # raises the no-data alarm as it would have without the crash.
            recorder.alarms.watch_resumed(store.readings(session_id, since=last - RESUME_WATCH_LOOKBACK_S),
                                          resumed_at)
        for e in events:
            if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == chair.CHECK_MISSED:
                recorder.watch.reported.add(str(e.detail.get("check")))
            elif e.kind is EventKind.TECHNICAL and e.detail.get("condition") == chair.CHECK_DONE_LATE:
                recorder.watch.late_reported.add(str(e.detail.get("check")))
        recorder.device_record = device_spec
        recorder._phases_written = tuple(session.phases_reached)
        recorder._baseline_written = session.baseline is not None
        return recorder

    # -- public API (any thread) ---------------------------------------------------------

    def add_listener(self, callback: Callable[[RecorderUpdate], None]) -> None:
        """Called on the recorder thread after every loop turn that produced news."""
        self._listeners.append(callback)

    def submit(self, name: str, user: str | None = None, **args: Any) -> Future[Any]:
        """Ask for an action; the future carries its result or the rule that refused it."""
        future: Future[Any] = Future()
        self._commands.put((Command(name, user, args), future))
        return future

    def start(self) -> None:
        """Run the loop on a background thread."""
        self._thread = threading.Thread(target=self._run_safely, name="recorder", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the loop to end after its current turn, without waiting (safe in a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0 + CLOSE_DRAIN_S) -> None:
        """End the loop, flush, close the session and the source."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def beats(self) -> dict[str, float]:
        """Monotonic time each watched thread other than the recorder last showed it works, by role."""
        reader = self.source.reader()
        return {} if reader is None else {"device reader": reader.last_beat}

    def threads(self) -> dict[str, threading.Thread]:
        """The threads that must stay alive while recording (for the watchdog), by role."""
        out: dict[str, threading.Thread] = {}
        if self._thread is not None:
            out["recorder"] = self._thread
        if self.writer.thread is not None:
            out["store writer"] = self.writer.thread
        reader = self.source.reader()
        if reader is not None and reader.thread is not None:
            out["device reader"] = reader.thread
        return out

    @property
    def running(self) -> bool:
        """True while the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- the loop ------------------------------------------------------------------------

    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # reported to the caller, who decides how to show it
            log.exception("recorder stopped by an error")
            self.error = exc
        finally:
            self.finished.set()

    def run(self, until: Callable[[Recorder], bool] | None = None) -> None:
        """Loop until stopped, until ``until(self)`` is true, or until the session completes.

        No exception ends the loop: a turn that fails is logged, put on the timeline once per
        kind of error (the watchdog alarms from the first), and the next turn runs. A failed turn still
        ends the loop on a completed session or when ``until`` says so.
        """
        self.writer.start()
        reported: set[str] = set()
        began = since_boot()
        try:
            while not self._stop.is_set():
                # A turn takes a read's timeout and its work: one begun seconds after the last one began means
                # the recording did not run in between (or within that turn).
                previous, began = began, since_boot()
                self._note_pause(began - previous)
                try:
                    self.step()
                    self.turn_error = None
                except Exception as exc:
                    self._turn_failed(exc, reported)
                    # Not a busy loop on an error that repeats.
                    time.sleep(READ_TIMEOUT_S)
                if self._loop_done(until):
                    break
        finally:
            self.close()

    def _loop_done(self, until: Callable[[Recorder], bool] | None) -> bool:
        """Whether the loop ends after this turn, failed or not: the session is complete or ``until`` says so.

        Asked after a failed turn too: a session completed in a turn that then failed, or a ``record --duration``
        whose turns all fail, would otherwise record errors for good."""
        if self.session.phase is Phase.COMPLETE:
            return True
        return until is not None and until(self)

    def _note_pause(self, seconds: float) -> None:
        """Put on the timeline a spell in which the recording itself did not run (the process stopped or not
        scheduled, the computer asleep): values a device sent meanwhile were read at once when it ran again,
        so their times, and any alarm over them, are not those of the moments measured."""
        if seconds <= STALL_LIMIT_S:
            return
        log.warning("the recording did not run for %.1f s", seconds)
        try:
            self.session.record(EventKind.TECHNICAL, self.session.now, None, condition="recorder_not_running",
                                detail=f"the recording did not run for {seconds:.1f} s: values the device sent "
                                       "meanwhile carry the time they were read")
        except Exception:
            log.exception("cannot record the pause")

    def _turn_failed(self, exc: Exception, reported: set[str]) -> None:
        """Log and record an error once per kind; :attr:`turn_error` has the watchdog alarm at once, and the beat
        is not renewed."""
        key = f"{type(exc).__name__}: {exc}"
        self.turn_error = key
        if key in reported:
            return
        log.exception("recorder turn failed; monitoring continues")
        reported.add(key)
        try:
            self.session.record(EventKind.TECHNICAL, self.session.now, None, condition="recorder_error",
                                error=key[:300])
        except Exception:
            log.exception("cannot record the recorder error")

    def step(self, timeout: float = READ_TIMEOUT_S) -> RecorderUpdate:
        """One turn: read, apply, evaluate, maybe flush, notify."""
        readings = self._ingest(self.source.read(timeout))
        for link_event in self.source.take_link_events():
            self._on_link_event(link_event)
        for received, offset in self.source.take_clock_offsets():
            self._device_clock_offset(received, offset)
        self._report_before_start()
        self.session.advance(self.source.now())
        self._check_clock()
        self._run_commands()
        if self.autopilot:
            self._autopilot()
        self._run_nibp_schedule()
        self._check_nibp_overdue()
        self._check_timed()
        if self.alarms is not None:
            self.alarms.tick(self.session.now, self.session)
        self._watch_writer()
        self._watch_screen()
        self._watch_device_readable()
        self._watch_server_link()
        self._watch_identity()
        events = self._collect_events()
        alarm_changes = self._collect_alarm_changes()
        self._maybe_flush()
        update = RecorderUpdate(
            readings=tuple(readings),
            events=tuple(events),
            alarm_changes=tuple(alarm_changes),
            status=self.status(),
            alarms=self.alarms.snapshot(self.session.now) if self.alarms is not None else None,
        )
        for listener in self._listeners:
            try:
                listener(update)
            except Exception:  # a broken display must not stop the recording
                log.exception("recorder listener failed")
        self.last_beat = time.monotonic()
        return update

    def _check_clock(self) -> None:
        """Put a wall-clock step on the timeline; session time itself never follows it."""
        step = self.clock.take_step()
        if step is not None:
            log.warning("the wall clock stepped by %+.1f s; session time is unaffected", step)
            self.session.record(EventKind.CLOCK_CHANGED, self.session.now, None, step_s=round(step, 1))

    def _device_clock_offset(self, received: float, offset: float) -> None:
        """Name a refused device time stamp on the timeline, once per distinct offset (within a minute)."""
        last = self._device_offset_reported
        if last is not None and abs(offset - last) < SECONDS_PER_MINUTE:
            return
        self._device_offset_reported = offset
        self.session.record(EventKind.DEVICE_CLOCK_OFFSET, max(received, self.session.now), None,
                            offset_s=round(offset, 1), device=self.source.device)

    def _audit(self, action: str, user: str | None, **detail: Any) -> None:
        """Queue an audit entry; written in order with the data, held while the store fails."""
        self.writer.put(AuditEntry(time.time(), action, user, self.session.id, detail))

    def _report_before_start(self) -> None:
        """Say on the timeline how many readings were skipped for being stamped before the session began."""
        count = self.before_start_skipped - self._before_start_reported
        if count <= 0:
            return
        self._before_start_reported = self.before_start_skipped
        earliest = self._before_start_earliest
        self._before_start_earliest = None
        s = self.session
        log.warning("skipped %d readings stamped before the session started", count)
        s.record(EventKind.READINGS_BEFORE_START, s.now, None, count=count, device=self.source.device,
                 earliest_before_start_s=round(s.started_at - earliest, 1) if earliest is not None else None)

    def _ingest(self, readings: list[Reading]) -> list[Reading]:
        """Judge the readings and hold them for the store, every one of them even if judging one fails
        (a device may have been told they arrived); such a failure fails the turn after the batch."""
        accepted: list[Reading] = []
        failure: Exception | None = None
        started_at = self.session.started_at
        for reading in readings:
            if reading.t < started_at:
                # History a device sends on connecting (an HL7 gateway's backlog, a monitor's memory)
                # belongs to no session here: stored, it would put times before the start in every
                # export and judge alarms on what happened before the patient was in the chair.
                if reading.parameter is not Parameter.PLETH:
                    self.before_start_skipped += 1
                    if self._before_start_earliest is None or reading.t < self._before_start_earliest:
                        self._before_start_earliest = reading.t
                    continue
                # The first frame's waveform is stamped back from its arrival, so its first samples may
                # precede the start a little; the waveform is in no export, so those stay.
                if reading.t < started_at - PLETH_BEFORE_START_KEPT_S:
                    continue
            if not is_plausible(reading.parameter, reading.value):
                # Never store an impossible number; keep the fact that something came.
                reading = Reading(reading.t, reading.parameter, None, reading.source, reading.flags | {Flag.INVALID})
            accepted.append(reading)
            try:
                self.session.observe(reading)
                if reading.parameter is not Parameter.PLETH:
                    self.watch.observe(reading)
                    if self.alarms is not None:
                        self.alarms.observe(reading, self.session)
            except Exception as exc:
                failure = failure or exc
        self._pending.readings.extend(accepted)
        if failure is not None:
            raise failure
        return accepted

    def _on_link_event(self, event: LinkEvent) -> None:
        if event.kind is LinkEventKind.TECHNICAL:
            self.session.record(
                EventKind.TECHNICAL, event.t, None, condition=event.condition or "link", detail=event.detail,
                device=self.source.device,
            )
            return
        kind = EventKind.LINK_LOST if event.kind is LinkEventKind.LINK_LOST else EventKind.LINK_RESTORED
        self._link_lost = kind is EventKind.LINK_LOST
        self.session.record(kind, event.t, None, detail=event.detail, device=self.source.device)

    def _collect_events(self) -> list[SessionEvent]:
        events = self.session.take_events()
        for event in events:
            self.source.on_session_event(event.kind.value, event.t)
            if self.alarms is not None:
                self.alarms.on_event(event, self.session)
        # The alarm engine may itself add timeline events (e.g. technical conditions).
        events += self.session.take_events()
        for event in events:
            self.watch.on_event(event)
        self._pending.events.extend(events)
        return events

    def _collect_alarm_changes(self) -> list[AlarmRecord]:
        if self.alarms is None:
            return []
        changes = self.alarms.take_changes()
        for change in changes:
            self._pending.alarms[change.id] = change
        return changes

    # -- commands ------------------------------------------------------------------------

    def _run_commands(self) -> None:
        while True:
            try:
                command, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._execute(command))
            except (SessionRuleError, ValueError, KeyError) as exc:
                # A refused attempt (e.g. a limit change without the admin role) is audited too.
                kept = {k: v for k, v in command.args.items() if k not in IDENTIFYING_ARGS and k != "source"}
                self._audit(command.name + "_refused", command.user or self.nurse, reason=str(exc), **kept)
                future.set_exception(exc)
            except Exception as exc:  # anything else fails this command only, never the recording
                log.exception("command %s failed", command.name)
                future.set_exception(exc)

    def _execute(self, command: Command) -> Any:
        if self.guard is not None:
            command = self.guard(command, self.alarms)
        s = self.session
        user = command.user or self.nurse
        # Typed text is stored without direction overrides (a note is kept, never refused). The identifiers have
        # their own, stricter rule, which refuses them with the character named; a file or port goes to the system.
        args = command.args if command.name in _TAKEN_AS_TYPED else text_rules.neutral(command.args)
        name = command.name
        phase_actions: dict[str, Callable[..., None]] = {
            "start_baseline": s.start_baseline,
            "start_infusion": s.start_infusion,
            "pause_infusion": s.pause_infusion,
            "resume_infusion": s.resume_infusion,
            "stop_infusion": s.stop_infusion,
            "start_recovery": s.start_recovery,
            "complete": s.complete,
        }
        if name == "stop_infusion" and s.phase is Phase.INFUSION and self._infusion_left() is not None:
            # Never refused (stopping a pump is a safety action); the record says it was early, and why.
            reason = str(args.get("reason") or "").strip()
            minimum = self.protocol.phases[Phase.INFUSION].min_min
            detail: dict[str, Any] = {"before_minimum_min": minimum, "reason": reason}
            s.stop_infusion(user=user, **detail)
            self._audit(name, user, **detail)
            return None
        if name in phase_actions:
            check = self._step_check(name)
            if check is not None:
                # Refused unless ready, or overridden with a reason (OverrideRequired is a SessionRuleError).
                args = {**{k: v for k, v in args.items() if k != "override_reason"},
                        **check.enforce(args.get("override_reason"))}
                protocol_items = [b.text for b in check.blockers if b.code in chair.PROTOCOL_BLOCKERS]
                if protocol_items:
                    args["protocol_override"] = protocol_items
                    self._audit("protocol_override", user, reason=args["override_reason"],
                                missing=protocol_items)
            phase_actions[name](user=user, **args)
            self._audit(name, user, **args)
            return None
        if name == "nibp_now":
            return self._start_cuff(user, reason="nurse")
        if name == "set_nibp_interval":
            s.set_nibp_interval(args["phase"], float(args["minutes"]), user=user)
            self._audit(name, user, **args)
            return None
        if name == "change_source":
            return self._change_source(user, **args)
        if name == "release_source":
            return self._release_source(user, **args)
        if name == "source_lost":
            return self._source_lost(**args)
        if name == "identify_patient":
            return self._identify_patient(user, **args)
        if name == "technical_event":
            # Reported by a part beside the recorder (the live feed, the window); the timeline is written here.
            if args.get("condition") not in REPORTED_TECHNICAL_EVENTS:
                raise ValueError(f"the technical event '{args.get('condition')}' is recorded by the monitor itself; "
                                 f"others may report only {', '.join(sorted(REPORTED_TECHNICAL_EVENTS))}")
            return s.record(EventKind.TECHNICAL, None, None, **args)
        if name == "sign_in":
            # The person now at the chair: later automatic actions (plan, close) are attributed to them.
            self.nurse = user
            self._audit(name, user, **args)
            return None
        if name == "break_glass":
            # An emergency sign-in the database could not take (it cannot be used): audited with the session's rows,
            # which the writer holds until it can, or keeps in the recovery file.
            self._audit(name, user, reason=str(args.get("reason", "")), database=str(args.get("database", "")))
            return None
        if name in chair.ENTRY_COMMANDS:
            entry = chair.entry(name, args, self.protocol, s, self.watch.events)
            event = s.record(entry.kind, None, user, **entry.detail)
            self._audit(name, user, **entry.detail)
            return event
        if name in ("note", "quick_event", "score", "addendum", "discharge_scored"):
            if name == "score":
                chair.check_score(str(args.get("scale", "")), args.get("value"), args.get("items"),
                                  args.get("depression"))
                args = chair.score_entry(args, self.watch.events)
            kind = EventKind(name)
            if kind in (EventKind.NOTE, EventKind.QUICK_EVENT):
                args = chair.typed_entry(kind, args, self.watch.events)
            event = s.record(kind, None, user, **args)
            if name in ("score", "discharge_scored", "addendum"):
                self._audit(name, user, **args)
            elif args.get("corrects_at") is not None:
                # A note itself is not audited (the timeline holds it); its correction is: who, when, why. The
                # texts stay on the timeline only.
                self._audit(name, user, **{k: v for k, v in args.items() if k not in ("text", "corrected_value")})
            return event
        if self.alarms is not None:
            result = self.alarms.command(name, s.now, user, **args)
            self._audit(name, user, **args)
            return result
        raise ValueError(f"unknown command '{name}'")

    def identify_before_start(
        self, user: str | None, mrn: str, patient_name: str | None = None, birth_date: str | None = None
    ) -> identifiers.PatientOnFile:
        """Identify the patient before the recording runs (``--patient``): what **Identify…** does through
        :meth:`submit`, here on the caller's thread, which is the recorder's own until :meth:`run` or :meth:`start`."""
        if self._thread is not None:
            raise RuntimeError("the recording runs: identify the patient through submit('identify_patient')")
        return self._identify_patient(user, mrn, patient_name, birth_date)

    def _identify_patient(
        self, user: str | None, mrn: str, patient_name: str | None = None, birth_date: str | None = None
    ) -> identifiers.PatientOnFile:
        """Register (or find) the patient by MRN and attach this session to them; returns who the patient is.

        The timeline and the audit log get the patient's random key only: identifiers stay in
        the patients table, so a de-identified export cannot leak them through an event.
        """
        s = self.session
        if s.phase is Phase.COMPLETE:
            raise SessionRuleError("the session is complete; the patient can no longer be changed")
        mrn = identifiers.check_typed(mrn, "MRN") or ""
        if not mrn:
            raise ValueError("the MRN is needed to identify the patient")
        patient_name = identifiers.check_typed(patient_name, "patient's name")
        if birth_date and birth_date.strip():
            birth_date = check_birth_date(birth_date)  # the rule the exports need (ValueError refuses)
        birth_date = (birth_date or "").strip() or None
        known = self._identified.get(mrn) or self._known_patient(mrn)
        if known is not None:
            self._check_same_patient(mrn, known, patient_name, birth_date)
        patient = known or identifiers.PatientOnFile(new_id(), mrn, patient_name, birth_date)
        # The writes go through the writer in order, as one step that finds the patient on file by the MRN when
        # it gets there: a key this run chose is never attached unless it is on file.
        self.writer.put(StoreCall("attach_patient", (s.id, mrn, patient_name, birth_date),
                                  {"patient_id": patient.key}))
        self._identified[mrn] = patient
        self.patient = patient
        self.source.set_patient(mrn)
        s.record(EventKind.PATIENT_IDENTIFIED, None, user, patient_key=patient.key)
        self._audit("identify_patient", user, patient_key=patient.key)
        return patient

    def _known_patient(self, mrn: str) -> identifiers.PatientOnFile | None:
        """The patient on file with this MRN (None: none). A read only (never blocked by a writer in WAL mode);
        identifiers are stored encrypted, so the patient is found through the keyed hash of the MRN."""
        try:
            row = self.store.patient_key_for_mrn(mrn)
        except (StoreError, sqlite3.Error) as exc:
            # Without the lookup a mistyped MRN would put this session in another patient's record unchecked.
            why = naming_the_disk(str(exc), self.store.path)
            raise SessionRuleError(f"the patient cannot be looked up: the database cannot be read ({why}); identify "
                                   "the patient again once the storage alarm has ended") from exc
        if row is None:
            return None
        try:
            kept = self.store.patient_row(row[0]) or {}
        except (StoreError, sqlite3.Error):
            kept = {}
        return identifiers.PatientOnFile.of_row({**kept, "id": row[0], "mrn": mrn})

    @staticmethod
    def _check_same_patient(
        mrn: str, kept: identifiers.PatientOnFile, patient_name: str | None, birth_date: str | None
    ) -> None:
        """Refuse an MRN on file for another person: a typed name or birth date that differs from the one kept."""

        differ = [what for what, typed, stored in (("name", patient_name, kept.name),
                                                   ("birth date", birth_date, kept.birth_date))
                  if typed and stored and not text_rules.same_name(typed, stored)]
        if differ:
            raise SessionRuleError(
                f"MRN {mrn} is on file with another {' and '.join(differ)}: check the MRN against the patient's "
                "wristband (to attach this session to the patient on file, give the MRN alone)"
            )

    def _change_source(
        self, user: str | None, source: Source, driver: str, port: str | None = None,
        spec: Mapping[str, Any] | None = None, back_after: str | None = None,
    ) -> str:
        """Carry on the same session with another device (or the same device on another port).

        The patient, baseline, phase and alarm state stay; the timeline and the audit log say
        when the device changed and who changed it, and with ``spec`` every option it was opened
        with (what a resume after a crash reopens). ``back_after``: the device that let go of its port is
        reopened because the one chosen could not be used (why). Returns the new device's description.
        """
        s = self.session
        try:
            source.open()
        except (OSError, ValueError) as exc:
            source.close()
            raise SessionRuleError(f"cannot open {driver}: {exc}") from exc
        previous = self.source
        self.source = source
        previous.close()
        try:
            # What the old device had received (and maybe acknowledged) but not yet handed over is kept.
            self._ingest(previous.drain())
        except Exception:
            # The new device reads already: refusing the command now would not bring the old one back.
            log.exception("values read just before the device change could not all be judged")
        source.set_patient(self._patient_mrn())
        # A device that reacts to the session (the simulator) learns where the session stands.
        if Phase.INFUSION in s.phase_started_at:
            source.on_session_event(EventKind.INFUSION_STARTED.value, s.phase_started_at[Phase.INFUSION])
        if s.infusion_stopped_at is not None:
            source.on_session_event(EventKind.INFUSION_STOPPED.value, s.infusion_stopped_at)
        s.advance(source.now())
        back = {"back_after": back_after} if back_after else {}
        s.record(EventKind.DEVICE_CHANGED, s.now, user, driver=driver, port=port or "", device=source.device,
                 previous_device=previous.device, **_spec_detail(spec), **back)
        self.device_record = spec
        if self._link_lost:
            # The lost link was the device put away: its loss is over (the new device's own link reports for
            # itself). Left open, its alarm never ended and, while it held, no "no value" alarm could start.
            self._link_lost = False
            s.record(EventKind.LINK_RESTORED, s.now, user, device=source.device,
                     detail=f"{source.device} reads again" if back_after else
                     f"the device was changed: {previous.device} is no longer used")
        self._audit("change_source", user, driver=driver, port=port or "")
        return source.device

    def _release_source(self, user: str | None, to: str = "") -> str:
        """Let go of the running device's port so that ``to``, another setting on that same port, can open it.

        The session goes on without a device meanwhile (:class:`~monitor.port_released.PortReleased`); the
        timeline says the device is being changed. ``change_source`` ends it, with the new device or, when that
        could not be opened, the released one reopened. Returns the released device's description.
        """
        s = self.session
        previous = self.source
        if isinstance(previous, PortReleased):
            raise SessionRuleError("the device is being changed already")
        previous.close()
        lost_after = float((self.device_record or {}).get("link_lost_after_s") or OpenOptions().link_lost_after_s)
        self.source = PortReleased(previous, lost_after_s=lost_after)
        s.record(EventKind.TECHNICAL, s.now, user, condition="device_being_changed", device=previous.device,
                 detail=f"the port is let go so that {to or 'another setting'} can open it")
        self._audit("release_source", user, device=previous.device, to=to)
        try:
            self._ingest(previous.drain())  # held for the store even when judging one fails
        except Exception:
            # The port is let go already: refusing the command now would leave nobody to open the new device.
            log.exception("values read just before the device change could not all be judged")
        return previous.device

    def _source_lost(self, detail: str) -> None:
        """A device change that left no device reading: the link-lost alarm is raised at once (the released
        device could not be reopened either)."""
        if not isinstance(self.source, PortReleased):
            raise SessionRuleError("no device is being changed")
        self.source.lost(detail)
        for event in self.source.take_link_events():
            self._on_link_event(event)

    # -- phases and cuff -----------------------------------------------------------------

    def _care_rules(self) -> CareRules:
        """The profile's rules with the protocol's numbers (minimum baseline, age of discharge vitals)."""
        return self.protocol.care_rules(self.alarms.care_rules if self.alarms is not None else CareRules())

    def _high_alarms(self) -> tuple[str, ...]:
        return self.alarms.high_priority_alarms() if self.alarms is not None else ()

    def _autopilot(self) -> None:
        """Advance phases by session time according to the plan (for --plan).

        A plan never steps past a blocker silently: with a patient's device it waits for every blocker (the
        nurse enters what is missing, or overrides with a reason); on the simulated monitor (a demonstration)
        it steps past the blockers of :data:`DEMONSTRATION_SKIPS` and records each one as an override.
        """
        s = self.session
        plan = s.plan
        now = s.now
        if s.phase is Phase.SETUP:
            s.start_baseline(now, self.nurse)
        elif s.phase is Phase.BASELINE:
            if now - s.phase_started_at[Phase.BASELINE] >= plan.baseline_min * SECONDS_PER_MINUTE:
                self._plan_step(START_INFUSION, s.start_infusion)
        elif s.phase is Phase.INFUSION:
            if s.infusion_elapsed(now) >= plan.infusion_min * SECONDS_PER_MINUTE:
                self._plan_step(START_RECOVERY, s.start_recovery)
        elif s.phase is Phase.RECOVERY:
            remaining = s.recovery_remaining(now)
            if remaining is None:
                return
            # Discharge needs a current cuff: take one shortly before the recovery watch ends (the plan
            # then completes on time), and again if it fails (after the request timeout).
            last_cuff = s.last_valid_nibp_at
            stale_at_end = last_cuff is None or now + max(remaining, 0.0) - last_cuff > (
                self._care_rules().discharge_nibp_max_age_s
            )
            pending = s.nibp_request_pending(now)
            if remaining <= DISCHARGE_CUFF_LEAD_S and stale_at_end and not pending and self.source.can_start_nibp:
                self._start_cuff(None, reason="discharge")
            if remaining <= 0:
                self._plan_step(COMPLETE, s.complete)

    def _plan_step(self, action: str, step: Callable[..., None]) -> None:
        """Take a planned step when it is ready, or (a demonstration) when only skippable blockers remain."""
        check = self._step_check(action)  # None: nothing gates this step (entering recovery on time)
        detail: dict[str, Any] = {"by": "plan"}
        if check is not None and not check.ready:
            if not self.source.simulated or any(b.code not in DEMONSTRATION_SKIPS for b in check.blockers):
                return  # the plan waits (a held baseline, a stale cuff, a high alarm: for the nurse)
            # Recorded as a nurse's override would be: every code, and the protocol's items in words.
            detail.update(override_reason=DEMONSTRATION_REASON, overridden=[b.code for b in check.blockers])
            protocol_items = [b.text for b in check.blockers if b.code in chair.PROTOCOL_BLOCKERS]
            if protocol_items:
                detail["protocol_override"] = protocol_items
                self._audit("protocol_override", self.nurse, reason=DEMONSTRATION_REASON, missing=protocol_items)
        step(self.session.now, self.nurse, **detail)

    def _step_check(self, action: str) -> StepCheck | None:
        """The readiness of a phase step with what the protocol adds.

        Starting the infusion: the checklist items and scores the protocol requires and the dose plan.
        Entering recovery: the infusion's minimum (unless the infusion was stopped early, with its reason).
        Completing: the discharge score (given in recovery, and passing), the protocol's minimum recovery
        (whatever the plan asks), the minimum observation counted from the first dose, the scores required
        before discharge and their values, and (REMS) every field of the monitoring form - the one blocker
        no reason overrides.
        """
        s = self.session
        to_check = self.alarms.to_check_at_discharge() if self.alarms is not None else ()
        check = step_check(action, s, self._care_rules(), self._high_alarms(), to_check)
        extra: list[Blocker] = []
        if action == START_RECOVERY and s.phase is Phase.INFUSION:
            short = self._infusion_left()
            if short is not None and not s.infusion_stopped_early:
                extra.append(Blocker("infusion_too_short", short))
        if check is None:
            return StepCheck(action, tuple(extra)) if extra else None
        if action == START_INFUSION and s.phase is Phase.BASELINE:
            wanted = chair.start_check(self.protocol, self.watch.events)
            if wanted.problems:
                extra.append(Blocker("checklist", "; ".join(p.text for p in wanted.problems)))
            if wanted.dose_missing:
                extra.append(Blocker("dose_plan", "dose: not planned"))
            if wanted.scores_missing:
                extra.append(Blocker("required_score", "; ".join(wanted.scores_missing)))
        elif action == COMPLETE and s.phase is Phase.RECOVERY:
            extra += discharge_score_blockers(self.watch.events, s.phase_started_at.get(Phase.RECOVERY))
            observed = self._observation_left()
            if observed is not None:
                extra.append(Blocker("observation_too_short", observed))
            recovery = self._protocol_recovery_left()
            if recovery is not None and not any(b.code == "recovery_too_short" for b in check.blockers):
                extra.append(Blocker("recovery_too_short", recovery))
            scores = chair.scores_missing(self.protocol, self.watch.events, ScoreMoment.BEFORE_DISCHARGE)
            if scores:
                extra.append(Blocker("required_score", "; ".join(scores)))
            values = chair.discharge_score_problems(self.protocol, self.watch.events)
            if values:
                extra.append(Blocker("score_not_met", "; ".join(values)))
            refusal = self._rems_refusal()
            if refusal is not None:
                extra.append(Blocker("rems_form", refusal, overridable=False))
        if not extra:
            return check
        return StepCheck(check.action, check.blockers + tuple(extra), check.baseline, check.values, check.notes)

    def _infusion_left(self) -> str | None:
        """What is left of the protocol's minimum infusion (None: it has run that long, or there is none)."""
        rule = self.protocol.phases[Phase.INFUSION]
        if not rule.min_min:
            return None
        left = rule.min_min * SECONDS_PER_MINUTE - self.session.infusion_elapsed()
        if left <= 0:
            return None
        return (f"{left / SECONDS_PER_MINUTE:.1f} min of the protocol's {rule.min_min:g} min minimum "
                f"{rule.label} left")

    def _protocol_recovery_left(self) -> str | None:
        """What is left of the protocol's minimum recovery, when the session's plan asked for less."""
        rule = self.protocol.phases[Phase.RECOVERY]
        started = self.session.phase_started_at.get(Phase.RECOVERY)
        if not rule.min_min or started is None:
            return None
        left = self._minimum_left(rule.min_min, started)
        if left is None:
            return None
        return f"{left:.1f} min of the protocol's {rule.min_min:g} min minimum {rule.label} left"

    def _observation_anchor(self) -> float | None:
        """When the protocol's minimum observation starts, where it counts from the dose (None: from the recovery,
        whose watch, readiness' recovery_too_short, is that minimum; or the dose not given yet)."""
        rules = self.protocol.discharge
        if rules.observation_from is Anchor.RECOVERY_START:
            return None
        return chair.anchor_time(self.watch.events, rules.observation_from)

    def _observation_left(self) -> str | None:
        """The protocol's minimum observation counted from the dose (the plan's recovery covers the rest)."""
        rules = self.protocol.discharge
        anchor = self._observation_anchor()
        if anchor is None:
            return None
        left = self._minimum_left(rules.minimum_observation_min, anchor)
        if left is None:
            return None
        return (f"{left:.1f} min of the {rules.minimum_observation_min:g} min minimum "
                f"observation from the {rules.observation_from.value.replace('_', ' ')} left")

    def _watch_remaining(self, now: float) -> float | None:
        """Seconds left of the recovery watch (negative once over): the plan's recovery, the protocol's minimum
        recovery and its minimum observation from the dose, whichever ends last; None before recovery."""
        s = self.session
        remaining = s.recovery_remaining(now)
        started = s.phase_started_at.get(Phase.RECOVERY)
        if remaining is None or started is None:
            return remaining
        ends = [(self.protocol.phases[Phase.RECOVERY].min_min or 0.0) * SECONDS_PER_MINUTE - (now - started)]
        anchor = self._observation_anchor()
        if anchor is not None:
            ends.append(self.protocol.discharge.minimum_observation_min * SECONDS_PER_MINUTE - (now - anchor))
        return max(remaining, *ends)

    def _minimum_left(self, minimum_min: float, since: float) -> float | None:
        """Minutes of a protocol minimum counted from ``since`` still to run now (None once it has run)."""
        left = minimum_min * SECONDS_PER_MINUTE - (self.session.now - since)
        return left / SECONDS_PER_MINUTE if left > 0 else None

    def _rems_refusal(self) -> str | None:
        """Why the REMS form stops completion (None: no REMS, or the form is full); rebuilt only on news."""
        if not self.protocol.rems:
            return None
        key = (len(self.watch.events), len(self.watch.readings), int(self.session.now // 60))
        if self._rems_cache is not None and self._rems_cache[0] == key:
            return self._rems_cache[1]
        s = self.session
        try:
            row = self.store.session_row(s.id)
        except (StoreError, sqlite3.Error) as exc:
            # A store that cannot be read must not stop the turn (and the screen with it).
            log.warning("cannot read the session for the REMS form: %s", exc)
            return self._rems_cache[1] if self._rems_cache is not None else None
        # The patient as identified here, stored yet or not.
        patient = None if self.patient is None else {"name": self.patient.name, "mrn": self.patient.mrn}
        form = rems.build_form(self.protocol, row, patient, self.watch.events, self.watch.readings, s.now)
        refusal = rems.completion_refusal(form)
        self._rems_cache = (key, refusal)
        return refusal

    def _check_phase_length(self) -> None:
        """A phase running past the protocol's maximum is a technical alarm until the phase ends."""
        s = self.session
        rule = self.protocol.phases.get(s.phase)
        if self._too_long is not None and self._too_long is not s.phase:
            # A completed session takes no more timeline events, and its completion ends every alarm: recording the
            # end here too would fail the turn, and every turn after it, so the recording never finished.
            if s.phase is not Phase.COMPLETE:
                s.record(EventKind.TECHNICAL, s.now, None, condition="phase_too_long_ended",
                         check=self._too_long.value)
            self._too_long = None
        if rule is None or rule.max_min is None or self._too_long is s.phase:
            return
        elapsed = s.infusion_elapsed() if s.phase is Phase.INFUSION else s.now - s.phase_started_at[s.phase]
        if s.phase is Phase.INFUSION and s.infusion_stopped_at is not None:
            return
        if elapsed > rule.max_min * SECONDS_PER_MINUTE:
            self._too_long = s.phase
            # Recovery has no clinical maximum (it lasts until discharge): past the protocol's longest, the nurse is
            # reminded that the session is still open (a chair left recording overnight said nothing for 14 h).
            label = (f"{rule.label.capitalize()} open for {rule.max_min:g} min, the protocol's longest: discharge, "
                     "transfer or close the session" if s.phase is Phase.RECOVERY
                     else f"{rule.label.capitalize()} past the protocol's {rule.max_min:g} min maximum")
            s.record(EventKind.TECHNICAL, s.now, None, condition="phase_too_long", check=s.phase.value,
                     label=label, max_min=rule.max_min)

    def _check_timed(self) -> None:
        """Put each missed timed check of the protocol on the timeline once (a technical alarm)."""
        self._check_phase_length()
        s = self.session
        missed, late = self.watch.judge(s.now)
        for state in missed:
            s.record(EventKind.TECHNICAL, s.now, None, **chair.missed_detail(state))
        for state in late:
            s.record(EventKind.TECHNICAL, s.now, None, condition=chair.CHECK_DONE_LATE, check=state.check.id,
                     done_at=state.done_late_at)

    def _run_nibp_schedule(self) -> None:
        if self.source.can_start_nibp and self.session.nibp_due():
            self._start_cuff(None, reason="schedule")
        elif (
            self.alarms is not None
            and self.source.can_start_nibp
            and self.alarms.nibp_confirm_due(self.session.now)
            and self._start_cuff(None, reason="confirm alarm")
        ):
            # A blood-pressure alarm asks for a confirming cuff once; without a remote start the bar asks the nurse.
            self.alarms.report("nibp_confirm_started", self.session.now)

    def _check_nibp_overdue(self) -> None:
        """Put ``nibp_overdue`` on the timeline once each time the cuff cycle is missed.

        Reported again only after a new cuff value has arrived. Whether it is overdue for this device is
        the session's judgement (:meth:`Session.nibp_overdue`).
        """
        s = self.session
        if self._overdue_reported and s.last_usable_nibp_at == self._overdue_reported_for:
            return
        self._overdue_reported = False
        if s.nibp_overdue(device_starts_cuff=self.source.can_start_nibp):
            self._overdue_reported = True
            self._overdue_reported_for = s.last_usable_nibp_at
            age = s.nibp_age()
            s.record(
                EventKind.TECHNICAL,
                s.now,
                None,
                condition="nibp_overdue",
                interval_s=s.nibp_interval(),
                nibp_age_s=None if age is None else round(age, 1),
            )

    def _start_cuff(self, user: str | None, reason: str) -> bool:
        """Start the cuff; True when the device took the start (and it is on the timeline as requested).

        A start the device refuses for now (its link is lost) is never recorded as requested: the nurse is
        told at once; a start of the monitor's own (schedule, confirmation, discharge) stays due, so it is
        asked again every turn and goes out when the link is back, and the refusal is on the timeline.
        """
        try:
            taken = self.source.request_nibp()
        except CuffStartRefused as refused:
            if user is not None:
                raise SessionRuleError(
                    f"the cuff cannot be started now: {refused}; start it at the monitor"
                ) from None
            self._report_cuff_refused(str(refused), reason)
            return False
        if not taken:
            if user is not None:
                raise SessionRuleError("this device cannot start a blood-pressure measurement remotely")
            return False
        self._cuff_refusal_reported = False
        self.session.note_nibp_requested(self.session.now, user, reason)
        return True

    def _report_cuff_refused(self, why: str, reason: str) -> None:
        """Put a refused automatic cuff start on the timeline, once until a start is taken again."""
        if self._cuff_refusal_reported:
            return
        self._cuff_refusal_reported = True
        s = self.session
        s.record(EventKind.TECHNICAL, s.now, None, condition=NIBP_NOT_STARTED, detail=why, reason=reason,
                 device=self.source.device)

    # -- storage -------------------------------------------------------------------------

    def _session_update(self) -> dict[str, Any]:
        update: dict[str, Any] = {}
        s = self.session
        if tuple(s.phases_reached) != self._phases_written:
            update["phase"] = s.phase.value
            update["phases_reached"] = json.dumps([p.value for p in s.phases_reached])
        if s.baseline is not None and not self._baseline_written:
            update["baseline"] = json.dumps(s.baseline.as_dict())
        return update

    def alarms_not_stored(self) -> list[AlarmRecord]:
        """The newest version of each alarm whose latest change the writer holds, not yet in the database (a slow,
        full or failing disk); from any thread. Read with the stored log, it gives the whole alarm log."""
        newest: dict[str, AlarmRecord] = {}
        for op in self.writer.held_operations():
            if isinstance(op, Batch):
                newest.update((alarm.id, alarm) for alarm in op.alarms)
        return list(newest.values())

    def flush(self) -> None:
        """Hand everything pending to the writer now; without a writer thread, also write it here."""
        self._maybe_flush(force=True)

    def _maybe_flush(self, force: bool = False) -> None:
        """Hand what is pending to the writer (cheap); without a writer thread, also write it here."""
        wall = time.monotonic()
        if not force and wall - self._last_flush < FLUSH_INTERVAL_S and len(self._pending) < 20000:
            return
        update = self._session_update()
        heartbeat_due = wall - self._last_heartbeat >= HEARTBEAT_INTERVAL_S
        if heartbeat_due:
            update["heartbeat_at"] = time.time()
            self._last_heartbeat = wall
        if len(self._pending) or update:
            self.writer.put(
                Batch(
                    readings=tuple(self._pending.readings),
                    events=tuple(self._pending.events),
                    alarms=tuple(self._pending.alarms.values()),
                    session_update=update,
                )
            )
            self._pending.clear()
            self._phases_written = tuple(self.session.phases_reached)
            if self.session.baseline is not None:
                self._baseline_written = True
        self._last_flush = wall
        if not self.writer.threaded:
            self.writer.pump(force=force)
            self._watch_writer()

    def screen_alive(self) -> None:
        """The window showing this session runs (called from its own thread, several times a second).

        From the first call on, the recorder raises a high-priority technical alarm when the window has not
        run for :data:`~monitor.watchdog.STALL_LIMIT_S` while the recorder itself ran: it then reaches the
        alarm log and the nurse station, which the frozen window cannot.
        """
        self.screen_beat = time.monotonic()

    def screen_closed(self) -> None:
        """The window showing this session is going away on purpose: its silence is no alarm."""
        self.screen_beat = None

    def _watch_screen(self) -> None:
        if self.alarms is None:
            return
        beat = self.screen_beat
        now = time.monotonic()
        if now - self.last_beat > SCREEN_WATCH_RESTART_S:
            # The recorder itself stood still (the whole program was stopped or starved): the window was
            # silent with it, not on its own. Its silence is counted again from now.
            self._screen_watched_from = now
        frozen = beat is not None and now - max(beat, self._screen_watched_from) > STALL_LIMIT_S
        if frozen != self._screen_alarmed:
            self._screen_alarmed = frozen
            self.alarms.report("screen_not_responding" if frozen else "screen_responding", self.session.now)

    def _watch_device_readable(self) -> None:
        """Bytes from the device that nothing is read from for half a minute: a technical alarm, ended by the
        next frame read (or another device)."""
        if self.alarms is None:
            return
        counters = self.source.counters.snapshot()
        change = self._unreadable.judge(self.session.now, counters.bytes_in, counters.frames_decoded)
        if change is True:
            self.alarms.report("device_unreadable", self.session.now,
                               detail=f"{counters.bytes_in} bytes in, no frame read for "
                                      f"{self._unreadable.after_s:.0f} s; {counters.frames_rejected} rejected")
        elif change is False:
            self.alarms.report("device_readable", self.session.now)

    def warn_server_link(self, warning: str | None) -> None:
        """The clinic server link's lasting warning, or None when it ended (any thread; acted on next turn)."""
        self.server_warning = warning

    def _watch_server_link(self) -> None:
        """A login shared with another chair database is a technical alarm (and on the timeline) while it lasts."""
        self._server_warned = self._lasting(self.server_warning, self._server_warned,
                                            "server_login_shared", "server_login_own")

    def _lasting(self, said: str | None, before: str | None, raised: str, ended: str) -> str | None:
        """A condition a part beside the recorder reports while it holds (its words; None: it is over): when the
        words change, on the timeline and the alarm engine's ``raised`` report (``ended`` when over). Returns
        the words now acted on."""
        if said == before:
            return before
        s = self.session
        if said:
            s.record(EventKind.TECHNICAL, s.now, None, condition=raised, detail=said)
        else:
            s.record(EventKind.TECHNICAL, s.now, None, condition=ended)
        if self.alarms is not None:
            if said:
                self.alarms.report(raised, s.now, detail=said)
            else:
                self.alarms.report(ended, s.now)
        return said

    def warn_identity(self, conflict: str | None) -> None:
        """The server holds this patient's MRN with another name or birth date (None: no longer); any thread, acted
        on at the next turn (the replicator asks the server on its own thread, never this one)."""
        self.identity_conflict = conflict

    def _watch_identity(self) -> None:
        """Another chair's record of this patient's MRN that differs is a technical alarm (and on the timeline)
        while the server says so: the nurse checks the wristband while the patient is still in the chair."""
        self._identity_alarmed = self._lasting(self.identity_conflict, self._identity_alarmed,
                                               "identity_conflict", "identity_agrees")

    def _watch_writer(self) -> None:
        """Turn the writer's state into timeline events and technical alarms."""
        status = self.writer.status()
        s = self.session
        if not status.ok and self._storage_ok:
            self._storage_ok = False
            s.record(EventKind.TECHNICAL, s.now, None, condition="storage_write_failed", error=status.error or "")
            if self.alarms is not None:
                self.alarms.report("storage_failed", s.now, detail=status.error or "")
        elif status.ok and not self._storage_ok:
            self._storage_ok = True
            s.record(EventKind.TECHNICAL, s.now, None, condition="storage_restored")
            if self.alarms is not None:
                self.alarms.report("storage_restored", s.now)
        self._watch_space(status.free_bytes)
        for incident in status.incidents[self._incidents_seen:]:
            self._incidents_seen += 1
            text = incident.message(self.writer.configured_path)
            s.record(EventKind.TECHNICAL, s.now, None, condition="database_moved", what=incident.what,
                     written_to=incident.written_to or "", error=incident.error or "")
            if self.alarms is not None:
                self.alarms.report("database_moved", s.now, detail=text)
        for aside in status.set_aside[self._set_aside_seen:]:
            self._set_aside_seen += 1
            s.record(EventKind.TECHNICAL, s.now, None, condition="rows_set_aside", rows=aside.rows,
                     error=aside.error, file=aside.path)
            if self.alarms is not None:
                self.alarms.report("rows_set_aside", s.now, detail=aside.message())
        for text in status.key_incidents[self._key_incidents_seen:]:
            self._key_incidents_seen += 1
            s.record(EventKind.TECHNICAL, s.now, None, condition="key_file", detail=text)
            if self.alarms is not None:
                self.alarms.report("key_file", s.now, detail=text)
        dropped = (status.dropped_pleth, status.dropped_numerics)
        if dropped != self._dropped_reported and (status.ok or self._stop.is_set()):
            # Said once the store is back (or at the end): what was given up while it failed.
            s.record(
                EventKind.TECHNICAL, s.now, None, condition="storage_data_dropped",
                pleth_samples=status.dropped_pleth - self._dropped_reported[0],
                pleth_s=round((status.dropped_pleth - self._dropped_reported[0]) / PLETH_RATE_HZ, 1),
                numerics=status.dropped_numerics - self._dropped_reported[1],
            )
            self._dropped_reported = dropped

    def _watch_space(self, free: int | None) -> None:
        """A low-priority alarm while the database's disk has little room left (before it fills and writing stops),
        ended once there is a fifth more than that again."""
        if free is None:
            return
        s = self.session
        if not self._space_low and free < LOW_SPACE_BYTES:
            self._space_low = True
            sessions = free // SESSION_BYTES
            text = (f"Little room left for the database: {free / 1e6:.0f} MB free on the disk holding "
                    f"{self.writer.path} (about {sessions} session{'s' if sessions != 1 else ''} with the pleth); "
                    "free space there before it fills")
            s.record(EventKind.TECHNICAL, s.now, None, condition="storage_low", free_bytes=free)
            if self.alarms is not None:
                self.alarms.report("storage_low", s.now, detail=text)
        elif self._space_low and free >= LOW_SPACE_BYTES * LOW_SPACE_CLEAR:
            self._space_low = False
            s.record(EventKind.TECHNICAL, s.now, None, condition="storage_room", free_bytes=free)
            if self.alarms is not None:
                self.alarms.report("storage_room", s.now)

    def close(self) -> None:
        """Release the source, keep what it still held, hand everything to the writer, end the session.

        For a recorder driven by :meth:`step`; :meth:`run` (and so :meth:`stop`) calls it when its loop ends.
        """
        self.closed.set()
        try:
            # Close first so nothing new is accepted (or acknowledged), then keep what already was.
            self.source.close()
            self._ingest(self.source.drain())  # held for the store by _ingest itself
            self._report_before_start()
        except Exception:  # a failing port must not cost the rows already pending
            log.exception("closing the source failed")
        s = self.session
        status = "complete" if s.phase is Phase.COMPLETE else "closed"
        deadline = time.monotonic() + CLOSE_DRAIN_S
        try:
            self._collect_events()
            self._collect_alarm_changes()
            # Let the writer catch up first, so a store that came back is said on the timeline.
            self._maybe_flush(force=True)
            while self.writer.held_rows() and time.monotonic() < deadline:
                if not self.writer.threaded:
                    self.writer.pump(force=True)
                time.sleep(0.05)
            self._watch_writer()
            if status == "closed":
                s.record(EventKind.SESSION_CLOSED, s.now, self.nurse, phase=s.phase.value)
            self._collect_events()
            self._collect_alarm_changes()
        except Exception:
            log.exception("collecting the last events failed")
        try:
            self._maybe_flush(force=True)
            # In order after every row: the session is marked ended only if all of it was written.
            self.writer.put(StoreCall("end_session", (s.id, status, s.now)))
            self.writer.put(AuditEntry(time.time(), "session_" + status, self.nurse, s.id))
            left = self.writer.stop(drain_s=max(1.0, deadline - time.monotonic()))
            if left:
                self._storage_ok = False
                self.rows_not_written = left
                # The run's recovery file, brought up to date (kept since the outage began).
                self.writer.keys = self.writer.keys or self.store.keys
                self.recovery_file = self.writer.spill()
                log.error("session %s left unfinished: %d rows could not be written; they are kept in %s",
                          s.id, left, self.recovery_file or "NO FILE (nowhere writable)")
                self.end_status = "unfinished"
            else:
                self.end_status = status
        finally:
            self.source.close()  # idempotent; also covers a failure above
            if self.lock is not None:
                # An ended session's file would only pile up beside the database; an unfinished one keeps its own.
                if self.end_status in ("closed", "complete"):
                    self.lock.end()
                else:
                    self.lock.release()

    # -- status --------------------------------------------------------------------------

    def status(self) -> SessionStatus:
        """A snapshot of the session for display."""
        s = self.session
        now = s.now
        latest = tuple(s.latest.values())
        scores_due, scores_due_for = self._scores_now()
        return SessionStatus(
            session_id=s.id,
            now=now,
            phase=s.phase,
            phase_label=self.protocol.label(s.phase),
            phases_reached=tuple(s.phases_reached),
            elapsed_s=s.elapsed(now),
            infusion_elapsed_s=s.infusion_elapsed(now),
            infusion_paused=s.infusion_paused_at is not None,
            infusion_stopped=s.infusion_stopped_at is not None,
            infusion_plan_min=s.plan.infusion_min,
            recovery_remaining_s=self._watch_remaining(now),
            baseline=s.baseline,
            baseline_missing=tuple(s.baseline_missing()),
            latest=latest,
            heart_rate=s.displayed_heart_rate(),
            nibp_age_s=s.nibp_age(now),
            nibp_next_due=s.nibp_next_due() if self.source.can_start_nibp else None,
            nibp_interval_s=s.nibp_interval(),
            link=self.source.counters.snapshot(),
            device=self.source.device,
            can_start_nibp=self.source.can_start_nibp,
            storage_ok=self._storage_ok,
            pending_rows=len(self._pending) + self.writer.held_rows(),
            stored_readings=self.writer.status().stored_numerics,
            step_check=self._step_check(
                {Phase.BASELINE: START_INFUSION, Phase.RECOVERY: COMPLETE}.get(s.phase, "")
            ),
            scores_due=scores_due,
            scores_due_for=scores_due_for,
            latest_valid=tuple(s.latest_valid.values()),
        )

    def _scores_now(self) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """The protocol's scores due now, and the scales of its timed checks whose window is open: judged again when
        the timeline, a cuff value or the phase changed, and every 15 s of the session (a window opens by the
        clock). With them, which of a scale's scores is due where the protocol asks it twice."""
        s = self.session
        key = (len(self.watch.events), len(self.watch.readings), s.phase, int(s.now // CHECKS_DUE_EVERY_S))
        if self._scores_due is None or self._scores_due[0] != key:
            at = chair.scores_due_at(self.protocol, self.watch.events, self.watch.readings, s.phase)
            due = tuple(scale for scale, _moment in at)
            timed = chair.checks_due(self.protocol, self.watch.events, self.watch.readings, s.now)
            words = tuple((scale, chair.due_moment_words(self.protocol, scale, moment)) for scale, moment in at)
            self._scores_due = (key, due + tuple(scale for scale in timed if scale not in due),
                                tuple((scale, w) for scale, w in words if w))
        return self._scores_due[1], self._scores_due[2]


#: How often (session seconds) the timed checks' windows are looked at again for the scores due.
CHECKS_DUE_EVERY_S = 15.0


def wall_deadline(seconds: float | None) -> Callable[[Recorder], bool] | None:
    """An ``until`` for :meth:`Recorder.run` that ends after so many wall-clock seconds."""
    if seconds is None or math.isinf(seconds):
        return None
    end = time.monotonic() + seconds
    return lambda _recorder: time.monotonic() >= end
