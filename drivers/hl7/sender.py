"""An emulated monitor that pushes HL7 v2 ORU^R01 over MLLP, and checks every acknowledgment.

Used by ``infusion-monitor emulate --protocol hl7-mllp --port HOST:PORT`` and the tests. Each message
is in the IHE PCD-01 shape (MSH, PID, PV1, OBR, one OBX per value) and carries the simulated
patient's HR, pulse and SpO2, plus the newest cuff measurement (with its own OBX-14 time) until
the listener has acknowledged it. Codes are MDC (NONINV or CUFF family for NIBP), Philips MDIL in an
IntelliVue gateway's shape (``family=mdil``), or LOINC with the
MDC code as the alternate identifier, to exercise both ways a listener must read them.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TextIO

from drivers.core.codes import CODES, CUFF_CODES, MDC_RESP_PER_MIN, MDC_UNITS
from drivers.core.readings import NIBP_PARAMETERS, Parameter
from drivers.emulation.device import EmulationRequest, EmulatorError
from drivers.hl7.v2 import AckUnreadable, hl7_time, read_ack
from drivers.patient.vitals import CuffResult, PatientFeed, Vitals
from drivers.settings import check_known, choice, seconds
from drivers.transport.mllp import MllpClient, ReceiverClosed, parse_address

log = logging.getLogger(__name__)

PROFILE: Final = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
FAMILIES: Final = ("noninv", "cuff", "loinc", "mdil")



def _mdc(code: tuple[str, str]) -> str:
    return f"{code[0]}^{code[1]}^MDC"


_BPM = _mdc(MDC_UNITS["/min"])
_PERCENT = _mdc(MDC_UNITS["%"])
_MMHG = _mdc(MDC_UNITS["mm[Hg]"])

_NIBP_CODES: Final = {
    "noninv": tuple(CODES[p].mdc_identifier() for p in NIBP_PARAMETERS),
    "cuff": tuple(_mdc(CUFF_CODES[p]) for p in NIBP_PARAMETERS),
    "loinc": tuple(CODES[p].loinc_identifier() for p in NIBP_PARAMETERS),
}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def oru_message(
    control_id: str,
    at: float,
    vitals: Vitals | None,
    cuff: CuffResult | None,
    family: str = "noninv",
    *,
    enhanced: bool = False,
    patient_id: str = "SIM0001",
) -> str:
    """One ORU^R01 (segments joined by CR) with the given numerics and cuff result.

    Original acknowledgment mode (MSH-15/16 empty), as most gateways send, unless ``enhanced``:
    then MSH-15=AL, MSH-16=NE (a commit ACK only).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown code family '{family}'; choose from {', '.join(FAMILIES)}")
    if family == "mdil":
        return _mdil_message(control_id, at, vitals, cuff, enhanced=enhanced, patient_id=patient_id)
    obx: list[str] = []

    def add(code: str, value: float | None, unit: str, t: float) -> None:
        status = "R" if value is not None else "X"
        obx.append(f"OBX|{len(obx) + 1}|NM|{code}||{_number(value)}|{unit}|||||{status}|||{hl7_time(t)}")

    if vitals is not None:
        hr, spo2 = CODES[Parameter.HR], CODES[Parameter.SPO2]
        hr_code = hr.loinc_identifier() if family == "loinc" else hr.mdc_identifier()
        spo2_code = spo2.loinc_identifier() if family == "loinc" else spo2.mdc_identifier()
        add(hr_code, vitals.hr, _BPM, vitals.t)
        add(spo2_code, vitals.spo2, _PERCENT, vitals.t)
        add(CODES[Parameter.PR].mdc_identifier(), vitals.pr, _BPM, vitals.t)
        if vitals.rr is not None:
            add(CODES[Parameter.RR].mdc_identifier(), vitals.rr, _mdc(MDC_RESP_PER_MIN), vitals.t)
        if vitals.etco2 is not None:
            add(CODES[Parameter.ETCO2].mdc_identifier(), vitals.etco2, _MMHG, vitals.t)
    if cuff is not None:
        for code, value in zip(_NIBP_CODES[family], (cuff.sys, cuff.dia, cuff.mean), strict=True):
            add(code, value, _MMHG, cuff.t)
    segments = [
        f"MSH|^~\\&|SIM-MONITOR|CHAIR1|INFUSION-MONITOR|CLINIC|{hl7_time(at)}||ORU^R01^ORU_R01|{control_id}|P|2.6"
        f"|||{'AL|NE' if enhanced else '|'}||UNICODE UTF-8|||{PROFILE}",
        f"PID|||{patient_id}^^^SIM^MR||Simulated^Patient",
        "PV1||O|CHAIR1",
        f"OBR|1|{control_id}^SIM||182777000^monitoring of patient^SCT|||{hl7_time(at)}",
        *obx,
    ]
    return "\r".join(segments) + "\r"


