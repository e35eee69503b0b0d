"""HL7 v2.6 ORU^R01 in IHE PCD-01 form: one message per observation set, one batch file per session.

Each message is MSH, PID, PV1, OBR and one OBX per value. OBX-3 carries the LOINC code with the
MDC code as alternate, OBX-6 the UCUM unit, OBX-7 the reference range (values that raise no
alarm), OBX-8 H/L/N, OBX-11 ``R`` (a device value nobody has verified) and OBX-14 the time of the
observation. An observation set is what a monitor sends together: the second's heart rate,
pulse rate and SpO2, or one cuff measurement. Only reliable values are sent; values a device
flagged (artifact, probe off, failed cuff) stay in the CSV and JSON exports with their status.

A session a physician has signed off ends with one more ORU^R01, the record's review (see
:func:`review_message`): OBR-25 ``F``, OBR-32 the physician who signed it off and when, an NTE for
each sign-off comment and addendum. A session nobody has signed off has none.

The file wraps the messages in an HL7 batch (FHS, BHS ... BTS, FTS) so that a receiver can
count them. Segments end with a carriage return as the standard says. MSH-7 holds the time of
the observation set, so exporting a session twice gives the same bytes.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Final

from drivers.core.codes import CODES
from drivers.core.readings import ALL_NUMERIC_PARAMETERS, NIBP_PARAMETERS, Parameter, Reading
from drivers.hl7 import v2
from monitor.birth_date import stored_birth_date
from monitor.exports.attestation import Attestation, ReviewNote, attestation, signer_name
from monitor.exports.codes import DEFAULT_RANGES, PATIENT_ID_SYSTEM_DEFAULT, ReferenceRange, unit
from monitor.exports.data import SessionRecord
from monitor.exports.deferred import body_first
from monitor.exports.treatment import LOCAL_SYSTEM_HL7, CodedResult, coded_results

SENDING_APPLICATION: Final = "INFUSION_MONITOR"
PROFILE: Final = "PCD_DEC_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
#: OBR-4: what the observations are about (SNOMED CT "Monitoring of patient").
OBR_SERVICE: Final = "182777000^monitoring of patient^SCT"
SEGMENT_END: Final = "\r"
#: Cuff values this close together belong to one measurement.
CUFF_GROUPING_S: Final = 2.0

# The same few texts (codes, units, ranges, ids, the device) and times recur in every message of an
# export (a time in MSH-7, OBR-7, OBR-8 and each OBX-14): each is escaped or written once.
escape = functools.lru_cache(maxsize=1024)(v2.escape)
hl7_time = functools.lru_cache(maxsize=64)(v2.hl7_time)
#: The parameter tuples as sets, for the membership tests made for every reading of a session.
_NUMERIC: Final = frozenset(ALL_NUMERIC_PARAMETERS)
_NIBP: Final = frozenset(NIBP_PARAMETERS)

@dataclass(frozen=True, slots=True)
class ObservationSet:
    """Values a monitor reported together: one second's numerics or one cuff measurement."""

    t: float
    readings: tuple[Reading, ...]

    @property
    def is_nibp(self) -> bool:
        """A cuff measurement."""
        return any(r.parameter in _NIBP for r in self.readings)


def observation_sets(readings: Iterable[Reading]) -> Iterator[ObservationSet]:
    """Reliable numeric readings grouped into sets, in time order.

    Continuous numerics with the same time form a set; systolic, diastolic and mean within
    ``CUFF_GROUPING_S`` of each other form one cuff measurement.
    """
    continuous: dict[float, list[Reading]] = {}
    cuff: list[list[Reading]] = []
    for r in readings:
        if r.parameter not in ALL_NUMERIC_PARAMETERS or not r.reliable:
            continue
        if r.parameter in NIBP_PARAMETERS:
            last = cuff[-1] if cuff else None
            new_measurement = (
                last is None or r.t - last[0].t > CUFF_GROUPING_S or any(x.parameter is r.parameter for x in last)
            )
            if new_measurement:
                cuff.append([r])
            elif last is not None:
                last.append(r)
        else:
            continuous.setdefault(r.t, []).append(r)
    sets = [ObservationSet(t, tuple(rs)) for t, rs in continuous.items()]
    sets += [ObservationSet(rs[0].t, tuple(rs)) for rs in cuff]
    # Stable: at equal times the numerics come before the cuff measurement.
    sets.sort(key=lambda s: (s.t, s.is_nibp))
    yield from sets


