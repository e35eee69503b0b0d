"""The alarm engine: physiological and technical alarm conditions, their states, and audio control.

Behaviour (CLINICAL.md "Alarm system behaviour", IEC 60601-1-8 terms):

* **Condition delay and end.** A physiological rule starts when its time beyond the limit within a
  sliding window (``window_factor`` x its delay) reaches ``delay_s`` (SpO2 low: 15 s by default), and
  ends only after valid values have been back within the limit by a margin for ``end_hold_s``; see
  :mod:`monitor.alarms.condition`. NIBP values are spot values: no delay, no hold; the message asks
  for a confirming measurement, which the recorder starts (once per breach) where the device can.
* **No usable value.** A reading without a usable value (missing, or a flag in ``UNRELIABLE``) never
  starts, confirms or ends a physiological alarm: the alarm stays and says the value is missing.
  It is no data either: 10 s without a usable SpO2 or heart-rate value is the technical "no data"
  alarm with the device's reason.
* **Ladders.** Rules on the same parameters in the same direction (SpO2 < 92 medium, < 90 high)
  are judged separately; only the most urgent rung that holds is shown, a rung it supersedes
  ends.
* **States.** ``active`` (condition present), ``latched`` (a high-priority physiological alarm
  whose condition is over, kept until acknowledged), ``ended``. ``ended_at`` is when the condition
  ended; ``acknowledged_at``/``acknowledged_by`` say who last took notice. Technical alarms never
  latch, low and medium alarms do not latch. The text shows the worst value and, where it differs,
  the current one.
* **Acknowledge** silences an alarm as it is (and removes it once its condition is over); it sounds
  again when its priority rises or its value gets worse by the profile's ``worsen_step``.
  **Reset** clears every latched alarm and acknowledges the rest.
* **Escalation.** An unacknowledged medium alarm becomes high after ``escalate_medium_after_s``, except a
  lasting condition of the records or the setup (``ReportedCondition.lasting``: an identity conflict, a shared
  server login), which keeps its priority and so never holds up discharge.
  Lost data (probe off, no pulse, no data, link lost) is ``lost_data`` priority outside the
  infusion and ``lost_data_infusion`` (medium) during it, rising to high after
  ``lost_data_escalate_after_s`` (60 s), acknowledged or not. Each escalation is logged with its
  time and reason.
* **Audio pause** lasts ``audio_pause_s`` (2 min). It holds back alarms up to the priority that
  was sounding when it started (low, if nothing was sounding); anything more urgent breaks through
  and ends the pause. **Audio off** and **alarms off** (physiological alarms not raised) are
  permanent states, allowed to the admin role only, and shown in every snapshot.
* **No data** for a parameter is judged only once that parameter has been seen in the session
  (a device that never sends ECG heart rate is not "missing" it), and not while the link is lost
  (``link_lost`` says it all); the silence is counted again from the moment the link returns.

Time is reading time and the ``now`` handed to :meth:`AlarmEngine.tick`; the wall clock is never read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from functools import partial
from pathlib import Path
from typing import Any, Final

from drivers.base import NIBP_NOT_STARTED
from drivers.core.readings import NIBP_PARAMETERS, NO_SIGNAL, UNRELIABLE, Flag, Parameter, Reading
from monitor.alarms.condition import ConditionTimer
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, AlarmState, Escalation, LimitLine, Priority
from monitor.alarms.profile import NIBP_RULE_PARAMETERS, AlarmProfile, RuleSpec, default_profile, load_profile
from monitor.alarms.rules import CONFIRM_NIBP, RULE_PARAMETER_OF, Ladder, Rule, build_ladders
from monitor.labels import LABELS, UNIT_TEXT
from monitor.readiness import CareRules
from monitor.session import Baseline, EventKind, Phase, Session, SessionEvent
from monitor.wall_clock import clock_text

ADMIN_ROLE: Final = "admin"
ADMIN_COMMANDS: Final = frozenset(
    {"alarms_off", "alarms_on", "audio_off", "audio_on", "set_limit", "load_profile"}
)

#: Which probe a parameter comes from (a probe-off message names the probe, once).
PROBE_OF: Final[dict[Parameter, str]] = {
    Parameter.SPO2: "spo2",
    Parameter.PR: "spo2",
    Parameter.HR: "hr",
    Parameter.NIBP_SYS: "nibp",
    Parameter.NIBP_DIA: "nibp",
    Parameter.NIBP_MEAN: "nibp",
    Parameter.RR: "co2",
    Parameter.ETCO2: "co2",
}
#: Continuous data whose silence is a "no data" alarm.
DATA_GROUP_OF: Final[dict[Parameter, str]] = {
    Parameter.SPO2: "spo2",
    Parameter.HR: "heart_rate",
    Parameter.PR: "heart_rate",
    Parameter.RR: "respiration",
    Parameter.ETCO2: "respiration",
}
PROBE_LABELS: Final = {"spo2": "SpO2 probe", "hr": "ECG leads", "nibp": "NIBP cuff", "co2": "CO2 sampling line"}
#: Probes whose own alarm (sensor off, no pulse) already says why a data group has no value.
PROBES_OF_GROUP: Final = {"spo2": ("spo2",), "heart_rate": ("hr", "spo2"), "respiration": ("co2",)}


@dataclass(frozen=True, slots=True)
class ReportedCondition:
    """A technical condition the monitor itself reports to the engine (:meth:`AlarmEngine.report`)."""

    condition: str
    #: The alarm's text with no detail, and the form that takes one (``{}``); without that form, a detail
    #: given with the report is the whole text.
    plain: str
    detailed: str = "{}"
    #: None: the profile's priority for the condition.
    priority: Priority | None = None
    #: The report that says the condition is over (None: nothing ends it but the session).
    ended_by: str | None = None
    #: About something that happened, not a condition that holds: acknowledging ends it.
    news: bool = False
    #: About the records or the setup, and may hold for the rest of the session (only the clinic's IT or records
    #: can end it): it keeps its priority, acknowledged or not. Escalated to high it would hold up a discharge it
    #: has nothing to do with, at every chair it concerns.
    lasting: bool = False
    #: What the discharge check lists while the condition holds (None: nothing to check with the patient).
    check_at_discharge: str | None = None

    def text(self, detail: str) -> str:
        """The alarm's text for a report with this detail (may be empty)."""
        return self.detailed.format(detail) if detail else self.plain


