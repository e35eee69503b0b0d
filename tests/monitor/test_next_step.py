"""The step drawn as next during the infusion: recovery only once the infusion is over."""

from __future__ import annotations

from monitor.readiness import infusion_done, next_step
from monitor.session import Phase


def test_recovery_is_next_only_after_the_planned_infusion_or_a_stop() -> None:
    assert not infusion_done(41.0, 40.0, stopped=False)  # 41 s into a 40-minute infusion
    assert infusion_done(40 * 60.0, 40.0, stopped=False)
    assert infusion_done(60.0, 40.0, stopped=True)  # stopped early: recovery comes next
    assert next_step(Phase.INFUSION, None, infusion_over=infusion_done(41.0, 40.0, False)) is None
    assert next_step(Phase.INFUSION, None, infusion_over=infusion_done(2400.0, 40.0, False)) == "start_recovery"
    assert next_step(Phase.SETUP, None, infusion_over=False) == "start_baseline"  # only the infusion waits


def test_discharge_is_next_although_not_scored_yet_but_not_while_a_cuff_is_stale() -> None:
    """The discharge step opens the form that gives the score: a missing or failing score is settled there."""
    from monitor.readiness import COMPLETE, Blocker, StepCheck

    unscored = StepCheck(COMPLETE, (Blocker("discharge_not_scored", "discharge not scored"),))
    failing = StepCheck(COMPLETE, (Blocker("discharge_criteria", "discharge criteria not met: no escort"),))
    stale = StepCheck(COMPLETE, (*unscored.blockers, Blocker("nibp_stale", "NIBP is 7.0 min old")))
    assert next_step(Phase.RECOVERY, unscored) == COMPLETE
    assert next_step(Phase.RECOVERY, failing) == COMPLETE
    assert next_step(Phase.RECOVERY, stale) is None
