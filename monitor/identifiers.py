"""Patient identifiers (MRN, name, birth date) encrypted in the database with AES-256-GCM.

Each value is sealed with a fresh 96-bit nonce and bound to its patient key and field name (the
associated data), so a ciphertext copied to another row or field does not decrypt. The MRN is
also kept as a keyed hash (HMAC-SHA256) so that the same patient is found again without
decrypting every row. The key lives in the key file (:mod:`monitor.keys`), never in the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from monitor import text_rules
from monitor.keys import Keys

PREFIX: Final = "aesgcm1:"
NONCE_BYTES: Final = 12
#: The identifying columns of the patients table.
FIELDS: Final = ("mrn", "name", "birth_date")


@dataclass(frozen=True, slots=True)
class PatientOnFile:
    """Who a session's patient is: the patient's key and identifiers as the record keeps them."""

    key: str
    mrn: str
    name: str | None = None
    birth_date: str | None = None

    @classmethod
    def of_row(cls, row: dict[str, Any] | None) -> PatientOnFile | None:
        """From a stored patient row (decrypted); None for no row, or a row without an MRN."""
        if not row or not row.get("mrn"):
            return None
        name, born = row.get("name"), row.get("birth_date")
        return cls(str(row["id"]), str(row["mrn"]), str(name) if name else None, str(born) if born else None)

    @property
    def label(self) -> str:
        """How a screen names the patient: ``name · MRN 123``, or the MRN alone."""
        return "".join(self.label_parts)

    @property
    def label_parts(self) -> tuple[str, str]:
        """The label in two: what a narrow screen may cut (the name) and what it must show whole (the MRN)."""
        return (self.name, f" · MRN {self.mrn}") if self.name else ("", self.mrn)


class IdentifierError(Exception):
    """A stored identifier cannot be decrypted (wrong key file, or the value was altered)."""


def check_typed(value: str | None, what: str) -> str | None:
    """An identifier as typed, in the form it is stored and matched in (None or blank: None); a character that
    could hide or fake what screens, terminals and reports show (a line break, a terminal's escape, a direction
    override) is refused with :class:`ValueError` naming ``what`` and the character (the rule is
    :func:`monitor.text_rules.typed_name`)."""
    return text_rules.typed_name(value, what)


def encrypt(keys: Keys, patient_id: str, field: str, value: str | None) -> str | None:
    """The stored form of one identifier (None stays None)."""
    if value is None:
        return None
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keys.identifiers).encrypt(nonce, value.encode("utf-8"), _aad(patient_id, field))
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(keys: Keys, patient_id: str, field: str, stored: str | None) -> str | None:
    """The identifier from its stored form; :class:`IdentifierError` when it cannot be trusted."""
    if stored is None:
        return None
    if not stored.startswith(PREFIX):
        raise IdentifierError(f"patient {patient_id[:8]}: {field} is not encrypted (written outside this program)")
    try:
        raw = base64.b64decode(stored[len(PREFIX):], validate=True)
        plain = AESGCM(keys.identifiers).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(patient_id, field))
    except (ValueError, InvalidTag):
        raise IdentifierError(
            f"patient {patient_id[:8]}: {field} cannot be decrypted with this key file "
            "(another installation's key, or the value was altered)"
        ) from None
    return plain.decode("utf-8")


def feed_message_field(control_id: str) -> str:
    """The field a queued live-feed message is bound to (with its session's key in the patient's place)."""
    return f"feed_message:{control_id}"


def mrn_lookup(keys: Keys, mrn: str) -> str:
    """A keyed hash of the MRN: finds the patient again without storing the MRN readable."""
    return hmac.new(keys.identifiers, b"mrn\x00" + mrn.encode("utf-8"), hashlib.sha256).hexdigest()


def _aad(patient_id: str, field: str) -> bytes:
    return f"{patient_id}\x00{field}".encode()


def readable_patient_row(keys: Keys | None, row: dict[str, object]) -> dict[str, object]:
    """A stored patient row with its identifiers decrypted and the keyed MRN hash left out (for the clinic's
    server, which holds the identifiers as the clinic's record system and has no key file)."""
    out = {k: v for k, v in row.items() if k != "mrn_lookup"}
    patient_id = str(row.get("id"))
    for field in FIELDS:
        value = out.get(field)
        if isinstance(value, str) and value.startswith(PREFIX):
            if keys is None:
                raise IdentifierError(f"patient {patient_id[:8]}: the key file is needed to send identifiers")
            out[field] = decrypt(keys, patient_id, field, value)
    return out