#: What the monitor reports, by the report's name (the name that raises it).
REPORTED: Final[dict[str, ReportedCondition]] = {
    # The writer cannot write: readings are held until it can again (the profile sets the priority).
    "storage_failed": ReportedCondition(
        "storage_failed", "Cannot write to the database: readings are held in memory",
        "Cannot write to the database ({}): readings are held in memory", ended_by="storage_restored"),
    # Little room left on the database's disk: low, for the clinic's IT before it fills (writing goes on).
    "storage_low": ReportedCondition(
        "storage_low", "Little room left on the database's disk", priority=Priority.LOW, ended_by="storage_room"),
    # The profile asked for was refused (not approved, nobody signed in): the built-in one runs. Low: it
    # stays for the whole session and must not escalate into a high alarm that holds up discharge; the
    # built-in limits are watching meanwhile.
    "profile_not_used": ReportedCondition(
        "profile_not_used", "Alarm profile not used, built-in profile in force",
        "Alarm profile not used, built-in profile in force: {}", priority=Priority.LOW),
    # The chair's window stopped running while recording goes on (the recorder watches its beats).
    "screen_not_responding": ReportedCondition(
        "screen_not_responding", "Screen not responding at the chair: the values it shows are not current",
        priority=Priority.HIGH, ended_by="screen_responding"),
    # Bytes come from the device but nothing can be read from them (the wrong driver, baud rate or parity): the
    # header says "link connected" over dashes, and a device that never gave a value raises no "no value" alarm.
    "device_unreadable": ReportedCondition(
        "device_unreadable",
        "Data from the monitor cannot be read: check the driver, baud rate and parity (Settings)",
        "Data from the monitor cannot be read ({}): check the driver, baud rate and parity (Settings)",
        priority=Priority.MEDIUM, ended_by="device_readable"),
    # Another chair database reports to the clinic's server under this chair's login: the station cannot
    # tell the two chairs apart, and the setup needs correcting (by IT: nothing to do with the patient).
    "server_login_shared": ReportedCondition(
        "server_login_shared", "Server login used by another chair", priority=Priority.MEDIUM,
        ended_by="server_login_own", lasting=True),
    # The clinic's server holds this patient's MRN with another name or birth date at another chair: one of the
    # two records is someone else's (a mistyped MRN), and the course across chairs would merge them. Both chairs
    # hold it until the records are put right, often after the patients left; before discharge is the last moment
    # to check the wristband with the patient.
    "identity_conflict": ReportedCondition(
        "identity_conflict", "IDENTITY CONFLICT: this patient's MRN is held with other details at another chair",
        priority=Priority.MEDIUM, ended_by="identity_agrees", lasting=True,
        check_at_discharge="IDENTITY CONFLICT still open: before the patient leaves, check the MRN, name and birth "
                           "date against the wristband (the clinic's IT puts the records right)"),
    # Someone deleted or moved the open database: always high priority.
    "database_moved": ReportedCondition(
        "database_moved", "The database file was deleted or moved", priority=Priority.HIGH, news=True),
    # The database refused rows for what they hold (never for its disk): they were set aside in a file and the
    # rows after them written. Recording goes on; what made it refuse them needs looking into.
    "rows_set_aside": ReportedCondition(
        "rows_set_aside", "The database refused rows: they were set aside in a file", priority=Priority.MEDIUM,
        news=True),
    # The key file was deleted or replaced under the recording (and written back, or not): the record is
    # safe for now, but IT must see to the file and its back-up.
    "key_file": ReportedCondition(
        "key_file", "The key file was deleted or replaced", priority=Priority.MEDIUM, news=True),
}
#: A cuff start the device did not take: with the device's words, and without them.
NIBP_NOT_STARTED_TEXT: Final = "NIBP start failed: {} - start the cuff at the monitor if it is not inflating"
NIBP_NOT_STARTED_PLAIN: Final = "NIBP start failed - start the cuff at the monitor if it is not inflating"
#: The reminder of an infusion left paused (its key, condition and the profile's [technical] key).
INFUSION_PAUSED: Final = "infusion_paused"
CONFIRM_STARTED: Final = "confirming NIBP started"
CONFIRMED: Final = "confirmed by a repeat NIBP"


def message_without_detail(condition: str) -> str | None:
    """The text of a technical alarm whose condition is raised with the words of what reported it (a database
    error naming a file, another chair's name, a device's message), without those words; None for a condition
    whose text is the engine's own (limits, labels, figures). A de-identified export shows this text."""
    if condition == NIBP_NOT_STARTED:
        return NIBP_NOT_STARTED_PLAIN
    return next((spec.plain for spec in REPORTED.values() if spec.condition == condition), None)


def no_value_reason(reading: Reading) -> str:
    """Why a reading carries no usable value, in the words of the device's flags."""
    bad = sorted(str(f).replace("_", " ") for f in reading.flags & (UNRELIABLE | NO_SIGNAL))
    if bad:
        return ", ".join(bad)
    return "value missing (dashes)" if reading.value is None else "value not usable"


def _fmt(value: float | None) -> str:
    return "--" if value is None else f"{value:g}"


class AlarmPermissionError(ValueError):
    """A command that needs the admin role was given without it."""


class AlarmCommandError(ValueError):
    """A command the engine does not know or cannot carry out as asked."""


@dataclass(slots=True)
class _Alarm:
    """An alarm while it is on screen (mutable; the log gets a row at every change)."""

    id: str
    key: str
    condition: str
    parameter: str | None
    priority: Priority
    kind: AlarmKind
    message: str
    started_at: float
    limit: float | None = None
    value: float | None = None
    peak_value: float | None = None
    display: str = ""
    ended_at: float | None = None
    closed: bool = False
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    escalations: list[Escalation] = field(default_factory=list)
    priority_since: float = 0.0
    rule: Rule | None = None
    rule_parameter: str | None = None
    lost_data: bool = False
    #: From before the recording was interrupted (latched until acknowledged, never judged again).
    carried: bool = False
    #: Quiet because acknowledged, until its priority rises or its value worsens by the profile's step.
    silenced: bool = False
    silenced_priority: Priority | None = None
    silenced_value: float | None = None
    #: The newest value of the alarm's parameter (None: no usable value, ``no_value`` says why).
    current: float | None = None
    no_value: str | None = None
    shown_parameter: str | None = None
    #: About something that happened, not a condition that holds (a database deleted): acknowledging ends it.
    news: bool = False
    #: Whether it rises to high when left unacknowledged (a lasting records or setup condition does not).
    escalates: bool = True

    @property
    def condition_present(self) -> bool:
        """The triggering condition still holds."""
        return self.ended_at is None and not self.closed

    @property
    def latching(self) -> bool:
        """High-priority physiological alarms stay until acknowledged."""
        return self.kind is AlarmKind.PHYSIOLOGICAL and self.priority is Priority.HIGH

    @property
    def state(self) -> AlarmState:
        """Active, latched or ended."""
        if self.closed:
            return AlarmState.ENDED
        return AlarmState.LATCHED if self.ended_at is not None else AlarmState.ACTIVE

    def record(self) -> AlarmRecord:
        """This alarm as it is now (what the log stores, and what the screen shows)."""
        return AlarmRecord(
            **{name: getattr(self, name) for name in _RECORD_AS_IS},
            escalations=tuple(self.escalations),
            state=self.state,
            value_available=self.no_value is None,
        )


#: The record's fields an alarm on screen holds as they are (the record works out the others).
_RECORD_AS_IS: Final = tuple(
    f.name for f in fields(AlarmRecord) if f.name not in {"escalations", "state", "value_available"}
)