#: Philips MDIL codes (partition-code in hex) and units, as IntelliVue gateways send them.
_MDIL_BPM = "0004-0aa0^bpm^MDIL"
_MDIL_PERCENT = "0004-0220^%^MDIL"
_MDIL_MMHG = "0004-0f20^mmHg^MDIL"
_MDIL_RPM = "0004-0ae0^rpm^MDIL"


def _mdil_message(
    control_id: str, at: float, vitals: Vitals | None, cuff: CuffResult | None, *, enhanced: bool, patient_id: str
) -> str:
    """The shape of an IntelliVue gateway's message: MDIL codes, numerics in one OBR group stamped by its
    OBR-7, the cuff result in a group of its own whose OBR-7 is the measurement time; no OBX-14."""
    segments = [
        f"MSH|^~\\&|SIM-PIIC^0009FB0000000001^EUI-64|PHILIPS|||{hl7_time(at)}||ORU^R01^ORU_R01|{control_id}|P|2.6"
        f"|||{'AL|NE' if enhanced else '|'}||8859/1|||{PROFILE}",
        f"PID|||{patient_id}^^^SIM^MR||Simulated^Patient",
        "PV1||I|CHAIR1",
    ]
    count = 0

    def add(code: str, value: float | None, unit: str) -> None:
        nonlocal count
        count += 1
        segments.append(f"OBX|{count}|NM|{code}||{_number(value)}|{unit}|||||{'R' if value is not None else 'X'}")

    if vitals is not None:
        segments.append(f"OBR|1|{control_id}^SIM||182777000^monitoring of patient^SCT|||{hl7_time(vitals.t)}")
        add("0002-4182^HR^MDIL", vitals.hr, _MDIL_BPM)
        add("0002-4bb8^SpO2^MDIL", vitals.spo2, _MDIL_PERCENT)
        add("0002-4822^Pulse^MDIL", vitals.pr, _MDIL_BPM)
        if vitals.rr is not None:
            add("0002-500a^RR^MDIL", vitals.rr, _MDIL_RPM)
        if vitals.etco2 is not None:
            add("0002-509c^etCO2^MDIL", vitals.etco2, _MDIL_MMHG)
    if cuff is not None:
        segments.append(f"OBR|2|{control_id}^SIM||182777000^monitoring of patient^SCT|||{hl7_time(cuff.t)}")
        for code, value in zip(("0002-4a05^NBPs^MDIL", "0002-4a06^NBPd^MDIL", "0002-4a07^NBPm^MDIL"),
                               (cuff.sys, cuff.dia, cuff.mean), strict=True):
            add(code, value, _MDIL_MMHG)
    return "\r".join(segments) + "\r"


class AckError(Exception):
    """No acknowledgment, or one that does not answer the message sent."""


@dataclass
class SenderCounters:
    """What the emulated sender has seen."""

    sent: int = 0
    accepted: int = 0
    not_accepted: int = 0
    round_trips_s: list[float] = field(default_factory=list)


@dataclass
class Hl7Sender:
    """Connects to a listener and sends one message per :meth:`send_due` interval."""

    feed: PatientFeed
    host: str
    port: int
    interval_s: float = 5.0
    family: str = "noninv"
    timeout_s: float = 5.0
    counters: SenderCounters = field(default_factory=SenderCounters)

    def __post_init__(self) -> None:
        timeout = self.timeout_s
        self._client = MllpClient(self.host, self.port, connect_timeout_s=timeout, answer_timeout_s=timeout)
        self._next_send: float | None = None
        self._cuff_acked: int = 0

    def connect(self) -> None:
        """Open the TCP connection (raises OSError when nobody listens)."""
        self._client.connect()

    def close(self) -> None:
        """Close the connection; idempotent."""
        self._client.close()

    def send(self, message: str, control_id: str) -> str:
        """Send one message, wait for its ACK and return its code (AA, AE, AR; CA, CE, CR in enhanced mode)."""
        started = time.perf_counter()
        self._client.send(message)
        self.counters.sent += 1
        try:
            answer = self._client.answer()
        except TimeoutError:
            raise AckError(f"no acknowledgment for {control_id} within {self.timeout_s:g} s") from None
        except ReceiverClosed:
            raise AckError("the listener closed the connection") from None
        self.counters.round_trips_s.append(time.perf_counter() - started)
        try:
            ack = read_ack(answer)
        except AckUnreadable as exc:
            raise AckError(str(exc)) from None
        code = ack.code
        if ack.answered != control_id:
            raise AckError(f"acknowledgment answers {ack.answered!r}, not {control_id!r}")
        if code in ("AA", "CA"):
            self.counters.accepted += 1
        else:
            self.counters.not_accepted += 1
            log.warning("listener answered %s to %s: %s", code, control_id, ack.text)
        return code

    def send_due(self, at: float) -> str | None:
        """Send the current values when the interval has passed; the ACK code, or None when not due."""
        if self._next_send is not None and at < self._next_send:
            return None
        self._next_send = at + self.interval_s
        vitals = self.feed.vitals(at)
        cuff = self.feed.last_cuff(at)
        if cuff is not None and cuff.number <= self._cuff_acked:
            cuff = None  # already delivered
        control_id = f"SIM{self.counters.sent + 1:06d}"
        code = self.send(oru_message(control_id, at, vitals, cuff, self.family), control_id)
        if code in ("AA", "CA") and cuff is not None:
            self._cuff_acked = cuff.number
        return code


