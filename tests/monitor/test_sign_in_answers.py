"""What someone guessing at the sign-in learns from its answers: nothing about which names exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.accounts import Accounts, AuthError, LockedOut
from monitor.store import Store

T0 = 1_790_000_000.0
#: Guesses in a burst, then after the first lock-out has passed, then after the second, and one while locked.
GUESS_TIMES = [T0 + i for i in range(6)] + [T0 + 40, T0 + 41, T0 + 120, T0 + 121]


def _answers(accounts: Accounts, name: str) -> list[tuple[str, float | None]]:
    said: list[tuple[str, float | None]] = []
    for at in GUESS_TIMES:
        try:
            accounts.authenticate(name, "wrong-guess", now=at)
        except LockedOut as exc:
            said.append((str(exc), exc.retry_after_s))
        except AuthError as exc:
            said.append((str(exc), None))
    return said


def test_guessing_an_unknown_name_answers_as_guessing_a_known_one(db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)  # the admin AD
    with Store(db_path) as store:
        accounts = Accounts(store)
        known = _answers(accounts, "AD")
        unknown = _answers(accounts, "Nobody")
        other_case = _answers(accounts, "NOBODY2")
        again = _answers(Accounts(store), "nobody2")  # counted by name, whatever its case, across openings
    assert any("locked" in text for text, _ in known)  # the lock-out is part of what is compared
    assert known == unknown, f"the admin's name is told apart: {known} vs {unknown}"
    assert other_case == known
    assert again[0][0].startswith("too many failed attempts")  # still locked from the guesses before


def test_a_guessed_name_is_still_named_in_the_audit_log(db_path: Path, accounts_in: Any) -> None:
    accounts_in(db_path)
    with Store(db_path) as store:
        _answers(Accounts(store), "Mallory")
        entries = [a for a in store.audit_log() if a["user"] == "Mallory"]
    assert [a["action"] for a in entries].count("sign_in_failed") == 7
    assert [a["action"] for a in entries].count("sign_in_refused") == 3