class AlarmEngine:
    """Turns readings, timeline events and clock ticks into alarms (implements ``AlarmEngineLike``)."""

    def __init__(
        self, profile: AlarmProfile | None = None, *, new_id: Callable[[], str] | None = None
    ) -> None:
        self.profile = profile or default_profile()
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self._active: dict[str, _Alarm] = {}
        self._changed: dict[str, _Alarm] = {}
        self._interrupted: list[AlarmRecord] = []
        self._timers: dict[str, ConditionTimer] = {}
        #: Per multi-parameter rule ("SBP or DBP"), per parameter: its latest valid value, limit, whether it is
        #: beyond the limit, whether it is clear of it, and when it was measured.
        self._parts: dict[str, dict[str, tuple[float, float, bool, bool, float]]] = {}
        self._last_seen: dict[str, float] = {}
        #: Time of the newest sample of each parameter judged by the rules.
        self._judged_at: dict[Parameter, float] = {}
        self._no_value: dict[str, str] = {}
        #: Per data group whose newest usable value arrived measured longer ago than its no-data time: that time.
        self._behind: dict[str, float] = {}
        self._seen: set[Parameter] = set()
        self._confirm_due: float | None = None
        #: None (no breach), "wanted", "started" (a confirming cuff is running) or "done".
        self._confirm: str | None = None
        self._confirm_started_at = 0.0
        #: Time of the cuff that confirmed the breach (None until one has).
        self._confirmed_at: float | None = None
        self._nibp_breach = False
        self._probe_state: dict[str, dict[Parameter, str]] = {}
        #: Per key of a device-status alarm (probe off, no pulse, invalid value) still shown although the device
        #: no longer says so: since when the values have been usable (None while they are not). It ends after
        #: the end hold, so a status that comes and goes every few seconds is one alarm, not a start and an end
        #: each time.
        self._back: dict[str, float | None] = {}
        self._link_lost = False
        self._phase = Phase.SETUP
        self._baseline: Baseline | None = None
        self._ladders_by_phase: dict[Phase, dict[str, list[Ladder]]] = {}
        self._ladders = self._ladders_for(self._phase)
        self._limits_cache: tuple[Phase, Baseline | None, tuple[LimitLine, ...]] | None = None
        self._now = 0.0
        self.audio_paused_until: float | None = None
        self._pause_holds: Priority = Priority.LOW
        self.audio_off = False
        self.alarms_off = False

    # -- profile and phase ---------------------------------------------------------------------

    def _ladders_for(self, phase: Phase) -> dict[str, list[Ladder]]:
        ladders = self._ladders_by_phase.get(phase)
        if ladders is None:
            ladders = build_ladders(self.profile.rules_for(phase))
            self._ladders_by_phase[phase] = ladders
        return ladders

    def _sync(self, session: Session, at: float) -> None:
        self._baseline = session.baseline
        if session.phase is not self._phase:
            self._phase = session.phase
            self._rules_changed(at)

    def _rules_changed(self, at: float) -> None:
        """New phase or profile: switch rule sets; alarms of rules that no longer apply end."""
        self._ladders = self._ladders_for(self._phase)
        current = {
            rule.id for ladders in self._ladders.values() for ladder in ladders for rule in ladder.rules
        }
        for alarm in list(self._active.values()):
            if alarm.kind is AlarmKind.PHYSIOLOGICAL and alarm.condition not in current:
                self._timers.pop(alarm.condition, None)
                if alarm.condition_present:
                    self._end(alarm, at)
        for rule_id in [r for r in self._timers if r not in current]:
            del self._timers[rule_id]
        self._limits_cache = None

    @property
    def care_rules(self) -> CareRules:
        """The profile's rules for starting the infusion and for discharge."""
        return self.profile.care

    def high_priority_alarms(self) -> tuple[str, ...]:
        """Texts of the active high-priority alarms (condition present; a latched one is over), for the
        readiness checks."""
        return tuple(
            a.display or a.message
            for a in self._active.values()
            if a.priority is Priority.HIGH and a.condition_present
        )

    def to_check_at_discharge(self) -> tuple[str, ...]:
        """What the discharge check lists, without blocking it: the reported conditions still present that ask for
        a check with the patient before they leave (an identity conflict)."""
        wanted = (REPORTED.get(a.condition) for a in self._active.values() if a.condition_present)
        return tuple(spec.check_at_discharge for spec in wanted if spec is not None and spec.check_at_discharge)

    def nibp_confirm_due(self, now: float) -> bool:
        """Whether a confirming cuff should be started now (true once per blood-pressure breach)."""
        return self._confirm == "wanted" and self._confirm_due is not None and now >= self._confirm_due

    def _timer(self, rule: Rule) -> ConditionTimer:
        spec = rule.spec
        window = spec.delay_s * self.profile.window_factor
        continuous = not set(spec.parameters) & NIBP_RULE_PARAMETERS
        hold = self.profile.end_hold_s if continuous else 0.0
        timer = self._timers.get(spec.id)
        if timer is None:
            timer = self._timers[spec.id] = ConditionTimer(spec.delay_s, window, hold)
        else:
            # A changed limit or phase keeps what has been judged so far.
            timer.delay_s, timer.window_s, timer.end_hold_s = spec.delay_s, window, hold
        return timer

    def _margin(self, rule_parameter: str) -> float:
        if rule_parameter in NIBP_RULE_PARAMETERS:
            return 0.0
        return self.profile.end_margin.get(rule_parameter, 0.0)

    def set_profile(self, profile: AlarmProfile, at: float | None = None) -> None:
        """Use a new profile from now on (limits apply to the next readings)."""
        self.profile = profile
        self._ladders_by_phase.clear()
        self._rules_changed(self._now if at is None else at)

    # -- the AlarmEngineLike protocol ------------------------------------------------------------

    def observe(self, reading: Reading, session: Session) -> None:
        """Judge one numeric reading (the recorder never passes pleth samples)."""
        t = reading.t
        if t > self._now:
            self._now = t
        self._baseline = session.baseline
        if session.phase is not self._phase:
            self._sync(session, t)
        parameter = reading.parameter
        if parameter is Parameter.PLETH:
            return
        self._technical_from(reading)
        if t < self._judged_at.get(parameter, t):
            # Measured before a sample already judged (a held-back message, a device clock stamping out of
            # order): the past never ends, starts or changes the alarm of the present.
            return
        self._judged_at[parameter] = t
        rule_parameter = RULE_PARAMETER_OF[parameter]
        if rule_parameter == "heart_rate" and session.displayed_heart_rate() is not reading:
            # Only the heart rate the nurse sees is judged: no double alarm from hr and pr.
            return
        ladders = self._ladders.get(rule_parameter)
        if not ladders or self.alarms_off:
            return
        value = reading.value if reading.reliable else None
        reason = None if value is not None else no_value_reason(reading)
        shown = parameter.value
        for ladder in ladders:
            self._judge(ladder, rule_parameter, shown, value, t, reason)
        if rule_parameter in NIBP_RULE_PARAMETERS:
            self._track_nibp_breach(t, value is not None)

    def on_event(self, event: SessionEvent, session: Session) -> None:
        """Link and session events: link lost/restored, phase changes, session end."""
        kind = event.kind
        if kind is EventKind.LINK_LOST:
            self._link_lost = True
            if "link_lost" not in self._active:
                self._start_technical(
                    "link_lost",
                    None,
                    "Link to the monitor lost: check the cable and the device",
                    event.t,
                    lost_data=True,
                )
        elif kind is EventKind.LINK_RESTORED:
            self._link_lost = False
            self._end_key("link_lost", event.t)
            for group, seen in self._last_seen.items():
                self._last_seen[group] = max(seen, event.t)
        elif kind is EventKind.TECHNICAL and event.detail.get("condition") in ("check_missed", "phase_too_long"):
            # The protocol's timed check (e.g. blood pressure at 40 min) due and not taken, or a phase
            # past the protocol's maximum: technical alarms at the priority of a late cuff.
            condition = str(event.detail["condition"])
            key = f"{condition}:{event.detail.get('check')}"
            if key not in self._active:
                label = event.detail.get("label") or event.detail.get("check")
                # A recovery still open is a reminder, low: it never escalates into a high alarm that would hold up
                # the discharge it asks for.
                reminder = condition == "phase_too_long" and event.detail.get("check") == Phase.RECOVERY.value
                self._start_technical(
                    condition,
                    event.detail.get("parameter"),
                    f"Missed: {label}" if condition == "check_missed" else str(label),
                    event.t,
                    key=key,
                    priority=Priority.LOW if reminder else self.profile.technical_priority("nibp_overdue"),
                )
        elif kind is EventKind.TECHNICAL and event.detail.get("condition") == NIBP_NOT_STARTED:
            # A cuff start that did not reach the monitor: the next value would otherwise come a cycle late,
            # with only "NIBP overdue" long after to say so.
            if NIBP_NOT_STARTED not in self._active:
                self._start_technical(
                    NIBP_NOT_STARTED,
                    "nibp_sys",
                    NIBP_NOT_STARTED_TEXT.format(event.detail.get("detail", "")),
                    event.t,
                    priority=self.profile.technical_priority("nibp_failed"),
                )
        elif kind in (EventKind.INFUSION_RESUMED, EventKind.INFUSION_STOPPED):
            self._end_key(INFUSION_PAUSED, event.t)  # at once, not at the next tick
        elif kind is EventKind.NIBP_REQUESTED:
            self._end_key(NIBP_NOT_STARTED, event.t)  # a start has been taken since
        elif kind is EventKind.TECHNICAL and event.detail.get("condition") == "check_done_late":
            self._end_key(f"check_missed:{event.detail.get('check')}", event.t)
        elif kind is EventKind.TECHNICAL and event.detail.get("condition") == "phase_too_long_ended":
            self._end_key(f"phase_too_long:{event.detail.get('check')}", event.t)
        elif kind in (EventKind.SESSION_CLOSED, EventKind.SESSION_COMPLETED):
            for alarm in list(self._active.values()):
                if alarm.ended_at is None:
                    alarm.ended_at = event.t
                    if alarm.kind is AlarmKind.PHYSIOLOGICAL:
                        # The patient's condition still held: the log's end is the session's, not the condition's.
                        alarm.message = f"{alarm.message} (still present when the session ended)"
                self._close(alarm)
        self._sync(session, event.t)

    def tick(self, now: float, session: Session) -> None:
        """Time-driven conditions: no data, NIBP overdue, escalations, the end of an audio pause."""
        if now > self._now:
            self._now = now
        self._sync(session, now)
        profile = self.profile
        for group, timeout in profile.no_data_s.items():
            last = self._last_seen.get(group)
            if last is None or now - last <= timeout:
                continue
            self._no_current_value(group, f"none for over {timeout:g} s")
            key = f"no_data:{group}"
            if self._link_lost or key in self._active:
                continue
            if any(
                f"{condition}:{probe}" in self._active
                for probe in PROBES_OF_GROUP[group]
                for condition in ("sensor_off", "no_pulse")
            ):
                continue  # the probe's own alarm already says why there is no value
            label = {"heart_rate": "heart rate", "respiration": "respiration (RR or EtCO2)"}.get(
                group, LABELS.get(group, group))
            why = self._no_value.get(group)
            if why is None:
                behind = self._behind.get(group)
                why = ("no readings" if behind is None
                       else f"values arrive measured {now - behind:.0f} s before now: check the device's clock")
            self._start_technical(
                "no_data",
                group,
                f"No {label} value for {timeout:g} s ({why}): check the probe and the device",
                now,
                key=key,
                lost_data=True,
            )
        # Whatever the device: a late blood pressure is the patient's matter, not the device's.
        overdue = session.nibp_overdue(now, device_starts_cuff=None)
        if overdue and "nibp_overdue" not in self._active:
            after_s = session.nibp_overdue_after_s() or 0.0
            self._start_technical(
                "nibp_overdue",
                "nibp_sys",
                f"NIBP overdue: no usable cuff value for over {after_s / 60:g} min",
                now,
                priority=profile.technical_priority("nibp_overdue"),
            )
        elif not overdue and "nibp_overdue" in self._active:
            self._end_key("nibp_overdue", now)
        self._remind_paused_infusion(now, session)
        for alarm in list(self._active.values()):
            if not alarm.condition_present:
                continue
            # Acknowledged lost data still rises to high: acknowledging silences, it does not stop the clock.
            # Data already back (a probe's alarm in its end hold) is no longer lost.
            if alarm.lost_data and not self._is_coming_back(alarm):
                target = self._lost_data_priority()
                if (
                    self._phase is Phase.INFUSION
                    and alarm.priority >= Priority.MEDIUM
                    and now - alarm.priority_since >= profile.lost_data_escalate_after_s
                ):
                    target = Priority.HIGH
                if target > alarm.priority:
                    reason = (
                        "infusion running"
                        if target is Priority.MEDIUM
                        else (f"data lost for {profile.lost_data_escalate_after_s:g} s during the infusion")
                    )
                    self._escalate(alarm, target, now, reason)
            if (
                alarm.priority is Priority.MEDIUM
                and alarm.escalates
                and alarm.acknowledged_at is None
                and now - alarm.priority_since >= profile.escalate_medium_after_s
            ):
                self._escalate(
                    alarm, Priority.HIGH, now, f"unacknowledged for {profile.escalate_medium_after_s:g} s"
                )
        if self.audio_paused_until is not None and (now >= self.audio_paused_until or self._breaks_through()):
            self.audio_paused_until = None

    def _remind_paused_infusion(self, now: float, session: Session) -> None:
        """A pause left on: the record counts no drug from the pause on, while the pump may long be running again
        (P pressed by mistake, or Resume forgotten). The reminder ends when the infusion resumes or stops."""
        paused_at = session.infusion_paused_at
        after_s = self.profile.infusion_paused_remind_s
        if paused_at is not None and now - paused_at >= after_s:
            if INFUSION_PAUSED not in self._active:
                self._start_technical(
                    INFUSION_PAUSED,
                    None,
                    f"Infusion paused for {after_s / 60:g} min: if the pump runs, resume (P); "
                    "else stop the infusion",
                    now,
                    priority=self.profile.technical_priority(INFUSION_PAUSED),
                )
        elif INFUSION_PAUSED in self._active:
            self._end_key(INFUSION_PAUSED, now)

    def take_changes(self) -> list[AlarmRecord]:
        """Every alarm that started or changed since the last call, as it is now."""
        records, self._interrupted = self._interrupted, []
        if self._changed:
            records += [alarm.record() for alarm in self._changed.values()]
            self._changed = {}
        return records

    def snapshot(self, now: float) -> AlarmSnapshot:
        """What the alarm display shows and which pattern should sound."""
        alarms = sorted(self._active.values(), key=lambda a: (-int(a.priority), a.started_at))
        active = tuple(a.record() for a in alarms)
        paused = self._paused(now)
        sounding = None if self.audio_off or paused else self._loudest()
        return AlarmSnapshot(
            active=active,
            audio_paused_until=self.audio_paused_until if paused else None,
            audio_off=self.audio_off,
            alarms_off=self.alarms_off,
            sounding=sounding,
            limits=self.limits(),
        )

    def command(self, name: str, at: float, user: str | None, **args: Any) -> Any:
        """Carry out a person's command (one of ``USER_COMMANDS``); admin commands need ``role="admin"``."""
        role = args.pop("role", None)
        if name in _REPORTS:
            raise AlarmCommandError(f"'{name}' is reported by the monitor itself; it cannot be sent as a command")
        handler = _COMMANDS.get(name)
        if handler is None:
            raise AlarmCommandError(f"unknown alarm command '{name}'; known: {', '.join(sorted(_COMMANDS))}")
        if name in ADMIN_COMMANDS and role != ADMIN_ROLE:
            raise AlarmPermissionError(
                f"'{name}' is allowed to the admin role only (this user's role: {role or 'none given'})"
            )
        self._advance_to(at)
        return handler(self, at, user, **args)

    def report(self, name: str, at: float, **args: Any) -> None:
        """The monitor's own news for the engine: storage failed or restored, the screen froze, …"""
        handler = _REPORTS.get(name)
        if handler is None:
            raise AlarmCommandError(f"unknown report '{name}'; known: {', '.join(sorted(_REPORTS))}")
        self._advance_to(at)
        handler(self, at, None, **args)

    def _advance_to(self, at: float) -> None:
        if at > self._now:
            self._now = at

    def watch_resumed(self, readings: Iterable[Reading], at: float) -> None:
        """After a resume, watch for no data the parameters the session had usable values of before the gap
        (``readings``: the stored ones of its last minutes), as if last seen at ``at``.

        Without this only parameters seen since the resume are judged, and one the device no longer sends would
        go unwatched without a word. The no-data time counts from the resume: the gap itself is the crash's,
        already on the timeline.
        """
        for reading in readings:
            group = DATA_GROUP_OF.get(reading.parameter)
            if group is not None and reading.reliable:
                self._last_seen.setdefault(group, at)

    def close_interrupted(self, stored: Iterable[AlarmRecord], at: float, *, stopped_at: float | None = None) -> int:
        """Close alarms a stopped recording left open (stored alarms whose state is not ended), resuming at ``at``.

        Their conditions are judged afresh from the resumed data; the old alarms end where the condition's end was
        known, else when the recording stopped (``stopped_at``: its last data; ``at`` when not known): nothing was
        seen of the condition in between, so the record never says it lasted through the interruption. They say
        that the recording was interrupted.
        """
        count = 0
        stored = tuple(stored)
        end = at if stopped_at is None else min(stopped_at, at)
        # A blood-pressure breach waiting for its confirming cuff when the recording stopped still waits for it:
        # the confirmation was lost with the process (the next cuff came on its cycle, minutes later).
        if self.profile.nibp_confirm and any(
                alarm.state is not AlarmState.ENDED and alarm.kind is AlarmKind.PHYSIOLOGICAL
                and alarm.parameter in NIBP_RULE_PARAMETERS and CONFIRMED not in alarm.shown for alarm in stored):
            self._nibp_breach = True
            self._confirm = "wanted"
            self._confirm_due = at
        for alarm in stored:
            if alarm.state is AlarmState.ENDED:
                continue
            if (alarm.kind is AlarmKind.PHYSIOLOGICAL and alarm.priority is Priority.HIGH
                    and alarm.acknowledged_at is None):
                self._carry_latched(alarm, end)
                count += 1
                continue
            self._interrupted.append(replace(
                alarm,
                ended_at=alarm.ended_at if alarm.ended_at is not None else end,
                message=f"{alarm.message} (recording interrupted)",
                state=AlarmState.ENDED,
            ))
            count += 1
        return count

    def _carry_latched(self, alarm: AlarmRecord, end: float) -> None:
        """An unanswered high-priority alarm of the interrupted recording stays on screen, latched, until a
        person acknowledges it (nobody answered it; what happened meanwhile is unknown); its condition last seen
        at ``end``."""
        message = _interrupted_text(alarm.message)
        carried = _Alarm(
            id=alarm.id,
            key=f"interrupted:{alarm.id}",
            condition=alarm.condition,
            parameter=alarm.parameter,
            priority=alarm.priority,
            kind=alarm.kind,
            message=message,
            started_at=alarm.started_at,
            limit=alarm.limit,
            value=alarm.value,
            peak_value=alarm.peak_value,
            display=_interrupted_text(alarm.display or alarm.message),
            ended_at=alarm.ended_at if alarm.ended_at is not None else end,
            escalations=list(alarm.escalations),
            priority_since=alarm.started_at,
            carried=True,
        )
        self._active[carried.key] = carried
        self._mark(carried)

    # -- limits on screen ------------------------------------------------------------------------

    def limits(self) -> tuple[LimitLine, ...]:
        """Every limit in force now, in the parameter's unit (for drawing on the charts)."""
        cache = self._limits_cache
        if cache is not None and cache[0] is self._phase and cache[1] is self._baseline:
            return cache[2]
        lines: list[LimitLine] = []
        for spec in self.profile.rules_for(self._phase):
            rule = Rule(spec, 0)
            for parameter in spec.parameters:
                value = rule.limit(parameter, self._baseline)
                if value is not None:
                    lines.append(LimitLine(spec.id, parameter, round(value, 1), spec.priority, spec.operator))
        result = tuple(lines)
        self._limits_cache = (self._phase, self._baseline, result)
        return result

    # -- physiological rules -----------------------------------------------------------------------

    def _judge(
        self, ladder: Ladder, rule_parameter: str, shown: str, value: float | None, t: float, reason: str | None
    ) -> None:
        """Feed one sample to every rung of a ladder (see :mod:`monitor.alarms.condition`)."""
        if value is None:
            # No usable value: nothing is judged, nothing ends; the alarm says the value is missing.
            for rule in ladder.rules:
                timer = self._timers.get(rule.id)
                if timer is not None:
                    timer.unusable(t)
                alarm = self._active.get(rule.id)
                if alarm is not None and alarm.shown_parameter == shown:
                    alarm.current, alarm.no_value = None, reason
                    self._refresh(alarm)
            return
        baseline = self._baseline
        effective: Rule | None = None
        chosen: tuple[str, float, float, float] | None = None
        multi = len(ladder.key[0]) > 1
        margin = self._margin(rule_parameter)
        for rule in ladder.rules:
            limit = rule.limit(rule_parameter, baseline)
            if limit is None:
                continue  # a baseline-relative rule before the baseline exists
            hit = rule.breached(value, limit)
            clear = not hit and not rule.breached(value, limit - rule.spec.direction * margin)
            breach = (shown, value, limit, t)
            if multi:
                # "SBP or DBP": the latest valid judgement of each parameter counts until it is replaced.
                parts = self._parts.setdefault(rule.id, {})
                parts[rule_parameter] = (value, limit, hit, clear, t)
                hit = any(part[2] for part in parts.values())
                clear = all(part[3] for part in parts.values())
                if not parts[rule_parameter][2]:
                    other = next((name for name, part in parts.items() if part[2]), None)
                    if other is not None:
                        breach = (other, parts[other][0], parts[other][1], parts[other][4])
            met = self._timer(rule).sample(t, hit, clear)
            if met and effective is None:
                effective, chosen = rule, breach
        # Rungs below the alarming one are superseded (they end, never latch); rungs above it are over.
        above = True
        for rule in ladder.rules:
            alarm = self._active.get(rule.id)
            if rule is effective:
                assert chosen is not None
                self._raise(rule, chosen, rule_parameter if not multi else chosen[0], t, shown, value)
                above = False
            elif alarm is not None:
                if alarm.shown_parameter == shown:
                    # Over, or latched until acknowledged: "now" on screen stays the newest value.
                    alarm.current, alarm.no_value = value, None
                    self._refresh(alarm)
                if alarm.condition_present:
                    self._end(alarm, t, superseded=effective is not None and not above)

    def _raise(
        self,
        rule: Rule,
        breach: tuple[str, float, float, float],
        rule_parameter: str,
        t: float,
        sample_parameter: str,
        sample_value: float,
    ) -> None:
        shown, value, limit, measured_at = breach
        alarm = self._active.get(rule.id)
        beyond = rule.breached(value, limit)
        if alarm is None and (not beyond or measured_at < t):
            # A rung uncovered by a more urgent one's end shows again on its next sample beyond the limit, never
            # on the other parameter's value of an earlier measurement (the diastolic of the previous cuff while
            # the new cuff's systolic is judged, before its own diastolic has come in).
            return
        if alarm is None:
            message = rule.message(shown, value, limit, self._baseline)
            alarm = _Alarm(
                id=self._new_id(),
                key=rule.id,
                condition=rule.id,
                parameter=shown,
                priority=rule.priority,
                kind=AlarmKind.PHYSIOLOGICAL,
                message=message,
                started_at=t,
                limit=round(limit, 1),
                value=value,
                peak_value=value,
                display=message,
                priority_since=t,
                rule=rule,
                rule_parameter=rule_parameter,
                current=value,
                shown_parameter=shown,
            )
            self._active[alarm.key] = alarm
            if shown in NIBP_RULE_PARAMETERS:
                self._nibp_alarm_started(t)
            self._refresh(alarm)
            self._mark(alarm)
            return
        alarm.rule = rule
        changed = False
        if alarm.ended_at is not None:
            alarm.ended_at = None  # back in breach before anyone acknowledged it
            changed = True
        if sample_parameter == alarm.shown_parameter:
            alarm.current, alarm.no_value = sample_value, None
        if beyond and shown == alarm.shown_parameter:
            alarm.value = value
            if rule.worse(value, alarm.peak_value):
                alarm.peak_value = value
                changed = True
        changed |= self._worsened_since_silenced(alarm, t)
        self._refresh(alarm)
        if changed:
            self._mark(alarm)

    def _worsened_since_silenced(self, alarm: _Alarm, t: float) -> bool:
        """An acknowledged alarm whose value got worse by the profile's step sounds again."""
        rule = alarm.rule
        if not alarm.silenced or rule is None or alarm.value is None or alarm.silenced_value is None:
            return False
        step = self.profile.worsen_step.get(alarm.rule_parameter or "", 0.0)
        if step <= 0 or not rule.worse(alarm.value, alarm.silenced_value + rule.spec.direction * (step - 1e-9)):
            return False
        self._unsilence(
            alarm, t, f"worse since acknowledged: {_fmt(alarm.value)} (was {_fmt(alarm.silenced_value)})"
        )
        return True

    def _unsilence(self, alarm: _Alarm, at: float, reason: str) -> None:
        alarm.silenced = False
        alarm.escalations.append(Escalation(at, alarm.priority, alarm.priority, reason))

    def _refresh(self, alarm: _Alarm) -> None:
        """The alarm's text on screen: its worst value, and the current one where that differs."""
        rule = alarm.rule
        if rule is None or alarm.limit is None or alarm.shown_parameter is None:
            return
        parameter = alarm.shown_parameter
        worst = alarm.peak_value if alarm.peak_value is not None else alarm.value
        assert worst is not None
        unit = UNIT_TEXT.get(parameter, "")
        text = rule.message(parameter, worst, alarm.limit, self._baseline, confirm=False)
        if alarm.no_value is not None:
            text += f" (worst); now no value: {alarm.no_value}"
        elif alarm.current is not None and alarm.current != worst:
            text += f" (worst); now {alarm.current:g} {unit}".rstrip()
        if parameter in NIBP_RULE_PARAMETERS and alarm.condition_present:
            text += ": " + {"started": CONFIRM_STARTED, "done": CONFIRMED}.get(self._confirm or "", CONFIRM_NIBP)
        alarm.display = text

    def _no_current_value(self, group: str, reason: str) -> None:
        """No usable value of a data group has come for its no-data time: an alarm on it no longer says what
        the value is now (its next valid sample does again)."""
        for alarm in self._active.values():
            if alarm.kind is not AlarmKind.PHYSIOLOGICAL or alarm.no_value is not None:
                continue
            parameter = next((p for p in DATA_GROUP_OF if p.value == alarm.shown_parameter), None)
            if parameter is not None and DATA_GROUP_OF[parameter] == group:
                alarm.current, alarm.no_value = None, reason
                self._refresh(alarm)

    def _nibp_alarm_started(self, t: float) -> None:
        if self._nibp_breach:
            later = self._confirm == "done" and self._confirmed_at is not None and t > self._confirmed_at
            if not later:
                return  # the same breach (e.g. its confirming cuff reached another rung): asked once already
            # A cuff after the confirming one starts another alarm: that value is not confirmed yet.
            self._confirm = "wanted"
            self._confirm_due = t + self.profile.nibp_confirm_after_s if self.profile.nibp_confirm else None
            self._confirmed_at = None
            self._refresh_nibp()
            return
        self._nibp_breach = True
        self._confirm = "wanted"
        self._confirm_due = t + self.profile.nibp_confirm_after_s if self.profile.nibp_confirm else None

    def _track_nibp_breach(self, t: float, valid: bool) -> None:
        """A valid cuff after the confirming one was started confirms; the breach is over when no NIBP
        alarm's condition holds any more."""
        if not valid or not self._nibp_breach:
            return
        if self._confirm == "started" and t > self._confirm_started_at:
            self._confirm = "done"
            self._confirmed_at = t
            self._refresh_nibp()
        if not any(
            a.condition_present and a.kind is AlarmKind.PHYSIOLOGICAL and a.shown_parameter in NIBP_RULE_PARAMETERS
            for a in self._active.values()
        ):
            self._nibp_breach = False
            self._confirm_due = None
            self._confirm = None
            self._confirmed_at = None

    def _refresh_nibp(self) -> None:
        for alarm in self._active.values():
            if alarm.kind is AlarmKind.PHYSIOLOGICAL and alarm.shown_parameter in NIBP_RULE_PARAMETERS:
                self._refresh(alarm)

    # -- technical conditions ----------------------------------------------------------------------

    def _technical_from(self, reading: Reading) -> None:
        parameter = reading.parameter
        t = reading.t
        flags = reading.flags
        self._seen.add(parameter)
        group = DATA_GROUP_OF.get(parameter)
        if group is not None:
            # Only a usable value is data: dashes, "unavailable", artifact or invalid values are not.
            if reading.reliable:
                # A value measured before the newest one seen (a backlog, a clock stamping out of order)
                # does not make the data older; only a value measured within the no-data time of now ends
                # the alarm (a device whose clock is behind keeps it: its values are not current).
                last = self._last_seen.get(group)
                self._last_seen[group] = t if last is None else max(last, t)
                timeout = self.profile.no_data_s.get(group)
                fresh = timeout is None or self._now - t <= timeout
                if fresh:
                    self._no_value.pop(group, None)
                    self._behind.pop(group, None)
                    if f"no_data:{group}" in self._active:
                        self._end_key(f"no_data:{group}", t)
                elif last is None or t >= last:
                    # The newest value there is, but measured long ago: the alarm says so, not "no readings".
                    self._no_value.pop(group, None)
                    self._behind[group] = t
            else:
                self._last_seen.setdefault(group, t)
                self._no_value[group] = no_value_reason(reading)
                self._behind.pop(group, None)
        probe = PROBE_OF[parameter]
        lost = flags & NO_SIGNAL
        states = self._probe_state.get(probe)
        if lost:
            if states is None:
                states = self._probe_state[probe] = {}
            states[parameter] = "no_pulse" if lost == {Flag.PULSE_SEARCH} else "sensor_off"
            self._update_probe(probe, t)
        elif states and parameter in states:
            del states[parameter]
            self._update_probe(probe, t)
        invalid = f"invalid_value:{parameter.value}"
        if Flag.INVALID in flags:
            self._back.pop(invalid, None)
        elif invalid in self._active:
            self._back.setdefault(invalid, None)
        if self._back:  # almost always empty: nothing to build per reading
            for key in (invalid, *(f"{condition}:{probe}" for condition in ("sensor_off", "no_pulse"))):
                if key in self._back:
                    self._coming_back(key, t, reading.reliable)
        if flags:
            if Flag.INVALID in flags:
                key = invalid
                if key not in self._active:
                    self._start_technical(
                        "invalid_value",
                        parameter.value,
                        f"{LABELS.get(parameter.value, parameter.value)}: the device sent an invalid value",
                        t,
                        key=key,
                        priority=self.profile.technical_priority("invalid_value"),
                    )
            if (
                parameter in NIBP_PARAMETERS
                and Flag.MEASUREMENT_FAILED in flags
                and "nibp_failed" not in self._active
            ):
                self._start_technical(
                    "nibp_failed",
                    "nibp_sys",
                    "NIBP measurement failed: check the cuff and repeat the measurement",
                    t,
                    priority=self.profile.technical_priority("nibp_failed"),
                )
        if parameter in NIBP_PARAMETERS and reading.reliable:
            for key in ("nibp_failed", NIBP_NOT_STARTED):
                if key in self._active:
                    self._end_key(key, t)

    def _update_probe(self, probe: str, t: float) -> None:
        states = self._probe_state.get(probe, {})
        values = set(states.values())
        wanted = "sensor_off" if "sensor_off" in values else "no_pulse" if values else None
        for condition in ("sensor_off", "no_pulse"):
            key = f"{condition}:{probe}"
            if condition == wanted and key not in self._active:
                label = PROBE_LABELS[probe]
                text = (
                    f"{label} off: check the sensor"
                    if condition == "sensor_off"
                    else f"{label}: no pulse found"
                )
                # ECG leads off is not lost data where the oximeter's pulse rate stands in.
                lost = probe == "spo2" or (probe == "hr" and Parameter.PR not in self._seen)
                priority = (
                    None
                    if lost
                    else self.profile.technical_priority("nibp_failed" if probe == "nibp" else "lost_data")
                )
                parameter = {"spo2": "spo2", "hr": "hr", "nibp": "nibp_sys", "co2": "etco2"}[probe]
                self._start_technical(
                    condition, parameter, text, t, key=key, lost_data=lost, priority=priority
                )
            elif condition != wanted and key in self._active:
                if wanted is None and probe != "nibp":
                    self._back.setdefault(key, None)  # back on: ends after the hold (a cuff's at once)
                else:
                    self._end_key(key, t)
            if condition == wanted:
                self._back.pop(key, None)

    def _is_coming_back(self, alarm: _Alarm) -> bool:
        return any(self._active.get(key) is alarm for key, since in self._back.items() if since is not None)

    def _coming_back(self, key: str, t: float, usable: bool) -> None:
        since = self._back[key]
        if not usable:
            self._back[key] = None  # only usable values count towards the end
            return
        if since is None:
            since = self._back[key] = t
        if t - since >= self.profile.end_hold_s:
            del self._back[key]
            self._end_key(key, t)

    def _lost_data_priority(self) -> Priority:
        key = "lost_data_infusion" if self._phase is Phase.INFUSION else "lost_data"
        return self.profile.technical_priority(key)

    def _start_technical(
        self,
        condition: str,
        parameter: str | None,
        message: str,
        at: float,
        *,
        key: str | None = None,
        priority: Priority | None = None,
        lost_data: bool = False,
    ) -> _Alarm:
        if priority is None:
            priority = self._lost_data_priority() if lost_data else Priority.LOW
        alarm = _Alarm(
            id=self._new_id(),
            key=key or condition,
            condition=condition,
            parameter=parameter,
            priority=priority,
            kind=AlarmKind.TECHNICAL,
            message=message,
            started_at=at,
            display=message,
            priority_since=at,
            lost_data=lost_data,
        )
        self._active[alarm.key] = alarm
        self._mark(alarm)
        return alarm

    # -- state changes -----------------------------------------------------------------------------

    def _mark(self, alarm: _Alarm) -> None:
        self._changed[alarm.id] = alarm

    def _end_key(self, key: str, at: float) -> None:
        alarm = self._active.get(key)
        if alarm is not None and alarm.condition_present:
            self._end(alarm, at)

    def _end(self, alarm: _Alarm, at: float, superseded: bool = False) -> None:
        """The condition is over: close the alarm, or latch it until someone acknowledges it."""
        alarm.ended_at = max(at, alarm.started_at)  # a value measured before the alarm never ends it earlier
        # Acknowledged means quiet now: one that sounded again after an acknowledgment (worse, higher) latches.
        unacknowledged = alarm.acknowledged_at is None or not alarm.silenced
        if alarm.latching and unacknowledged and not superseded:
            self._mark(alarm)
        else:
            self._close(alarm)

    def _close(self, alarm: _Alarm) -> None:
        alarm.closed = True
        if self._active.get(alarm.key) is alarm:
            del self._active[alarm.key]
        self._mark(alarm)

    def _escalate(self, alarm: _Alarm, to: Priority, at: float, reason: str) -> None:
        alarm.escalations.append(Escalation(at, alarm.priority, to, reason))
        alarm.priority = to
        alarm.priority_since = at
        if alarm.silenced and alarm.silenced_priority is not None and to > alarm.silenced_priority:
            alarm.silenced = False  # a higher priority sounds again, acknowledged or not
        self._mark(alarm)

    # -- audio -----------------------------------------------------------------------------------

    def _loudest(self) -> Priority | None:
        return max((a.priority for a in self._active.values() if not a.silenced), default=None)

    def _breaks_through(self) -> bool:
        loudest = self._loudest()
        return loudest is not None and loudest > self._pause_holds

    def _paused(self, now: float) -> bool:
        until = self.audio_paused_until
        return until is not None and now < until and not self._breaks_through()

    # -- commands ----------------------------------------------------------------------------------

    def _acknowledge(self, at: float, user: str | None, alarm_id: str | None = None) -> int:
        if alarm_id is not None:
            targets = [a for a in self._active.values() if a.id == alarm_id]
            if not targets:
                raise AlarmCommandError(f"no alarm on screen has id '{alarm_id}'")
        else:
            targets = list(self._active.values())
        count = 0
        for alarm in targets:
            if not alarm.silenced:
                # The log keeps the latest acknowledgement; the audit log has every one.
                alarm.acknowledged_at = at
                alarm.acknowledged_by = user
                alarm.silenced = True
                alarm.silenced_priority = alarm.priority
                alarm.silenced_value = alarm.peak_value
                count += 1
                self._mark(alarm)
            if alarm.news and alarm.condition_present:
                alarm.ended_at = at  # seen to: off the screen, and no longer holding up discharge
            if not alarm.condition_present:
                self._close(alarm)
        return count

    def _reset(self, at: float, user: str | None) -> int:
        self.audio_paused_until = None
        return self._acknowledge(at, user)

    def _pause_audio(self, at: float, user: str | None, duration_s: float | None = None) -> float:
        seconds = self.profile.audio_pause_s if duration_s is None else float(duration_s)
        if not 0 < seconds <= 900:
            raise AlarmCommandError("an audio pause lasts between 0 and 900 s")
        if not self._paused(at):
            self._pause_holds = self._loudest() or Priority.LOW
        self.audio_paused_until = at + seconds
        return self.audio_paused_until

    def _resume_audio(self, at: float, user: str | None) -> None:
        self.audio_paused_until = None

    def _alarms_off(self, at: float, user: str | None) -> None:
        self.alarms_off = True
        self._timers.clear()
        self._parts.clear()
        for alarm in list(self._active.values()):
            if alarm.kind is AlarmKind.PHYSIOLOGICAL:
                if alarm.ended_at is None:
                    alarm.ended_at = at
                self._close(alarm)

    def _alarms_on(self, at: float, user: str | None) -> None:
        self.alarms_off = False

    def _audio_off(self, at: float, user: str | None) -> None:
        self.audio_off = True

    def _audio_on(self, at: float, user: str | None) -> None:
        self.audio_off = False

    def _set_limit(
        self,
        at: float,
        user: str | None,
        rule: str,
        limit: float | None = None,
        priority: str | None = None,
        delay_s: float | None = None,
        enabled: bool | None = None,
        phase: str | None = None,
    ) -> dict[str, str]:
        where = Phase(phase) if phase is not None else None
        try:
            current = self.profile.rule(rule, where)
        except KeyError:
            raise AlarmCommandError(f"no rule '{rule}' in profile {self.profile.name}") from None
        if limit is None and priority is None and delay_s is None and enabled is None:
            raise AlarmCommandError("set_limit needs limit, priority, delay_s or enabled")
        changed = RuleSpec(
            id=current.id,
            parameters=current.parameters,
            comparison=current.comparison,
            limit=current.limit if limit is None else float(limit),
            priority=current.priority if priority is None else Priority.parse(priority),
            delay_s=current.delay_s if delay_s is None else float(delay_s),
            enabled=current.enabled if enabled is None else bool(enabled),
        )
        self.set_profile(self.profile.with_rule(changed, where), at)
        return {
            "rule": rule,
            "phase": phase or "all",
            "before": current.describe(),
            "after": changed.describe(),
        }

    def _load_profile(self, at: float, user: str | None, path: str, expected_sha256: str | None = None,
                      approved_name: str | None = None) -> dict[str, str]:
        profile = load_profile(Path(path))  # raises ProfileError; the current profile stays
        if expected_sha256 is not None and profile.sha256 != expected_sha256:
            raise AlarmCommandError(f"{path} changed since it was checked; the current profile stays")
        if approved_name is not None:
            profile = replace(profile, name=approved_name)
        self.set_profile(profile, at)
        return {"profile": profile.name, "source": profile.source, "sha256": profile.sha256}

    def _raise_reported(self, at: float, user: str | None, report: str, detail: str = "") -> None:
        """A condition the monitor reported (one of ``REPORTED``) is present: its alarm, unless already on screen."""
        spec = REPORTED[report]
        text = spec.text(detail)
        priority = spec.priority if spec.priority is not None else self.profile.technical_priority(spec.condition)
        if spec.news:
            self._news(spec.condition, text, at, priority)
        elif spec.condition not in self._active:
            self._start_technical(spec.condition, None, text, at, priority=priority).escalates = not spec.lasting

    def _end_reported(self, at: float, user: str | None, condition: str) -> None:
        """A reported condition is over."""
        self._end_key(condition, at)

    def _news(self, condition: str, message: str, at: float, priority: Priority) -> None:
        """A technical alarm about something that happened (no condition ends it): on screen until someone
        acknowledges it, which ends it. A newer word on it ends the one on screen, so the log closes that one.
        Whatever still holds meanwhile (a store that cannot write) has an alarm of its own."""
        earlier = self._active.get(condition)
        if earlier is not None and earlier.condition_present:
            self._end(earlier, at, superseded=True)
        self._start_technical(condition, None, message, at, priority=priority).news = True

    def _nibp_confirm_started(self, at: float, user: str | None) -> None:
        """The recorder started the confirming cuff this breach asked for."""
        if self._confirm == "wanted":
            self._confirm = "started"
            self._confirm_started_at = at
            self._refresh_nibp()


