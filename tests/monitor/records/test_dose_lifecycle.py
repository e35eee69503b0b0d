"""The delivered dose of a session, as each record of it tells it."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from monitor.session import EventKind, SessionRuleError
from monitor.store import Store
from tests.monitor.records.lifecycle import advance, export_json, export_text, new, run, to_infusion


def _session_with_a_plan_entered_in_recovery(db_path: Path) -> tuple[str, float]:
    """0.5 mg/kg on 70 kg over 40 min (52.5 mg/h), paused 5 min, then 30 mg/h; a 1.0 mg/kg plan typed in recovery."""
    with Store(db_path) as store:
        rec = new(store, patient="MRN-DOSE")
        to_infusion(rec)
        advance(rec, 600)
        run(rec, "pause_infusion")
        advance(rec, 300)
        run(rec, "rate_change", rate_mg_per_h=30)
        run(rec, "resume_infusion")
        advance(rec, 600)
        run(rec, "stop_infusion")
        run(rec, "start_recovery")
        advance(rec, 60)
        with contextlib.suppress(SessionRuleError):
            run(rec, "plan_dose", weight_kg=70, dose_mg_per_kg=1.0, duration_min=40)
        rec.stop()
        rec.close()
        sid = rec.session.id
        ev = {e.kind: e.t for e in store.events(sid)}
    started, paused = ev[EventKind.INFUSION_STARTED], ev[EventKind.INFUSION_PAUSED]
    resumed, stopped = ev[EventKind.INFUSION_RESUMED], ev[EventKind.INFUSION_STOPPED]
    given = 52.5 * (paused - started) / 3600 + 30 * (stopped - resumed) / 3600
    return sid, round(given, 1)


def test_a_dose_plan_typed_after_the_infusion_does_not_rewrite_what_was_given(db_path: Path) -> None:
    sid, given = _session_with_a_plan_entered_in_recovery(db_path)
    dose = export_json(db_path, sid)["treatment"]["dose"]
    assert (dose["total_mg"], dose["delivered_mg"]) == (35.0, given)


def test_the_fhir_medication_administration_says_what_was_given(db_path: Path) -> None:
    sid, given = _session_with_a_plan_entered_in_recovery(db_path)
    bundle = json.loads(export_text(db_path, sid, "fhir"))
    [admin] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "MedicationAdministration"]
    assert admin["dosage"]["dose"]["value"] == pytest.approx(given)


def test_an_unfinished_session_counts_the_dose_to_its_last_stored_data(db_path: Path) -> None:
    from monitor.course import load_course_by_mrn
    from tests.conftest import abandon

    with Store(db_path) as store:
        rec = new(store, patient="MRN-UNFINISHED")
        to_infusion(rec)
        advance(rec, 22 * 60 + 30)
        rec.flush()
        sid, last = abandon(rec, store)
        started = next(e.t for e in store.events(sid) if e.kind is EventKind.INFUSION_STARTED)
        course = load_course_by_mrn(store, "MRN-UNFINISHED")
    running = round(52.5 * (last - started) / 3600, 1)
    dose = export_json(db_path, sid)["treatment"]["dose"]
    assert (dose["delivered_mg"], course.rows[0].delivered_mg) == (running, running)


def test_a_first_dose_plan_entered_after_the_start_is_taken(db_path: Path) -> None:
    """Forgotten before the start (or an esketamine lot entered after the first spray): the only plan there is."""
    with Store(db_path) as store:
        rec = new(store, patient="MRN-LATE-PLAN")
        to_infusion(rec, plan=False)
        advance(rec, 600)
        run(rec, "plan_dose", weight_kg=70, dose_mg_per_kg=0.5, duration_min=40)
        with pytest.raises(SessionRuleError, match="planned before the infusion started"):
            run(rec, "plan_dose", weight_kg=70, dose_mg_per_kg=1.0, duration_min=40)  # a second one is not
        advance(rec, 60)
        rec.stop()
        rec.close()
        sid = rec.session.id
    assert export_json(db_path, sid)["treatment"]["dose"]["total_mg"] == 35.0
