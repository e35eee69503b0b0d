"""The monitor's side of an IntelliVue Data Export session, playing a simulated patient.

Used by ``infusion-monitor emulate --protocol philips-intellivue`` and by the tests. It answers an
association request with an accept and an MDS Create Event Report, waits for the host's result,
then answers each Extended Poll for numerics. It speaks like a monitor rather than like the
driver's mirror image:

* the MDS Create Event Report carries the monitor's clock (TIME_ABS in the monitor's own time,
  ``clock_offset_s`` away from UTC as on a monitor set to local time, and TIME_REL) and its
  system type; the MDS Create Event Result is accepted whatever its invoke id (the public host
  VSCaptureMP always answers with 1);
* a poll reply holds every numeric the monitor shows, asked for or not — HR, PVC count, pulse,
  SpO2, perfusion, NBP compound and NBP pulse, respiratory rate (impedance and airway), etCO2,
  temperature — each with its label (0x0924), label string (0x0927), display resolution and
  colour, spread over two poll contexts, optionally split into linked results;
* NBP carries its relative time stamp, its absolute time stamp in the monitor's clock, both or
  neither (``nbp_stamps``), in mmHg or kPa (``nbp_unit``);
* an abort from the host ends the association; while it holds an association the monitor ignores
  a new association request (as a monitor without an inactivity time-out would), and with
  ``inactivity_s`` it drops an association the host leaves silent that long;
* it answers the MDS single poll (keep-alive) with its MDS object and clock;
* its clock can be set while it runs (:meth:`IntelliVueMonitor.step_clock`, or ``clock_step`` seconds
  at ``clock_step_at``), as a time sync from the central station or a nurse does; its relative time
  runs on, and every absolute time it sends from then on, the held NBP's stamp included, is on the
  new clock (whether a real monitor re-stamps a held measurement is not documented; the decoder's
  tests also play one that keeps the old stamp).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from drivers.base import PortSettings
from drivers.emulation.device import HostDrivenDevice
from drivers.intellivue import messages as msg
from drivers.intellivue.decoder import SOURCE_NAME as INTELLIVUE_NAME
from drivers.intellivue.framing import Deframer, FrameError, encode_frame
from drivers.intellivue.values import (
    MMHG_PER_KPA,
    NOM_AWAY_CO2_ET,
    NOM_AWAY_RESP_RATE,
    NOM_DIM_BEAT_PER_MIN,
    NOM_DIM_KILO_PASCAL,
    NOM_DIM_MMHG,
    NOM_DIM_PERCENT,
    NOM_DIM_RESP_PER_MIN,
    NOM_ECG_CARD_BEAT_RATE,
    NOM_PLETH_PULS_RATE,
    NOM_PRESS_BLD_NONINV,
    NOM_PRESS_BLD_NONINV_DIA,
    NOM_PRESS_BLD_NONINV_MEAN,
    NOM_PRESS_BLD_NONINV_PULS_RATE,
    NOM_PRESS_BLD_NONINV_SYS,
    NOM_PULS_OXIM_SAT_O2,
    NOM_RESP_RATE,
    encode_abs_time,
    encode_float,
)
from drivers.patient.model import CUFF_DURATION_S, SimulatedPatient
from drivers.patient.vitals import PatientFeed
from drivers.settings import OFF_WORDS, ON_WORDS, SettingsError, check_known, choice, seconds, switch

log = logging.getLogger(__name__)

STATE_INVALID = 0x8000
STATE_UNAVAILABLE = 0x2000
STATE_DEMO_DATA = 0x0400

HANDLE_HR = 0x0101
HANDLE_PR = 0x0102
HANDLE_SPO2 = 0x0103
HANDLE_NBP = 0x0104
HANDLE_PVC = 0x0105
HANDLE_PERF = 0x0106
HANDLE_NBP_PULSE = 0x0107
HANDLE_RR = 0x0108
HANDLE_AWRR = 0x0109
HANDLE_ETCO2 = 0x010A
HANDLE_TEMP = 0x010B

# Ids and units the monitor shows beyond what the host records (VSCaptureMP's tables).
NOM_ECG_V_P_C_CNT = 0x4261
NOM_PULS_OXIM_PERF_REL = 0x4BB0
NOM_TEMP = 0x4B48
NOM_DIM_DEGC = 0x17A0
NOM_DIM_DIMLESS = 0x0200

NBP_STAMPS = ("rel", "abs", "both", "none")


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
    keep_alives_answered: int = 0
    frames_rejected: int = 0
    releases: int = 0
    aborts: int = 0
    refused_while_held: int = 0
    timed_out: int = 0
    ignored: int = 0
    clock_steps: int = 0


def _label_string(text: str) -> bytes:
    """A String attribute value: length, then the text as UTF-16 big-endian."""
    data = text.encode("utf-16-be")
    return msg.u16(len(data)) + data


def _display(handle: int, physio: int, label: str, colour: int) -> tuple[bytes, ...]:
    return (
        msg.attribute(msg.NOM_ATTR_ID_LABEL, msg.u32(0x00020000 | physio)),
        msg.attribute(msg.NOM_ATTR_ID_LABEL_STRING, _label_string(label)),
        msg.attribute(msg.NOM_ATTR_DISP_RES, bytes([0x00, 0x00])),
        msg.attribute(msg.NOM_ATTR_COLOR, msg.u16(colour)),
        msg.attribute(msg.NOM_ATTR_ID_HANDLE, msg.u16(handle)),
    )


@dataclass
class IntelliVueMonitor:
    """Pure monitor-side state machine: :meth:`receive` bytes from the host, get the answer bytes."""

    feed: PatientFeed
    demo: bool = False
    #: Split each poll reply into two linked results (first/last), as a monitor does for long replies.
    linked_replies: bool = False
    #: Which time stamps the NBP carries: "rel" (0x0991), "abs" (0x0990), "both" or "none".
    nbp_stamps: str = "rel"
    #: NBP unit: mmHg, or kPa as on a monitor set so.
    nbp_kpa: bool = False
    clock_origin: float = 0.0
    #: The monitor's clock minus UTC (s): a monitor set to local time in UTC+1 is 3600 ahead.
    clock_offset_s: float = 3600.0
    #: Drop an association the host leaves without any message this long (None: never).
    inactivity_s: float | None = None
    #: Set the clock this many seconds once ``clock_step_at`` (emulator time) has come (None: never).
    clock_step_s: float = 0.0
    clock_step_at: float | None = None
    counters: EmulatorCounters = field(default_factory=EmulatorCounters)

    def __post_init__(self) -> None:
        if self.nbp_stamps not in NBP_STAMPS:
            raise ValueError(f"nbp_stamps must be one of {', '.join(NBP_STAMPS)}")
        self.state = MonitorState.IDLE
        self._deframer = Deframer()
        self._invoke = 0
        self._last_heard = 0.0

    def ticks(self, at: float) -> int:
        """The monitor's RelativeTime at ``at`` (1/8 ms since it was switched on)."""
        return int((at - self.clock_origin) * msg.TICKS_PER_SECOND) & 0xFFFFFFFF

    def clock(self, at: float) -> bytes:
        """The monitor's AbsoluteTime at ``at`` (its own clock, BCD)."""
        return encode_abs_time(at + self.clock_offset_s)

    def step_clock(self, by_s: float) -> None:
        """Set the monitor's clock ``by_s`` seconds (a time sync, or a nurse correcting it); relative time runs on."""
        self.clock_offset_s += by_s
        self.counters.clock_steps += 1
        log.info("emulated IntelliVue clock set %+g s", by_s)

    def reset(self) -> None:
        """Forget a partial frame (the cable was pulled); the association is kept, as a monitor does."""
        self._deframer.reset()

    def receive(self, data: bytes, at: float) -> bytes:
        """Bytes from the host in, the monitor's answers out."""
        self._check_inactivity(at)
        if self.clock_step_at is not None and at >= self.clock_step_at:
            self.clock_step_at = None
            self.step_clock(self.clock_step_s)
        out: list[bytes] = []
        for message in msg.read_messages(self._deframer, data, self._reject):
            self._last_heard = at
            try:
                out.extend(self._answer(message, at))
            except (FrameError, msg.MessageError) as exc:
                self._reject(str(exc))
        return b"".join(out)

    def _check_inactivity(self, at: float) -> None:
        if (
            self.inactivity_s is not None
            and self.state is not MonitorState.IDLE
            and at - self._last_heard > self.inactivity_s
        ):
            self.counters.timed_out += 1
            self.state = MonitorState.IDLE

    def _reject(self, reason: str) -> None:
        log.debug("emulated IntelliVue rejected a frame: %s", reason)
        self.counters.frames_rejected += 1

    def transmit(self, at: float) -> bytes:
        """Unsolicited bytes (none: a Data Export monitor only answers)."""
        return b""

    def _mds_attributes(self, at: float) -> list[bytes]:
        return [
            msg.attribute(msg.NOM_ATTR_SYS_TYPE, msg.u16(msg.NOM_PART_OBJ) + msg.u16(0x1000)),
            msg.attribute(msg.NOM_ATTR_TIME_ABS, self.clock(at)),
            msg.attribute(msg.NOM_ATTR_TIME_REL, msg.u32(self.ticks(at))),
        ]

    def _answer(self, message: msg.SessionMessage | msg.RemoteOperation, at: float) -> list[bytes]:
        if isinstance(message, msg.SessionMessage):
            return self._session(message.spdu, at)
        if message.ro_type == msg.RORS_APDU and message.command == msg.CMD_CONFIRMED_EVENT_REPORT:
            # Any invoke id: a public host always answers the MDS Create Event Report with 1.
            if self.state is MonitorState.AWAITING_RESULT:
                self.state = MonitorState.ASSOCIATED
            return []
        if message.ro_type == msg.ROIV_APDU and message.command == msg.CMD_CONFIRMED_ACTION:
            if self.state is not MonitorState.ASSOCIATED:
                self.counters.ignored += 1
                return []
            return self._poll_reply(message, at)
        self.counters.ignored += 1
        return []

    def _session(self, spdu: int, at: float) -> list[bytes]:
        if spdu == msg.SPDU_ASSOC_REQUEST:
            if self.state is not MonitorState.IDLE:
                # Still holding the previous association: the new request goes unanswered.
                self.counters.refused_while_held += 1
                return []
            self.counters.associations += 1
            self._invoke = (self._invoke + 1) & 0xFFFF
            self.state = MonitorState.AWAITING_RESULT
            report = msg.mds_create_event_report(self._invoke, self.ticks(at), attrs=self._mds_attributes(at))
            return [encode_frame(msg.association_result()), encode_frame(report)]
        if spdu == msg.SPDU_RELEASE_REQUEST:
            self.counters.releases += 1
            self.state = MonitorState.IDLE
            return [encode_frame(msg.RELEASE_RESPONSE)]
        if spdu == msg.SPDU_ABORT:
            self.counters.aborts += 1
            self.state = MonitorState.IDLE
            return []
        self.counters.ignored += 1
        return []

    def _state(self, base: int = 0) -> int:
        return base | (STATE_DEMO_DATA if self.demo else 0)

    def _single(
        self, handle: int, physio: int, unit: int, value: float | None, state: int, label: str, *,
        rel: int | None, decimals: int = 0, colour: int = 1,
    ) -> msg.Observation:
        numeric = msg.NumericValue(physio, state, unit, encode_float(value, decimals))
        return msg.Observation(
            handle, (numeric,), rel_time=rel, type_code=physio, extra=_display(handle, physio, label, colour)
        )

    def observations(self, at: float) -> list[msg.Observation]:
        """What a numerics poll returns at ``at``, in the order a monitor lists them."""
        vitals = self.feed.vitals(at)
        now = self.ticks(vitals.t)
        spo2_state = self._state(STATE_UNAVAILABLE if vitals.probe_off else 0)
        # Breathing follows a slow, bounded rhythm (the patient model has no respiration).
        phase = math.sin((vitals.t - self.feed.start) / 240.0)
        rr = round(14 + 2 * phase)
        etco2 = round(38 + 3 * phase)
        obs = [
            self._single(HANDLE_HR, NOM_ECG_CARD_BEAT_RATE, NOM_DIM_BEAT_PER_MIN, vitals.hr, self._state(), "HR",
                         rel=now, colour=2),
            self._single(HANDLE_PVC, NOM_ECG_V_P_C_CNT, NOM_DIM_BEAT_PER_MIN, 0, self._state(), "PVC", rel=now,
                         colour=2),
            self._single(HANDLE_PR, NOM_PLETH_PULS_RATE, NOM_DIM_BEAT_PER_MIN, vitals.pr, spo2_state, "Pulse",
                         rel=now, colour=3),
            self._single(HANDLE_SPO2, NOM_PULS_OXIM_SAT_O2, NOM_DIM_PERCENT, vitals.spo2, spo2_state, "SpO2",
                         rel=now, colour=3),
            self._single(HANDLE_PERF, NOM_PULS_OXIM_PERF_REL, NOM_DIM_DIMLESS, None if vitals.probe_off else 2.4,
                         spo2_state, "Perf", rel=now, decimals=1, colour=3),
        ]
        nbp, nbp_pulse = self._nbp(at)
        breathing = [
            self._single(HANDLE_RR, NOM_RESP_RATE, NOM_DIM_RESP_PER_MIN, rr, self._state(), "RESP", rel=now,
                         colour=4),
            self._single(HANDLE_AWRR, NOM_AWAY_RESP_RATE, NOM_DIM_RESP_PER_MIN, rr, self._state(), "awRR",
                         rel=now, colour=5),
            self._single(HANDLE_ETCO2, NOM_AWAY_CO2_ET, NOM_DIM_MMHG, etco2, self._state(), "etCO2",
                         rel=now, colour=5),
            self._single(HANDLE_TEMP, NOM_TEMP, NOM_DIM_DEGC, 36.8, self._state(), "Temp", rel=now, decimals=1,
                         colour=6),
        ]
        return [*obs, nbp, nbp_pulse, *breathing]

    def _nbp(self, at: float) -> tuple[msg.Observation, msg.Observation]:
        cuff = self.feed.last_cuff(at)
        unit = NOM_DIM_KILO_PASCAL if self.nbp_kpa else NOM_DIM_MMHG
        decimals = 1 if self.nbp_kpa else 0
        values: list[tuple[float | None, int]]
        rel: int | None = None
        stamp: bytes | None = None
        if cuff is None:
            values = [(None, STATE_UNAVAILABLE)] * 3
        else:
            bad = STATE_INVALID if cuff.failed else 0
            values = [(cuff.sys, bad), (cuff.dia, bad), (cuff.mean, bad)]
            if self.nbp_stamps in ("rel", "both"):
                rel = self.ticks(cuff.t)
            if self.nbp_stamps in ("abs", "both"):
                stamp = self.clock(cuff.t)
        numerics = [
            msg.NumericValue(
                code,
                self._state(state),
                unit,
                encode_float(None if value is None else (value / MMHG_PER_KPA if self.nbp_kpa else value), decimals),
            )
            for code, (value, state) in zip(
                (NOM_PRESS_BLD_NONINV_SYS, NOM_PRESS_BLD_NONINV_DIA, NOM_PRESS_BLD_NONINV_MEAN),
                values,
                strict=True,
            )
        ]
        nbp = msg.Observation(
            HANDLE_NBP, tuple(numerics), compound=True, rel_time=rel, abs_time=stamp,
            type_code=NOM_PRESS_BLD_NONINV,
            extra=_display(HANDLE_NBP, NOM_PRESS_BLD_NONINV, "NBP", 7),
        )
        hr = self.feed.vitals(at).hr
        pulse_state = self._state(STATE_UNAVAILABLE if cuff is None or cuff.failed else 0)
        pulse = self._single(HANDLE_NBP_PULSE, NOM_PRESS_BLD_NONINV_PULS_RATE, NOM_DIM_BEAT_PER_MIN,
                             None if cuff is None else hr, pulse_state, "Pulse (NBP)", rel=rel, colour=7)
        return nbp, pulse

    def _poll_reply(self, message: msg.RemoteOperation, at: float) -> list[bytes]:
        request = msg.Reader(message.body, "poll request")
        request.take(6 + 4)  # managed object, scope
        action = request.u16()
        request.u16()  # length
        poll_number = request.u16()
        request.u16()  # partition
        obj_code = request.u16()
        now = self.ticks(at)
        if action == msg.NOM_ACT_POLL_MDIB_DATA and obj_code == msg.NOM_MOC_VMS_MDS:
            self.counters.keep_alives_answered += 1
            mds = msg.Observation(0, (), clock_abs=self.clock(at), clock_rel=now)
            reply = msg.poll_reply(message.invoke_id, poll_number, now, [mds], abs_time=self.clock(at),
                                   obj_code=msg.NOM_MOC_VMS_MDS, action=msg.NOM_ACT_POLL_MDIB_DATA)
            return [encode_frame(reply)]
        if action != msg.NOM_ACT_POLL_MDIB_DATA_EXT or obj_code != msg.NOM_MOC_VMO_METRIC_NU:
            self.counters.ignored += 1
            return []
        self.counters.polls_answered += 1
        obs = self.observations(at)
        clock = self.clock(at)
        split = 5  # first context: ECG and SpO2; second: NBP, respiration, temperature
        if not self.linked_replies:
            return [encode_frame(msg.poll_reply(message.invoke_id, poll_number, now, (), abs_time=clock,
                                                contexts=[obs[:split], obs[split:]]))]
        return [
            encode_frame(msg.poll_reply(message.invoke_id, poll_number, now, obs[:split], abs_time=clock,
                                        linked=msg.RORLS_FIRST)),
            encode_frame(msg.poll_reply(message.invoke_id, poll_number, now, obs[split:], abs_time=clock,
                                        linked=msg.RORLS_LAST, linked_count=2)),
        ]


