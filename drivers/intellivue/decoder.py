"""The host side of an IntelliVue Data Export session as a pure (sans-I/O) state machine.

Bytes from the monitor go in through :meth:`IntelliVueDecoder.feed`; what the host must send comes
out of :meth:`IntelliVueDecoder.outgoing`. Neither touches a port or a clock: the caller passes the
time. The session runs::

    idle --abort, association request--> awaiting accept --accept--> awaiting MDS create
         --MDS Create Event Report / our result--> associated --Extended Poll every poll_interval-->

**Recovery.** The monitor may still hold an earlier association (after a link loss, or a host
that stopped without releasing), and a monitor without its own inactivity time-out would refuse
or ignore a second one for good. So whenever the host gives an association up on its own — at
start, no answer within ``answer_timeout``, ``silence_timeout`` without a useful answer, or
:data:`MAX_CONSECUTIVE_ERRORS` remote-operation errors in a row — it sends an abort first and the
association request ``retry_delay`` later (at start, at once); a public host's capture shows the
same abort-then-associate order. When the monitor refuses, aborts or releases, the host waits
``retry_delay`` and associates. :meth:`reset` (bytes cut by a link event) only drops a partial
frame: the association's own timers decide whether it is lost, so an association accept that
arrives as the link comes back is not thrown away. :meth:`release` gives the release request to
send before closing.

**Keeping alive.** Polls keep the association alive; when ``poll_interval`` is longer than
:data:`KEEP_ALIVE_S` (6 s, as the public host VSCaptureMP), an MDS single poll is sent in between,
so any allowed poll interval (0.5-60 s) keeps the association and the answers prove the link.

**Values.** Polls ask for numerics (object class 6). HR (0x4182), pulse (0x4822), SpO2 (0x4BB8),
NBP systolic/diastolic/mean (0x4A05/06/07, alone or in the compound 0x4A04), respiratory rate
(0x500A impedance = MDC 151562, else 0x5012 airway) and end-tidal CO2 (0x50B0, or 0x509C = MDC
151708) become readings; pressures in kPa are converted to mmHg. The measurement-state bits become
flags (demo and test data are always flagged, :data:`drivers.core.readings.UNRELIABLE` contains both),
and a missing value always carries a reason: its state flags, else ``unavailable`` (NaN, NRes),
or ``invalid`` (an impossible number). Everything else in a reply (other numerics, labels,
display attributes) is skipped. A poll reply repeats the last NBP every time, so NBP readings are
emitted only when the measurement changes (its time stamps or, without any, its values; not its state
word alone, which changes when the NBP alarm starts or is silenced). An absolute stamp counts as the
same when it is the same moment on this computer's clock, so a monitor that re-stamps the held cuff in
its new clock after a clock step does not make it a second cuff.

**Time.** A value's time is, in order: its relative time stamp 0x0991 (receive time less the
age against the poll's relative time); else its absolute time stamp 0x0990 converted through the
monitor clock's offset (the MDS Create Event Report's TIME_ABS against receive time — the
monitor's clock is often local time and off by hours), or, without that clock, its age against
the poll's own absolute time; else the receive time.

**Clock steps.** A monitor's clock is set by a time sync from the central station or by hand, while
its relative time runs on. Every poll reply carries both, read together; when the clock moves against
the relative time by more than :data:`CLOCK_STEP_TOLERANCE_S` between two replies, and against the
receive times by about as much (so neither a sloppy reply nor a late read is taken for a step), the
offset moves with it: later absolute stamps keep their true time. Each step is counted
(``clock_steps``) and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from drivers.base import Decoder
from drivers.core.clock import DEVICE_TIME_FUTURE_S
from drivers.core.readings import NIBP_PARAMETERS, Flag, Reading, is_plausible
from drivers.intellivue import messages as msg
from drivers.intellivue.framing import Deframer, FrameError, encode_frame
from drivers.intellivue.values import (
    NOM_PRESS_BLD_NONINV,
    NOM_PRESS_BLD_NONINV_PULS_RATE,
    PHYSIO_PARAMETER,
    PREFERRED_PHYSIO,
    decode_abs_time,
    decode_float,
    state_flags,
    to_recorded_unit,
)
from drivers.settings import SettingsError, check_known, seconds

log = logging.getLogger(__name__)

SOURCE_NAME = "philips-intellivue"

# Ids that appear in numerics polls and are deliberately not recorded (not "unknown").
_KNOWN_UNUSED = frozenset({NOM_PRESS_BLD_NONINV, NOM_PRESS_BLD_NONINV_PULS_RATE})
# Time stamps further from receive time than this are not believed (a monitor restart, say).
_MAX_BELIEVED_AGE_S = 24 * 3600.0
#: The monitor's clock moving this much (s) against its relative time between two replies is a step of
#: its clock; below it is the reading of a BCD clock that may carry whole seconds only. Two absolute
#: stamps of one value this close on this computer's clock are the same moment.
CLOCK_STEP_TOLERANCE_S = 2.0

#: Longest time the host lets pass without sending anything while associated (the public host
#: VSCaptureMP keeps the association alive every 6 s when it polls less often than once a second).
KEEP_ALIVE_S = 6.0
#: Remote-operation errors in a row after which the association is given up and made anew.
MAX_CONSECUTIVE_ERRORS = 3
#: Poll intervals the driver accepts (s): the association asks for polls no faster than 0.5 s.
POLL_INTERVAL_RANGE = (0.5, 60.0)


class AssociationState(StrEnum):
    """Where the host is in the association."""

    IDLE = "idle"
    AWAITING_ACCEPT = "awaiting_accept"
    AWAITING_MDS_CREATE = "awaiting_mds_create"
    ASSOCIATED = "associated"


def _positive(settings: Mapping[str, str], name: str, default: float) -> float:
    return seconds(settings, name, default, 0, 3600)


@dataclass(frozen=True, slots=True)
class IntelliVueSettings:
    """Timing of the host side (all seconds)."""

    poll_interval: float = 1.0
    answer_timeout: float = 5.0
    silence_timeout: float = 10.0
    retry_delay: float = 2.0
    # The captured working host asks for a 30 s poll period in each Extended Poll.
    poll_period_ticks: int | None = 30 * msg.TICKS_PER_SECOND

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str] | None) -> IntelliVueSettings:
        """Settings from ``--set key=value`` pairs; unknown keys are refused by name."""
        settings = dict(settings or {})
        check_known(settings, {"poll_interval", "answer_timeout", "silence_timeout", "retry_delay"}, SOURCE_NAME)
        default = cls()
        low, high = POLL_INTERVAL_RANGE
        poll = seconds(settings, "poll_interval", default.poll_interval, low, high)
        # Some answer (a poll's or a keep-alive's) is due at least every KEEP_ALIVE_S.
        heard_every = min(poll, KEEP_ALIVE_S)
        silence = _positive(settings, "silence_timeout", max(default.silence_timeout, 3 * heard_every))
        if silence <= heard_every:
            raise SettingsError(f"silence_timeout must be longer than {heard_every:g} s")
        return cls(
            poll_interval=poll,
            answer_timeout=_positive(settings, "answer_timeout", default.answer_timeout),
            silence_timeout=silence,
            retry_delay=_positive(settings, "retry_delay", default.retry_delay),
        )


@dataclass(frozen=True, slots=True)
class _ClockReading:
    """The monitor's clock and relative time as one message carried them, and when it arrived."""

    abs_naive: float
    rel: int
    at: float

    def step_to(self, later: _ClockReading) -> float | None:
        """How far (s) the monitor's clock was set between the two readings; None when it was not.

        Measured against the relative time, which a clock setting leaves running (so the receive
        times' jitter does not enter it), and believed only when the receive times say about the same.
        """
        running = ((later.rel - self.rel) & 0xFFFFFFFF) / msg.TICKS_PER_SECOND
        if running > _MAX_BELIEVED_AGE_S:
            return None  # the relative time went backwards: nothing to compare with
        moved = (later.abs_naive - self.abs_naive) - running
        against_ours = (later.abs_naive - self.abs_naive) - (later.at - self.at)
        if abs(moved) <= CLOCK_STEP_TOLERANCE_S or abs(against_ours - moved) > CLOCK_STEP_TOLERANCE_S:
            return None
        return moved


