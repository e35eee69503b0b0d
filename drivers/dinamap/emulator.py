"""The monitor's side of DINAMAP host communications, playing a simulated patient.

Used by ``infusion-monitor emulate --protocol ge-dinamap`` and the tests. It answers the commands of
:mod:`drivers.dinamap.codec` in the reply layouts the manual gives (as quoted by an independent V100 host):

* ``NA``: ``" NA"`` + status (0 busy while the cuff is inflated, 1 done, 3 failed) + patient
  type ``1`` (adult) + mode ``0`` (normal) + seconds since the last determination (``9999`` when
  there is none or it is older than 5400 s) + systolic, diastolic, mean in three digits;
* ``OA``: status (1 valid, 3 sensor off, 6 unplugged) + SpO2 + signal strength + averaging
  interval; like a real channel it leaves the last number in the value field when the status is
  not 1, so a host that reads the field without the status stores a stale value;
* ``RA`` (``v100``) / ``RC`` (``pro``): rate source (2 oximeter, 3 NIBP) + rate, ``-99`` for none.

Each reply ends with a checksum computed like a command's (whether a real monitor appends one is
not public; the driver checks it only when told to) and CR. A command with a wrong checksum or
an unknown code gets no reply; empty lines (hosts that send CR before each command) are ignored.
``held`` plays a monitor still holding the previous patient's result from that long ago.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from drivers.dinamap.codec import (
    CANCEL_NIBP,
    COUNTER_MAX,
    COUNTER_NONE,
    MODEL_PRO,
    MODEL_V100,
    MODELS,
    PORT_SETTINGS,
    READ_NIBP,
    READ_RATE_PRO,
    READ_RATE_V100,
    READ_SPO2,
    START_NIBP,
    checksum,
)
from drivers.dinamap.codec import (
    SOURCE_NAME as DINAMAP_NAME,
)
from drivers.emulation.device import HostDrivenDevice
from drivers.patient.model import CUFF_DURATION_S, SimulatedPatient
from drivers.patient.vitals import CuffResult, PatientFeed
from drivers.settings import check_known, choice, seconds, switch

STATUS_ERROR = 3
SPO2_STANDBY = 0
SPO2_SENSOR_OFF = 3


@dataclass
class DinamapCounters:
    """What the emulated monitor has seen."""

    commands: int = 0
    rejected: int = 0
    determinations_started: int = 0


@dataclass
class DinamapMonitor:
    """Pure device-side state machine: :meth:`receive` command bytes, get reply bytes."""

    feed: PatientFeed
    #: ``pro`` answers RC, ``v100`` answers RA (each model answers only its own rate command).
    model: str = MODEL_PRO
    #: Whether the monitor has an SpO2 module (without one, OA answers standby).
    spo2: bool = True
    #: A result from before the host connected (the previous patient's), or None.
    held: CuffResult | None = None
    counters: DinamapCounters = field(default_factory=DinamapCounters)

    def __post_init__(self) -> None:
        self._line = bytearray()
        self._last_spo2 = 0

    def reset(self) -> None:
        """Forget a partial command."""
        self._line.clear()

    def receive(self, data: bytes, at: float) -> bytes:
        """Command bytes in, replies out."""
        out = bytearray()
        for byte in data:
            if byte not in (0x0D, 0x0A):
                if len(self._line) < 80:
                    self._line.append(byte)
                continue
            text = self._line.decode("ascii", "replace")
            self._line.clear()
            if not text:
                continue
            reply = self._answer(text, at)
            if reply is None:
                self.counters.rejected += 1
            else:
                out += (reply + checksum(reply)).encode("ascii") + b"\r"
        return bytes(out)

    def transmit(self, at: float) -> bytes:
        """Unsolicited bytes (none: the monitor only answers)."""
        return b""

    def _answer(self, text: str, at: float) -> str | None:
        if len(text) < 3 or checksum(text[:-2]) != text[-2:]:
            return None
        code = text[:-2]
        self.counters.commands += 1
        if code == START_NIBP:
            if self.feed.start_cuff(at):
                self.counters.determinations_started += 1
            return START_NIBP
        if code == CANCEL_NIBP:
            return CANCEL_NIBP
        if code == READ_NIBP:
            return self._nibp_status(at)
        if code == READ_SPO2:
            return self._spo2(at)
        rate_command = READ_RATE_V100 if self.model == MODEL_V100 else READ_RATE_PRO
        if code == rate_command:
            return self._rate(code, at)
        return None

    def _spo2(self, at: float) -> str:
        vitals = self.feed.vitals(at)
        if not self.spo2:
            status = SPO2_STANDBY
        elif vitals.probe_off or vitals.spo2 is None:
            status = SPO2_SENSOR_OFF
        else:
            status = 1
            self._last_spo2 = round(vitals.spo2)
        return f"{READ_SPO2}{status}{self._last_spo2:03d}508"

    def _rate(self, code: str, at: float) -> str:
        vitals = self.feed.vitals(at)
        if self.spo2 and not vitals.probe_off and vitals.pr is not None:
            return f"{code}2{round(vitals.pr):03d}"
        cuff = self.feed.last_cuff(at)
        if cuff is None or cuff.failed or vitals.hr is None:
            return f"{code}3-99"
        return f"{code}3{round(vitals.hr):03d}"  # the cuff's pulse, as the rate without an oximeter

    def _nibp_status(self, at: float) -> str:
        if self.feed.cuff_running(at):
            previous = self._result(at)
            return f"{READ_NIBP}010{self._counter(previous, at)}000000000"
        cuff = self._result(at)
        counter = self._counter(cuff, at)
        if cuff is None or counter == f"{COUNTER_NONE:04d}":
            return f"{READ_NIBP}110{COUNTER_NONE:04d}000000000"
        if cuff.failed:
            return f"{READ_NIBP}{STATUS_ERROR}10{counter}000000000"
        return f"{READ_NIBP}110{counter}{_three(cuff.sys)}{_three(cuff.dia)}{_three(cuff.mean)}"

    def _result(self, at: float) -> CuffResult | None:
        return self.feed.last_cuff(at) or self.held

    @staticmethod
    def _counter(cuff: CuffResult | None, at: float) -> str:
        if cuff is None:
            return f"{COUNTER_NONE:04d}"
        age = int(at - cuff.t)
        return f"{COUNTER_NONE if age > COUNTER_MAX else max(age, 0):04d}"


def _three(value: float | None) -> str:
    return f"{0 if value is None else round(value):03d}"


def _seconds(settings: Mapping[str, str], name: str, default: float) -> float:
    return seconds(settings, name, default, 0, 24 * 3600)


class DinamapDevice(HostDrivenDevice):
    """A DINAMAP answering host commands; the cuff measures when the host starts it."""

    monitor: DinamapMonitor
    protocol = DINAMAP_NAME
    port_settings = PORT_SETTINGS
    reader_settings = ("model", "spo2")

    def __init__(self, patient: SimulatedPatient, settings: Mapping[str, str] | None = None) -> None:
        super().__init__(patient, settings)
        s = self.settings
        check_known(s, {"cuff_s", "model", "spo2", "held_s"}, self.protocol)
        self.feed = PatientFeed(
            patient=patient, cuff_duration_s=_seconds(s, "cuff_s", CUFF_DURATION_S), source=self.protocol
        )
        model = choice(s, "model", MODELS, MODEL_PRO)
        held_s = s.get("held_s")
        held = None
        if held_s is not None:
            # The previous patient's last result: plausible numbers the new session must not take.
            held = CuffResult(patient.start - _seconds(s, "held_s", 0.0), 142.0, 91.0, 108.0, number=0)
        self.monitor = DinamapMonitor(self.feed, model=model, spo2=switch(s, "spo2", True), held=held)
