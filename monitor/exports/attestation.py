"""What the HL7 v2 and FHIR exports say of a record's review: the physicians' sign-offs and the addenda.

A receiving EHR must be able to tell an attested record from one nobody has reviewed, and who attested it and
when. The review goes out once a physician has signed the session off: the sign-offs (first signer, co-signers),
each sign-off's comment, and the addenda written after the session, each with who wrote it, when and whether it
came after the sign-off (the physician attested the record without it). A session nobody has signed off is
exported as before, byte for byte: its addenda wait for the sign-off, which sends them with it.

A de-identified export has already lost the staff's names (unless they were kept), so the signers and authors
here are unnamed there: the exports still say that a physician attested the record, and when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from monitor.exports.data import SessionRecord
from monitor.session import EventKind, SessionEvent
from monitor.sign_off import SignOff, after_sign_off, sign_offs


class NoteKind(Enum):
    """What a piece of review text is."""

    SIGN_OFF_COMMENT = "sign-off-comment"
    ADDENDUM = "addendum"
    ADDENDUM_AFTER_SIGN_OFF = "addendum-after-sign-off"

    @property
    def words(self) -> str:
        """The kind as a reader of the receiving record sees it."""
        return _WORDS[self]


_WORDS = {
    NoteKind.SIGN_OFF_COMMENT: "Physician's sign-off comment",
    NoteKind.ADDENDUM: "Addendum written after the session",
    NoteKind.ADDENDUM_AFTER_SIGN_OFF: "Addendum written after the sign-off",
}


@dataclass(frozen=True, slots=True)
class ReviewNote:
    """Text written in review: a sign-off's comment or an addendum, with who wrote it (None: unnamed) and when."""

    t: float
    by: str | None
    kind: NoteKind
    text: str
    #: The moment of the session an addendum is about, where its writer named one.
    refers_to_at: float | None = None


@dataclass(frozen=True, slots=True)
class Attestation:
    """A signed-off record's review: the sign-offs, first to last, and the notes in the order they were written."""

    sign_offs: tuple[SignOff, ...]
    notes: tuple[ReviewNote, ...]

    @property
    def first(self) -> SignOff:
        """The sign-off that made the record final (the others co-sign it)."""
        return self.sign_offs[0]


def signer_name(signed: SignOff) -> str | None:
    """Who signed off, or None where the record no longer names them (a de-identified export)."""
    return None if signed.by == "?" else signed.by


def attestation(record: SessionRecord) -> Attestation | None:
    """The record's review, or None when no physician has signed it off (its exports then say nothing of it)."""
    signed = tuple(sign_offs(record.events))
    if not signed:
        return None
    return Attestation(signed, tuple(sorted(_notes(record.events, signed), key=lambda n: n.t)))


def _notes(events: Iterable[SessionEvent], signed: Iterable[SignOff]) -> list[ReviewNote]:
    notes = [ReviewNote(s.t, signer_name(s), NoteKind.SIGN_OFF_COMMENT, s.comment) for s in signed if s.comment]
    for event in events:
        if event.kind is not EventKind.ADDENDUM or not event.detail.get("text"):
            continue
        kind = NoteKind.ADDENDUM_AFTER_SIGN_OFF if after_sign_off(event) else NoteKind.ADDENDUM
        refers = event.detail.get("refers_to_at")
        notes.append(ReviewNote(event.t, event.user or None, kind, str(event.detail["text"]),
                                float(refers) if isinstance(refers, int | float) else None))
    return notes