def ordered_observation_sets(readings: Iterable[Reading]) -> Iterator[ObservationSet]:
    """:func:`observation_sets` of readings that come in time order, yielded as they complete.

    Gives the same sets in the same order while holding only the last few seconds: a set of
    continuous numerics is complete when the time moves on, a cuff measurement when a reading
    comes more than ``CUFF_GROUPING_S`` after its first value (or repeats one of its parameters).
    Finished sets wait in a heap, ordered as the whole-list sort orders them (time, numerics
    before the cuff, then the order they were begun in), until nothing still open can precede them.
    """
    ready: list[tuple[float, bool, int, ObservationSet]] = []
    begun = 0
    open_t: float | None = None  # the continuous set being gathered
    open_values: list[Reading] = []
    cuff: list[Reading] = []  # the cuff measurement being gathered
    cuff_order = 0

    def close_continuous() -> None:
        nonlocal open_t
        if open_t is not None:
            heapq.heappush(ready, (open_t, False, continuous_order, ObservationSet(open_t, tuple(open_values))))
            open_t = None

    def close_cuff() -> None:
        if cuff:
            heapq.heappush(ready, (cuff[0].t, True, cuff_order, ObservationSet(cuff[0].t, tuple(cuff))))
            cuff.clear()

    continuous_order = 0
    last_t: float | None = None
    for r in readings:
        t, parameter = r.t, r.parameter
        if parameter not in _NUMERIC or not r.reliable:
            continue
        if open_t is not None and t != open_t:
            if not ready and not cuff:
                # Nothing waits and no cuff is open: the set is the next one (the heap would hand it straight on).
                yield ObservationSet(open_t, tuple(open_values))
                open_t = None
            else:
                close_continuous()
        if cuff and t - cuff[0].t > CUFF_GROUPING_S:
            close_cuff()
        if parameter in _NIBP:
            if cuff and any(x.parameter is parameter for x in cuff):
                close_cuff()
            if not cuff:
                cuff_order, begun = begun, begun + 1
            cuff.append(r)
        else:
            if open_t is None:
                open_t, open_values = t, []
                continuous_order, begun = begun, begun + 1
            open_values.append(r)
        if t == last_t or not ready:
            continue  # nothing new can be handed on until the time moves
        last_t = t
        # Sets still to come start at t or later; open ones at their own time.
        horizon: tuple[float, bool] = (t, False)
        if open_t is not None:
            horizon = min(horizon, (open_t, False))
        if cuff:
            horizon = min(horizon, (cuff[0].t, True))
        while ready and (ready[0][0], ready[0][1]) < horizon:
            yield heapq.heappop(ready)[3]
    close_continuous()
    close_cuff()
    while ready:
        yield heapq.heappop(ready)[3]


@dataclass(frozen=True, slots=True)
class PatientIdentity:
    """What PID says about the patient; de-identified exports carry only the session pseudonym."""

    identifier: str
    identifier_type: str  # MR: medical record number; PI: the session's random key
    family_name: str = ""
    given_name: str = ""
    birth_date: str = ""  # YYYYMMDD
    #: Namespace of an MR identifier (a URI; ``urn:oid:`` ones become an ISO OID in PID-3.4).
    system: str = PATIENT_ID_SYSTEM_DEFAULT

    @classmethod
    def from_record(cls, record: SessionRecord) -> PatientIdentity:
        """Identity from the stored patient row, or the session pseudonym when there is none."""
        return cls.from_patient(record.patient, record.id, record.options.identifier_system)

    @classmethod
    def from_patient(
        cls, patient: Mapping[str, Any] | None, session_id: str, system: str | None = None
    ) -> PatientIdentity:
        """Identity from a patient row (None: the session pseudonym)."""
        if not patient or not patient.get("mrn"):
            return cls(session_id, "PI")
        family, given = split_name(str(patient.get("name") or ""))
        birth = (stored_birth_date(patient.get("birth_date")) or "").replace("-", "")
        return cls(
            str(patient["mrn"]), "MR", family, given, birth,
            system or PATIENT_ID_SYSTEM_DEFAULT,
        )

    def assigning_authority(self) -> str:
        """PID-3.4 (HD): the session key's application, or the MRN system as an ISO OID or a URI."""
        if self.identifier_type != "MR":
            return SENDING_APPLICATION
        if self.system.startswith("urn:oid:"):
            return f"&{escape(self.system[8:])}&ISO"
        return f"&{escape(self.system)}&URI"

    def hl7_name(self) -> str:
        """PID-5 (XPN), never empty as v2.6 requires it: the name, else an unknown (U) or pseudonymous (S) one."""
        if self.family_name or self.given_name:
            return f"{escape(self.family_name)}^{escape(self.given_name)}"
        return "^^^^^^" + ("U" if self.identifier_type == "MR" else "S")


