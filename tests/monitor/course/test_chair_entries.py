"""Checklist, dose arithmetic, interventions and outcome scoring."""

from __future__ import annotations

import dataclasses

import pytest

from monitor import checklist as cl
from monitor import dose, outcomes
from monitor.protocols import load_protocol
from monitor.session import EventKind, Phase, SessionEvent

IV_RULES = load_protocol("ketamine-iv").checklist


def test_quick_entry_fills_the_checklist_and_flags_medication_classes() -> None:
    found = cl.parse_quick("f6 e t:partner c w82.5 m:lisinopril,Diazepam,fluoxetine,adderall=st p:na")
    assert found.fasting_hours == 6 and found.escort_present and found.transport == "partner"
    assert found.consent_on_file and found.weight_kg == 82.5
    assert found.pregnancy is cl.Pregnancy.NOT_APPLICABLE
    flagged = found.flagged()
    assert flagged[cl.MedicationFlag.ANTIHYPERTENSIVE] == ["lisinopril"]
    assert flagged[cl.MedicationFlag.BENZODIAZEPINE] == ["Diazepam"]
    assert flagged[cl.MedicationFlag.STIMULANT] == ["adderall"]
    assert cl.MedicationFlag.MAOI not in flagged
    assert cl.problems(found, IV_RULES) == []
    # Stored and read back unchanged.
    assert cl.PreInfusionChecklist.from_dict(found.as_dict()) == found


def test_quick_entry_builds_on_what_was_recorded_and_rejects_nonsense() -> None:
    first = cl.parse_quick("f5 c")
    second = cl.parse_quick("e- m-", first)
    assert second.fasting_hours == 5 and second.consent_on_file and second.escort_present is False
    assert second.medications == ()
    for bad, why in [("x7", "not understood"), ("w", "not a number"), ("w8000", "outside"),
                     ("m:foo=zz", "unknown medication class"), ("p:maybe", "pregnancy"), ("e:perhaps", "yes or no"),
                     ("", "nothing entered")]:
        with pytest.raises(cl.ChecklistError, match=why):
            cl.parse_quick(bad)


def test_refusals_name_every_missing_or_forbidding_item() -> None:
    assert [p.item.value for p in cl.problems(None, IV_RULES)] == [
        "fasting", "escort", "consent", "medications", "weight"]
    partial = cl.parse_quick("f2 e- c- w70")
    texts = [p.text for p in cl.problems(partial, IV_RULES)]
    assert texts == ["fasting: 2 h, the protocol asks for 4 h", "escort: no escort home", "consent: not on file",
                     "medications: not recorded"]
    nasal = load_protocol("esketamine-nasal").checklist
    pregnant = cl.parse_quick("f3 e t:taxi c m- p+")
    assert [p.text for p in cl.problems(pregnant, nasal)] == ["pregnancy: positive"]


def test_weight_based_dose_arithmetic() -> None:
    plan = dose.weight_based("ketamine", "IV", 82.4, 0.5, duration_min=40, concentration_mg_per_ml=2.0)
    assert plan.total_mg == 41.2
    assert plan.rate_mg_per_h == pytest.approx(61.8)
    assert plan.rate_ml_per_h == pytest.approx(30.9)
    assert plan.volume_ml == pytest.approx(20.6)
    assert dose.DosePlan.from_dict(plan.as_dict()) == plan
    nasal = dose.fixed("esketamine", "intranasal", 84, weight_kg=70, lot="LX31")
    assert nasal.dose_mg_per_kg == pytest.approx(1.2) and nasal.rate_mg_per_h is None
    with pytest.raises(dose.DoseError, match="weight"):
        dose.weight_based("ketamine", "IV", -3, 0.5, duration_min=40)


