"""De-identified exports: no name, MRN, birth date, device serial or staff name in any format's bytes."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest

from drivers.simulated.driver import SimulatedSource
from monitor.exports.data import RELATIVE_EPOCH
from monitor.store import Store
from tests.monitor.records.sessions import (
    BIRTH_DATE,
    DEVICE,
    MRN,
    NURSE,
    PATIENT_NAME,
    START,
    RecordedSession,
    add_alarms,
    alarm_record,
    export_bytes,
    record_session,
)

SERIAL = "4471XK0092"
FORMATS = ("csv", "json", "hl7", "fhir", "pdf")


@pytest.fixture(scope="module")
def noted(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A session whose note names the patient and whose device link drops (that event names the device)."""

    def during(recorder) -> None:  # type: ignore[no-untyped-def]
        if recorder.session.phase.value == "infusion" and not getattr(during, "done", False):
            during.done = True  # type: ignore[attr-defined]
            recorder.submit("note", NURSE, text=f"Mrs Quillfeather ({MRN}, born {BIRTH_DATE}) settled")

    return record_session(
        tmp_path_factory.mktemp("deid") / "m.db",
        plan="baseline:1,infusion:14,recovery:2",
        scenario="link_loss",
        during=during,
    )


def exported_bytes(session: RecordedSession, out: Path, fmt: str, *extra: str) -> bytes:
    data = export_bytes(session, out, fmt, *extra)
    if fmt == "pdf":
        # The page content is compressed; search the text a reader sees and the document information.
        reader = pypdf.PdfReader(io.BytesIO(data))
        text = "\n".join(p.extract_text() for p in reader.pages) + json.dumps(dict(reader.metadata or {}))
        return text.encode("utf-8")
    return data


def identifiers() -> list[bytes]:
    compact = BIRTH_DATE.replace("-", "")
    words = [MRN, PATIENT_NAME, "Quillfeather", BIRTH_DATE, compact, DEVICE, SERIAL, NURSE, "Alvarez"]
    return [w.encode("utf-8") for w in words]


@pytest.mark.parametrize("fmt", FORMATS)
def test_identified_export_does_contain_the_identifiers(fmt: str, noted: RecordedSession, tmp_path: Path) -> None:
    # The search below must be able to fail: the plain export carries the identifiers it looks for.
    data = exported_bytes(noted, tmp_path / f"plain.{fmt}", fmt).lower()
    present = [w for w in identifiers() if w.lower() in data]
    if fmt == "csv":
        assert present == []  # readings only: the CSV never carries identifiers
    else:
        assert MRN.encode() in present
        assert DEVICE.lower().encode() in data
    assert b"2024-06-10" in data or b"20240610" in data


@pytest.mark.parametrize("fmt", FORMATS)
def test_deidentified_export_has_no_identifiers(
    fmt: str, noted: RecordedSession, tmp_path: Path, store_of: Callable[..., Store], signed_in_as: Callable[..., str]
) -> None:
    # A copy gets the account: on the module's own database, with one, every other export would need a sign-in.
    noted = RecordedSession(Path(shutil.copy(noted.path, tmp_path / "signed.db")), noted.session_id)
    user = signed_in_as(noted.path, "auditor")
    data = exported_bytes(noted, tmp_path / f"deid.{fmt}", fmt, "--deidentify", "--user", user).lower()
    for word in identifiers():
        assert word.lower() not in data, word
    # Dates of care are gone too: the session-relative clock starts on 2000-01-01. (A date, not the bare
    # year: random identifiers in hex may hold "2024" by chance.)
    assert not re.search(rb"2024-?0[1-9]-?[0-3][0-9]", data)
    if fmt != "pdf":
        assert b"2000-01-01" in data or b"20000101" in data
    audit = [e for e in store_of(noted).audit_log(noted.session_id) if e["action"] == "export"]
    assert any(
        e["user"] == "auditor" and f'"format": "{fmt}"' in e["detail"] and '"deidentified": true' in e["detail"]
        for e in audit
    )


def test_keep_staff_keeps_nurse_names_only(noted: RecordedSession, tmp_path: Path) -> None:
    data = exported_bytes(noted, tmp_path / "staff.json", "json", "--deidentify", "--keep-staff")
    assert NURSE.encode() in data
    assert MRN.encode() not in data
    assert b"[removed]" in data  # the note's identifiers were replaced, the rest of the note kept
    assert b"settled" in data


