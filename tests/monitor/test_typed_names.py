"""Names as real people spell them are taken (and stored in one form); what could fake a name's display is refused
with the character named; a note keeps every word the nurse typed but no direction override."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from drivers.simulated.driver import SimulatedSource
from monitor import identifiers
from monitor.accounts import Accounts, AuthError, emergency_principal
from monitor.exports.data import load
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.review import add_addendum
from monitor.session import EventKind, Phase, SessionEvent
from monitor.store import Store
from tests.conftest import ADMIN_SECRET, NURSE_SECRET, record_simulated

T0 = 1_790_000_000.0
RLO = "\u202e"

#: (as typed, as stored): every one of these was refused as "a line break, tab or escape".
ACCEPTED = [
    ("山田\u3000太郎", "山田 太郎"),  # a Japanese keyboard's full-width space
    ("علی\u200cاکبر رضایی", "علی\u200cاکبر رضایی"),  # Persian: the zero-width non-joiner is part of the spelling
    ("Anna\u00a0Maria Kowalska", "Anna Maria Kowalska"),  # a non-breaking space pasted from a document
    ("Jean\u202fPaul  Roux", "Jean Paul Roux"),  # a narrow no-break space; two spaces are one
    ("Sam 👩\u200d⚕\ufe0f Lee", "Sam 👩\u200d⚕\ufe0f Lee"),  # an emoji joined by ZWJ, with its variation selector
    ("\u200fمحمد", "\u200fمحمد"),  # a right-to-left mark, as an Arabic keyboard types it
    ("Jose\u0301 Nu\u0301n\u0303ez", "José Núñez"),  # combining accents: stored precomposed (NFC)
    ("  Łucja O'Brien\n", "Łucja O'Brien"),  # a line break at an end (a terminal's) is trimmed, as before
]

#: (as typed, the exact message).
REFUSED = [
    ("Eve\u202eevE", "the patient's name holds a direction control (U+202E RIGHT-TO-LEFT OVERRIDE), which can make "
                     "it display as something else; type it again"),
    ("\u2067Ann\u2069", "the patient's name holds a direction control (U+2067 RIGHT-TO-LEFT ISOLATE, U+2069 POP "
                        "DIRECTIONAL ISOLATE), which can make it display as something else; type it again"),
    ("\u202aAnn", "the patient's name holds a direction control (U+202A LEFT-TO-RIGHT EMBEDDING), which can make "
                  "it display as something else; type it again"),
    ("Ann\nLee", "the patient's name holds a line break (U+000A LINE FEED); type it again"),
    ("Ann\u2028Lee", "the patient's name holds a line break (U+2028 LINE SEPARATOR); type it again"),
    ("Ann\tLee", "the patient's name holds a tab (U+0009 CHARACTER TABULATION); type it again"),
    ("Ann\x1b[2J\x07", "the patient's name holds a control character (U+001B ESCAPE, U+0007 BELL); type it again"),
    ("Ann\u200bLee", "the patient's name holds an invisible formatting character (U+200B ZERO WIDTH SPACE); "
                     "type it again"),
    ("Ann\tLee\u202e", "the patient's name holds a tab (U+0009 CHARACTER TABULATION) and a direction control "
                       "(U+202E RIGHT-TO-LEFT OVERRIDE), which can make it display as something else; type it again"),
]


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED)
def test_real_names_are_taken_in_their_stored_form(typed: str, stored: str) -> None:
    assert identifiers.check_typed(typed, "patient's name") == stored


@pytest.mark.parametrize(("typed", "message"), REFUSED)
def test_a_refused_name_names_the_character(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        identifiers.check_typed(typed, "patient's name")


def _recorder(store: Store, start: float = T0) -> Recorder:
    return Recorder.new_session(store, SimulatedSource(seed=1, speed=math.inf, start_time=start),
                                driver="simulated", port=None, plan=SessionPlan(5, 40, 30), nurse="RN")


def _identify(db_path: Path, start: float, **patient: str) -> tuple[str, BaseException | None]:
    with Store(db_path) as store:
        rec = _recorder(store, start)
        future = rec.submit("identify_patient", "RN", **patient)
        rec.step()
        error = future.exception(timeout=0)
        rec.run(until=lambda r: True)
        return rec.session.id, error


def test_the_recorder_stores_those_names_and_finds_the_patient_again_however_the_accents_are_typed(
    db_path: Path,
) -> None:
    first, error = _identify(db_path, T0, mrn="M-1", patient_name="山田\u3000太郎")
    second, error_second = _identify(db_path, T0 + 100, mrn="M-2", patient_name="José Núñez")
    # The same patient again, the name typed with combining accents and a pasted non-breaking space.
    again, error_again = _identify(db_path, T0 + 200, mrn="M-2", patient_name="jose\u0301\u00a0nu\u0301n\u0303ez")
    assert (error, error_second, error_again) == (None, None, None)
    with Store(db_path, readonly=True) as reader:
        patients = [reader.session_row(s)["patient_id"] for s in (first, second, again)]
        assert reader.patient_row(patients[0])["name"] == "山田 太郎"
        assert reader.patient_row(patients[1])["name"] == "José Núñez"
    assert patients[1] == patients[2]


def test_the_recorder_refuses_a_name_with_a_direction_override_naming_it(db_path: Path) -> None:
    _, error = _identify(db_path, T0, mrn="M-1", patient_name="Eve\u202eevE")
    assert str(error) == REFUSED[0][1]


def test_a_note_keeps_its_words_without_the_direction_override(db_path: Path) -> None:
    with Store(db_path) as store:
        rec = _recorder(store)
        future = rec.submit("note", "RN", text=f"BP {RLO}081/071\u202c checked\nArabic: \u2067محمد\u2069 ok")
        rec.step()
        future.result(timeout=0)
        rec.run(until=lambda r: True)
        [note] = [e for e in store.events(rec.session.id) if e.kind is EventKind.NOTE]
    assert note.detail["text"] == "BP 081/071 checked\nArabic: محمد ok"


def test_an_addendum_and_an_older_stored_note_are_shown_without_the_override(db_path: Path) -> None:
    session = record_simulated(db_path)
    with Store(db_path) as store:
        # As a version that kept the override stored it.
        store.write_batch(session, events=[SessionEvent(T0 + 1, EventKind.NOTE, Phase.SETUP, "RN",
                                                        {"text": f"seen {RLO}Dr X"})])
        add_addendum(store, session, f"{RLO}reviewed", user="Dr Y", now=T0 + 9)
        stored = [e.detail["text"] for e in store.events(session) if e.kind is EventKind.ADDENDUM]
        shown = [e.detail["text"] for e in load(store, session, verify=False).events
                 if e.kind in (EventKind.NOTE, EventKind.ADDENDUM)]
    assert (stored, shown) == (["reviewed"], ["seen Dr X", "reviewed"])


def test_staff_names_follow_the_same_rule(store: Store) -> None:
    accounts = Accounts(store)
    admin = accounts.add("Admin", "admin", ADMIN_SECRET, by=None)
    nurse = accounts.add("Zahra\u00a0Mohammadi\u200cpour", "nurse", NURSE_SECRET, by=admin)
    assert nurse.name == "Zahra Mohammadi\u200cpour"
    # Signing in with the name typed with another space finds the account.
    assert accounts.authenticate("Zahra\u3000Mohammadi\u200cpour", NURSE_SECRET).name == nurse.name
    assert emergency_principal("山田\u3000花子", "no account").name == "山田 花子"
    with pytest.raises(AuthError) as refused:
        accounts.add("Eve\u202eevE", "nurse", NURSE_SECRET, by=admin)
    assert str(refused.value) == ("the account name holds a direction control (U+202E RIGHT-TO-LEFT OVERRIDE), "
                                  "which can make it display as something else; type it again")