_COMMANDS: Final[dict[str, Callable[..., Any]]] = {
    "acknowledge": AlarmEngine._acknowledge,
    "reset": AlarmEngine._reset,
    "pause_audio": AlarmEngine._pause_audio,
    "resume_audio": AlarmEngine._resume_audio,
    "alarms_off": AlarmEngine._alarms_off,
    "alarms_on": AlarmEngine._alarms_on,
    "audio_off": AlarmEngine._audio_off,
    "audio_on": AlarmEngine._audio_on,
    "set_limit": AlarmEngine._set_limit,
    "load_profile": AlarmEngine._load_profile,
}
#: What a person at the chair may ask of the engine (:meth:`AlarmEngine.command`); the rest of what
#: the engine hears is the monitor's own news (:meth:`AlarmEngine.report`), which nobody may send.
USER_COMMANDS: Final = frozenset(_COMMANDS)
_REPORTS: Final[dict[str, Callable[..., Any]]] = {
    **{name: partial(AlarmEngine._raise_reported, report=name) for name in REPORTED},
    **{spec.ended_by: partial(AlarmEngine._end_reported, condition=spec.condition)
       for spec in REPORTED.values() if spec.ended_by},
    "nibp_confirm_started": AlarmEngine._nibp_confirm_started,
}