def test_relative_time_alone_keeps_identifiers_and_shifts_times(noted: RecordedSession, tmp_path: Path) -> None:
    document = json.loads(exported_bytes(noted, tmp_path / "rel.json", "json", "--relative-time"))
    assert document["session"]["started_at"] == "2000-01-01T00:00:00.000+00:00"
    assert document["session"]["patient"]["mrn"] == MRN
    assert document["readings"][0]["t"].startswith("2000-01-01T00:00")
    baseline_taken = next(e for e in document["events"] if e["kind"] == "baseline_taken")
    assert baseline_taken["detail"]["taken_at"] == pytest.approx(RELATIVE_EPOCH + 61.0)


@pytest.mark.parametrize(("name", "note", "kept"), [
    ("Ann Lindqvist", "Cannula resited; Ann calm, LINDQVIST family waiting", "Cannula resited; [removed] calm, "
                                                                             "[removed] family waiting"),
    ("Max Rose", "BP max 172 at 14:42, rose to 180; Max asleep", "BP [removed] 172 at 14:42, [removed] to 180; "
                                                                  "[removed] asleep"),
])
def test_only_whole_words_are_removed_from_free_text(name: str, note: str, kept: str) -> None:
    """A name is removed where it stands as a word; the clinical words it is part of are left whole."""
    from monitor.exports.data import _identifier_texts, _scrubber

    scrub = _scrubber(_identifier_texts({"mrn": "MRN-881", "name": name, "birth_date": None}, None))
    assert scrub(note) == kept


#: (the name on file, the note, the note as a de-identified export gives it): a name is found however its
#: accents, apostrophes, spaces and case are typed, and only the name is replaced, the text around it as typed.
NAME_SPELLINGS = [
    # The name typed with combining accents, the note precomposed; then the other way round.
    ("Jose\u0301 Nu\u0301n\u0303ez", "José Núñez settled; Núñez family waiting",
     "[removed] settled; [removed] family waiting"),
    ("José Núñez", "Jose\u0301 asleep, NU\u0301N\u0303EZ chart", "[removed] asleep, [removed] chart"),
    # One half of a double-barrelled surname, and the whole with another dash.
    ("Anna Wójcik-Kowalczyk", "Mrs Wójcik calm; Kowalczyk family", "Mrs [removed] calm; [removed] family"),
    ("Anna Wójcik-Kowalczyk", "Anna Wójcik\u2013Kowalczyk’s husband", "[removed]’s husband"),
    # Typed on a keyboard without accents: the surname without its acute, a Ł without its stroke.
    ("Anna Wójcik-Kowalczyk", "Anna Wojcik DOB noted; Wojcik-Kowalczyk family",
     "[removed] [removed] DOB noted; [removed]-[removed] family"),
    ("Łucja Żółć", "Lucja Zolc asleep, Łucja fine", "[removed] asleep, [removed] fine"),
    ("José Núñez", "NUNEZ chart, Jose", "[removed] chart, [removed]"),
    # An accent typed where the name has none is another word: "Léa" in a note about Lea is left alone.
    ("Lea Marsh", "Léa in bed 4", "Léa in bed 4"),
    # The curly apostrophe a phone or a word processor types, and the straight one.
    ("Seán O'Brien", "Mr O’Brien’s wife; o'brien", "Mr [removed]’s wife; [removed]"),
    ("Seán O’Brien", "seen: Seán O'Brien.", "seen: [removed]."),
    # A pasted non-breaking space inside the whole name.
    ("Ann Lindqvist", "Ann\u00a0Lindqvist, cannula", "[removed], cannula"),
    # CJK: parts of one or two characters, and the name written without a space, honorific attached.
    ("山田 太郎", "山田太郎さん、落ち着いている。山田さん", "[removed]さん、落ち着いている。[removed]さん"),
    ("山田\u3000太郎", "太郎くん OK", "[removed]くん OK"),
    ("王 芳", "王芳女士血压正常", "[removed]女士血压正常"),
    ("김 민준", "김민준님 안정", "[removed]님 안정"),
    # Persian: the surname alone, and the given name with its zero-width non-joiner.
    ("علی\u200cاکبر رضایی", "آقای رضایی و علی\u200cاکبر", "آقای [removed] و [removed]"),
    # Short Latin parts stay (a word too often); a Latin name is still matched as whole words only.
    ("Li Wei", "Li said the line is fine; Weiss came", "Li said the line is fine; Weiss came"),
]


