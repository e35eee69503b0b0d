"""A physician's sign-off and the addenda reach the HL7 v2 and FHIR exports.

Before, both exports said nothing of a review: a receiving EHR could not tell an attested record from one nobody
had reviewed, nor who attested it and when. The HL7 batch now ends with a review message (OBR-25 ``F``, OBR-32
the signer and time, an NTE per comment and addendum); the FHIR Bundle with a Provenance per sign-off and a
DocumentReference per comment and addendum. A session nobody signed off has neither.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import hl7
import pytest
from fhir.resources.R4B.bundle import Bundle
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from drivers.core.readings import iso_utc
from drivers.hl7.v2 import parse_hl7_time
from monitor import review, sign_off
from monitor.store import Store
from tests.monitor.records.sessions import RecordedSession, export_bytes
from tests.monitor.records.test_export_validation import split_messages

SIGNED_AT = 1_718_100_000.0
COMMENT = "BP rise expected; no action."
BEFORE = "Reviewed the cuff log with the nurse"
#: Every HL7 delimiter, the escape character and a line break: the text must come back as typed.
AFTER = "SpO2 dip | probe moved ^ re-sited & fine ~ see C:\\notes\nSecond line"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


def _review(path: Path, session_id: str) -> None:
    """An addendum, a sign-off with a comment, a second addendum after it and a co-signature."""
    with Store(path) as store:
        review.add_addendum(store, session_id, BEFORE, user="RN Ana Lopez", role="nurse", now=SIGNED_AT - 600)
        sign_off.sign_off(store, session_id, user="Dr Mensah", role="physician", comment=COMMENT, now=SIGNED_AT)
        review.add_addendum(store, session_id, AFTER, user="Dr Mensah", role="physician", now=SIGNED_AT + 600)
        sign_off.sign_off(store, session_id, user="Dr Okafor", role="physician", now=SIGNED_AT + 3600)


@pytest.fixture
def signed(recorded: RecordedSession, recorded_copy: Path) -> RecordedSession:
    """The recorded session, reviewed and signed off."""
    _review(recorded_copy, recorded.session_id)
    return RecordedSession(recorded_copy, recorded.session_id)


def _export(session: RecordedSession, tmp_path: Path, fmt: str, *extra: str) -> str:
    return export_bytes(session, tmp_path / f"out-{fmt}-{len(extra)}", fmt, *extra).decode("utf-8")


def _result_status(message: str) -> str:
    """OBR-25 of a message ("" where the OBR ends before it)."""
    obr = hl7.parse(message).segment("OBR")
    return str(obr(25)) if len(obr) > 25 else ""


def _hl7_time(field: object) -> float:
    return parse_hl7_time(str(field), None)


def test_hl7_ends_with_a_review_message_the_observations_unchanged(
    signed: RecordedSession, recorded: RecordedSession, tmp_path: Path
) -> None:
    before = _export(recorded, tmp_path, "hl7")
    after = _export(signed, tmp_path, "hl7")
    old, new = split_messages(before), split_messages(after)
    assert new[:-1] == old  # every observation message as it was; the review is one more
    assert after.endswith(f"BTS|{len(new)}\rFTS|1\r") and before.endswith(f"BTS|{len(old)}\rFTS|1\r")
    assert {_result_status(m) for m in old} == {""}  # no other message claims to be final

    message = hl7.parse(new[-1])
    obr = message.segment("OBR")
    assert str(obr(25)) == "F"
    assert _hl7_time(obr(22)) == SIGNED_AT
    # OBR-32 Principal Result Interpreter (NDL): the physician (CNN: ID, family name, assigning authority), the time.
    assert [str(obr(32)(1)(1)(k)) for k in (1, 2, 9)] == ["Dr Mensah", "Dr Mensah", "INFUSION_MONITOR"]
    assert _hl7_time(obr(32)(1)(2)) == SIGNED_AT
    assert str(obr(33)(1)(1)(1)) == "Dr Okafor" and _hl7_time(obr(33)(1)(2)) == SIGNED_AT + 3600
    ntes = message.segments("NTE")
    # NTE-3 text (python-hl7 reads the FT line break \.br\ as a carriage return), NTE-4 what, NTE-5 who, NTE-6 when.
    found = [(message.unescape(str(n(3))), str(n(4)(1)(1)), str(n(5)(1)(1)), _hl7_time(n(6))) for n in ntes]
    assert found == [
        (BEFORE, "addendum", "RN Ana Lopez", SIGNED_AT - 600),
        (COMMENT, "sign-off-comment", "Dr Mensah", SIGNED_AT),
        (AFTER.replace("\n", "\r"), "addendum-after-sign-off", "Dr Mensah", SIGNED_AT + 600),
    ]
    assert "SpO2 dip \\F\\ probe moved \\S\\ re-sited \\T\\ fine \\R\\ see C:\\E\\notes\\.br\\Second line" in new[-1]


def test_hl7apy_validates_the_review_message_and_reads_the_interpreter(signed: RecordedSession,
                                                                       tmp_path: Path) -> None:
    message = split_messages(_export(signed, tmp_path, "hl7"))[-1]
    parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    order = parsed.ORU_R01_PATIENT_RESULT.ORU_R01_ORDER_OBSERVATION
    interpreter = order.OBR.obr_32
    assert interpreter.datatype == "NDL"
    assert [interpreter.ndl_1.cnn_1.to_er7(), interpreter.ndl_1.cnn_2.to_er7()] == ["Dr Mensah", "Dr Mensah"]
    assert interpreter.ndl_2.to_er7() == "20240611100000.000+0000"
    assert order.OBR.obr_25.value == "F"
    assert [n.nte_5.datatype for n in order.NTE] == ["XCN"] * 3
    bad = message.replace("|Dr Mensah&Dr Mensah&&&&&&&INFUSION_MONITOR^20240611100000.000+0000|",
                          "|Dr Mensah&Dr Mensah&&&&&&&INFUSION_MONITOR^yesterday|")
    assert bad != message
    with pytest.raises(Exception, match="yesterday is not an HL7 valid date"):  # the check is real: NDL-2 is a DTM
        parse_message(bad, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()


def _resources(text: str, kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(text)["entry"] if e["resource"]["resourceType"] == kind]


def test_fhir_has_a_provenance_per_sign_off_and_a_document_per_comment_and_addendum(
    signed: RecordedSession, tmp_path: Path
) -> None:
    text = _export(signed, tmp_path, "fhir")
    Bundle.model_validate(json.loads(text))  # the export validated its blocks; the whole Bundle passes too
    (encounter,) = _resources(text, "Encounter")
    documents = _resources(text, "DocumentReference")
    assert [(d["type"]["coding"][0]["code"], d["author"][0]["display"], d["date"],
             base64.b64decode(d["content"][0]["attachment"]["data"]).decode("utf-8")) for d in documents] == [
        ("addendum", "RN Ana Lopez", iso_utc(SIGNED_AT - 600), BEFORE),
        ("sign-off-comment", "Dr Mensah", iso_utc(SIGNED_AT), COMMENT),
        ("addendum-after-sign-off", "Dr Mensah", iso_utc(SIGNED_AT + 600), AFTER),
    ]
    assert all(d["context"]["encounter"] == [{"reference": f"urn:uuid:{encounter['id']}"}] for d in documents)
    first, second = _resources(text, "Provenance")
    for provenance, who, at in ((first, "Dr Mensah", SIGNED_AT), (second, "Dr Okafor", SIGNED_AT + 3600)):
        (agent,) = provenance["agent"]
        assert agent["type"]["coding"] == [{"system": PARTICIPANT_TYPE, "code": "attester", "display": "Attester"}]
        assert (agent["who"], agent["role"], provenance["recorded"]) == ({"display": who}, [{"text": "physician"}],
                                                                         iso_utc(at))
        assert provenance["target"][0] == {"reference": f"urn:uuid:{encounter['id']}"}
    assert first["target"][1] == {"reference": f"urn:uuid:{documents[1]['id']}"}  # the comment Dr Mensah wrote
    assert len(second["target"]) == 1


def test_a_deidentified_export_says_a_physician_attested_it_and_names_nobody(
    signed: RecordedSession, tmp_path: Path
) -> None:
    hl7_text = _export(signed, tmp_path, "hl7", "--deidentify")
    fhir_text = _export(signed, tmp_path, "fhir", "--deidentify")
    for text in (hl7_text, fhir_text):
        assert "Mensah" not in text and "Okafor" not in text and "Lopez" not in text
    obr = hl7.parse(split_messages(hl7_text)[-1]).segment("OBR")
    assert str(obr(25)) == "F" and str(obr(32)(1)(1)) == ""
    assert str(obr(32)(1)(2)).startswith("2000")  # the session-relative clock
    (first, _second) = _resources(fhir_text, "Provenance")
    assert first["agent"][0]["who"] == {"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked"}]}
    assert all("author" not in d for d in _resources(fhir_text, "DocumentReference"))


def test_an_unsigned_session_has_no_attestation_and_its_addenda_wait_for_the_sign_off(
    recorded: RecordedSession, recorded_copy: Path, tmp_path: Path
) -> None:
    before = {fmt: _export(recorded, tmp_path, fmt) for fmt in ("hl7", "fhir")}
    with Store(recorded_copy) as store:
        review.add_addendum(store, recorded.session_id, BEFORE, user="RN Ana Lopez", now=SIGNED_AT)
    unsigned = RecordedSession(recorded_copy, recorded.session_id)
    hl7_text = _export(unsigned, tmp_path, "hl7")
    fhir_text = _export(unsigned, tmp_path, "fhir")
    messages = split_messages(hl7_text)
    assert {_result_status(m) for m in messages} == {""} and not any("\rNTE|" in m for m in messages)
    assert _resources(fhir_text, "Provenance") == [] and _resources(fhir_text, "DocumentReference") == []
    # The same bytes but for the count of chain links the statement gives (the addendum is one more).
    assert [_links_unsaid(t) for t in (hl7_text, fhir_text)] == [_links_unsaid(before[f]) for f in ("hl7", "fhir")]


def _links_unsaid(text: str) -> str:
    return re.sub(r"\(\d+ chain links checked\)", "(N chain links checked)", text)
