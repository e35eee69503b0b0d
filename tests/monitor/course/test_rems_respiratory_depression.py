"""The REMS form's "respiratory depression observed": a yes from either side stands.

A respiratory check (E) at 53 minutes recorded 14/min without depression; later the nurse answered "yes" on the REMS
form (F). The form kept the check's "no" (origin "session"), counted itself complete, the worksheet said "no
recorded", and discharge was not held, though the timeline held the nurse's yes.
"""

from __future__ import annotations

from typing import Any

from drivers.core.readings import Flag, Parameter, Reading
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


def _cuff(minute: float, systolic: float, diastolic: float) -> list[Reading]:
    t = T0 + minute * 60
    return [Reading(t, Parameter.NIBP_SYS, systolic, "test"), Reading(t + 0.5, Parameter.NIBP_DIA, diastolic, "test")]


def test_the_form_shows_the_records_three_pressures_with_their_cuffs_as_the_form_itself_takes_them() -> None:
    """The three blood-pressure boxes showed nothing of the record (its cuffs were not given to the form); now each
    says what the record holds and which cuff, by the rule the form's own fields follow."""
    cuffs = [*_cuff(2, 128, 82), *_cuff(44, 141, 88), *_cuff(100, 124, 79)]
    now = T0 + 110 * 60
    held = rems.recorded_answers([*TIMELINE, CHECK_NO], NASAL, cuffs, now)
    assert held["bp_before_dosing"] == f"record: 128/82 (cuff at {clock_text(T0 + 120, '%H:%M')})"
    assert held["bp_40_min"] == f"record: 141/88 (cuff at {clock_text(T0 + 44 * 60, '%H:%M')})"
    assert held["bp_before_discharge"] == f"record: 124/79 (cuff at {clock_text(T0 + 100 * 60, '%H:%M')})"
    fields = rems.build_form(NASAL, SESSION, None, [*TIMELINE, CHECK_NO], cuffs, now).as_dict()["fields"]
    assert [fields[key]["value"] for key in rems.PRESSURE_KEYS] == ["128/82", "141/88", "124/79"]
    # Without its cuffs (as the form was opened before), the record holds no pressure: nothing is claimed.
    assert not set(rems.PRESSURE_KEYS) & set(rems.recorded_answers([*TIMELINE, CHECK_NO]))
    # The 40-minute cuff is never also the one before discharge (a session ended within 15 minutes of it).
    early = rems.recorded_answers([*TIMELINE, CHECK_NO], NASAL, _cuff(44, 141, 88), T0 + 50 * 60)
    assert "bp_before_discharge" not in early and early["bp_40_min"].startswith("record: 141/88")


def test_a_protocol_asking_for_vitals_gets_its_pressures_from_what_the_window_keeps() -> None:
    """A clinic's protocol that asks for "vitals" (a cuff with a reliable SpO2 within a minute) instead of "nibp":
    the window kept the cuffs alone, so none of its checks was answered and the boxes showed nothing of the record.
    What it keeps now (the cuffs, and the SpO2 beside them) answers each check as the whole record does."""
    import random
    from dataclasses import replace

    from monitor.protocols import Measure

    vitals = replace(NASAL, checks=tuple(replace(c, measure=Measure.VITALS) if c.measure is Measure.NIBP else c
                                         for c in NASAL.checks))
    assert any(c.measure is Measure.VITALS and c.id in rems.PRESSURE_KEYS for c in vitals.checks)
    now = T0 + 110 * 60
    events = [*TIMELINE, CHECK_NO]
    pick = random.Random(7)
    answered: set[bool] = set()
    for _trial in range(40):
        readings = []
        cuffs_at = (2, 44, 100, pick.uniform(3, 105))
        # No SpO2 for 2-4 minutes around two of the cuffs (the probe off), now and then just past the minute.
        gaps = [(m + pick.uniform(-3, 0.5), m + pick.uniform(0.5, 3)) for m in pick.sample(cuffs_at, 2)]
        for second in range(0, 110 * 60, 5):  # SpO2 every 5 s or so, some of it unreliable
            if pick.random() < 0.8 and not any(a <= second / 60 <= b for a, b in gaps):
                flags = frozenset({Flag.ARTIFACT}) if pick.random() < 0.1 else frozenset()
                readings.append(Reading(T0 + second, Parameter.SPO2, 97, "test", flags=flags))
        for minute in cuffs_at:
            readings += _cuff(minute, 120 + pick.randint(0, 30), 80)
        readings.sort(key=lambda r: r.t)
        kept = rems.FormReadings()
        for start in range(0, len(readings), 37):  # in batches, as the window gets them
            kept.add(readings[start:start + 37])
        whole = rems.recorded_pressures(vitals, events, readings, now, T0 + 5 * 60)
        assert rems.recorded_pressures(vitals, events, kept.readings(), now, T0 + 5 * 60) == whole
        answered |= {value is not None for value, _ in whole.values()}
        assert len(kept.readings()) < len(readings)
    assert answered == {True, False}  # checks answered, and checks left open by a cuff without SpO2 beside it
    # Cuffs alone (as the window kept) answer no "vitals" check.
    assert all(value is None for value, _ in rems.recorded_pressures(
        vitals, events, kept.cuffs, now, T0 + 5 * 60).values())