def test_delivered_total_follows_rate_changes_and_pauses() -> None:
    # 60 mg/h for 10 min, 30 mg/h for 20 min with a 5-minute pause inside, then stop.
    start = 1000.0
    changes = [dose.RateChange(start + 600, 30.0)]
    pauses = [(start + 1200, start + 1500)]
    assert dose.delivered_mg(start, start + 1800, 60.0, changes, pauses) == pytest.approx(10 + 7.5)
    events = [
        SessionEvent(start - 60, EventKind.DOSE_PLANNED, Phase.BASELINE, detail=dose.weight_based(
            "ketamine", "IV", 80, 0.5, duration_min=40).as_dict()),
        SessionEvent(start, EventKind.INFUSION_STARTED, Phase.INFUSION),
        SessionEvent(start + 600, EventKind.RATE_CHANGED, Phase.INFUSION, detail={"rate_mg_per_h": 30.0}),
        SessionEvent(start + 1200, EventKind.INFUSION_PAUSED, Phase.INFUSION),
        SessionEvent(start + 1500, EventKind.INFUSION_RESUMED, Phase.INFUSION),
        SessionEvent(start + 1800, EventKind.INFUSION_STOPPED, Phase.INFUSION),
    ]
    record = dose.dose_record(events)
    assert record.plan is not None and record.plan.rate_mg_per_h == 60.0
    assert record.delivered_mg == pytest.approx(17.5)
    assert record.delivered_mg_per_kg == pytest.approx(17.5 / 80, abs=1e-3)
    # Still running: counted up to "now".
    running = dose.dose_record(events[:2], now=start + 1200)
    assert running.delivered_mg == pytest.approx(20.0)


def test_dose_outside_the_range_needs_a_confirmation() -> None:
    iv = load_protocol("ketamine-iv").dose
    high = dose.weight_based("ketamine", "IV", 80, 1.5, duration_min=40)
    assert "outside the protocol's range 0.1-1 mg/kg" in (dose.outside_range(high, iv) or "")
    with pytest.raises(dose.DoseNeedsConfirmation, match="confirm it with a reason"):
        dose.check_plan(high, iv)
    dose.check_plan(dataclasses.replace(high, confirmed_reason="attending's order"), iv)
    nasal = load_protocol("esketamine-nasal").dose
    assert dose.outside_range(dose.fixed("esketamine", "intranasal", 56), nasal) is None
    assert "not one of the protocol's doses (56, 84)" in (
        dose.outside_range(dose.fixed("esketamine", "intranasal", 70), nasal) or "")


def test_interventions_are_checked() -> None:
    o2 = dose.intervention("oxygen", dose=2, route="face mask")
    assert o2.text() == "oxygen 2 L/min face mask"
    ond = dose.intervention("antiemetic", "ondansetron", 4, "IV")
    assert ond.text() == "antiemetic ondansetron 4 mg IV"
    assert dose.intervention("airway", "jaw thrust").dose is None
    for args, why in [(("oxygen",), "L/min"), (("benzodiazepine", "midazolam"), "dose of midazolam"),
                      (("antihypertensive", "", 10), "name the"), (("airway",), "jaw thrust"),
                      (("magic",), "unknown intervention")]:
        with pytest.raises(dose.DoseError, match=why):
            dose.intervention(*args)  # type: ignore[arg-type]


def test_oxygen_with_no_route_records_no_route() -> None:
    o2 = dose.intervention("oxygen", dose=2, route="  ")
    assert o2.as_dict() == {"type": "oxygen", "drug": "oxygen", "dose": 2.0, "unit": "L/min", "route": "",
                            "text": "oxygen 2 L/min, route not recorded"}
    # A drug's line never named a route it was not given; a manoeuvre has none to record.
    assert dose.intervention("antiemetic", "ondansetron", 4).text() == "antiemetic ondansetron 4 mg"
    assert dose.intervention("airway", "jaw thrust").text() == "airway jaw thrust"


