"""The recorder: one thread that moves data one way, source -> session -> alarms -> store -> listeners.

It is the only writer of the session's database rows while it runs. Everything a user does
(phase changes, notes, scores, acknowledgments) reaches it as a command through a queue and
is carried out on the recorder's thread, so the session has a single owner. Listeners get one
:class:`RecorderUpdate` per loop turn, a batch rather than a call per sample.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from drivers.base import LinkCounters, LinkEvent, LinkEventKind, Source
from monitor import chair, rems
from monitor.approval import CommandGuard
from monitor.constants import FLUSH_INTERVAL_S, HEARTBEAT_INTERVAL_S, NIBP_REQUEST_TIMEOUT_S, SECONDS_PER_MINUTE
from monitor.plan import SessionPlan
from monitor.protocols import Anchor, ScoreMoment, load_protocol
from monitor.protocols import Protocol as TreatmentProtocol
from monitor.readiness import (
    COMPLETE,
    START_INFUSION,
    Blocker,
    CareRules,
    StepCheck,
    infusion_start_check,
    step_check,
)
from monitor.readings import Flag, Parameter, Reading, is_plausible
from monitor.session import Baseline, EventKind, NibpSchedule, Phase, Session, SessionEvent, SessionRuleError
from monitor.store import Store, StoreError

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.05
# Command arguments that identify a patient: they go to the patients table, never to the audit log.
IDENTIFYING_ARGS = frozenset({"mrn", "patient_name", "birth_date"})
STORAGE_RETRY_S = 1.0
#: A planned session takes its discharge cuff this long before the recovery watch ends.
DISCHARGE_CUFF_LEAD_S = 60.0


class AlarmEngineLike(Protocol):
    """What the recorder needs from an alarm engine (see :mod:`monitor.alarms`)."""

    def observe(self, reading: Reading, session: Session) -> None: ...

    def on_event(self, event: SessionEvent, session: Session) -> None: ...

    def tick(self, now: float, session: Session) -> None: ...

    def command(self, name: str, at: float, user: str | None, **args: Any) -> Any: ...

    def take_changes(self) -> list[dict[str, Any]]: ...

    def snapshot(self, now: float) -> Any: ...

    @property
    def care_rules(self) -> CareRules: ...

    def high_priority_alarms(self) -> tuple[str, ...]: ...

    def nibp_confirm_due(self, now: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """What the screen and the terminal show about the session at one moment."""

    session_id: str
    now: float
    phase: Phase
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


@dataclass(frozen=True, slots=True)
class RecorderUpdate:
    """One loop turn's worth of news for listeners."""

    readings: tuple[Reading, ...]
    events: tuple[SessionEvent, ...]
    alarm_changes: tuple[dict[str, Any], ...]
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
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)
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
    ) -> None:
        self.store = store
        self.source = source
        self.session = session
        self.alarms = alarms
        self.autopilot = autopilot
        self.nurse = nurse
        self.protocol = protocol or load_protocol(None)
        # The timeline and the few readings the protocol's timed checks and gates look at.
        self.watch = chair.ProtocolWatch(self.protocol)
        self._rems_cache: tuple[tuple[int, int, int], str | None] | None = None
        #: The phase reported as running past the protocol's maximum (None: none is).
        self._too_long: Phase | None = None
        self._commands: queue.Queue[tuple[Command, Future[Any]]] = queue.Queue()
        self._listeners: list[Callable[[RecorderUpdate], None]] = []
        self._pending = _Pending()
        self._last_flush = 0.0
        self._last_heartbeat = 0.0
        self._storage_ok = True
        self._storage_retry_at = 0.0
        self._stored_readings = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._phases_written: tuple[Phase, ...] = ()
        self._baseline_written = False
        # The last cuff time at which nibp_overdue was put on the timeline (reported once per gap).
        self._overdue_reported_for: float | None = None
        self._overdue_reported = False
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.end_status: str | None = None
        # Checks a command may not pass (approval, clinical floors; see monitor.approval), who started
        # the recording, and the alarm profile's approved name.
        self.guard: Callable[[Command, Any], Command] | None = CommandGuard(store, alarms)
        self.principal: Any = None
        self.profile_label = ""
        # A listener that serves one patient learns who, when the session already knows.
        self.source.set_patient(self._patient_mrn())

    def _patient_mrn(self) -> str | None:
        """The MRN of the session's identified patient, None before identification."""
        try:
            row = self.store.session_row(self.session.id)
            patient = self.store.patient_row(row.get("patient_id"))
        except (StoreError, sqlite3.Error):
            return None
        mrn = patient.get("mrn") if patient else None
        return str(mrn) if mrn else None

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
        **kwargs: Any,
    ) -> Recorder:
        """Open the source, create a session row, and return a recorder for it."""
        protocol = protocol or load_protocol(None)
        source.open()
        started = source.now()
        session_id = store.create_session(
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
        session = Session(session_id, started, plan, nibp_schedule)
        session.record(EventKind.SESSION_STARTED, started, nurse, driver=driver, port=port or "",
                       protocol=protocol.name)
        store.audit("session_started", user=nurse, session_id=session_id, driver=driver)
        return cls(store, source, session, nurse=nurse, protocol=protocol, **kwargs)

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
        **kwargs: Any,
    ) -> Recorder:
        """Continue an unfinished session in this process, rebuilding its state from the store."""
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
        source.open()
        store.claim_session(session_id)
        session.advance(source.now())
        session.record(EventKind.SESSION_RESUMED, session.now, nurse, gap_s=round(source.now() - session.now, 1))
        store.audit("session_resumed", user=nurse, session_id=session_id)
        protocol = protocol or load_protocol(row.get("protocol"))
        recorder = cls(store, source, session, nurse=nurse, protocol=protocol, **kwargs)
        for event in events:
            recorder.watch.on_event(event)
        for reading in store.readings(session_id, since=min((e.t for e in events), default=None)):
            recorder.watch.observe(reading)
        for e in events:
            if e.kind is EventKind.TECHNICAL and e.detail.get("condition") == chair.CHECK_MISSED:
                recorder.watch.reported.add(str(e.detail.get("check")))
            elif e.kind is EventKind.TECHNICAL and e.detail.get("condition") == chair.CHECK_DONE_LATE:
                recorder.watch.late_reported.add(str(e.detail.get("check")))
        recorder._phases_written = tuple(session.phases_reached)
        recorder._baseline_written = session.baseline is not None
        recorder._stored_readings = store.reading_count(session_id)
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

    def stop(self, timeout: float = 10.0) -> None:
        """End the loop, flush, close the session and the source."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

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
        """Loop until stopped, until ``until(self)`` is true, or until the session completes."""
        try:
            while not self._stop.is_set():
                self.step()
                if self.session.phase is Phase.COMPLETE:
                    break
                if until is not None and until(self):
                    break
        finally:
            self._close()

    def step(self, timeout: float = READ_TIMEOUT_S) -> RecorderUpdate:
        """One turn: read, apply, evaluate, maybe flush, notify."""
        readings = self._ingest(self.source.read(timeout))
        for link_event in self.source.take_link_events():
            self._on_link_event(link_event)
        self.session.advance(self.source.now())
        self._run_commands()
        if self.autopilot:
            self._autopilot()
        self._run_nibp_schedule()
        self._check_nibp_overdue()
        self._check_timed()
        if self.alarms is not None:
            self.alarms.tick(self.session.now, self.session)
        events = self._collect_events()
        alarm_changes = self._collect_alarm_changes()
        self._pending.readings.extend(readings)
        self._maybe_flush()
        update = RecorderUpdate(
            readings=tuple(readings),
            events=tuple(events),
            alarm_changes=tuple(alarm_changes),
            status=self.status(),
            alarms=self.alarms.snapshot(self.session.now) if self.alarms is not None else None,
        )
        for listener in self._listeners:
            listener(update)
        return update

    def _ingest(self, readings: list[Reading]) -> list[Reading]:
        accepted: list[Reading] = []
        for reading in readings:
            if not is_plausible(reading.parameter, reading.value):
                # Never store an impossible number; keep the fact that something came.
                reading = Reading(reading.t, reading.parameter, None, reading.source, reading.flags | {Flag.INVALID})
            self.session.observe(reading)
            if reading.parameter is not Parameter.PLETH:
                self.watch.observe(reading)
            if self.alarms is not None and reading.parameter is not Parameter.PLETH:
                self.alarms.observe(reading, self.session)
            accepted.append(reading)
        return accepted

    def _on_link_event(self, event: LinkEvent) -> None:
        if event.kind is LinkEventKind.TECHNICAL:
            self.session.record(
                EventKind.TECHNICAL, event.t, None, condition=event.condition or "link", detail=event.detail,
                device=self.source.device,
            )
            return
        kind = EventKind.LINK_LOST if event.kind is LinkEventKind.LINK_LOST else EventKind.LINK_RESTORED
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

    def _collect_alarm_changes(self) -> list[dict[str, Any]]:
        if self.alarms is None:
            return []
        changes = self.alarms.take_changes()
        for change in changes:
            self._pending.alarms[change["id"]] = change
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
                kept = {k: v for k, v in command.args.items() if k not in IDENTIFYING_ARGS}
                self.store.audit(command.name + "_refused", user=command.user or self.nurse,
                                 session_id=self.session.id, reason=str(exc), **kept)
                future.set_exception(exc)

    def _execute(self, command: Command) -> Any:
        if self.guard is not None:
            command = self.guard(command, self.alarms)
        s = self.session
        user = command.user or self.nurse
        args = command.args
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
        if name in phase_actions:
            check = self._step_check(name)
            if check is not None:
                # Refused unless ready, or overridden with a reason (OverrideRequired is a SessionRuleError).
                args = {**{k: v for k, v in args.items() if k != "override_reason"},
                        **check.enforce(args.get("override_reason"))}
                protocol_items = [b.text for b in check.blockers if b.code in chair.PROTOCOL_BLOCKERS]
                if protocol_items:
                    args["protocol_override"] = protocol_items
                    self.store.audit("protocol_override", user=user, session_id=s.id,
                                     reason=args["override_reason"], missing=protocol_items)
            phase_actions[name](user=user, **args)
            self.store.audit(name, user=user, session_id=s.id, **args)
            return None
        if name == "nibp_now":
            return self._start_cuff(user, reason="nurse")
        if name == "set_nibp_interval":
            s.set_nibp_interval(args["phase"], float(args["minutes"]), user=user)
            self.store.audit(name, user=user, session_id=s.id, **args)
            return None
        if name == "change_source":
            return self._change_source(user, **args)
        if name == "identify_patient":
            return self._identify_patient(user, **args)
        if name == "technical_event":
            # Reported by a part beside the recorder (the live feed); the timeline is written here.
            return s.record(EventKind.TECHNICAL, None, None, **args)
        if name == "sign_in":
            # The person now at the chair: later automatic actions (plan, close) are attributed to them.
            self.nurse = user
            self.store.audit(name, user=user, session_id=s.id, **args)
            return None
        if name in chair.ENTRY_COMMANDS:
            entry = chair.entry(name, args, self.protocol, s, self.watch.events)
            event = s.record(entry.kind, None, user, **entry.detail)
            self.store.audit(name, user=user, session_id=s.id, **entry.detail)
            return event
        if name in ("note", "quick_event", "score", "addendum", "discharge_scored"):
            kind = EventKind(name)
            event = s.record(kind, None, user, **args)
            if name in ("score", "discharge_scored", "addendum"):
                self.store.audit(name, user=user, session_id=s.id, **args)
            return event
        if self.alarms is not None:
            result = self.alarms.command(name, s.now, user, **args)
            self.store.audit(name, user=user, session_id=s.id, **args)
            return result
        raise ValueError(f"unknown command '{name}'")

    def _identify_patient(
        self, user: str | None, mrn: str, patient_name: str | None = None, birth_date: str | None = None
    ) -> str:
        """Register (or find) the patient by MRN and attach this session to them.

        The timeline and the audit log get the patient's random key only: identifiers stay in
        the patients table, so a de-identified export cannot leak them through an event.
        """
        s = self.session
        if s.phase is Phase.COMPLETE:
            raise SessionRuleError("the session is complete; the patient can no longer be changed")
        mrn = mrn.strip()
        if not mrn:
            raise ValueError("the MRN is needed to identify the patient")
        patient_id = self.store.create_patient(
            mrn, (patient_name or "").strip() or None, (birth_date or "").strip() or None
        )
        self.store.assign_patient(s.id, patient_id)
        self.source.set_patient(mrn)
        s.record(EventKind.PATIENT_IDENTIFIED, None, user, patient_key=patient_id)
        self.store.audit("identify_patient", user=user, session_id=s.id, patient_key=patient_id)
        return patient_id

    def _change_source(self, user: str | None, source: Source, driver: str, port: str | None = None) -> str:
        """Carry on the same session with another device (or the same device on another port).

        The patient, baseline, phase and alarm state stay; the timeline and the audit log say
        when the device changed and who changed it. Returns the new device's description.
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
        source.set_patient(self._patient_mrn())
        # A device that reacts to the session (the simulator) learns where the session stands.
        if Phase.INFUSION in s.phase_started_at:
            source.on_session_event(EventKind.INFUSION_STARTED.value, s.phase_started_at[Phase.INFUSION])
        if s.infusion_stopped_at is not None:
            source.on_session_event(EventKind.INFUSION_STOPPED.value, s.infusion_stopped_at)
        s.advance(source.now())
        s.record(EventKind.DEVICE_CHANGED, s.now, user, driver=driver, port=port or "", device=source.device,
                 previous_device=previous.device)
        self.store.audit("change_source", user=user, session_id=s.id, driver=driver, port=port or "")
        return source.device

    # -- phases and cuff -----------------------------------------------------------------

    def _care_rules(self) -> CareRules:
        """The profile's rules with the protocol's numbers (minimum baseline, age of discharge vitals)."""
        rules = self.alarms.care_rules if self.alarms is not None else CareRules()
        baseline_min = self.protocol.phases[Phase.BASELINE].min_min
        changes: dict[str, float] = {
            "discharge_nibp_max_age_s": self.protocol.discharge.vitals_max_age_min * SECONDS_PER_MINUTE
        }
        if baseline_min is not None:
            changes["baseline_min_s"] = baseline_min * SECONDS_PER_MINUTE
        return dataclasses.replace(rules, **changes)

    def _high_alarms(self) -> tuple[str, ...]:
        return self.alarms.high_priority_alarms() if self.alarms is not None else ()

    def _autopilot(self) -> None:
        """Advance phases by session time according to the plan (for --plan)."""
        s = self.session
        plan = s.plan
        now = s.now
        if s.phase is Phase.SETUP:
            s.start_baseline(now, self.nurse)
        elif s.phase is Phase.BASELINE:
            baseline_over = now - s.phase_started_at[Phase.BASELINE] >= plan.baseline_min * SECONDS_PER_MINUTE
            # The plan never overrides: it waits until the start is ready (a held baseline waits for a nurse).
            if baseline_over and infusion_start_check(s, self._care_rules(), self._high_alarms()).ready:
                s.start_infusion(now, self.nurse, by="plan")
        elif s.phase is Phase.INFUSION:
            if s.infusion_elapsed(now) >= plan.infusion_min * SECONDS_PER_MINUTE:
                s.start_recovery(now, self.nurse)
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
            pending = s.nibp_requested_at is not None and now - s.nibp_requested_at < NIBP_REQUEST_TIMEOUT_S
            if remaining <= DISCHARGE_CUFF_LEAD_S and stale_at_end and not pending and self.source.can_start_nibp:
                self._start_cuff(None, reason="discharge")
            check = self._step_check(COMPLETE)
            if remaining <= 0 and check is not None and check.ready:
                s.complete(now, self.nurse, by="plan")

    def _step_check(self, action: str) -> StepCheck | None:
        """The readiness of a phase step with what the protocol adds.

        Starting the infusion: the checklist items and scores the protocol requires and the dose plan.
        Completing: the minimum observation counted from the first dose, the scores required before
        discharge, and (REMS) every field of the monitoring form - the one blocker no reason overrides.
        """
        s = self.session
        check = step_check(action, s, self._care_rules(), self._high_alarms())
        if check is None:
            return None
        extra: list[Blocker] = []
        if action == START_INFUSION and s.phase is Phase.BASELINE:
            wanted = chair.start_check(self.protocol, self.watch.events)
            if wanted.problems:
                extra.append(Blocker("checklist", "; ".join(p.text for p in wanted.problems)))
            if wanted.dose_missing:
                extra.append(Blocker("dose_plan", "dose: not planned"))
            if wanted.scores_missing:
                extra.append(Blocker("required_score", "; ".join(wanted.scores_missing)))
        elif action == COMPLETE and s.phase is Phase.RECOVERY:
            observed = self._observation_left()
            if observed is not None:
                extra.append(Blocker("observation_too_short", observed))
            scores = chair.scores_missing(self.protocol, self.watch.events, ScoreMoment.BEFORE_DISCHARGE)
            if scores:
                extra.append(Blocker("required_score", "; ".join(scores)))
            refusal = self._rems_refusal()
            if refusal is not None:
                extra.append(Blocker("rems_form", refusal, overridable=False))
        if not extra:
            return check
        return StepCheck(check.action, check.blockers + tuple(extra), check.baseline, check.values, check.notes)

    def _observation_left(self) -> str | None:
        """The protocol's minimum observation counted from the dose (the plan's recovery covers the rest)."""
        rules = self.protocol.discharge
        if rules.observation_from is Anchor.RECOVERY_START:
            return None  # the recovery watch (readiness' recovery_too_short) is that minimum
        anchor = chair.anchor_time(self.watch.events, rules.observation_from)
        if anchor is None:
            return None
        left = rules.minimum_observation_min * SECONDS_PER_MINUTE - (self.session.now - anchor)
        if left <= 0:
            return None
        return (f"{left / SECONDS_PER_MINUTE:.1f} min of the {rules.minimum_observation_min:g} min minimum "
                f"observation from the {rules.observation_from.value.replace('_', ' ')} left")

    def _rems_refusal(self) -> str | None:
        """Why the REMS form stops completion (None: no REMS, or the form is full); rebuilt only on news."""
        if not self.protocol.rems:
            return None
        key = (len(self.watch.events), len(self.watch.readings), int(self.session.now // 60))
        if self._rems_cache is not None and self._rems_cache[0] == key:
            return self._rems_cache[1]
        s = self.session
        row = self.store.session_row(s.id)
        form = rems.build_form(
            self.protocol, row, self.store.patient_row(row.get("patient_id")), self.watch.events,
            self.watch.readings, s.now,
        )
        missing = form.missing()
        refusal = ("the REMS Patient Monitoring Form is incomplete: " + "; ".join(missing)) if missing else None
        self._rems_cache = (key, refusal)
        return refusal

    def _check_phase_length(self) -> None:
        """A phase running past the protocol's maximum is a technical alarm until the phase ends."""
        s = self.session
        rule = self.protocol.phases.get(s.phase)
        if self._too_long is not None and self._too_long is not s.phase:
            s.record(EventKind.TECHNICAL, s.now, None, condition="phase_too_long_ended", check=self._too_long.value)
            self._too_long = None
        if rule is None or rule.max_min is None or self._too_long is s.phase:
            return
        elapsed = s.infusion_elapsed() if s.phase is Phase.INFUSION else s.now - s.phase_started_at[s.phase]
        if s.phase is Phase.INFUSION and s.infusion_stopped_at is not None:
            return
        if elapsed > rule.max_min * SECONDS_PER_MINUTE:
            self._too_long = s.phase
            s.record(EventKind.TECHNICAL, s.now, None, condition="phase_too_long", check=s.phase.value,
                     label=f"{rule.label.capitalize()} past the protocol's {rule.max_min:g} min maximum",
                     max_min=rule.max_min)

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
            self.alarms.command("nibp_confirm_started", self.session.now, None)

    def _check_nibp_overdue(self) -> None:
        """Put ``nibp_overdue`` on the timeline once each time the cuff cycle is missed.

        Reported again only after a new cuff value has arrived. Devices that neither start the cuff
        nor have sent any blood pressure (an oximeter alone) are not expected to keep the cycle.
        """
        s = self.session
        if not (self.source.can_start_nibp or s.last_nibp_at is not None):
            return
        if self._overdue_reported and s.last_nibp_at == self._overdue_reported_for:
            return
        self._overdue_reported = False
        if s.nibp_overdue():
            self._overdue_reported = True
            self._overdue_reported_for = s.last_nibp_at
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
        if not self.source.request_nibp():
            if user is not None:
                raise SessionRuleError("this device cannot start a blood-pressure measurement remotely")
            return False
        self.session.note_nibp_requested(self.session.now, user, reason)
        return True

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

    def _maybe_flush(self, force: bool = False) -> None:
        wall = time.monotonic()
        if not force:
            if not self._storage_ok and wall < self._storage_retry_at:
                return
            if wall - self._last_flush < FLUSH_INTERVAL_S and len(self._pending) < 20000:
                return
        update = self._session_update()
        heartbeat_due = wall - self._last_heartbeat >= HEARTBEAT_INTERVAL_S
        if not len(self._pending) and not update and not heartbeat_due:
            return
        if heartbeat_due:
            update["heartbeat_at"] = time.time()
        try:
            self.store.write_batch(
                self.session.id,
                readings=self._pending.readings,
                events=self._pending.events,
                alarms=list(self._pending.alarms.values()),
                session_update=update,
            )
        except sqlite3.Error as exc:
            self._storage_failed(exc, wall)
            return
        self._stored_readings += sum(1 for r in self._pending.readings if r.parameter is not Parameter.PLETH)
        self._pending.clear()
        self._last_flush = wall
        if heartbeat_due:
            self._last_heartbeat = wall
        self._phases_written = tuple(self.session.phases_reached)
        if self.session.baseline is not None:
            self._baseline_written = True
        if not self._storage_ok:
            self._storage_ok = True
            self.session.record(EventKind.TECHNICAL, self.session.now, None, condition="storage_restored")
            if self.alarms is not None:
                self.alarms.command("storage_restored", self.session.now, None)

    def _storage_failed(self, exc: sqlite3.Error, wall: float) -> None:
        self._storage_retry_at = wall + STORAGE_RETRY_S
        if self._storage_ok:
            self._storage_ok = False
            log.error("storage write failed, holding %d rows in memory: %s", len(self._pending), exc)
            self.session.record(EventKind.TECHNICAL, self.session.now, None, condition="storage_write_failed",
                                error=str(exc))
            if self.alarms is not None:
                self.alarms.command("storage_failed", self.session.now, None, error=str(exc))

    def _close(self) -> None:
        """Release the source, keep what it still held, flush, and close the session."""
        try:
            # Close first so nothing new is accepted (or acknowledged), then keep what already was.
            self.source.close()
            self._pending.readings.extend(self._ingest(self.source.drain()))
        except Exception:  # a failing port must not cost the rows already pending
            log.exception("closing the source failed")
        s = self.session
        try:
            status = "complete" if s.phase is Phase.COMPLETE else "closed"
            if status == "closed":
                s.record(EventKind.SESSION_CLOSED, s.now, self.nurse, phase=s.phase.value)
            self._collect_events()
            self._collect_alarm_changes()
            for attempt in range(3):
                self._maybe_flush(force=True)
                if self._storage_ok and not len(self._pending):
                    break
                time.sleep(0.2 * (attempt + 1))
            if self._storage_ok:
                self.store.end_session(s.id, status, s.now)
                self.store.audit("session_" + status, user=self.nurse, session_id=s.id)
                self.end_status = status
            else:
                log.error("session %s left unfinished: %d rows could not be written", s.id, len(self._pending))
                self.end_status = "unfinished"
        finally:
            self.source.close()  # idempotent; also covers a failure above

    # -- status --------------------------------------------------------------------------

    def status(self) -> SessionStatus:
        """A snapshot of the session for display."""
        s = self.session
        now = s.now
        latest = tuple(s.latest.values())
        return SessionStatus(
            session_id=s.id,
            now=now,
            phase=s.phase,
            phases_reached=tuple(s.phases_reached),
            elapsed_s=s.elapsed(now),
            infusion_elapsed_s=s.infusion_elapsed(now),
            infusion_paused=s.infusion_paused_at is not None,
            infusion_stopped=s.infusion_stopped_at is not None,
            infusion_plan_min=s.plan.infusion_min,
            recovery_remaining_s=s.recovery_remaining(now),
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
            pending_rows=len(self._pending),
            stored_readings=self._stored_readings,
            step_check=self._step_check(
                {Phase.BASELINE: START_INFUSION, Phase.RECOVERY: COMPLETE}.get(s.phase, "")
            ),
        )


def wall_deadline(seconds: float | None) -> Callable[[Recorder], bool] | None:
    """An ``until`` for :meth:`Recorder.run` that ends after so many wall-clock seconds."""
    if seconds is None or math.isinf(seconds):
        return None
    end = time.monotonic() + seconds
    return lambda _recorder: time.monotonic() >= end