def _clock(t: float | None) -> str:
    return "--:--:--" if t is None else clock_text(t)


def describe_change(previous: AlarmRecord | None, alarm: AlarmRecord) -> str | None:
    """One terminal line for an alarm-log change.

    For example ``*** 12:31:05 SpO2 86 < 90 % (spo2_low_severe) started``.

    Returns None for changes not worth a line (a new peak value while the alarm runs).
    """
    marker = alarm.priority.marker
    what = f"{alarm.message} ({alarm.condition})"
    if previous is None:
        return f"{marker} {_clock(alarm.started_at)} {what} started"
    if alarm.priority != previous.priority:
        step = alarm.escalations[-1] if alarm.escalations else None
        return (
            f"{marker} {_clock(step.at if step else None)} {what} escalated to {alarm.priority.label}"
            f"{': ' + step.reason if step and step.reason else ''}"
        )
    if alarm.acknowledged_at is not None and previous.acknowledged_at is None:
        by = alarm.acknowledged_by or "unknown user"
        return f"{marker} {_clock(alarm.acknowledged_at)} {what} acknowledged by {by}"
    if alarm.state != previous.state:
        if alarm.state is AlarmState.LATCHED:
            return f"{marker} {_clock(alarm.ended_at)} {what} value recovered, latched until acknowledged"
        if alarm.state is AlarmState.ENDED and previous.state is AlarmState.LATCHED:
            return f"{marker} {what} cleared (it had ended at {_clock(alarm.ended_at)})"
        if alarm.state is AlarmState.ENDED:
            return f"{marker} {_clock(alarm.ended_at)} {what} ended"
        if alarm.state is AlarmState.ACTIVE:
            return f"{marker} {_clock(alarm.started_at)} {what} back in breach"
    return None


_INTERRUPTED: Final = " (before the recording was interrupted)"


def _interrupted_text(text: str) -> str:
    """An alarm's text once it is carried over an interruption (said once, however often it was carried)."""
    return text if text.endswith(_INTERRUPTED) else text + _INTERRUPTED
