"""The export writers as they were before the readings were streamed: whole lists, sorted once.

Kept verbatim (apart from names) as the reference the streamed exports must match byte for byte:
they read a record whose readings are all in memory and build each document whole. The grouping
into observation sets and the one-message composer are production's whole-list
:func:`monitor.exports.hl7_export.observation_sets` and :func:`~monitor.exports.hl7_export.oru_message`
(still what the HL7 feed uses), not copies, and so are the record's review (HL7 :func:`review_message`,
FHIR :func:`review_resources`, made from the events, not the readings): the streamed exports group with a different algorithm,
:func:`~monitor.exports.hl7_export.ordered_observation_sets`, and compose each message with its own
cached texts (``_SessionMessages``), so the comparison stays meaningful.
The whole-record FHIR Bundle (:func:`bundle_data`) lives only here.
"""
# ruff: noqa

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

from fhir.resources.R4B.bundle import Bundle

from drivers.core.readings import Parameter, Reading, iso_utc
from drivers.hl7.v2 import escape, hl7_time
from monitor.exports.codes import DEFAULT_RANGES, ReferenceRange
from monitor.exports.csv_tables import write_statement
from monitor.exports.data import SessionRecord
from monitor.exports.attestation import attestation
from monitor.exports.fhir_export import _bundle_shell, _Builder, review_resources, treatment_resources
from monitor.exports.hl7_export import (
    SEGMENT_END, SENDING_APPLICATION, ObservationSet, PatientIdentity, _clinical_message, observation_sets,
    oru_message, review_message,
)
from monitor.exports.json_export import small_parts
from monitor.exports.treatment import CodedResult, coded_results


# -- CSV ------------------------------------------------------------------------------------------

COLUMNS = ("timestamp", "elapsed_s", "phase", "parameter", "value", "unit", "status")


def csv_write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the session's numeric readings (missing values as an empty cell)."""
    write_statement(record, stream)
    out = csv.writer(stream, lineterminator="\n")
    out.writerow(COLUMNS)
    phase_at = record.phase_at()
    start = record.started_at
    for r in record.readings:
        out.writerow(
            (
                iso_utc(r.t),
                f"{r.t - start:.3f}",
                phase_at(r.t).value,
                r.parameter.value,
                "" if r.value is None else f"{r.value:g}",
                r.unit,
                r.status,
            )
        )


# -- JSON -----------------------------------------------------------------------------------------

def json_write(record: SessionRecord, stream: IO[str]) -> None:
    """The whole document built in memory, then dumped."""
    parts = small_parts(record)
    readings = [
        {"t": iso_utc(r.t), "parameter": r.parameter.value, "value": r.value, "unit": r.unit, "status": r.status}
        for r in record.readings
    ]
    document = {"session": parts["session"], "treatment": parts["treatment"], "readings": readings,
                "alarms": parts["alarms"], "events": parts["events"]}
    json.dump(document, stream, indent=1, default=str)
    stream.write("\n")


# -- HL7 ------------------------------------------------------------------------------------------

def messages(record: SessionRecord, ranges: Mapping[Parameter, ReferenceRange] | None = None) -> list[str]:
    """Every ORU^R01 message of a session, in time order (ranges: the options', else the built-in).

    Besides the device's observation sets, questionnaire totals (PHQ-9 44261-6, GAD-7 70274-6) and
    the dose (planned, per kg, delivered; local codes) go out as messages of their own.
    """
    ranges = ranges or record.options.ranges or DEFAULT_RANGES
    patient = PatientIdentity.from_record(record)
    # Each value's device from its source id (the writers did this once a device could be changed mid-session).
    device_of = record.device_of()
    prefix = record.id[:12].upper()
    timed: list[tuple[float, ObservationSet | list[CodedResult]]] = [
        (obs.t, obs) for obs in observation_sets(record.readings)
    ]
    grouped: dict[float, list[CodedResult]] = {}
    for result in coded_results(record):
        grouped.setdefault(result.t, []).append(result)
    timed += list(grouped.items())
    timed.sort(key=lambda item: item[0])
    out = []
    for n, (_t, item) in enumerate(timed, start=1):
        control_id = f"{prefix}{n:06d}"
        if isinstance(item, ObservationSet):
            out.append(oru_message(item, control_id=control_id, patient=patient, visit=record.id,
                                   device_of=device_of, ranges=ranges))
        else:
            out.append(_clinical_message(item, control_id, patient, record.id))
    review = attestation(record)
    if review is not None:
        out.append(review_message(record, review, f"{prefix}{len(out) + 1:06d}", patient))
    return out


def batch(record: SessionRecord, bodies: Sequence[str]) -> str:
    """The messages wrapped in FHS/BHS ... BTS/FTS."""
    when = hl7_time(record.started_at)
    header = f"|^~\\&|{SENDING_APPLICATION}||||{when}||{record.id}.hl7"
    # The batch comment (BHS-10) says which alarm profile ran and whether the record verified.
    comment = escape(f"alarm profile {record.alarm_profile}; record {record.verification}")
    return (
        f"FHS{header}{SEGMENT_END}"
        f"BHS{header}|{comment}|{record.id}{SEGMENT_END}" + "".join(bodies)
        + f"BTS|{len(bodies)}{SEGMENT_END}FTS|1{SEGMENT_END}"
    )


def hl7_write(record: SessionRecord, stream: IO[str]) -> None:
    """Write the session as one HL7 batch file."""
    stream.write(batch(record, messages(record)))


# -- FHIR -----------------------------------------------------------------------------------------

def observations(self: _Builder, resample_s: float) -> list[dict[str, Any]]:
    timed: list[tuple[float, dict[str, Any]]] = []
    bins: dict[tuple[Parameter, int, str], list[Reading]] = {}
    start = self.record.started_at
    for obs in observation_sets(self.record.readings):
        if obs.is_nibp:
            bp = self.blood_pressure(obs.readings)
            if bp is not None:
                timed.append((obs.t, bp))
            continue
        for r in obs.readings:
            if resample_s <= 0:
                timed.append((r.t, self.single(r)))
            else:
                bins.setdefault((r.parameter, int((r.t - start) // resample_s), r.source), []).append(r)
    for (parameter, index, source), readings in bins.items():
        begin = max(start + index * resample_s, readings[0].t)
        end = min(start + (index + 1) * resample_s, readings[-1].t)
        values = [r.value for r in readings if r.value is not None]
        timed.append((begin, self.summary(parameter, begin, max(end, begin), values, source)))
    timed.sort(key=lambda item: item[0])
    return [resource for _t, resource in timed]


def bundle_data(record: SessionRecord) -> dict[str, Any]:
    """The session as FHIR JSON data (not yet validated)."""
    builder = _Builder(record)
    resources = [builder.patient(), builder.encounter(), *observations(builder, record.options.resample_s),
                 *treatment_resources(record, builder.patient_url, builder.encounter_url),
                 *review_resources(record, builder.patient_url, builder.encounter_url)]
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return {**_bundle_shell(record), "entry": entries}


def fhir_write(record: SessionRecord, stream: IO[str]) -> None:
    """Validate the Bundle with fhir.resources, then write it as FHIR JSON.

    The data that passed validation is written with the standard JSON encoder: the model's own
    serialiser gives the same document but takes longer than the validation itself.
    """
    data = bundle_data(record)
    Bundle.model_validate(data)
    json.dump(data, stream, separators=(",", ":"), ensure_ascii=False)
    stream.write("\n")