@pytest.mark.parametrize(("name", "note", "kept"), NAME_SPELLINGS)
def test_a_name_is_removed_however_it_is_spelt(name: str, note: str, kept: str) -> None:
    from monitor.exports.data import _identifier_texts, _scrubber

    scrub = _scrubber(_identifier_texts({"mrn": "MRN-881", "name": name, "birth_date": None}, None))
    assert scrub(note) == kept


def test_staff_names_leave_free_text_too_unless_kept() -> None:
    from monitor.exports.data import SessionRecord, deidentified
    from monitor.session import EventKind, Phase, SessionEvent

    texts = ["Emergency sign-in without an account: Dr Helga Brandt (patient desaturating)",
             "Brandt informed; Rosa at the chair"]
    events = (
        SessionEvent(1.0, EventKind.NOTE, Phase.INFUSION, "EMERGENCY: Dr Helga Brandt", {"text": texts[0]}),
        SessionEvent(2.0, EventKind.NOTE, Phase.INFUSION, "Rosa Alvarez", {"text": texts[1]}),
    )
    record = SessionRecord({"id": "s1", "started_at": 0.0, "nurse": "Rosa Alvarez"}, None, (), events, ())
    removed = [str(e.detail["text"]) for e in deidentified(record).events]
    assert removed == ["Emergency sign-in without an account: [removed] (patient desaturating)",
                       "[removed] informed; [removed] at the chair"]
    assert [e.detail["text"] for e in deidentified(record, keep_staff=True).events] == texts


def test_a_patient_identified_by_mistake_and_corrected_is_removed_too(tmp_path: Path) -> None:
    """A session first attached to Anna Wójcik (MRN1001), then corrected to its own patient: a note naming Anna
    was kept in the de-identified export, since only the session's final patient was removed."""
    from monitor.exports.data import load

    def during(recorder) -> None:  # type: ignore[no-untyped-def]
        if recorder.session.phase.value == "baseline" and not getattr(during, "done", False):
            during.done = True  # type: ignore[attr-defined]
            recorder.submit("identify_patient", NURSE, mrn="MRN1001", patient_name="Anna Wójcik",
                            birth_date="1961-04-02")
            recorder.submit("identify_patient", NURSE, mrn="MRN2002", patient_name="Boris Ivanov")
            recorder.submit("note", NURSE, text="Anna Wójcik's escort phoned (MRN1001): wrong chair")

    recorded = record_session(tmp_path / "wrong.db", with_patient=False, during=during)
    with Store(recorded.path, readonly=True) as store:
        kept = load(store, recorded.session_id, deidentify=True)
    notes = [e.detail["text"] for e in kept.events if e.kind.value == "note"]
    assert notes == ["[removed]'s escort phoned ([removed]): wrong chair"]
    assert kept.earlier_patients == () and kept.patient is None


# -- identifiers that reached the record another way ---------------------------------------------------------------

OTHER_MRN = "999777"
SENDER = "10.20.30.40"
SERVER_HOST = "ehr7.stmarys-clinic.example"
SPARE_SERIAL = "7788ZZ0011"
DB_FOLDER = "/srv/chair7-quillfeather"
#: The patient's birth date (1984-03-17) as nurses write it, with the MRN (MRN-448812) and the device's serial.
NOTE = ("born 17 March 1984 (1984/03/17, 17-03-1984, 03-17-1984, 17.03.1984, 3/17/84, 17/3/84, March 17th, 1984, "
        "17th of Mar 1984, 19840317); MRN448812, mrn 448812, 0448812, #448-812; serial 4471-XK-0092; pump 3/17/85")
WRITTEN_DATES = ("17 march 1984", "1984/03/17", "17-03-1984", "03-17-1984", "17.03.1984", "3/17/84", "17/3/84",
                 "march 17th, 1984", "17th of mar 1984", "19840317")