@dataclass(frozen=True, slots=True)
class _MonitorClock:
    """The monitor's clock against ours, from the MDS Create Event Report, followed through clock steps."""

    #: receive time - the monitor's TIME_ABS read as naive seconds (None: TIME_ABS not set).
    abs_offset: float | None
    #: The last clock reading, to see the next one against (None: none yet).
    last: _ClockReading | None = None


@dataclass(frozen=True, slots=True)
class _NibpValue:
    """One NBP value as the monitor reported it: enough to know the same measurement when it comes again."""

    parameter: str
    rel_time: int | None
    raw: int
    unit: int
    abs_time: bytes | None
    #: The absolute stamp as a moment on this computer's clock (None: no readable stamp).
    abs_at: float | None

    def same_measurement(self, other: _NibpValue) -> bool:
        """Whether ``other`` is this value again (the monitor repeats the last cuff in every reply)."""
        if (self.parameter, self.raw, self.unit) != (other.parameter, other.raw, other.unit):
            return False
        if self.rel_time is not None or other.rel_time is not None:
            return self.rel_time == other.rel_time  # relative time does not move when the clock is set
        if self.abs_time == other.abs_time:
            return True
        # Re-stamped in the monitor's new clock after a step: still the same moment on ours.
        return (
            self.abs_at is not None
            and other.abs_at is not None
            and abs(self.abs_at - other.abs_at) <= CLOCK_STEP_TOLERANCE_S
        )