def split_name(name: str) -> tuple[str, str]:
    """(family, given) from ``Family, Given`` or ``Given Family``."""
    name = name.strip()
    if "," in name:
        family, _, given = name.partition(",")
        return family.strip(), given.strip()
    parts = name.split()
    if len(parts) >= 2:
        return parts[-1], " ".join(parts[:-1])
    return name, ""


#: The device that measured a reading, from its source id and time (see :class:`monitor.exports.data.DeviceBySource`).
DeviceOf = Callable[[str, float], str | None]


def obx_segments(
    obs: ObservationSet, ranges: Mapping[Parameter, ReferenceRange], device: str | None, first_index: int = 1,
    device_of: DeviceOf | None = None,
) -> list[str]:
    """One OBX per value of the set; OBX-18 names ``device``, or the one ``device_of`` finds for each value."""
    out = []
    for index, r in enumerate(obs.readings, start=first_index):
        measured_by = device if device_of is None else device_of(r.source, r.t)
        tail = f"||||{escape(measured_by)}" if measured_by else ""  # OBX-18, the equipment
        assert r.value is not None
        reference = ranges.get(r.parameter, _NO_RANGE)
        code_field, unit_field, range_field = _obx_fixed(r.parameter, reference)
        out.append(f"OBX|{index}|NM|{code_field}||{r.value:g}|{unit_field}|{range_field}|{reference.flag(r.value)}"
                   f"|||R|||{hl7_time(r.t)}{tail}")
    return out


_NO_RANGE: Final = ReferenceRange(None, None)


@functools.lru_cache(maxsize=256)
def _obx_fixed(parameter: Parameter, reference: ReferenceRange) -> tuple[str, str, str]:
    """OBX-3, OBX-6 and OBX-7 of a parameter: the same in every message."""
    code = CODES[parameter]
    ucum = escape(unit(parameter))
    return (f"{code.loinc}^{escape(code.loinc_name)}^LN^{code.mdc}^{code.mdc_name}^MDC", f"{ucum}^{ucum}^UCUM",
            escape(reference.hl7_text()))


def oru_message(
    obs: ObservationSet,
    *,
    control_id: str,
    patient: PatientIdentity,
    visit: str,
    device: str | None = None,
    device_of: DeviceOf | None = None,
    ranges: Mapping[Parameter, ReferenceRange] = DEFAULT_RANGES,
    sending_facility: str = "",
    receiving_application: str = "",
    receiving_facility: str = "",
    enhanced: bool = False,
) -> str:
    """One ORU^R01 message (segments separated and ended by a carriage return).

    OBX-18 names ``device``, or for each value the device ``device_of`` finds from its source id and time.
    Original acknowledgment mode (MSH-15/16 empty) unless ``enhanced``: then MSH-15=AL, MSH-16=NE,
    asking the receiver for a commit ACK (CA) only.
    """
    when = hl7_time(obs.t)
    modes = "AL|NE" if enhanced else "|"
    msh = (
        f"MSH|^~\\&|{SENDING_APPLICATION}|{escape(sending_facility)}|{escape(receiving_application)}|"
        f"{escape(receiving_facility)}|{when}||ORU^R01^ORU_R01|{escape(control_id)}|P|2.6|||{modes}||"
        f"UNICODE UTF-8|||{PROFILE}"
    )
    pid, pv1 = _patient_segments(patient, visit)
    obr = (
        f"OBR|1|{escape(visit)}^{SENDING_APPLICATION}|{escape(control_id)}^{SENDING_APPLICATION}|"
        f"{OBR_SERVICE}|||{when}|{when}"
    )
    segments = [msh, pid, pv1, obr, *obx_segments(obs, ranges, device, device_of=device_of)]
    return SEGMENT_END.join(segments) + SEGMENT_END


