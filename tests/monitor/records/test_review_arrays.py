"""The review figures from arrays (what a review window of a long session uses) equal those from a whole record."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.core.readings import NIBP_PARAMETERS
from monitor import review, review_arrays
from monitor.exports.data import load
from monitor.store import Store
from tests.conftest import leave_unfinished
from tests.ui.review_sessions import record


@pytest.mark.parametrize(("scenario", "stop"), [("hypertension", None), ("bradycardia", None), ("normal", 9.0)])
def test_array_figures_equal_the_record_figures(tmp_path: Path, scenario: str, stop: float | None) -> None:
    path = tmp_path / "monitor.db"
    session_id = record(path, mrn="MRN-9", scenario=scenario, plan="baseline:3,infusion:20,recovery:10",
                        charted=True, stop_after_infusion_min=stop)
    if stop is not None:
        leave_unfinished(path, session_id)  # an open last phase ends at the last data
    with Store(path, readonly=True) as store:
        whole = load(store, session_id)
        light, arrays = review_arrays.load_for_review(store, session_id)
    assert all(r.parameter in NIBP_PARAMETERS for r in light.readings)
    assert len(light.readings) == sum(1 for r in whole.readings if r.parameter in NIBP_PARAMETERS) > 0
    assert light.events == whole.events and light.alarms == whole.alarms

    expected = review.phase_statistics(whole)
    got = review_arrays.phase_statistics_from_arrays(light, arrays)
    assert [(s.phase, s.parameter, s.count, s.minimum, s.maximum) for s in got] == [
        (s.phase, s.parameter, s.count, s.minimum, s.maximum) for s in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.mean == pytest.approx(b.mean) and a.median == pytest.approx(b.median)
    assert any(s.count for s in got)

    comparisons = review_arrays.baseline_vs_end_of_recovery_from_arrays(light, arrays)
    assert comparisons == review.baseline_vs_end_of_recovery(whole)
    assert review_arrays.return_to_baseline_from_arrays(light, arrays) == review.return_to_baseline(whole)
    assert review.nibp_table(light) == review.nibp_table(whole)
    assert review_arrays.heart_rate_parameter_from_arrays(light, arrays) is review.heart_rate_parameter(whole)