# -- the device played by `infusion-monitor emulate --protocol philips-intellivue` --

#: The emulated IntelliVue has been switched on this long before the patient's session starts.
MONITOR_UPTIME_S = 3600.0


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    return seconds(settings, name, default, 0, 24 * 3600)


def _stamps(text: str) -> str:
    value = text.strip().lower()
    # An on/off word means relative stamps (the monitor's default) or none.
    value = "rel" if value in ON_WORDS else "none" if value in OFF_WORDS else value
    if value not in NBP_STAMPS:
        raise SettingsError(f"setting time_stamps='{text}' must be one of rel, abs, both, off")
    return value


class IntelliVueDevice(HostDrivenDevice):
    """An IntelliVue MP monitor's MIB/RS232 Data Export port, with the monitor's own NBP cycle."""

    monitor: IntelliVueMonitor
    protocol = INTELLIVUE_NAME
    port_settings = PortSettings(baudrate=115200)

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        s = self.settings
        check_known(
            s,
            {"nbp_every", "cuff_s", "demo", "linked", "time_stamps", "nbp_unit", "clock_offset", "inactivity_s",
             "clock_step", "clock_step_at"},
            self.protocol,
        )
        self.nbp_every = _seconds(s, "nbp_every", 300.0)
        self.feed = PatientFeed(
            patient=patient,
            cuff_duration_s=_seconds(s, "cuff_s", CUFF_DURATION_S),
            auto_cuff_every_s=self.nbp_every,
            cuff_at_start=True,
            source=self.protocol,
        )
        self.monitor = IntelliVueMonitor(
            self.feed,
            demo=switch(s, "demo", False),
            linked_replies=switch(s, "linked", False),
            nbp_stamps=_stamps(s.get("time_stamps", "rel")),
            nbp_kpa=choice(s, "nbp_unit", ("mmhg", "kpa"), "mmhg") == "kpa",
            clock_origin=patient.start - MONITOR_UPTIME_S,
            clock_offset_s=seconds(s, "clock_offset", 3600.0, -24 * 3600.0, 24 * 3600.0),
            inactivity_s=_seconds(s, "inactivity_s", 0.0) if "inactivity_s" in s else None,
            clock_step_s=seconds(s, "clock_step", 0.0, -24 * 3600.0, 24 * 3600.0),
            # Seconds after the patient's session starts (60 s unless given).
            clock_step_at=patient.start + _seconds(s, "clock_step_at", 60.0) if "clock_step" in s else None,
        )


    def describe(self) -> str:
        """Protocol and the cuff cycle."""
        demo = ", DEMO data" if self.monitor.demo else ""
        return f"{self.protocol} (NBP every {self.nbp_every:g} s{demo})"