@functools.lru_cache(maxsize=16)
def _patient_segments(patient: PatientIdentity, visit: str) -> tuple[str, str]:
    """PID and PV1: the same in every message of a session."""
    pid = (
        f"PID|||{escape(patient.identifier)}^^^{patient.assigning_authority()}^{patient.identifier_type}"
        f"||{patient.hl7_name()}||{patient.birth_date}".rstrip("|")
    )
    return pid, f"PV1||O|||||||||||||||||{escape(visit)}"


#: OBX-11 (HL7 table 0085) for an entered result's status: final ``F``; a score entered in error ``W`` (posted
#: as wrong); its correction ``C`` (replaces the final result).
_RESULT_STATUS: Final = {"final": "F", "entered-in-error": "W", "corrected": "C"}


def clinical_obx(results: Sequence[CodedResult], first_index: int = 1) -> list[str]:
    """OBX segments for entered results (questionnaire totals, dose figures, scores), entered by staff: OBX-11
    ``F``, or for a score corrected in the session ``W`` for the wrong entry and ``C`` for its correction."""
    out = []
    for index, result in enumerate(results, start=first_index):
        system = "LN" if result.loinc else LOCAL_SYSTEM_HL7
        ucum = escape(result.unit)
        fields = ["OBX", str(index), "NM", f"{escape(result.code)}^{escape(result.display)}^{system}", "",
                  f"{result.value:g}", f"{ucum}^{ucum}^UCUM", "", "", "", "", _RESULT_STATUS[result.status], "", "",
                  hl7_time(result.t)]
        out.append("|".join(fields))
    return out


def _clinical_message(results: Sequence[CodedResult], control_id: str, patient: PatientIdentity, visit: str) -> str:
    """One ORU^R01 for results entered at one moment."""
    body = oru_message(ObservationSet(results[0].t, ()), control_id=control_id, patient=patient, visit=visit)
    return body + SEGMENT_END.join(clinical_obx(results)) + SEGMENT_END


def messages(record: SessionRecord, ranges: Mapping[Parameter, ReferenceRange] | None = None) -> list[str]:
    """Every ORU^R01 message of a session, in time order (ranges: the options', else the built-in).

    Besides the device's observation sets, questionnaire totals (PHQ-9 44261-6, GAD-7 70274-6),
    the dose (planned, per kg, delivered; local codes) and the chair's scores (local codes; a score
    corrected in the session as OBX-11 ``W`` then ``C``) go out as messages of their own.
    """
    return list(iter_messages(record, ranges))


def _timed_items(record: SessionRecord) -> Iterator[ObservationSet | list[CodedResult]]:
    """Observation sets and groups of entered results merged in time order (at one time, the sets first)."""
    grouped: dict[float, list[CodedResult]] = {}
    for result in coded_results(record):
        grouped.setdefault(result.t, []).append(result)
    entered = sorted(grouped.items(), key=lambda item: item[0])
    index = 0
    for obs in ordered_observation_sets(record.readings):
        while index < len(entered) and entered[index][0] < obs.t:
            yield entered[index][1]
            index += 1
        yield obs
    for _t, results in entered[index:]:
        yield results


def iter_messages(record: SessionRecord, ranges: Mapping[Parameter, ReferenceRange] | None = None) -> Iterator[str]:
    """:func:`messages` one at a time, made as the readings are read (a long session is never held whole)."""
    ranges = ranges or record.options.ranges or DEFAULT_RANGES
    patient = PatientIdentity.from_record(record)
    prefix = record.id[:12].upper()
    compose = _SessionMessages(patient, record.id, ranges, record.device_of())
    n = 0
    for n, item in enumerate(_timed_items(record), start=1):
        control_id = f"{prefix}{n:06d}"
        if isinstance(item, ObservationSet):
            yield compose.oru(item, control_id)
        else:
            yield _clinical_message(item, control_id, patient, record.id)
    review = attestation(record)
    if review is not None:
        yield review_message(record, review, f"{prefix}{n + 1:06d}", patient)


