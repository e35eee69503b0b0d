"""What every connection of one HL7 listener shares: whose results the session takes, and what it already has.

A listener feeds one session, so it must take one patient's results only. A second sender (a
gateway pointed at the wrong chair, a second monitor) interleaving its values with the patient's
would hide a desaturation. The gate decides, for every message:

- A sender not on the allow-list (``allow_senders``: MSH-3, or MSH-3^MSH-4) is refused.
- Once the session's patient is identified, a message whose PID-3 names another patient is
  refused, and so is one that names no patient (no PID, or an empty PID-3): a gateway serving
  several beds under one name sends a bed without an admitted patient so, and its values are not
  this patient's. One that names the identified patient is taken from any allowed sender.
- Before that, the first message taken binds the session to its PID-3 (when it has one) and to
  its sender (MSH-3^MSH-4, or the sender's address when both are empty): another patient, or
  another sender whose message does not name the identified patient, is refused.

It also remembers the MSH-10 control ids already taken from each sender, with their MSH-7 (a
repeat after a lost ACK is the same message, answered as before and storing nothing; a monitor
switched off and on numbers its messages from the start again, and those are new) and the last
cuff result (a gateway repeats the newest NIBP in every periodic message; it is stored once).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from drivers.core.readings import Reading

#: Control ids remembered per listener (the oldest are forgotten first).
REMEMBERED_CONTROL_IDS: Final = 5000
#: Cuffs with their own time remembered per listener (a gateway's backlog of a few hours of cuffs).
REMEMBERED_CUFFS: Final = 64
#: Why a message without PID-3 is refused once the patient is identified (short enough for MSA-3 whole; it names no
#: MRN, since the answer goes back to whoever sent the message).
NO_PATIENT_REASON: Final = "the message names no patient (no PID-3) and this session's patient is identified"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the session does not take a message: a short condition name, the reason for the ACK and, when the
    timeline is told more than the sender (whom the session is bound to), the timeline's own wording."""

    condition: str
    reason: str
    detail: str = ""

    @property
    def for_timeline(self) -> str:
        """What the timeline says of the refusal."""
        return self.detail or self.reason


#: The timeline's words for a message about another patient: not its PID-3, another person's identifier, which the
#: database would keep readable (the sender, who sent it, is told it in the answer).
OTHER_PATIENT_TIMELINE: Final = "the message names another patient (its PID-3 is not this session's patient's)"


def _other_patient(patient_ids: list[str]) -> Refusal:
    """The refusal of a message about another patient: its PID-3 in the answer, not on the timeline."""
    return Refusal("hl7_other_patient", f"PID-3 {'/'.join(patient_ids)} is not this session's patient",
                   OTHER_PATIENT_TIMELINE)


def sender_key(application: str, facility: str, peer_host: str) -> str:
    """How a sender is named: ``MSH-3^MSH-4`` (upper case), or its address when both are empty."""
    application, facility = application.strip().upper(), facility.strip().upper()
    if application or facility:
        return f"{application}^{facility}"
    return f"address {peer_host}" if peer_host else "an unnamed sender"


class SessionGate:
    """One patient and one sender per session; repeats stored once (thread-safe)."""

    def __init__(self, allow_senders: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.allow_senders = frozenset(s.strip().upper() for s in allow_senders if s.strip())
        #: The identified patient's MRN (set by the session), else None.
        self.patient: str | None = None
        #: PID-3 and sender of the first message taken (the binding before identification).
        self.first_patient: str | None = None
        self.sender: str | None = None
        self._answers: OrderedDict[tuple[str, str], tuple[str, str, str]] = OrderedDict()
        self._last_cuff: tuple[object, ...] | None = None
        self._timed_cuffs: OrderedDict[tuple[object, ...], None] = OrderedDict()

    def identify(self, mrn: str | None) -> None:
        """The session's patient is now known (None: not identified)."""
        with self._lock:
            self.patient = mrn.strip() if mrn and mrn.strip() else None

    def admit(self, sender: str, patient_ids: list[str]) -> Refusal | None:
        """None when the session takes a message from ``sender`` about ``patient_ids`` (PID-3), else why not."""
        with self._lock:
            if self.allow_senders:
                application = sender.partition("^")[0]
                if sender not in self.allow_senders and application not in self.allow_senders:
                    return Refusal("hl7_sender_not_allowed", f"sender {sender} is not on this listener's allow-list")
            if self.patient is not None:
                if not patient_ids:
                    return Refusal("hl7_no_patient", NO_PATIENT_REASON)
                if self.patient in patient_ids:
                    return None
                return _other_patient(patient_ids)
            # Neither the bound patient's PID-3 nor the bound sender's name goes back to whoever sent the message (one
            # wrong guess would tell them both, and the next message, naming both, would be taken), nor the PID-3
            # onto the timeline, which the database keeps readable.
            if self.first_patient is not None and patient_ids and self.first_patient not in patient_ids:
                return _other_patient(patient_ids)
            if self.sender is not None and sender != self.sender:
                return Refusal(
                    "hl7_other_sender",
                    f"this session takes results from another sender only, not from {sender}",
                    f"this session takes results from {self.sender} only, not from {sender}",
                )
            return None

    def bind(self, sender: str, patient_ids: list[str]) -> None:
        """A message was taken: the first one binds the session to its sender and patient."""
        with self._lock:
            if self.sender is None:
                self.sender = sender
            if self.first_patient is None and patient_ids:
                self.first_patient = patient_ids[0]

    def answered(self, sender: str, control_id: str, sent: str = "", body: str = "", timed: bool = False) -> str | None:
        """The code a message with this control id from this sender was answered with, None when new. The same
        message sent again has the same segments after MSH (``body``, their hash) and the same MSH-7 (``sent``),
        or, when its observations carry their own times (``timed``: OBX-14 or OBR-7), any MSH-7 (a sender that
        writes MSH-7 anew for each attempt). A control id used again with other observations is a new message
        (the sender's counter started again, or it numbers every message alike)."""
        if not control_id:
            return None
        with self._lock:
            code, first_sent, first_body = self._answers.get((sender, control_id), (None, None, None))
            return code if first_body == body and (first_sent == sent or timed) else None

    def remember(self, sender: str, control_id: str, code: str, sent: str = "", body: str = "") -> None:
        """A message was taken (values stored): a repeat of it (:meth:`answered`) must store nothing."""
        if not control_id:
            return
        with self._lock:
            self._answers.pop((sender, control_id), None)
            self._answers[(sender, control_id)] = (code, sent, body)
            while len(self._answers) > REMEMBERED_CONTROL_IDS:
                self._answers.popitem(last=False)

    def new_cuff(self, pressures: Iterable[Reading], *, timed: bool, sent: str = "") -> bool:
        """False when these pressures repeat a cuff already stored: the same values at the same time (any of the
        last :data:`REMEMBERED_CUFFS`: a gateway may repeat several queued cuffs in one message), or (not
        ``timed``: the sender gave the cuff no time of its own) the same values as the untimed cuff stored last.

        ``sent`` is the cuff's time as its sender wrote it; when given, it is the time compared (the time stored
        is the arrival when the sender's clock is not trusted)."""
        key = tuple(sorted((r.parameter.value, r.value, (sent or r.t) if timed else None) for r in pressures))
        with self._lock:
            if not timed:
                if key == self._last_cuff:
                    return False
                self._last_cuff = key
                return True
            if key in self._timed_cuffs:
                return False
            self._timed_cuffs[key] = None
            while len(self._timed_cuffs) > REMEMBERED_CUFFS:
                self._timed_cuffs.popitem(last=False)
            return True
