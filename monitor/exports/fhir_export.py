"""FHIR R4B export: a Bundle (type collection) with the Patient, an Encounter and vital-signs Observations.

Built as FHIR JSON and validated by ``fhir.resources`` (its R4B models) a block of entries at a time
before it is written, so what leaves the program parses as a valid Bundle. R4B is chosen because the EHRs a
clinic connects to speak R4, and R4B is wire-compatible with R4 for these resources.

Observations follow (and name in ``meta.profile``) the core vital-signs profile: category
``vital-signs``, LOINC codes (with the IEEE 11073 MDC code as a second coding), ``valueQuantity``
in UCUM. Blood pressure follows the core ``bp`` profile: one Observation coded 85354-9 with a
systolic 8480-6 and a diastolic 8462-4 component (one the cuff did not give carries a
dataAbsentReason) and the mean 8478-0 where the cuff reported one; SpO2 carries both 59408-5 and
2708-6; the oximeter's pulse rate is 8889-8; respiratory rate 9279-1 and end-tidal CO2 19889-5
appear only where the device measured them. The Patient's MRN has the ``patient_id_system``
setting as its system (``urn:infusion-monitor:mrn`` unless the clinic names its own).

Continuous numerics (heart rate, pulse rate, SpO2 at one value a second) are summarised by
default: one Observation per parameter per ``ExportOptions.resample_s`` seconds (60 s), the
median of the reliable values in that span with ``effectivePeriod`` covering it. With
``resample_s = 0`` every value becomes its own Observation. Cuff measurements are always
exported one by one. Values a device flagged as unreliable are left out.

A session a physician has signed off ends with its review (:func:`review_resources`): a Provenance per
sign-off (the Encounter its target, the physician its ``attester``, ``recorded`` the time of signing) and a
DocumentReference per sign-off comment and addendum (what it is, who wrote it, when, the text). A session
nobody has signed off has neither.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import statistics
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation

from drivers.core.codes import BP_PANEL, CODES, LOINC_SYSTEM, MDC_SYSTEM, SPO2_ARTERIAL, UCUM_SYSTEM
from drivers.core.readings import NIBP_PARAMETERS, Parameter, Reading, iso_utc
from monitor.birth_date import stored_birth_date
from monitor.exports import treatment
from monitor.exports.attestation import Attestation, NoteKind, ReviewNote, attestation, signer_name
from monitor.exports.codes import DEFAULT_RANGES, PATIENT_ID_SYSTEM_DEFAULT, ReferenceRange, unit
from monitor.exports.data import SessionRecord
from monitor.exports.deferred import body_first
from monitor.exports.hl7_export import ordered_observation_sets, split_name
from monitor.outcomes import questionnaire

CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ACT_CODE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
SESSION_ID_SYSTEM: Final = "urn:infusion-monitor:session"
#: The program's own codes of the scores entered at the chair (MOAA/S, RASS, CADSS-6), as no LOINC code names them.
SCORE_SYSTEM: Final = "urn:infusion-monitor:score"
#: Encounter extensions: the alarm profile the session ran under and whether its record verified.
RECORD_EXTENSION: Final = "urn:infusion-monitor:record:"
DATA_ABSENT_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
#: Core profiles the Observations claim (and satisfy): every one is a vital sign, blood pressure the bp panel.
VITALSIGNS_PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BP_PROFILE: Final = "http://hl7.org/fhir/StructureDefinition/bp"
#: Provenance.agent.type of a physician's sign-off: "A person who attests to the accuracy of the resource".
PARTICIPANT_TYPE_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
#: The program's own codes of what a review text is (DocumentReference.type): a sign-off comment, an addendum.
NOTE_SYSTEM: Final = "urn:infusion-monitor:note"
#: A person a de-identified export does not name: Reference.who is required, so it says why it is absent.
DATA_ABSENT_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
#: Names derived ids: the same session exported twice gets the same resource ids.
_NAMESPACE: Final = uuid.UUID("5d0c1f0e-8e38-4c0b-9a4e-3a4b1f6d2c71")

#: Compact JSON as ``json.dumps(data, separators=(",", ":"), ensure_ascii=False)`` writes it, one encoder for all.
_encode: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

#: Entries validated together before they are written.
VALIDATE_BLOCK: Final = 500

_INTERPRETATION = {"H": "High", "L": "Low", "N": "Normal"}
_NO_RANGE: Final = ReferenceRange(None, None)
_CONTINUOUS = (Parameter.HR, Parameter.PR, Parameter.SPO2, Parameter.RR, Parameter.ETCO2)


def _id(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(str(p) for p in parts)))


def _quantity(value: float, parameter: Parameter) -> dict[str, Any]:
    ucum = unit(parameter)
    return {"value": value, "unit": ucum, "system": UCUM_SYSTEM, "code": ucum}


def _coding(parameter: Parameter) -> list[dict[str, str]]:
    code = CODES[parameter]
    codings = [{"system": LOINC_SYSTEM, "code": code.loinc, "display": code.loinc_name}]
    if parameter is Parameter.SPO2:
        codings.append({"system": LOINC_SYSTEM, "code": SPO2_ARTERIAL[0], "display": SPO2_ARTERIAL[1]})
    codings.append({"system": MDC_SYSTEM, "code": code.mdc, "display": code.mdc_name})
    return codings


def _judgement(
    parameter: Parameter, value: float, ranges: Mapping[Parameter, ReferenceRange] = DEFAULT_RANGES
) -> dict[str, Any]:
    """referenceRange and interpretation entries for a value."""
    reference = ranges.get(parameter, ReferenceRange(None, None))
    out: dict[str, Any] = {}
    bounds: dict[str, Any] = {}
    if reference.low is not None:
        bounds["low"] = _quantity(reference.low, parameter)
    if reference.high is not None:
        bounds["high"] = _quantity(reference.high, parameter)
    if bounds:
        out["referenceRange"] = [bounds]
        flag = reference.flag(value)
        out["interpretation"] = [
            {"coding": [{"system": INTERPRETATION_SYSTEM, "code": flag, "display": _INTERPRETATION[flag]}]}
        ]
    return out


class _Builder:
    def __init__(self, record: SessionRecord) -> None:
        self.record = record
        self.ranges = record.options.ranges or DEFAULT_RANGES
        self.patient_url = "urn:uuid:" + _id(record.id, "patient")
        self.encounter_url = "urn:uuid:" + _id(record.id, "encounter")
        #: The device that measured a value, from its source id (a device may be changed during the session);
        #: one reference object each.
        self.device_of = record.device_of()
        self.devices: dict[str, dict[str, str]] = {}
        self.category = [{"coding": [{"system": CATEGORY_SYSTEM, "code": "vital-signs", "display": "Vital Signs"}]}]
        # Parts every Observation of a kind has alike are one object each, shared by those Observations (the
        # JSON is the same; a day is ~4,400 Observations): :class:`_Validator` checks each shared part once.
        self.subject = {"reference": self.patient_url}
        self.encounter_reference = {"reference": self.encounter_url}
        self._meta: dict[str, dict[str, Any]] = {}
        self._summary_keys: set[str] = set()
        self._codes: dict[Parameter | None, dict[str, Any]] = {}
        self._judgements: dict[tuple[Parameter, str], dict[str, Any]] = {}
        # Values and summary methods recur too (a heart rate of 72, "median of 60 device values over 59 s").
        self._quantities: dict[tuple[Parameter, float], dict[str, Any]] = {}
        self._methods: dict[str, dict[str, str]] = {}

    def code(self, parameter: Parameter | None) -> dict[str, Any]:
        """The ``code`` of a parameter's Observations (None: the blood-pressure panel's)."""
        found = self._codes.get(parameter)
        if found is None:
            coding = ([{"system": LOINC_SYSTEM, "code": BP_PANEL[0], "display": BP_PANEL[1]}] if parameter is None
                      else _coding(parameter))
            found = self._codes[parameter] = {"coding": coding}
        return found

    def judgement(self, parameter: Parameter, value: float) -> dict[str, Any]:
        """:func:`_judgement` of a value (the same objects for every value with the same flag)."""
        reference = self.ranges.get(parameter, _NO_RANGE)
        key = (parameter, reference.flag(value))
        found = self._judgements.get(key)
        if found is None:
            found = self._judgements[key] = _judgement(parameter, value, self.ranges)
        return found

    def quantity(self, value: float, parameter: Parameter) -> dict[str, Any]:
        """:func:`_quantity` of a value (the same object for every equal value of the parameter)."""
        if value == 0:
            return _quantity(value, parameter)  # 0.0 and -0.0 are equal but written apart
        key = (parameter, value)
        found = self._quantities.get(key)
        if found is None:
            found = self._quantities[key] = _quantity(value, parameter)
        return found

    def method(self, text: str) -> dict[str, str]:
        """A summary's ``method`` (the same object for the same text)."""
        found = self._methods.get(text)
        if found is None:
            found = self._methods[text] = {"text": text}
        return found

    def meta(self, profile: str) -> dict[str, Any]:
        """An Observation's ``meta`` naming its profile."""
        found = self._meta.get(profile)
        if found is None:
            found = self._meta[profile] = {"profile": [profile]}
        return found

    def patient(self) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Patient", "id": self.patient_url[9:]}
        p = self.record.patient
        if p:
            if p.get("mrn"):
                mr = {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]}
                system = self.record.options.identifier_system or PATIENT_ID_SYSTEM_DEFAULT
                resource["identifier"] = [{"type": mr, "system": system, "value": p["mrn"]}]
            if p.get("name"):
                family, given = split_name(str(p["name"]))
                name: dict[str, Any] = {"text": str(p["name"]), "family": family}
                if given:
                    name["given"] = given.split()
                resource["name"] = [name]
            birth = stored_birth_date(p.get("birth_date"))
            if birth:
                resource["birthDate"] = birth
        return resource

    def encounter(self) -> dict[str, Any]:
        s = self.record.session
        finished = s.get("status") in ("complete", "closed")
        period = {"start": iso_utc(float(s["started_at"]))}
        if s.get("ended_at") is not None:
            period["end"] = iso_utc(float(s["ended_at"]))
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": self.encounter_url[9:],
            "identifier": [{"system": SESSION_ID_SYSTEM, "value": self.record.id}],
            "status": "finished" if finished else "in-progress",
            "class": {"system": ACT_CODE_SYSTEM, "code": "AMB", "display": "ambulatory"},
            "type": [{"text": f"{self.record.kind_of_session} with vital-sign monitoring"}],
            "subject": {"reference": self.patient_url},
            "period": period,
        }
        resource["extension"] = [
            {"url": RECORD_EXTENSION + "alarm-profile", "valueString": self.record.alarm_profile or "not recorded"},
            {"url": RECORD_EXTENSION + "verification", "valueString": self.record.verification or "not checked"},
        ]
        if s.get("nurse"):
            resource["participant"] = [{"individual": {"display": str(s["nurse"])}}]
        return resource

    def _observation(
        self, key: str, code: dict[str, Any], profile: str = VITALSIGNS_PROFILE, *, at: float, source: str,
        **fields: Any
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": _id(self.record.id, key),
            "meta": self.meta(profile),
            "status": "final",
            "category": self.category,
            "code": code,
            "subject": self.subject,
            "encounter": self.encounter_reference,
            **fields,
        }
        device = self.device_of(source, at)
        if device:
            resource["device"] = self.devices.get(device) or self.devices.setdefault(device, {"display": device})
        return resource

    def single(self, r: Reading) -> dict[str, Any]:
        assert r.value is not None
        return self._observation(
            f"{r.parameter.value}:{r.t!r}",
            self.code(r.parameter),
            at=r.t,
            source=r.source,
            effectiveDateTime=iso_utc(r.t),
            valueQuantity=self.quantity(r.value, r.parameter),
            **self.judgement(r.parameter, r.value),
        )

    def summary(self, parameter: Parameter, start: float, end: float, values: list[float], source: str = ""
                ) -> dict[str, Any]:
        """The median of one device's values of a parameter over a span (two devices in a span: two summaries)."""
        value = float(statistics.median(values))
        seconds = max(end - start, 0.0)
        key = f"{parameter.value}:{start!r}:{end!r}"
        if key in self._summary_keys:
            # Two devices' spans alike to the instant: the second one's id must still be its own.
            key += f":{source}"
        self._summary_keys.add(key)
        return self._observation(
            key,
            self.code(parameter),
            at=start,
            source=source,
            effectivePeriod={"start": iso_utc(start), "end": iso_utc(end)},
            valueQuantity=self.quantity(value, parameter),
            method=self.method(f"median of {len(values)} device values over {seconds:g} s"),
            **self.judgement(parameter, value),
        )

    def blood_pressure(self, readings: Iterable[Reading]) -> dict[str, Any] | None:
        """One cuff measurement as a bp-profile Observation.

        The profile wants a systolic and a diastolic component; one the cuff did not give is
        there with a dataAbsentReason instead of a value, so a partial measurement is not lost.
        """
        by_param = {r.parameter: r for r in readings if r.value is not None}
        if not by_param:
            return None
        components = []
        for parameter in NIBP_PARAMETERS:
            r = by_param.get(parameter)
            if r is None or r.value is None:
                if parameter is not Parameter.NIBP_MEAN:
                    absent = {"coding": [{"system": DATA_ABSENT_SYSTEM, "code": "unknown", "display": "Unknown"}]}
                    components.append({"code": {"coding": _coding(parameter)}, "dataAbsentReason": absent})
                continue
            components.append(
                {
                    "code": {"coding": _coding(parameter)},
                    "valueQuantity": _quantity(r.value, parameter),
                    **_judgement(parameter, r.value, self.ranges),
                }
            )
        first = min(by_param.values(), key=lambda r: r.t)
        t = first.t
        return self._observation(
            f"bp:{t!r}",
            self.code(None),
            BP_PROFILE,
            at=t,
            source=first.source,
            effectiveDateTime=iso_utc(t),
            component=components,
        )

    def iter_observations(self, resample_s: float) -> Iterator[dict[str, Any]]:
        """The session's vital-sign Observations in time order, made as the readings are read.

        A cuff measurement (and, with ``resample_s = 0``, every single value) is an Observation of its
        own; continuous numerics are otherwise summarised per ``resample_s`` span. A summary is made
        when its span has passed; finished resources wait in a heap, ordered by their time (single
        values and cuffs before summaries at the same time, then the order they were begun in),
        until nothing still open can precede them.
        """
        ready: list[tuple[float, int, int, dict[str, Any]]] = []
        begun = 0
        #: Open summary spans: (parameter, span index, source id) -> (order begun, start of the period, readings).
        #: A span is one device's: after a device change each device's values are summarised as its own.
        spans: dict[tuple[Parameter, int, str], tuple[int, float, list[Reading]]] = {}
        start = self.record.started_at
        last_index: int | None = None

        def close(key: tuple[Parameter, int, str]) -> None:
            order, begin, readings = spans.pop(key)
            parameter, index, source = key
            end = min(start + (index + 1) * resample_s, readings[-1].t)
            values = [r.value for r in readings if r.value is not None]
            heapq.heappush(ready, (begin, 1, order, self.summary(parameter, begin, max(end, begin), values, source)))

        for obs in ordered_observation_sets(self.record.readings):
            # A set of continuous numerics shares one time, so one span index serves all its values.
            now_index = int((obs.t - start) // resample_s) if resample_s > 0 else 0
            if obs.is_nibp:
                bp = self.blood_pressure(obs.readings)
                if bp is not None:
                    heapq.heappush(ready, (obs.t, 0, begun, bp))
                    begun += 1
            elif resample_s <= 0:
                for r in obs.readings:
                    heapq.heappush(ready, (r.t, 0, begun, self.single(r)))
                    begun += 1
            else:
                span_start = start + now_index * resample_s
                for r in obs.readings:
                    key = (r.parameter, now_index, r.source)
                    span = spans.get(key)
                    if span is None:
                        spans[key] = span = (begun, max(span_start, r.t), [])
                        begun += 1
                    span[2].append(r)
            # The sets come in time order, so spans end only when the span index moves on (once a minute).
            if resample_s > 0 and now_index != last_index:
                last_index = now_index
                for key in [k for k in spans if k[1] < now_index]:
                    close(key)
            if not ready:
                continue
            horizon = min([(obs.t, 0), *((begin, 1) for _order, begin, _rs in spans.values())])
            while ready and (ready[0][0], ready[0][1]) < horizon:
                yield heapq.heappop(ready)[3]
        for key in list(spans):
            close(key)
        while ready:
            yield heapq.heappop(ready)[3]


def treatment_resources(record: SessionRecord, patient_url: str, encounter_url: str) -> list[dict[str, Any]]:
    """Questionnaire totals as survey Observations (LOINC) and the dose as a MedicationAdministration."""
    found = treatment.summary(record)
    survey = [{"coding": [{"system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}]}]
    out: list[dict[str, Any]] = []
    for name, score in found.outcomes.items():
        q = questionnaire(name)
        out.append({
            "resourceType": "Observation",
            "id": _id(record.id, "outcome", name),
            "status": "final",
            "category": survey,
            "code": {"coding": [{"system": LOINC_SYSTEM, "code": q.loinc_total, "display": q.loinc_display}],
                     "text": q.name},
            "subject": {"reference": patient_url},
            "encounter": {"reference": encounter_url},
            "effectiveDateTime": iso_utc(found.outcome_times[name]),
            "valueInteger": score.total,
            "interpretation": [{"text": score.band}],
            "component": [
                {"code": {"text": f"{q.name} item {number}"}, "valueInteger": answer}
                for number, answer in enumerate(score.answers, start=1)
            ],
        })
    out += [_score_observation(record.id, result, survey, patient_url, encounter_url)
            for result in treatment.score_results(record)]
    dose = found.dose
    if dose.plan is not None and dose.started_at is not None:
        plan = dose.plan
        given = dose.delivered_mg if dose.delivered_mg is not None else plan.total_mg
        dosage: dict[str, Any] = {
            "route": {"text": plan.route},
            "dose": {"value": given, "unit": "mg", "system": UCUM_SYSTEM, "code": "mg"},
        }
        if plan.rate_mg_per_h is not None and not dose.rate_changes:
            dosage["rateQuantity"] = {"value": plan.rate_mg_per_h, "unit": "mg/h", "system": UCUM_SYSTEM,
                                      "code": "mg/h"}
        notes = [f"planned {plan.total_mg:g} mg"
                 + (f" ({plan.dose_mg_per_kg:g} mg/kg for {plan.weight_kg:g} kg)" if plan.dose_mg_per_kg and
                    plan.weight_kg else "")]
        if dose.rate_changes:
            # One rate would misstate what ran: the planned rate and each change, in the note, instead.
            if plan.rate_mg_per_h is not None:
                notes.append(f"planned rate {plan.rate_mg_per_h:g} mg/h")
            notes += [f"rate {c.rate_mg_per_h:g} mg/h from {iso_utc(c.t)}" for c in dose.rate_changes]
        if plan.lot:
            notes.append(f"lot {plan.lot}")
        if plan.confirmed_reason:
            notes.append(f"outside the protocol's range, confirmed: {plan.confirmed_reason}")
        effective: dict[str, Any] = {"start": iso_utc(dose.started_at)}
        status = "in-progress"
        ended = record.session.get("ended_at")
        if dose.stopped_at is not None:
            effective["end"] = iso_utc(max(dose.stopped_at, dose.started_at))
            status = "completed"
        elif ended is not None:
            # The session ended (closed) while the drug ran: its administration was halted then.
            effective["end"] = iso_utc(max(float(ended), dose.started_at))
            status = "stopped"
        out.append({
            "resourceType": "MedicationAdministration",
            "id": _id(record.id, "dose"),
            "status": status,
            "medicationCodeableConcept": {"text": plan.drug},
            "subject": {"reference": patient_url},
            "context": {"reference": encounter_url},
            "effectivePeriod": effective,
            "dosage": dosage,
            "note": [{"text": "; ".join(notes)}],
        })
    return out


def _score_observation(session_id: str, result: treatment.CodedResult, category: list[dict[str, Any]],
                       patient_url: str, encounter_url: str) -> dict[str, Any]:
    """A score entered at the chair; one entered in error keeps its place with the status ``entered-in-error``,
    and the one that corrects it is ``corrected`` and says what it replaced."""
    return {
        "resourceType": "Observation",
        "id": _id(session_id, result.code, f"{result.t:.3f}"),
        "status": result.status,
        "category": category,
        "code": {"coding": [{"system": SCORE_SYSTEM, "code": result.code, "display": result.display}],
                 "text": result.display},
        "subject": {"reference": patient_url},
        "encounter": {"reference": encounter_url},
        "effectiveDateTime": iso_utc(result.t),
        "valueQuantity": {"value": result.value, "unit": result.unit, "system": UCUM_SYSTEM, "code": result.unit},
        "note": [{"text": result.text}],
    }


def review_resources(record: SessionRecord, patient_url: str, encounter_url: str) -> list[dict[str, Any]]:
    """The record's review when a physician signed it off (else nothing): a DocumentReference per sign-off
    comment and addendum, then a Provenance per sign-off."""
    review = attestation(record)
    if review is None:
        return []
    notes = [(note, _note_document(record.id, note, patient_url, encounter_url)) for note in review.notes]
    return [*(document for _note, document in notes), *_provenances(record.id, review, notes, encounter_url)]


def _note_document(session_id: str, note: ReviewNote, patient_url: str, encounter_url: str) -> dict[str, Any]:
    """A sign-off comment or an addendum: what it is (``type``), who wrote it (``author``), when (``date``), the
    text as a plain-text attachment, and the Encounter (with the moment it is about, where one was named)."""
    kind = {"system": NOTE_SYSTEM, "code": note.kind.value, "display": note.kind.words}
    context: dict[str, Any] = {"encounter": [{"reference": encounter_url}]}
    if note.refers_to_at is not None:
        context["period"] = {"start": iso_utc(note.refers_to_at), "end": iso_utc(note.refers_to_at)}
    document: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "id": _id(session_id, note.kind.value, f"{note.t:.3f}", note.by or ""),
        "status": "current",
        "docStatus": "final",
        "type": {"coding": [kind], "text": note.kind.words},
        "subject": {"reference": patient_url},
        "date": iso_utc(note.t),
    }
    if note.by:
        document["author"] = [{"display": note.by}]
    data = base64.b64encode(note.text.encode("utf-8")).decode("ascii")
    document["content"] = [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": data,
                                           "creation": iso_utc(note.t)}}]
    document["context"] = context
    return document


def _provenances(session_id: str, review: Attestation, notes: list[tuple[ReviewNote, dict[str, Any]]],
                 encounter_url: str) -> list[dict[str, Any]]:
    """A Provenance per sign-off: the Encounter (the session's record) and the signer's own comment attested by
    the physician, when. The activity is said in words only: ``LA`` (legally authenticated) of v3-DocumentCompletion
    would claim a legal standing that the clinic, not this program, gives a sign-off."""
    attester = {"coding": [{"system": PARTICIPANT_TYPE_SYSTEM, "code": "attester", "display": "Attester"}]}
    out = []
    for signed in review.sign_offs:
        name = signer_name(signed)
        who: dict[str, Any] = ({"display": name} if name else
                               {"extension": [{"url": DATA_ABSENT_EXTENSION, "valueCode": "masked"}]})
        agent: dict[str, Any] = {"type": attester, "who": who}
        if signed.role:
            agent["role"] = [{"text": signed.role}]
        targets = [{"reference": encounter_url}]
        targets += [{"reference": f"urn:uuid:{document['id']}"} for note, document in notes
                    if note.kind is NoteKind.SIGN_OFF_COMMENT and note.t == signed.t and note.by == name]
        out.append({
            "resourceType": "Provenance",
            "id": _id(session_id, "sign-off", f"{signed.t:.3f}", name or ""),
            "target": targets,
            "occurredDateTime": iso_utc(signed.t),
            "recorded": iso_utc(signed.t),
            "activity": {"text": "sign-off: a physician attests that they reviewed the session's record"},
            "agent": [agent],
        })
    return out


def _bundle_shell(record: SessionRecord) -> dict[str, Any]:
    """The Bundle without its entries (``entry`` comes last in the document)."""
    ended = record.session.get("ended_at")
    return {
        "resourceType": "Bundle",
        "id": _id(record.id, "bundle", record.deidentified, record.options.resample_s),
        "type": "collection",
        "timestamp": iso_utc(float(ended) if ended is not None else record.started_at),
    }


def _head_entries(builder: _Builder) -> list[dict[str, Any]]:
    """The Patient and the Encounter (which states whether the record verified)."""
    return [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in (builder.patient(), builder.encounter())]


def _body_entries(record: SessionRecord, builder: _Builder) -> Iterator[dict[str, Any]]:
    """The entries after the Encounter, the observations made as the readings are read."""
    for r in builder.iter_observations(record.options.resample_s):
        yield {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}
    for r in [*treatment_resources(record, builder.patient_url, builder.encounter_url),
              *review_resources(record, builder.patient_url, builder.encounter_url)]:
        yield {"fullUrl": f"urn:uuid:{r['id']}", "resource": r}


def _blocks(entries: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while block := list(itertools.islice(entries, size)):
        yield block


#: Observation elements the builder shares between Observations (see :meth:`_Builder.code` and the others).
_SHARED_ELEMENTS: Final = ("meta", "category", "code", "subject", "encounter", "device", "referenceRange",
                           "interpretation", "valueQuantity", "method")


class _Validator:
    """Validates blocks of entries as Bundles with fhir.resources, each shared element once.

    Each Observation is validated by the Observation model, then its block by the Bundle model (which
    takes the validated Observations as they are). An element the builder shares between Observations
    (the same object: category, code, subject, reference range, ...) is validated with the first
    Observation that has it, and that validated element stands for it in the others: validating the
    same object again could only give the same result. Everything else of every entry is validated
    each time; the result is that of ``Bundle.model_validate({**shell, "entry": entries})``.
    """

    def __init__(self, shell: dict[str, Any]) -> None:
        self.shell = shell
        #: id() of a shared element -> its validated model(s); ``kept`` holds the elements, so no other
        #: object can take one of their ids while this validator is used.
        self.validated: dict[int, Any] = {}
        self.kept: list[Any] = []

    def block(self, entries: list[dict[str, Any]]) -> None:
        """Validate ``entries`` as a Bundle of their own (raises the model's error)."""
        items = []
        for entry in entries:
            resource = entry["resource"]
            if resource.get("resourceType") == "Observation":
                items.append({**entry, "resource": self._observation(resource)})
            else:
                items.append(entry)
        Bundle.model_validate({**self.shell, "entry": items})

    def _observation(self, resource: dict[str, Any]) -> Observation:
        validated = self.validated
        model = Observation.model_validate({key: validated.get(id(value), value) for key, value in resource.items()})
        for key in _SHARED_ELEMENTS:
            value = resource.get(key)
            if value is not None and id(value) not in validated:
                validated[id(value)] = getattr(model, key)
                self.kept.append(value)
        return model


def _validate(shell: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Validate entries as a Bundle of their own (raises the model's error)."""
    _Validator(shell).block(entries)


def write(record: SessionRecord, stream: IO[str]) -> None:
    """Validate the Bundle with fhir.resources and write it as FHIR JSON, a block of entries at a time.

    Each block of :data:`VALIDATE_BLOCK` entries is validated as a Bundle of its own before it is
    written, so every entry passes the same model as in a whole-Bundle validation while the
    session is never held whole; a failure stops the export (a file export then leaves nothing).
    The bytes are compact JSON (``separators=(",", ":")``, ``ensure_ascii=False``) written by
    the standard encoder, as the model's own serialiser takes longer than the validation itself.
    """
    write_head(record, stream)
    write_body(record, stream)


def write_head(record: SessionRecord, stream: IO[str]) -> None:
    """The Bundle up to and with its first entries, the Patient and the Encounter (validated)."""
    shell = _bundle_shell(record)
    head = _encode(shell)
    entries = _head_entries(_Builder(record))
    _validate(shell, entries)
    stream.write(head[:-1] + ',"entry":[' + ",".join(_encode(entry) for entry in entries))


def write_body(record: SessionRecord, stream: IO[str]) -> None:
    """The entries after the Encounter, validated a block at a time, and the Bundle's end."""
    validator = _Validator(_bundle_shell(record))
    for block in _blocks(_body_entries(record, _Builder(record)), VALIDATE_BLOCK):
        validator.block(block)
        for entry in block:
            stream.write("," + _encode(entry))
    stream.write("]}\n")


#: The observations first, the Patient and Encounter (the record's verification) when it is known.
prepare = body_first(write_head, write_body)