# -- the record's review ---------------------------------------------------------------------------
#
# HL7 v2 has fields of its own for a reviewed result, so no Z-segment is needed: OBR-25 Result Status (table
# 0123) ``F`` says the results are final, OBR-22 Results Rpt/Status Chng - Date/Time when they became so,
# OBR-32 Principal Result Interpreter (NDL: the person, then the start date/time) who attested them, and an NTE
# after the OBR carries a comment with, in v2.6, NTE-5 Entered By and NTE-6 Entered Date/Time. v2 has no
# co-signer field: OBR-33 Assistant Result Interpreter (NDL, repeating) is the nearest, so co-signers go there.
# The observation messages keep OBX-11 ``R`` and an empty OBR-25: the physician attests the record as a whole,
# nobody verified each device value, and a record exported before its sign-off is not changed by it.

#: OBR-25 of the review message: final results.
ATTESTED: Final = "F"
#: NTE-4 Comment Type: HL7 table 0364 is user-defined and has no code for these, so they are the program's own.
_NOTE_SYSTEM: Final = LOCAL_SYSTEM_HL7
#: The fields of an OBR up to OBR-33.
_OBR_FIELDS: Final = 34


def formatted_text(text: str) -> str:
    """Typed text for an FT field: the delimiters escaped and each line break as ``\\.br\\``, the FT line break."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\\.br\\".join(escape(line) for line in lines)


def _staff(name: str | None, separator: str) -> str:
    """A person as CNN (``&`` between its parts, inside NDL) or XCN (``^``): the account name as the ID, with
    this program as its assigning authority, and as written in the family name (an account name is not split
    into given and family names); empty for someone a de-identified export does not name."""
    if not name:
        return ""
    parts = [escape(name), escape(name), "", "", "", "", "", "", SENDING_APPLICATION]
    return separator.join(parts)


def _interpreter(name: str | None, t: float) -> str:
    """An NDL: the physician (CNN) and when they signed."""
    return f"{_staff(name, '&')}^{hl7_time(t)}"


def review_nte(index: int, note: ReviewNote) -> str:
    """One NTE of the review: the text (NTE-3), what it is (NTE-4), who wrote it (NTE-5) and when (NTE-6)."""
    kind = f"{note.kind.value}^{escape(note.kind.words)}^{_NOTE_SYSTEM}"
    return "|".join(["NTE", str(index), "L", formatted_text(note.text), kind, _staff(note.by, "^"),
                     hl7_time(note.t)])


def review_message(record: SessionRecord, review: Attestation, control_id: str, patient: PatientIdentity) -> str:
    """The ORU^R01 that says the record was signed off: an OBR over the session with OBR-25 ``F``, OBR-22 and
    OBR-32 the first sign-off, OBR-33 the co-signers, then an NTE per sign-off comment and addendum."""
    last = max([s.t for s in review.sign_offs] + [n.t for n in review.notes])
    head = oru_message(ObservationSet(last, ()), control_id=control_id, patient=patient, visit=record.id)
    fields = ["OBR", "1", f"{escape(record.id)}^{SENDING_APPLICATION}", f"{escape(control_id)}^{SENDING_APPLICATION}",
              OBR_SERVICE, *[""] * (_OBR_FIELDS - 5)]
    fields[7] = hl7_time(record.started_at)
    ended = record.session.get("ended_at")
    fields[8] = hl7_time(float(ended)) if ended is not None else ""
    first = review.first
    fields[22] = hl7_time(first.t)
    fields[25] = ATTESTED
    fields[32] = _interpreter(signer_name(first), first.t)
    fields[33] = "~".join(_interpreter(signer_name(s), s.t) for s in review.sign_offs[1:])
    segments = [*head.split(SEGMENT_END)[:3], "|".join(fields).rstrip("|")]
    segments += [review_nte(index, note) for index, note in enumerate(review.notes, start=1)]
    return SEGMENT_END.join(segments) + SEGMENT_END


class _SessionMessages:
    """:func:`oru_message` for the observation sets of one export, its fixed texts made once.

    A 24-hour session is ~86,000 messages; what is the same in each (the patient, the visit, each
    parameter's codes, unit and range) is escaped and joined once, so each message only fills in
    its times, control id and values. The text is exactly :func:`oru_message`'s.
    """

    def __init__(self, patient: PatientIdentity, visit: str, ranges: Mapping[Parameter, ReferenceRange],
                 device_of: DeviceOf) -> None:
        pid, pv1 = _patient_segments(patient, visit)
        self.msh_head = f"MSH|^~\\&|{SENDING_APPLICATION}|{escape('')}|{escape('')}|{escape('')}|"
        self.msh_tail = f"|P|2.6||||||UNICODE UTF-8|||{PROFILE}"
        obr_head = f"OBR|1|{escape(visit)}^{SENDING_APPLICATION}|"
        self.middle = SEGMENT_END.join(("", pid, pv1, obr_head))
        self.obr_tail = f"^{SENDING_APPLICATION}|{OBR_SERVICE}|||"
        #: The device that measured a value (from its source id: a device may be changed during the session),
        #: and each one's OBX-18 tail.
        self.device_of = device_of
        self.tails: dict[str | None, str] = {}
        self.ranges = ranges
        self.fixed: dict[Parameter, tuple[str, str, ReferenceRange]] = {}

    def _parameter(self, parameter: Parameter) -> tuple[str, str, ReferenceRange]:
        reference = self.ranges.get(parameter, _NO_RANGE)
        code_field, unit_field, range_field = _obx_fixed(parameter, reference)
        found = self.fixed[parameter] = (f"|NM|{code_field}||", f"|{unit_field}|{range_field}|", reference)
        return found

    def _tail(self, device: str | None) -> str:
        found = self.tails.get(device)
        if found is None:
            found = self.tails[device] = f"||||{escape(device)}" if device else ""
        return found

    def oru(self, obs: ObservationSet, control_id: str) -> str:
        """The ORU^R01 of one observation set."""
        when = hl7_time(obs.t)
        cid = escape(control_id) if not control_id.isalnum() else control_id
        parts = [self.msh_head, when, "||ORU^R01^ORU_R01|", cid, self.msh_tail, self.middle, cid, self.obr_tail,
                 when, "|", when]
        fixed = self.fixed
        device_of = self.device_of
        for index, r in enumerate(obs.readings, start=1):
            value = r.value
            assert value is not None
            code, unit_range, reference = fixed.get(r.parameter) or self._parameter(r.parameter)
            parts += [SEGMENT_END, "OBX|", str(index), code, f"{value:g}", unit_range, reference.flag(value),
                      "|||R|||", when if r.t == obs.t else hl7_time(r.t),
                      self._tail(device_of(r.source, r.t))]
        parts.append(SEGMENT_END)
        return "".join(parts)


def batch_header(record: SessionRecord) -> str:
    """FHS and BHS: what comes before the messages."""
    when = hl7_time(record.started_at)
    header = f"|^~\\&|{SENDING_APPLICATION}||||{when}||{record.id}.hl7"
    # The batch comment (BHS-10) says which alarm profile ran and whether the record verified.
    comment = escape(f"alarm profile {record.alarm_profile}; record {record.verification}")
    return f"FHS{header}{SEGMENT_END}BHS{header}|{comment}|{record.id}{SEGMENT_END}"


def batch_trailer(count: int) -> str:
    """BTS (with the number of messages) and FTS: what comes after them."""
    return f"BTS|{count}{SEGMENT_END}FTS|1{SEGMENT_END}"


def batch(record: SessionRecord, bodies: Sequence[str]) -> str:
    """The messages wrapped in FHS/BHS ... BTS/FTS."""
    return batch_header(record) + "".join(bodies) + batch_trailer(len(bodies))


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the session as one HL7 batch file, each message as soon as it is made."""
    write_batch_header(record, stream)
    write_batch_body(record, stream)


def write_batch_header(record: SessionRecord, stream: IO[str]) -> None:
    """FHS and BHS (BHS-10 states whether the record verified)."""
    stream.write(batch_header(record))


def write_batch_body(record: SessionRecord, stream: IO[str]) -> None:
    """The messages, each as soon as it is made, then BTS and FTS."""
    count = 0
    for message in iter_messages(record):
        stream.write(message)
        count += 1
    stream.write(batch_trailer(count))


#: The messages first, the batch header (the record's verification) when it is known.
prepare = body_first(write_batch_header, write_batch_body)