class IntelliVueDecoder(Decoder):
    """Host protocol state machine and numerics decoder for MIB/RS232 Data Export."""

    def __init__(self, settings: IntelliVueSettings | None = None, source: str = SOURCE_NAME) -> None:
        super().__init__(source)
        self.settings = settings or IntelliVueSettings()
        self._deframer = Deframer()
        self.state = AssociationState.IDLE
        self._outbox: list[bytes] = []
        self._state_since = 0.0
        self._next_attempt: float | None = None  # None: abort and associate at the first outgoing()
        self._abort_first = True
        #: Released on closing: nothing more is sent (no new association after the release request).
        self._released = False
        self._last_rx: float | None = None
        self._last_tx = 0.0
        self._next_poll = 0.0
        self._invoke_id = 0
        self._poll_number = 0
        self._errors_in_a_row = 0
        self._clock = _MonitorClock(None)
        self._last_nibp: tuple[_NibpValue, ...] = ()
        #: How many association requests were sent, and how many associations were lost.
        self.association_attempts = 0
        self.associations_lost = 0
        self.aborts_sent = 0
        self.polls_sent = 0
        self.keep_alives_sent = 0
        self.remote_errors = 0
        #: Times the monitor's clock was set (a time sync, a nurse correcting it) while associated.
        self.clock_steps = 0
        #: FCS-good frames whose length fields disagreed with their bytes (read all the same).
        self.length_mismatches = 0

    # -- Decoder API -----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop any partial frame (the link was cut); the association's timers decide the rest."""
        self._deframer.reset()

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Consume bytes from the monitor; answer what needs answering; return the readings."""
        readings: list[Reading] = []
        for message in msg.read_messages(self._deframer, data, self._reject, self._tolerate):
            try:
                readings.extend(self._handle(message, at))
            except (FrameError, msg.MessageError) as exc:
                self._reject(str(exc))
                continue
            self.counters.frames_decoded += 1
        self.counters.resyncs = self._deframer.counters.resyncs
        return readings

    def _reject(self, reason: str) -> None:
        log.debug("IntelliVue frame rejected: %s", reason)
        self.counters.frames_rejected += 1

    def _tolerate(self, reason: str) -> None:
        log.debug("IntelliVue frame read despite: %s", reason)
        self.length_mismatches += 1

    def outgoing(self, at: float) -> bytes:
        """Abort, association request, MDS Create result, polls, keep-alives: whatever is due at ``at``."""
        if self._released:
            self._outbox.clear()
            return b""
        self._check_timers(at)
        if self.state is AssociationState.IDLE and self._abort_first:
            self._abort_first = False
            self._outbox.append(encode_frame(msg.abort_request()))
            self.aborts_sent += 1
            if self._next_attempt is None:
                self._next_attempt = at
        if self.state is AssociationState.IDLE and (self._next_attempt is None or at >= self._next_attempt):
            self._outbox.append(encode_frame(msg.association_request()))
            self.association_attempts += 1
            self._enter(AssociationState.AWAITING_ACCEPT, at)
        elif self.state is AssociationState.ASSOCIATED:
            if at >= self._next_poll:
                self._outbox.append(encode_frame(self._poll_request()))
                self.polls_sent += 1
                # Keep the cadence without drifting, but never burst to catch up after a stall.
                self._next_poll = max(self._next_poll + self.settings.poll_interval, at)
            elif at - self._last_tx >= KEEP_ALIVE_S:
                self._outbox.append(encode_frame(self._keep_alive()))
                self.keep_alives_sent += 1
        out = b"".join(self._outbox)
        self._outbox.clear()
        if out:
            self._last_tx = at
        return out

    def quiet_by_design_s(self) -> float:
        """The monitor answers polls and keep-alives only: silent up to the poll interval, at most KEEP_ALIVE_S."""
        return min(self.settings.poll_interval, KEEP_ALIVE_S)

    def release(self) -> bytes:
        """The release request to send before closing the port (empty when not associated)."""
        was_associated = self.state is not AssociationState.IDLE
        self._outbox.clear()
        self._enter(AssociationState.IDLE, self._state_since)
        self._released = was_associated
        if was_associated:
            self._abort_first = False  # the release ends it: nothing left to abort
        return encode_frame(msg.RELEASE_REQUEST) if was_associated else b""

    # -- state machine ---------------------------------------------------------------------

    def _enter(self, state: AssociationState, at: float) -> None:
        if state is not self.state:
            log.info("IntelliVue association %s -> %s", self.state, state)
        self.state = state
        self._state_since = at

    def _lose(self, at: float, why: str, *, abort: bool) -> None:
        """Give the association up; associate again after ``retry_delay`` (aborting first if asked)."""
        if self.state is AssociationState.ASSOCIATED:
            self.associations_lost += 1
        log.warning("IntelliVue association lost (%s); associating again", why)
        self._enter(AssociationState.IDLE, at)
        self._abort_first = abort
        self._next_attempt = at + self.settings.retry_delay
        self._errors_in_a_row = 0

    def _check_timers(self, at: float) -> None:
        s = self.settings
        if self.state in (AssociationState.AWAITING_ACCEPT, AssociationState.AWAITING_MDS_CREATE):
            if at - self._state_since > s.answer_timeout:
                self._lose(at, f"no answer in {s.answer_timeout:g} s", abort=True)
        elif self.state is AssociationState.ASSOCIATED:
            last = self._last_rx if self._last_rx is not None else self._state_since
            if at - max(last, self._state_since) > s.silence_timeout:
                self._lose(at, f"no answer from the monitor for {s.silence_timeout:g} s", abort=True)

    def _next_invoke(self) -> int:
        self._invoke_id = (self._invoke_id + 1) & 0xFFFF
        self._poll_number = (self._poll_number + 1) & 0xFFFF
        return self._invoke_id

    def _poll_request(self) -> bytes:
        invoke = self._next_invoke()
        return msg.extended_poll_request(
            invoke, self._poll_number, msg.NOM_MOC_VMO_METRIC_NU, self.settings.poll_period_ticks
        )

    def _keep_alive(self) -> bytes:
        invoke = self._next_invoke()
        return msg.mds_poll_request(invoke, self._poll_number)

    def _handle(self, message: msg.SessionMessage | msg.RemoteOperation, at: float) -> list[Reading]:
        if isinstance(message, msg.SessionMessage):
            self._on_session(message.spdu, at)
            return []
        if message.ro_type == msg.ROER_APDU:
            self.remote_errors += 1
            self._errors_in_a_row += 1
            log.warning(
                "IntelliVue monitor answered invoke %d with error %d", message.invoke_id, message.command
            )
            if self.state is AssociationState.ASSOCIATED and self._errors_in_a_row >= MAX_CONSECUTIVE_ERRORS:
                self._lose(at, f"{self._errors_in_a_row} remote-operation errors in a row", abort=True)
            return []  # an error is no sign of a working association: the silence timer keeps running
        self._last_rx = at
        if message.ro_type == msg.ROIV_APDU:
            if message.command in (msg.CMD_EVENT_REPORT, msg.CMD_CONFIRMED_EVENT_REPORT):
                self._on_event_report(message, at)
            return []
        if message.command != msg.CMD_CONFIRMED_ACTION:
            return []  # results of other operations carry nothing we record
        self._errors_in_a_row = 0
        result = msg.parse_poll_result(message.body)
        if self.state is not AssociationState.ASSOCIATED:
            return []
        self._follow_clock(decode_abs_time(result.abs_time), result.rel_time, at)
        if result.obj_code == msg.NOM_MOC_VMS_MDS:
            self._on_mds_poll(result, at)
            return []
        if result.obj_code != msg.NOM_MOC_VMO_METRIC_NU:
            return []
        return self._readings(result, at)

    def _on_session(self, spdu: int, at: float) -> None:
        if spdu == msg.SPDU_ASSOC_ACCEPT and self.state is AssociationState.AWAITING_ACCEPT:
            self._last_rx = at
            self._enter(AssociationState.AWAITING_MDS_CREATE, at)
        elif spdu == msg.SPDU_ASSOC_REFUSE:
            self._lose(at, "the monitor refused the association", abort=False)
        elif spdu == msg.SPDU_ABORT:
            self._lose(at, "the monitor aborted the association", abort=False)
        elif spdu == msg.SPDU_RELEASE_REQUEST:
            self._outbox.append(encode_frame(msg.RELEASE_RESPONSE))
            self._lose(at, "the monitor released the association", abort=False)
        elif spdu == msg.SPDU_RELEASE_RESPONSE and self.state is not AssociationState.IDLE:
            self._lose(at, "the association was released", abort=False)

    def _on_event_report(self, message: msg.RemoteOperation, at: float) -> None:
        report = msg.parse_event_report(message.body)
        if message.command == msg.CMD_CONFIRMED_EVENT_REPORT:
            if report.event_type == msg.NOM_NOTI_MDS_CREAT:
                reply = msg.mds_create_result(message.invoke_id, report.obj, report.event_time)
            else:
                reply = msg.event_report_result(
                    message.invoke_id, report.obj, report.event_time, report.event_type
                )
            self._outbox.append(encode_frame(reply))
        if report.event_type == msg.NOM_NOTI_MDS_CREAT and self.state is AssociationState.AWAITING_MDS_CREATE:
            self._set_clock(msg.parse_mds_attributes(report.info), at)
            self._enter(AssociationState.ASSOCIATED, at)
            self._next_poll = at
            self._errors_in_a_row = 0

    def _set_clock(self, clock: msg.MdsClock, at: float) -> None:
        offset = None if clock.abs_naive is None else at - clock.abs_naive
        last = None if clock.abs_naive is None or clock.rel is None else _ClockReading(clock.abs_naive, clock.rel, at)
        self._clock = _MonitorClock(offset, last)
        if offset is not None:
            log.info("IntelliVue clock is %+.0f s from this computer's UTC", -offset)

    def _follow_clock(self, abs_naive: float | None, rel: int, at: float) -> None:
        """Keep the offset true when the monitor's clock is set between two replies."""
        if abs_naive is None:
            self._clock = _MonitorClock(self._clock.abs_offset)  # clock not set: nothing to compare with
            return
        reading = _ClockReading(abs_naive, rel, at)
        last = self._clock.last
        step = None if last is None else last.step_to(reading)
        offset = self._clock.abs_offset
        if step is not None:
            self.clock_steps += 1
            offset = None if offset is None else offset - step
            log.warning(
                "IntelliVue clock was set %+.1f s; its absolute time stamps are read on the new clock", step
            )
        self._clock = _MonitorClock(offset, reading)

    def _on_mds_poll(self, result: msg.PollResult, at: float) -> None:
        for obs in result.observations:
            if obs.clock_abs is not None:
                naive = decode_abs_time(obs.clock_abs)
                if naive is not None:
                    self._clock = _MonitorClock(at - naive, self._clock.last)

    # -- readings --------------------------------------------------------------------------

    def _believable(self, t: float, at: float) -> bool:
        return at - _MAX_BELIEVED_AGE_S <= t <= at + DEVICE_TIME_FUTURE_S

    def _abs_stamp_at(self, obs: msg.Observation, result: msg.PollResult, at: float) -> float | None:
        """The 0x0990 stamp as a moment on this computer's clock, believable or not (None: no usable stamp).

        Without the MDS clock: its age against the poll's own absolute time, counted back from ``at``.
        """
        if obs.abs_time is None:
            return None
        stamp = decode_abs_time(obs.abs_time)
        if stamp is None:
            return None
        if self._clock.abs_offset is not None:
            return stamp + self._clock.abs_offset
        poll_abs = decode_abs_time(result.abs_time)
        return None if poll_abs is None else at - (poll_abs - stamp)

    def _time_of(self, obs: msg.Observation, result: msg.PollResult, at: float, abs_at: float | None) -> float:
        if obs.rel_time is not None:
            age_ticks = (result.rel_time - obs.rel_time) & 0xFFFFFFFF
            if age_ticks < 0x80000000:  # else stamped after the poll itself: not believable
                t = at - age_ticks / msg.TICKS_PER_SECOND
                if self._believable(t, at):
                    return t
        if abs_at is not None and self._believable(abs_at, at):
            return min(abs_at, at)  # nothing was measured after it arrived
        return at

    def _readings(self, result: msg.PollResult, at: float) -> list[Reading]:
        found: list[tuple[int, Reading, _NibpValue]] = []
        for obs in result.observations:
            abs_at = self._abs_stamp_at(obs, result, at)
            t = self._time_of(obs, result, at, abs_at)
            for value in obs.values:
                parameter = PHYSIO_PARAMETER.get(value.physio_id)
                if parameter is None:
                    if value.physio_id not in _KNOWN_UNUSED:
                        self.counters.unknown_items += 1
                    continue
                accepted, number = to_recorded_unit(parameter, value.unit, decode_float(value.raw))
                if not accepted:
                    # A unit we do not convert is never shown as if it were the recorded one.
                    self.counters.unknown_items += 1
                    continue
                flags = state_flags(value.state)
                if not is_plausible(parameter, number):
                    number, flags = None, flags | {Flag.INVALID}
                if number is None and not flags:
                    flags = frozenset({Flag.UNAVAILABLE})  # NaN / NRes: the monitor shows no number
                # Not the state word: a monitor repeats the last cuff with new state bits when its alarm
                # starts or is silenced, or a new cycle begins (in alarm, ongoing): the same measurement.
                key = _NibpValue(parameter.value, obs.rel_time, value.raw, value.unit, obs.abs_time, abs_at)
                found.append((value.physio_id, Reading(t, parameter, number, self.source, flags), key))
        # One reading per parameter where a monitor reports it under two ids (RR, etCO2).
        # The first id in the order of preference that has a usable value, else the first present: an
        # impedance RR the monitor cannot give (NaN) does not hide the airway RR it can.
        present = {physio for physio, _, _ in found}
        usable = {physio for physio, reading, _ in found if reading.reliable}
        chosen = {
            parameter: next((code for code in codes if code in usable), next(code for code in codes if code in present))
            for parameter, codes in PREFERRED_PHYSIO.items()
            if any(code in present for code in codes)
        }
        out: list[Reading] = []
        nibp: list[Reading] = []
        nibp_key: list[_NibpValue] = []
        for physio, reading, key in found:
            if reading.parameter in chosen and physio != chosen[reading.parameter]:
                continue
            if reading.parameter in NIBP_PARAMETERS:
                nibp.append(reading)
                nibp_key.append(key)
            else:
                out.append(reading)
        if nibp:
            signature = tuple(sorted(nibp_key, key=lambda v: (v.parameter, v.raw, v.unit)))
            if not self._same_nibp(signature):
                out.extend(nibp)
            self._last_nibp = signature  # a re-stamped repeat keeps comparing with its latest stamp
        return out

    def _same_nibp(self, signature: tuple[_NibpValue, ...]) -> bool:
        """Whether a reply's NBP values are the measurement last emitted, repeated."""
        last = self._last_nibp
        return len(last) == len(signature) and all(a.same_measurement(b) for a, b in zip(last, signature, strict=True))