EVERY_FORMAT = ("csv", "csv-events", "csv-alarms", "json", "hl7", "fhir", "pdf")


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> RecordedSession:
    """A session whose timeline holds, besides the nurse's note above, what the program itself wrote about what it
    met: an HL7 message refused for another patient's MRN from a sender's address, a live-feed error naming the
    EHR's host, a device change to another port and serial, a storage failure naming a folder; and whose alarm log
    holds technical alarms raised with such words."""
    from drivers.base import NIBP_NOT_STARTED
    from monitor.session import EventKind

    def during(recorder) -> None:  # type: ignore[no-untyped-def]
        if recorder.session.phase.value != "infusion" or getattr(during, "done", False):
            return
        during.done = True  # type: ignore[attr-defined]
        s = recorder.session
        recorder.submit("note", NURSE, text=NOTE)
        # As the recorder writes the HL7 listener's refusal (``Recorder._on_link_event``).
        s.record(EventKind.TECHNICAL, None, None, condition="hl7_other_patient", device=DEVICE,
                 detail=f"HL7 message MON1796 from MON^BED1 ({SENDER}:59622) refused: PID-3 {OTHER_MRN} "
                        "is not this session's patient")
        s.record(EventKind.TECHNICAL, None, None, condition="storage_write_failed",
                 error=f"disk I/O error: {DB_FOLDER}/monitor.db")
        s.record(EventKind.TECHNICAL, None, None, condition=NIBP_NOT_STARTED, reason="schedule", device=DEVICE,
                 detail=f"no answer from {SENDER}:4001")
        recorder.submit("technical_event", None, condition="feed_error",
                        detail=f"{SERVER_HOST} ({SENDER}:2575) refused the ORU for PID-3 {OTHER_MRN}")
        spare = SimulatedSource(seed=9, speed=math.inf, pleth=False, start_time=s.now)
        spare.device = f"Spare monitor SN {SPARE_SERIAL} on {SENDER}:4001"
        recorder.submit("change_source", NURSE, source=spare, driver="simulated", port=f"{SENDER}:4001",
                        spec={"driver": "simulated", "port": f"{SENDER}:4001", "settings": {"host": SERVER_HOST}})

    recorded = record_session(tmp_path_factory.mktemp("leaky") / "l.db", plan="baseline:1,infusion:6,recovery:2",
                              during=during)
    add_alarms(recorded.path, recorded.session_id, [
        alarm_record("a-storage", "storage_failed", None, "medium", START + 200, START + 260, None, None,
                     f"Cannot write to the database (disk I/O error: {DB_FOLDER}/monitor.db): readings are held "
                     "in memory"),
        alarm_record("a-identity", "identity_conflict", None, "medium", START + 210, START + 270, None, None,
                     f"IDENTITY CONFLICT: this patient's MRN is on the clinic's server with another name at "
                     f"{SERVER_HOST} (session 0a1b2c3d)"),
        # The engine raises this one as a technical alarm on the cuff's parameter.
        alarm_record("a-cuff", NIBP_NOT_STARTED, "nibp_sys", "medium", START + 220, START + 280, None, None,
                     f"NIBP start failed: no answer from {SENDER}:4001 - start the cuff at the monitor if it is "
                     "not inflating"),
    ])
    return recorded


def leaked(data: bytes) -> list[str]:
    """Every identifier of the leaky session found in an export's bytes (text, spaces and case evened out)."""
    text = " ".join(data.decode("utf-8", errors="replace").lower().split())
    words = [*WRITTEN_DATES, BIRTH_DATE, "448812", "448-812", OTHER_MRN, SENDER, SERVER_HOST, "stmarys",
             "4471xk0092", "4471-xk-0092", SPARE_SERIAL.lower(), DB_FOLDER, "chair7", "quillfeather", "jane",
             "alvarez"]
    return [w for w in words if w.lower() in text]


def test_the_leaky_session_holds_every_identifier_when_identified(leaky: RecordedSession, tmp_path: Path) -> None:
    # The searches below can fail: the identified export carries every identifier they look for.
    found = set(leaked(exported_bytes(leaky, tmp_path / "plain.json", "json")))
    assert found == set(leaked(b" ".join(w.encode() for w in [
        *WRITTEN_DATES, BIRTH_DATE, "448812", "448-812", OTHER_MRN, SENDER, SERVER_HOST, "4471-xk-0092",
        "4471xk0092", SPARE_SERIAL, DB_FOLDER, "quillfeather", "jane", "alvarez"])))
    assert OTHER_MRN in leaked(exported_bytes(leaky, tmp_path / "plain.pdf", "pdf"))
    assert SENDER in leaked(exported_bytes(leaky, tmp_path / "plain.csv", "csv-alarms"))


