"""When the protocol's scores are due: a table of timelines at the core, then a session recorded for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.core.readings import Parameter, Reading
from monitor import chair
from monitor.cli import progress_line
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import EventKind, Phase, SessionEvent
from tests.monitor.course.recording import Script, record

IV = load_protocol("ketamine-iv")
NASAL = load_protocol("esketamine-nasal")
T0 = 1_722_000_000.0


def _event(t: float, kind: EventKind, phase: Phase, scale: str | None = None) -> SessionEvent:
    return SessionEvent(T0 + t, kind, phase, "RN", {"scale": scale} if scale else {})


def _cuff(t: float, value: float | None = 128.0) -> Reading:
    return Reading(T0 + t, Parameter.NIBP_SYS, value, "monitor")


BASELINE = [_event(0, EventKind.BASELINE_STARTED, Phase.BASELINE)]
INFUSING = [*BASELINE, _event(300, EventKind.INFUSION_STARTED, Phase.INFUSION)]
RECOVERING = [*INFUSING, _event(2700, EventKind.INFUSION_STOPPED, Phase.INFUSION),
              _event(2710, EventKind.RECOVERY_STARTED, Phase.RECOVERY)]

# what, protocol, timeline, cuff readings, phase, the scales due
CASES = [
    ("baseline: the questionnaires", IV, BASELINE, [], Phase.BASELINE, ("PHQ-9", "GAD-7")),
    ("baseline: PHQ-9 given, GAD-7 still due", IV,
     [*BASELINE, _event(60, EventKind.OUTCOME_SCORE, Phase.BASELINE, "PHQ-9")], [], Phase.BASELINE, ("GAD-7",)),
    ("infusion before its first cuff: nothing", IV, INFUSING, [_cuff(200)], Phase.INFUSION, ()),
    ("a cuff during the infusion: MOAA/S", IV, INFUSING, [_cuff(200), _cuff(600)], Phase.INFUSION, ("MOAA/S",)),
    ("a cuff that sent dashes does not count", IV, INFUSING, [_cuff(600, None)], Phase.INFUSION, ()),
    ("MOAA/S given after the cuff: nothing", IV,
     [*INFUSING, _event(640, EventKind.SCORE, Phase.INFUSION, "MOAA/S")], [_cuff(600)], Phase.INFUSION, ()),
    ("the next cuff: MOAA/S again", IV,
     [*INFUSING, _event(640, EventKind.SCORE, Phase.INFUSION, "MOAA/S")], [_cuff(600), _cuff(900)],
     Phase.INFUSION, ("MOAA/S",)),
    ("the scale written another way counts", IV,
     [*INFUSING, _event(640, EventKind.SCORE, Phase.INFUSION, "moaa/s")], [_cuff(600)], Phase.INFUSION, ()),
    ("infusion stopped, recovery not entered: CADSS-6, no more MOAA/S", IV,
     [*INFUSING, _event(2700, EventKind.INFUSION_STOPPED, Phase.INFUSION)], [_cuff(2650)], Phase.INFUSION,
     ("CADSS-6",)),
    ("recovery: CADSS-6 at the infusion's end", IV, RECOVERING, [_cuff(2650)], Phase.RECOVERY, ("CADSS-6",)),
    ("CADSS-6 given during the infusion is not the end's", IV,
     [*INFUSING, _event(2000, EventKind.SCORE, Phase.INFUSION, "CADSS-6"), *RECOVERING[2:]], [], Phase.RECOVERY,
     ("CADSS-6",)),
    ("CADSS-6 after the end answers the end; discharge asks for another", IV,
     [*RECOVERING, _event(2800, EventKind.SCORE, Phase.RECOVERY, "CADSS-6")], [], Phase.RECOVERY, ("CADSS-6",)),
    ("a second CADSS-6 answers discharge", IV,
     [*RECOVERING, _event(2800, EventKind.SCORE, Phase.RECOVERY, "CADSS-6"),
      _event(5400, EventKind.SCORE, Phase.RECOVERY, "CADSS-6")], [], Phase.RECOVERY, ()),
    ("complete: nothing", IV, [*RECOVERING, _event(5000, EventKind.SESSION_COMPLETED, Phase.COMPLETE)], [],
     Phase.COMPLETE, ()),
    ("esketamine recovery: MOAA/S and CADSS-6 before discharge", NASAL, RECOVERING, [], Phase.RECOVERY,
     ("MOAA/S", "CADSS-6")),
    ("esketamine: a MOAA/S from the dosing does not count for discharge", NASAL,
     [*INFUSING, _event(900, EventKind.SCORE, Phase.INFUSION, "MOAA/S"), *RECOVERING[2:]], [], Phase.RECOVERY,
     ("MOAA/S", "CADSS-6")),
    ("esketamine: one in observation does", NASAL,
     [*RECOVERING, _event(4000, EventKind.SCORE, Phase.RECOVERY, "MOAA/S")], [], Phase.RECOVERY, ("CADSS-6",)),
    ("esketamine: one from the baseline does not", NASAL,
     [*BASELINE, _event(60, EventKind.SCORE, Phase.BASELINE, "MOAA/S"), *RECOVERING[1:]], [], Phase.RECOVERY,
     ("MOAA/S", "CADSS-6")),
    ("esketamine dosing with a cuff: no MOAA/S reminder (its protocol has none)", NASAL, INFUSING, [_cuff(600)],
     Phase.INFUSION, ()),
]


@pytest.mark.parametrize(("protocol", "events", "cuffs", "phase", "due"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_scores_due(protocol, events, cuffs, phase, due) -> None:  # type: ignore[no-untyped-def]
    assert chair.scores_due(protocol, events, cuffs, phase) == due


def test_which_of_a_scale_asked_twice_is_due_is_said() -> None:
    """IV ketamine asks CADSS-6 at the infusion's end and again before discharge: right after the first, the
    second is due, and the words say so (the button stayed "CADSS-6 due", and the score given looked lost)."""
    def which(events: list[SessionEvent]) -> list[tuple[str, str]]:
        return [(scale, chair.due_moment_words(IV, scale, moment))
                for scale, moment in chair.scores_due_at(IV, events, [], Phase.RECOVERY)]

    assert which(RECOVERING) == [("CADSS-6", "end of infusion")]
    assert which([*RECOVERING, _event(2800, EventKind.SCORE, Phase.RECOVERY, "CADSS-6")]) == [
        ("CADSS-6", "before discharge")]
    assert chair.due_moment_follows("end of infusion", "before discharge")
    assert not chair.due_moment_follows("before discharge", "end of infusion")  # a score taken back
    # A scale asked once needs no words.
    assert chair.due_moment_words(NASAL, "CADSS-6", chair.ScoreMoment.BEFORE_DISCHARGE) == ""
    assert chair.due_moment_words(IV, "MOAA/S", chair.ScoreMoment.WITH_EACH_NIBP_DURING_INFUSION) == ""


def _scored(t: float, scale: str, value: float, phase: Phase = Phase.RECOVERY) -> SessionEvent:
    return SessionEvent(T0 + t, EventKind.SCORE, phase, "RN", {"scale": scale, "value": value})


@pytest.mark.parametrize(("protocol", "scores", "problems"), [
    (NASAL, [_scored(4000, "MOAA/S", 5), _scored(4010, "CADSS-6", 0)], []),
    (NASAL, [_scored(4000, "MOAA/S", 4), _scored(4010, "CADSS-6", 0)], ["MOAA/S 4: not 5 yet"]),
    # The newest score counts: sedation resolved later in observation.
    (NASAL, [_scored(4000, "MOAA/S", 4), _scored(6000, "MOAA/S", 5)], []),
    # Dissociation back to the patient's own baseline (a CADSS-6 before the dose), else to none.
    (NASAL, [_scored(4010, "CADSS-6", 3)], ["CADSS-6 3: not back to the baseline 0"]),
    (NASAL, [_scored(100, "CADSS-6", 2, Phase.BASELINE), _scored(4010, "CADSS-6", 2)], []),
    (NASAL, [_scored(100, "CADSS-6", 1, Phase.BASELINE), _scored(4010, "CADSS-6", 3)],
     ["CADSS-6 3: not back to the baseline 1"]),
    # Scores from the dosing are not judged for discharge (they are no pre-discharge scores at all).
    (NASAL, [_scored(600, "MOAA/S", 2, Phase.INFUSION)], []),
    # IV: the first CADSS-6 after the end is the infusion-end one; only the later one is judged.
    (IV, [_scored(2800, "CADSS-6", 9)], []),
    (IV, [_scored(2800, "CADSS-6", 9), _scored(4500, "CADSS-6", 4)], ["CADSS-6 4: not back to the baseline 0"]),
], ids=["resolved", "still sedated", "sedation resolved later", "dissociated", "at the own baseline",
        "above the own baseline", "dosing scores", "IV end score", "IV discharge score"])
def test_pre_discharge_scores_must_show_sedation_and_dissociation_resolved(protocol, scores, problems) -> None:  # type: ignore[no-untyped-def]
    events = sorted([*RECOVERING, *scores], key=lambda e: e.t)
    assert chair.discharge_score_problems(protocol, events) == problems


class Sampler:
    """Notes the scales due after every loop turn, with the phase and the time in it."""

    def __init__(self) -> None:
        self.seen: list[tuple[Phase, float, tuple[str, ...]]] = []
        self.lines: list[str] = []  # what ``record`` prints, at each change of the scores due

    def __call__(self, recorder: Recorder) -> None:
        s = recorder.session
        status = recorder.status()
        due = status.scores_due
        if not self.seen or self.seen[-1][2] != due or self.seen[-1][0] is not s.phase:
            self.seen.append((s.phase, s.now - s.phase_started_at[s.phase], due))
        line = progress_line(status)
        if not self.lines or self.lines[-1].split(" | score due")[1:] != line.split(" | score due")[1:]:
            self.lines.append(line)


def test_a_recorded_infusion_asks_for_each_score_when_its_protocol_does(tmp_path: Path) -> None:
    script = Script([
        (Phase.BASELINE, 20, "checklist", {"quick": "f6 e t:partner c m:amlodipine w81"}),
        (Phase.BASELINE, 30, "plan_dose", {"weight_kg": 81, "dose_mg_per_kg": 0.5, "duration_min": 12}),
        (Phase.BASELINE, 40, "outcome_score", {"scale": "PHQ-9", "answers": "233222211"}),
        (Phase.BASELINE, 50, "outcome_score", {"scale": "GAD-7", "answers": "2222211"}),
        (Phase.INFUSION, 330, "score", {"scale": "MOAA/S", "value": 4}),
        (Phase.RECOVERY, 60, "score", {"scale": "CADSS-6", "value": 3}),
        (Phase.RECOVERY, 600, "score", {"scale": "CADSS-6", "value": 0}),
    ])
    sampler = Sampler()

    def both(recorder: Recorder) -> None:
        script(recorder)
        sampler(recorder)

    recorder = record(tmp_path / "m.db", IV, start=T0, plan=SessionPlan(3, 12, 12), script=both)  # type: ignore[arg-type]
    assert recorder.error is None
    seen = sampler.seen
    # Baseline: both questionnaires until each is given.
    baseline = [due for phase, _, due in seen if phase is Phase.BASELINE]
    assert baseline[0] == ("PHQ-9", "GAD-7") and ("GAD-7",) in baseline and baseline[-1] == ()
    # Infusion: nothing until the first cuff of the infusion, then MOAA/S after every cuff until scored.
    infusion = [(at, due) for phase, at, due in seen if phase is Phase.INFUSION]
    assert infusion[0][1] == ()
    reminders = [at for at, due in infusion if due == ("MOAA/S",)]
    cleared = [at for at, due in infusion if due == () and at > 0]
    assert len(reminders) >= 2, infusion  # the protocol's cuff cycle over 12 min
    assert any(330 <= at < 340 for at in cleared), infusion  # the score at 330 s ended that reminder
    # Recovery: CADSS-6 from the infusion's end until it is given at 60 s; then again before discharge (a
    # separate assessment) until given at 600 s; then nothing.
    recovery = [(at, due) for phase, at, due in seen if phase is Phase.RECOVERY]
    assert recovery[0][1] == ("CADSS-6",) and recovery[0][0] < 2, recovery
    assert not any(due == () for at, due in recovery if at < 600), recovery
    assert recovery[-1][1] == () and 600 <= recovery[-1][0] < 602, recovery
    assert not any("MOAA/S" in due for _, due in recovery)
    # The terminal's line says it too.
    assert [line.endswith(" | score due: PHQ-9, GAD-7") for line in sampler.lines][:1] == [True]
    assert sum(line.endswith(" | score due: MOAA/S") for line in sampler.lines) == len(reminders)
    assert "score due" not in sampler.lines[-1]
    # CADSS-6 is asked twice: the line says which one is due, the end's, then the one before discharge.
    cadss = [line.split(" | score due: ")[1] for line in sampler.lines if "score due: CADSS-6" in line]
    assert cadss == ["CADSS-6 (end of infusion)", "CADSS-6 (before discharge)"], cadss
