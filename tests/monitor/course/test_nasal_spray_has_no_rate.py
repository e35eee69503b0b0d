"""A nasal spray has no rate: during esketamine dosing a "rate change" was recorded (D asked for mg/h)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import chair
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.session import Phase, SessionRuleError
from monitor.store import Store
from tests.monitor.course.recording import run_now
from tests.monitor.course.test_rems_discharge_bp import _dosed


def test_a_rate_change_is_refused_for_a_protocol_that_is_not_infused(tmp_path: Path) -> None:
    with Store(tmp_path / "e.db") as store:
        rec, _ = _dosed(store, SessionPlan(5, 10, 110))
        assert rec.session.phase is Phase.INFUSION
        with pytest.raises(SessionRuleError, match=r"esketamine.*not infused: it has no rate"):
            run_now(rec, "rate_change", rate_mg_per_h=20.0)
        assert not [e for e in rec.watch.events if e.kind.value == "rate_changed"]


@pytest.mark.parametrize(("protocol", "phase", "rate"), [
    ("esketamine-nasal", Phase.INFUSION, False),
    ("ketamine-iv", Phase.INFUSION, True),
    ("ketamine-iv", Phase.RECOVERY, False),
])
def test_the_dose_key_takes_a_rate_only_while_an_infused_protocol_runs(protocol: str, phase: Phase,
                                                                       rate: bool) -> None:
    assert chair.takes_rate(load_protocol(protocol), phase) is rate