@dataclass(frozen=True, slots=True)
class SenderOptions:
    """What ``emulate --protocol hl7-mllp --set ...`` may change."""

    interval_s: float = 5.0
    family: str = "noninv"
    nbp_every_s: float = 300.0
    cuff_s: float = 35.0

    @classmethod
    def from_mapping(cls, settings: dict[str, str]) -> SenderOptions:
        """Checked settings; a bad one raises ValueError naming it."""
        check_known(settings, ("interval", "family", "nbp_every", "cuff_s"), "hl7-mllp")
        values = {name: seconds(settings, name, default, 0, 24 * 3600)
                  for name, default in (("interval", 5.0), ("nbp_every", 300.0), ("cuff_s", 35.0))}
        family = choice(settings, "family", FAMILIES, "noninv")
        return cls(values["interval"], family, values["nbp_every"], values["cuff_s"])


@dataclass
class SenderRun:
    """The outcome of :func:`run_sender`."""

    counters: SenderCounters
    connection_failures: int = 0
    last_error: str = ""


def run_sender(
    sender: Hl7Sender,
    duration_s: float | None,
    stop: threading.Event,
    *,
    retry_s: float = 1.0,
    monotonic: Callable[[], float] = time.monotonic,
    clock: Callable[[], float] = time.time,
) -> SenderRun:
    """Send on the sender's interval until ``duration_s`` passes or ``stop`` is set; reconnect on failure.

    Runs in real time: observation times are the wall clock, as on a real monitor.
    """
    run = SenderRun(sender.counters)
    wall0 = monotonic()
    try:
        while not stop.is_set():
            if duration_s is not None and monotonic() - wall0 >= duration_s:
                break
            try:
                sender.send_due(clock())
            except (OSError, AckError) as exc:
                # A listener not yet started, restarted, or gone: a monitor keeps trying.
                run.connection_failures += 1
                run.last_error = str(exc)
                log.info("HL7 sender: %s; retrying in %g s", exc, retry_s)
                sender.close()
                stop.wait(retry_s)
                continue
            stop.wait(0.02)
    finally:
        sender.close()
    return run


def emulate_sender(request: EmulationRequest, out: TextIO, stop: threading.Event) -> None:
    """Act as a monitor pushing ORU^R01 over MLLP to a listener at ``request.port`` (HOST:PORT)."""
    if request.speed != 1.0:
        raise EmulatorError("hl7-mllp emulation runs in real time (its observation times are the clock); "
                            "leave out --speed")
    try:
        host, port = parse_address(request.port)
        options = SenderOptions.from_mapping(dict(request.settings))
        feed = PatientFeed(scenario=request.scenario, seed=request.seed, start=time.time(), source="hl7-mllp",
                           auto_cuff_every_s=options.nbp_every_s, cuff_duration_s=options.cuff_s,
                           cuff_at_start=True)
    except ValueError as exc:
        raise EmulatorError(str(exc)) from None
    sender = Hl7Sender(feed, host, port, interval_s=options.interval_s, family=options.family)
    out.write(f"sending ORU^R01 every {options.interval_s:g} s to {host}:{port} (MLLP), NIBP every "
              f"{options.nbp_every_s:g} s, {options.family} codes, scenario {request.scenario}\n")
    out.flush()
    run = run_sender(sender, request.duration_s, stop)
    c = run.counters
    rtt = ""
    if c.round_trips_s:
        rtt = f", ACK round trip median {statistics.median(c.round_trips_s) * 1000:.2f} ms"
    out.write(f"sent {c.sent} messages: {c.accepted} accepted (AA), {c.not_accepted} not accepted{rtt}\n")
    if run.connection_failures:
        out.write(f"{run.connection_failures} connection attempts failed (last: {run.last_error})\n")
