"""The monitor's side of DINAMAP host communications, playing a simulated patient.

Used by ``infusion-monitor emulate --protocol ge-dinamap`` and the tests. It answers the commands of
:mod:`drivers.dinamap` with replies in the (unconfirmed) layout that driver reads, each followed by a
checksum computed like a command's: ``" NA"`` + status + two spaces + a four-digit counter (the
determination number) + systolic, diastolic and mean in three digits; ``" RC "`` + pulse rate in
three digits. A command with a wrong checksum or an unknown code gets no reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.dinamap import CANCEL_NIBP, READ_HR, READ_NIBP, START_NIBP, checksum
from drivers.patient_feed import PatientFeed

STATUS_ERROR = 3


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
    #: The command that reads SpO2 on this emulated model (None: no SpO2 module).
    spo2_command: str | None = None
    counters: DinamapCounters = field(default_factory=DinamapCounters)

    def __post_init__(self) -> None:
        self._line = bytearray()

    def reset(self) -> None:
        """Forget a partial command."""
        self._line.clear()

    def receive(self, data: bytes, at: float) -> bytes:
        """Command bytes in, replies out."""
        out = bytearray()
        for byte in data:
            if byte != 0x0D:
                if len(self._line) < 80:
                    self._line.append(byte)
                continue
            text = self._line.decode("ascii", "replace")
            self._line.clear()
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
        if code == READ_HR:
            vitals = self.feed.vitals(at)
            return f"{READ_HR} {_three(vitals.pr)}"
        if self.spo2_command is not None and code == " " + self.spo2_command.upper():
            vitals = self.feed.vitals(at)
            return f"{code} {_three(vitals.spo2)}"
        return None

    def _nibp_status(self, at: float) -> str:
        if self.feed.cuff_running(at):
            return f"{READ_NIBP}2  {0:04d}{0:03d}{0:03d}{0:03d}"
        cuff = self.feed.last_cuff(at)
        if cuff is None:
            return f"{READ_NIBP}0  {0:04d}{0:03d}{0:03d}{0:03d}"
        counter = cuff.number % 10000
        if cuff.failed:
            return f"{READ_NIBP}{STATUS_ERROR}  {counter:04d}{0:03d}{0:03d}{0:03d}"
        return f"{READ_NIBP}1  {counter:04d}{_three(cuff.sys)}{_three(cuff.dia)}{_three(cuff.mean)}"


def _three(value: float | None) -> str:
    return f"{0 if value is None else round(value):03d}"