def test_an_old_oxygen_entry_keeps_the_route_it_holds() -> None:
    stored = {"type": "oxygen", "drug": "oxygen", "dose": 2.0, "unit": "L/min", "route": "nasal cannula",
              "text": "oxygen oxygen 2 L/min nasal cannula"}
    [(t, given)] = dose.interventions([SessionEvent(50.0, EventKind.INTERVENTION, Phase.INFUSION, "RN", stored)])
    assert (t, given.route, given.text()) == (50.0, "nasal cannula", "oxygen 2 L/min nasal cannula")


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)
def test_phq9_bands(total: int, band: str) -> None:
    answers = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    answers += [0] * (9 - len(answers))
    scored = outcomes.score("PHQ-9", answers)
    assert (scored.total, scored.band) == (total, band)


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "severe"), (21, "severe")],
)
def test_gad7_bands(total: int, band: str) -> None:
    answers = [3] * (total // 3) + ([total % 3] if total % 3 else [])
    answers += [0] * (7 - len(answers))
    scored = outcomes.score("gad7", answers)
    assert (scored.scale, scored.total, scored.band) == ("GAD-7", total, band)


def test_questionnaire_answers_are_checked() -> None:
    assert outcomes.parse_answers("0123 0123 1") == [0, 1, 2, 3, 0, 1, 2, 3, 1]
    with pytest.raises(outcomes.OutcomeError, match="9 items; 8 answers"):
        outcomes.score("PHQ-9", [0] * 8)
    with pytest.raises(outcomes.OutcomeError, match="item 3: the answer must be 0, 1, 2 or 3"):
        outcomes.score("PHQ-9", [0, 0, 4, 0, 0, 0, 0, 0, 0])
    with pytest.raises(outcomes.OutcomeError, match="one digit 0-3"):
        outcomes.parse_answers("01x")
    assert outcomes.PHQ9.loinc_total == "44261-6" and outcomes.GAD7.loinc_total == "70274-6"
    assert outcomes.PHQ9.maximum == 27 and outcomes.GAD7.maximum == 21


def test_required_scores_before_discharge_count_only_after_the_dosing() -> None:
    from monitor.chair import scores_missing
    from monitor.protocols import ScoreMoment

    nasal = load_protocol("esketamine-nasal")
    events = [
        SessionEvent(100, EventKind.SCORE, Phase.BASELINE, detail={"scale": "MOAA/S", "value": 5}),
        SessionEvent(200, EventKind.INFUSION_STARTED, Phase.INFUSION),
        SessionEvent(500, EventKind.SCORE, Phase.INFUSION, detail={"scale": "MOAA/S", "value": 2}),
        SessionEvent(510, EventKind.SCORE, Phase.INFUSION, detail={"scale": "CADSS-6", "value": 12}),
        SessionEvent(600, EventKind.INFUSION_STOPPED, Phase.INFUSION),
        SessionEvent(600, EventKind.RECOVERY_STARTED, Phase.RECOVERY),
    ]
    # Scores from before the dose and from the dosing say nothing about the patient at discharge.
    assert scores_missing(nasal, events, ScoreMoment.BEFORE_DISCHARGE) == [
        "MOAA/S: not scored since the infusion ended", "CADSS-6: not scored since the infusion ended"]
    events.append(SessionEvent(3000, EventKind.SCORE, Phase.RECOVERY, detail={"scale": "CADSS-6", "value": 0}))
    assert scores_missing(nasal, events, ScoreMoment.BEFORE_DISCHARGE) == [
        "MOAA/S: not scored since the infusion ended"]
    events.append(SessionEvent(3100, EventKind.SCORE, Phase.RECOVERY, detail={"scale": "MOAA/S", "value": 5}))
    assert scores_missing(nasal, events, ScoreMoment.BEFORE_DISCHARGE) == []
    # The IV protocol asks for its scores but requires none.
    assert scores_missing(load_protocol("ketamine-iv"), [], ScoreMoment.BEFORE_DISCHARGE) == []
