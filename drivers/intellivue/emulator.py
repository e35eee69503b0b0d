"""The monitor's side of an IntelliVue Data Export session, playing a simulated patient.

Used by ``infusion-monitor emulate --protocol philips-intellivue`` and by the tests. It answers an
association request with an accept and an MDS Create Event Report, waits for the host's result,
then answers each Extended Poll for numerics with HR, pulse, SpO2 and the NBP compound of the
newest cuff measurement (the monitor runs its own cuff cycle). The messages are built from the
guide's structures (see :mod:`drivers.intellivue.messages`); a real monitor adds more attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum

from drivers.intellivue import messages as msg
from drivers.intellivue.framing import Deframer, FrameError, encode_frame
from drivers.intellivue.values import (
    NOM_DIM_BEAT_PER_MIN,
    NOM_DIM_MMHG,
    NOM_DIM_PERCENT,
    NOM_ECG_CARD_BEAT_RATE,
    NOM_PLETH_PULS_RATE,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_SYS,
    NOM_PULS_OXIM_SAT_O2,
    encode_float,
)
from drivers.patient_feed import PatientFeed

log = logging.getLogger(__name__)

STATE_INVALID = 0x8000
STATE_UNAVAILABLE = 0x2000
STATE_TEST_DATA = 0x0800
STATE_DEMO_DATA = 0x0400

HANDLE_HR = 0x0101
HANDLE_PR = 0x0102
HANDLE_SPO2 = 0x0103
HANDLE_NBP = 0x0104


class MonitorState(StrEnum):
    """Where the emulated monitor is in the association."""

    IDLE = "idle"
    AWAITING_RESULT = "awaiting_result"
    ASSOCIATED = "associated"


@dataclass
class EmulatorCounters:
    """What the emulated monitor has seen and done."""

    associations: int = 0
    polls_answered: int = 0
    frames_rejected: int = 0
    releases: int = 0
    ignored: int = 0


@dataclass
class IntelliVueMonitor:
    """Pure monitor-side state machine: :meth:`receive` bytes from the host, get the answer bytes."""

    feed: PatientFeed
    demo: bool = False
    #: Split each poll reply into two linked results (first/last), as a monitor does for long replies.
    linked_replies: bool = False
    #: Leave out the NBP relative time stamp (some monitors send none).
    nbp_time_stamps: bool = True
    clock_origin: float = 0.0
    counters: EmulatorCounters = field(default_factory=EmulatorCounters)

    def __post_init__(self) -> None:
        self.state = MonitorState.IDLE
        self._deframer = Deframer()
        self._invoke = 0

    def ticks(self, at: float) -> int:
        """The monitor's RelativeTime at ``at`` (1/8 ms since it was switched on)."""
        return int((at - self.clock_origin) * msg.TICKS_PER_SECOND) & 0xFFFFFFFF

    def reset(self) -> None:
        """Forget the association (the cable was pulled)."""
        self.state = MonitorState.IDLE
        self._deframer.reset()

    def receive(self, data: bytes, at: float) -> bytes:
        """Bytes from the host in, the monitor's answers out."""
        out: list[bytes] = []
        for message in msg.read_messages(self._deframer, data, self._reject):
            try:
                out.extend(self._answer(message, at))
            except (FrameError, msg.MessageError) as exc:
                self._reject(str(exc))
        return b"".join(out)

    def _reject(self, reason: str) -> None:
        log.debug("emulated IntelliVue rejected a frame: %s", reason)
        self.counters.frames_rejected += 1

    def transmit(self, at: float) -> bytes:
        """Unsolicited bytes (none: a Data Export monitor only answers)."""
        return b""

    def _answer(self, message: msg.SessionMessage | msg.RemoteOperation, at: float) -> list[bytes]:
        if isinstance(message, msg.SessionMessage):
            if message.spdu == msg.SPDU_ASSOC_REQUEST:
                self.counters.associations += 1
                self._invoke = (self._invoke + 1) & 0xFFFF
                self.state = MonitorState.AWAITING_RESULT
                report = msg.mds_create_event_report(self._invoke, self.ticks(at))
                return [encode_frame(msg.association_result()), encode_frame(report)]
            if message.spdu == msg.SPDU_RELEASE_REQUEST:
                self.counters.releases += 1
                self.state = MonitorState.IDLE
                return [encode_frame(msg.RELEASE_RESPONSE)]
            self.counters.ignored += 1
            return []
        if message.ro_type == msg.RORS_APDU and message.command == msg.CMD_CONFIRMED_EVENT_REPORT:
            if self.state is MonitorState.AWAITING_RESULT and message.invoke_id == self._invoke:
                self.state = MonitorState.ASSOCIATED
            return []
        if message.ro_type == msg.ROIV_APDU and message.command == msg.CMD_CONFIRMED_ACTION:
            if self.state is not MonitorState.ASSOCIATED:
                self.counters.ignored += 1
                return []
            return self._poll_reply(message, at)
        self.counters.ignored += 1
        return []

    def _state(self, base: int = 0) -> int:
        return base | (STATE_DEMO_DATA if self.demo else 0)

    def observations(self, at: float) -> list[msg.Observation]:
        """What a numerics poll returns at ``at``."""
        vitals = self.feed.vitals(at)
        now = self.ticks(vitals.t)
        spo2_state = self._state(STATE_UNAVAILABLE if vitals.probe_off else 0)

        def single(handle: int, physio: int, unit: int, value: float | None, state: int) -> msg.Observation:
            numeric = msg.NumericValue(physio, state, unit, encode_float(value))
            return msg.Observation(handle, (numeric,), rel_time=now, type_code=physio)

        obs = [
            single(HANDLE_HR, NOM_ECG_CARD_BEAT_RATE, NOM_DIM_BEAT_PER_MIN, vitals.hr, self._state()),
            single(HANDLE_PR, NOM_PLETH_PULS_RATE, NOM_DIM_BEAT_PER_MIN, vitals.pr, spo2_state),
            single(HANDLE_SPO2, NOM_PULS_OXIM_SAT_O2, NOM_DIM_PERCENT, vitals.spo2, spo2_state),
        ]
        cuff = self.feed.last_cuff(at)
        values: list[tuple[float | None, int]]
        if cuff is None:
            values = [(None, STATE_UNAVAILABLE)] * 3
            stamp = None
        else:
            bad = STATE_INVALID if cuff.failed else 0
            values = [(cuff.sys, bad), (cuff.dia, bad), (cuff.mean, bad)]
            stamp = self.ticks(cuff.t) if self.nbp_time_stamps else None
        nbp = [
            msg.NumericValue(code, self._state(state), NOM_DIM_MMHG, encode_float(value))
            for code, (value, state) in zip(
                (NOM_PRESS_BLD_NONINV_SYS, NOM_PRESS_BLD_NONINV_DIA, NOM_PRESS_BLD_NONINV_MEAN),
                values,
                strict=True,
            )
        ]
        obs.append(msg.nbp_observation(HANDLE_NBP, nbp, stamp))
        return obs

    def _poll_reply(self, message: msg.RemoteOperation, at: float) -> list[bytes]:
        request = msg.Reader(message.body, "poll request")
        request.take(6 + 4)  # managed object, scope
        if request.u16() != msg.NOM_ACT_POLL_MDIB_DATA_EXT:
            self.counters.ignored += 1
            return []
        request.u16()  # length
        poll_number = request.u16()
        request.u16()  # partition
        if request.u16() != msg.NOM_MOC_VMO_METRIC_NU:
            self.counters.ignored += 1
            return []
        self.counters.polls_answered += 1
        obs = self.observations(at)
        now = self.ticks(at)
        if not self.linked_replies:
            return [encode_frame(msg.poll_reply(message.invoke_id, poll_number, now, obs))]
        half = len(obs) // 2
        return [
            encode_frame(
                msg.poll_reply(message.invoke_id, poll_number, now, obs[:half], linked=msg.RORLS_FIRST)
            ),
            encode_frame(
                msg.poll_reply(
                    message.invoke_id, poll_number, now, obs[half:], linked=msg.RORLS_LAST, linked_count=2
                )
            ),
        ]