@pytest.mark.parametrize("fmt", EVERY_FORMAT)
def test_nothing_identifying_is_left_in_any_deidentified_format(
    fmt: str, leaky: RecordedSession, tmp_path: Path
) -> None:
    """Another patient's MRN and the sender's address stayed in the HL7 refusal's text, the device change named the
    spare monitor's serial and port, alarms kept a folder and a host, and the note kept the birth date and MRN
    written other ways than on file."""
    assert leaked(exported_bytes(leaky, tmp_path / f"deid.{fmt}", fmt, "--deidentify")) == []


def test_what_a_deidentified_event_keeps(leaky: RecordedSession) -> None:
    from monitor.exports.data import load

    with Store(leaky.path, readonly=True) as store:
        record = load(store, leaky.session_id, deidentify=True)
    details = {(e.kind.value, str(e.detail.get("condition", ""))): dict(e.detail) for e in record.events}
    assert details[("technical", "hl7_other_patient")] == {"condition": "hl7_other_patient"}
    assert details[("technical", "feed_error")] == {"condition": "feed_error"}
    assert details[("technical", "nibp_not_started")] == {"condition": "nibp_not_started"}
    assert details[("device_changed", "")] == {"driver": "simulated"}
    assert details[("session_started", "")] == {"driver": "simulated", "protocol": "ketamine-iv"}
    note = next(e for e in record.events if e.kind.value == "note")
    assert note.detail["text"].endswith("serial [removed]; pump 3/17/85")  # another date stays
    assert {a.condition: a.message for a in record.alarms}["storage_failed"] == (
        "Cannot write to the database: readings are held in memory")


def test_every_event_kind_is_either_a_clinical_entry_or_has_an_allow_list() -> None:
    from monitor.exports.data import CLINICAL_ENTRIES, MACHINE_DETAIL_KEPT
    from monitor.session import EventKind

    assert set(CLINICAL_ENTRIES).isdisjoint(MACHINE_DETAIL_KEPT)
    assert set(CLINICAL_ENTRIES) | set(MACHINE_DETAIL_KEPT) == set(EventKind)


@pytest.mark.parametrize("written", [
    "17 March 1984", "17 mar. 1984", "March 17, 1984", "Mar 17 1984", "17th March 1984", "17-Mar-1984",
    "1984 March 17", "1984/03/17", "1984.3.17", "17/03/1984", "17-03-1984", "17.03.1984", "17 03 1984", "17/3/84",
    "03/17/1984", "03-17-1984", "3.17.1984", "3/17/84", "19840317", "17031984", "03171984", "1984-03-17",
])
def test_the_birth_date_is_removed_however_it_is_written(written: str) -> None:
    from monitor.exports.data import patient_scrubber

    scrub = patient_scrubber({"mrn": "MRN-448812", "name": "Jane Quillfeather", "birth_date": "1984-03-17"})
    assert scrub(f"DOB {written}.") == "DOB [removed]."


@pytest.mark.parametrize("written", ["MRN448812", "448812", "0448812", "mrn-448812", "448-812", "448 812"])
def test_the_mrn_is_removed_with_or_without_its_prefix_and_zeros(written: str) -> None:
    from monitor.exports.data import patient_scrubber

    scrub = patient_scrubber({"mrn": "MRN-448812", "name": None, "birth_date": None})
    assert scrub(f"checked {written}: ok") in ("checked [removed]: ok", "checked mrn-[removed]: ok")


def test_other_dates_and_numbers_stay() -> None:
    from monitor.exports.data import patient_scrubber

    scrub = patient_scrubber({"mrn": "MRN-448812", "name": None, "birth_date": "1984-03-17"})
    note = "BP 117/03 at 17:03; 17/03 only; 17 March 2024; 1984; 2024/03/17; 4488120; 1448812; 3/17/85"
    assert scrub(note) == note
