"""The REMS form's "respiratory depression observed": a yes from either side stands.

A respiratory check (E) at 53 minutes recorded 14/min without depression; later the nurse answered "yes" on the REMS
form (F). The form kept the check's "no" (origin "session"), counted itself complete, the worksheet said "no
recorded", and discharge was not held, though the timeline held the nurse's yes.
"""

from __future__ import annotations

from typing import Any

from monitor import chair, rems
from monitor.protocols import RESPIRATION_SCALE, load_protocol
from monitor.session import EventKind, Phase, SessionEvent
from monitor.wall_clock import clock_text

NASAL = load_protocol("esketamine-nasal")
T0 = 1_722_000_000.0
SESSION = {"id": "s-esk", "started_at": T0, "nurse": "RN"}


def _at(minute: float, kind: EventKind, **detail: Any) -> SessionEvent:
    phase = Phase.BASELINE if minute < 5 else Phase.INFUSION if minute < 45 else Phase.RECOVERY
    return SessionEvent(T0 + minute * 60, kind, phase, "RN", detail)


def _check(minute: float, per_min: int, depression: bool) -> SessionEvent:
    return _at(minute, EventKind.SCORE, scale=RESPIRATION_SCALE, value=per_min, depression=depression)


def _form(minute: float, depression: bool) -> SessionEvent:
    return _at(minute, EventKind.REMS_FORM, answers={"respiratory_depression": depression})


TIMELINE = [_at(0, EventKind.BASELINE_STARTED), _at(5, EventKind.INFUSION_STARTED),
            _at(44, EventKind.INFUSION_STOPPED), _at(45, EventKind.RECOVERY_STARTED)]
CHECK_NO = _check(58, 14, depression=False)
FORM_YES = _form(98, depression=True)


def _field(events: list[SessionEvent]) -> dict[str, Any]:
    form = rems.build_form(NASAL, SESSION, None, events, [], T0 + 120 * 60)
    return dict(form.as_dict()["fields"]["respiratory_depression"])


def _hhmm(event: SessionEvent) -> str:
    return clock_text(event.t, "%H:%M")


def test_a_yes_on_the_form_stands_against_an_earlier_check_without_depression() -> None:
    field = _field([*TIMELINE, CHECK_NO, FORM_YES])
    assert field["value"] is True
    assert field["origin"] == "entered"
    assert field["source"] == f"recorded on the REMS form at {_hhmm(FORM_YES)}"


def test_a_yes_at_a_check_stands_against_a_no_on_the_form() -> None:
    seen = _check(58, 7, depression=True)
    field = _field([*TIMELINE, seen, _check(70, 14, depression=False), _form(98, depression=False)])
    assert (field["value"], field["origin"], field["source"]) == (True, "session", f"E at {_hhmm(seen)}, 7/min")


def test_a_check_without_depression_says_which_check() -> None:
    field = _field([*TIMELINE, CHECK_NO])
    assert (field["value"], field["origin"], field["source"]) == (False, "session", f"E at {_hhmm(CHECK_NO)}, 14/min")


def test_the_form_shows_what_the_record_holds() -> None:
    assert rems.recorded_answers([*TIMELINE, CHECK_NO]) == {
        "respiratory_depression": f"record: no (E at {_hhmm(CHECK_NO)}, 14/min)"}


def test_a_yes_on_the_form_holds_discharge_until_a_later_check_finds_breathing_recovered() -> None:
    held = chair.discharge_score_problems(NASAL, [*TIMELINE, CHECK_NO, FORM_YES])
    assert held == [f"respiratory depression recorded on the REMS form at {_hhmm(FORM_YES)}: check breathing again "
                    "(E) once it has resolved"]
    recovered = [*TIMELINE, CHECK_NO, FORM_YES, _check(105, 15, depression=False)]
    assert chair.discharge_score_problems(NASAL, recovered) == []
    # The form sent again with the same yes (the site filled in later) is no new observation.
    assert chair.discharge_score_problems(NASAL, [*recovered, _form(110, depression=True)]) == []
    assert _field([*recovered, _form(110, depression=True)])["value"] is True
