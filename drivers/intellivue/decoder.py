"""The host side of an IntelliVue Data Export session as a pure (sans-I/O) state machine.

Bytes from the monitor go in through :meth:`IntelliVueDecoder.feed`; what the host must send comes
out of :meth:`IntelliVueDecoder.outgoing`. Neither touches a port or a clock: the caller passes the
time. The session runs::

    idle --association request--> awaiting accept --accept--> awaiting MDS create
         --MDS Create Event Report / our result--> associated --Extended Poll every poll_interval-->

A refusal, an abort or a release from the monitor, a missing answer within ``answer_timeout`` or
``silence_timeout`` without any frame while associated all return the machine to idle, and it
associates again (after ``retry_delay`` when the monitor refused or aborted). :meth:`reset` does
the same after a reconnect. :meth:`release` gives the release request to send before closing.

Polls ask for numerics (object class 6). HR (0x4182), pulse (0x4822), SpO2 (0x4BB8) and NBP
systolic/diastolic/mean (0x4A05/06/07, alone or inside the compound 0x4A04) become readings;
the measurement-state bits become flags, and demo or test data is always flagged as such
(:data:`monitor.readings.UNRELIABLE` contains both). A poll reply repeats the last NBP every
time, so NBP readings are emitted only when the measurement changes (its relative time stamp,
or, where the monitor sends none, its values). A reading's time is the receive time, less the age
the monitor's relative time stamps give it.

*Unconfirmed*: no capture of a monitor's poll reply is public; the reply parser follows the
guide's structures and rejects (and counts) anything whose lengths or counts disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from drivers.base import Decoder
from drivers.intellivue import messages as msg
from drivers.intellivue.framing import Deframer, FrameError, encode_frame
from drivers.intellivue.values import (
    EXPECTED_UNIT,
    NOM_PRESS_BLD_NONINV,
    NOM_PRESS_BLD_NONINV_PULS_RATE,
    PHYSIO_PARAMETER,
    decode_float,
    state_flags,
)
from drivers.settings import SettingsError, seconds
from monitor.readings import NIBP_PARAMETERS, Flag, Reading, is_plausible

log = logging.getLogger(__name__)

SOURCE_NAME = "philips-intellivue"

# Ids that appear in numerics polls and are deliberately not recorded (not "unknown").
_KNOWN_UNUSED = frozenset({NOM_PRESS_BLD_NONINV, NOM_PRESS_BLD_NONINV_PULS_RATE})
# Relative time stamps further apart than this are not believed (a monitor restart, say).
_MAX_BELIEVED_AGE_S = 24 * 3600.0


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
        known = {"poll_interval", "answer_timeout", "silence_timeout", "retry_delay"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise SettingsError(
                f"unknown setting(s) {', '.join(unknown)} for philips-intellivue; "
                f"known: {', '.join(sorted(known))}"
            )
        default = cls()
        poll = _positive(settings, "poll_interval", default.poll_interval)
        silence = _positive(settings, "silence_timeout", max(default.silence_timeout, 3 * poll))
        if silence <= poll:
            raise SettingsError("silence_timeout must be longer than poll_interval")
        return cls(
            poll_interval=poll,
            answer_timeout=_positive(settings, "answer_timeout", default.answer_timeout),
            silence_timeout=silence,
            retry_delay=_positive(settings, "retry_delay", default.retry_delay),
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
        self._next_attempt: float | None = None  # None: associate at the first outgoing()
        self._last_rx: float | None = None
        self._next_poll = 0.0
        self._invoke_id = 0
        self._poll_number = 0
        self._last_nibp_key: tuple[object, ...] | None = None
        #: How many association requests were sent, and how many associations were lost.
        self.association_attempts = 0
        self.associations_lost = 0
        self.polls_sent = 0
        self.remote_errors = 0

    # -- Decoder API -----------------------------------------------------------------------

    def reset(self) -> None:
        """Drop any partial frame and start a new association (after a reconnect)."""
        self._deframer.reset()
        self._outbox.clear()
        self._enter(AssociationState.IDLE, self._state_since)
        self._next_attempt = None

    def feed(self, data: bytes, at: float) -> list[Reading]:
        """Consume bytes from the monitor; answer what needs answering; return the readings."""
        readings: list[Reading] = []
        for message in msg.read_messages(self._deframer, data, self._reject):
            self._last_rx = at
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

    def outgoing(self, at: float) -> bytes:
        """Association request, MDS Create result, polls: whatever is due at ``at``."""
        self._check_timers(at)
        if self.state is AssociationState.IDLE and (self._next_attempt is None or at >= self._next_attempt):
            self._outbox.append(encode_frame(msg.association_request()))
            self.association_attempts += 1
            self._enter(AssociationState.AWAITING_ACCEPT, at)
        elif self.state is AssociationState.ASSOCIATED and at >= self._next_poll:
            self._outbox.append(encode_frame(self._poll_request()))
            self.polls_sent += 1
            # Keep the cadence without drifting, but never burst to catch up after a stall.
            self._next_poll = max(self._next_poll + self.settings.poll_interval, at)
        out = b"".join(self._outbox)
        self._outbox.clear()
        return out

    def release(self) -> bytes:
        """The release request to send before closing the port (empty when not associated)."""
        was_associated = self.state is not AssociationState.IDLE
        self._outbox.clear()
        self._enter(AssociationState.IDLE, self._state_since)
        return encode_frame(msg.RELEASE_REQUEST) if was_associated else b""

    # -- state machine ---------------------------------------------------------------------

    def _enter(self, state: AssociationState, at: float) -> None:
        if state is not self.state:
            log.info("IntelliVue association %s -> %s", self.state, state)
        self.state = state
        self._state_since = at

    def _lose(self, at: float, why: str, retry_after: float) -> None:
        if self.state is AssociationState.ASSOCIATED:
            self.associations_lost += 1
        log.warning("IntelliVue association lost (%s); associating again", why)
        self._enter(AssociationState.IDLE, at)
        self._next_attempt = at + retry_after

    def _check_timers(self, at: float) -> None:
        s = self.settings
        if self.state in (AssociationState.AWAITING_ACCEPT, AssociationState.AWAITING_MDS_CREATE):
            if at - self._state_since > s.answer_timeout:
                self._lose(at, f"no answer in {s.answer_timeout:g} s", 0.0)
        elif self.state is AssociationState.ASSOCIATED:
            last = self._last_rx if self._last_rx is not None else self._state_since
            if at - max(last, self._state_since) > s.silence_timeout:
                self._lose(at, f"monitor silent for {s.silence_timeout:g} s", 0.0)

    def _poll_request(self) -> bytes:
        self._invoke_id = (self._invoke_id + 1) & 0xFFFF
        self._poll_number = (self._poll_number + 1) & 0xFFFF
        return msg.extended_poll_request(
            self._invoke_id, self._poll_number, msg.NOM_MOC_VMO_METRIC_NU, self.settings.poll_period_ticks
        )

    def _handle(self, message: msg.SessionMessage | msg.RemoteOperation, at: float) -> list[Reading]:
        if isinstance(message, msg.SessionMessage):
            self._on_session(message.spdu, at)
            return []
        if message.ro_type == msg.ROIV_APDU:
            if message.command in (msg.CMD_EVENT_REPORT, msg.CMD_CONFIRMED_EVENT_REPORT):
                self._on_event_report(message, at)
            return []
        if message.ro_type == msg.ROER_APDU:
            self.remote_errors += 1
            log.warning(
                "IntelliVue monitor answered invoke %d with error %d", message.invoke_id, message.command
            )
            return []
        if message.command != msg.CMD_CONFIRMED_ACTION:
            return []  # results of other operations carry nothing we record
        result = msg.parse_poll_result(message.body)
        if self.state is not AssociationState.ASSOCIATED or result.obj_code != msg.NOM_MOC_VMO_METRIC_NU:
            return []
        return self._readings(result, at)

    def _on_session(self, spdu: int, at: float) -> None:
        if spdu == msg.SPDU_ASSOC_ACCEPT and self.state is AssociationState.AWAITING_ACCEPT:
            self._enter(AssociationState.AWAITING_MDS_CREATE, at)
        elif spdu == msg.SPDU_ASSOC_REFUSE:
            self._lose(at, "the monitor refused the association", self.settings.retry_delay)
        elif spdu == msg.SPDU_ABORT:
            self._lose(at, "the monitor aborted the association", self.settings.retry_delay)
        elif spdu == msg.SPDU_RELEASE_REQUEST:
            self._outbox.append(encode_frame(msg.RELEASE_RESPONSE))
            self._lose(at, "the monitor released the association", self.settings.retry_delay)
        elif spdu == msg.SPDU_RELEASE_RESPONSE and self.state is not AssociationState.IDLE:
            self._lose(at, "the association was released", self.settings.retry_delay)

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
            self._enter(AssociationState.ASSOCIATED, at)
            self._next_poll = at

    # -- readings --------------------------------------------------------------------------

    def _time_of(self, obs: msg.Observation, poll_rel: int, at: float) -> float:
        if obs.rel_time is None:
            return at
        age_ticks = (poll_rel - obs.rel_time) & 0xFFFFFFFF
        if age_ticks >= 0x80000000:
            return at  # stamped after the poll itself: not believable
        age = age_ticks / msg.TICKS_PER_SECOND
        return at - age if age <= _MAX_BELIEVED_AGE_S else at

    def _readings(self, result: msg.PollResult, at: float) -> list[Reading]:
        out: list[Reading] = []
        nibp: list[Reading] = []
        nibp_key: list[tuple[object, ...]] = []
        for obs in result.observations:
            t = self._time_of(obs, result.rel_time, at)
            for value in obs.values:
                parameter = PHYSIO_PARAMETER.get(value.physio_id)
                if parameter is None:
                    if value.physio_id not in _KNOWN_UNUSED:
                        self.counters.unknown_items += 1
                    continue
                if value.unit != EXPECTED_UNIT[parameter]:
                    # A unit we do not convert (e.g. kPa) is never shown as if it were mmHg.
                    self.counters.unknown_items += 1
                    continue
                flags = state_flags(value.state)
                number = decode_float(value.raw)
                if not is_plausible(parameter, number):
                    number, flags = None, flags | {Flag.INVALID}
                reading = Reading(t, parameter, number, self.source, flags)
                if parameter in NIBP_PARAMETERS:
                    nibp.append(reading)
                    nibp_key.append((parameter.value, obs.rel_time, value.raw, value.state))
                else:
                    out.append(reading)
        if nibp:
            key = tuple(sorted(nibp_key, key=repr))
            if key != self._last_nibp_key:
                self._last_nibp_key = key
                out.extend(nibp)
        return out
