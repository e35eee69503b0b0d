"""Outcome measures entered before an infusion: PHQ-9 (depression) and GAD-7 (anxiety).

Each item asks how often, over the last two weeks, something has bothered the patient and is
answered 0 (not at all), 1 (several days), 2 (more than half the days) or 3 (nearly every day).
The totals and their bands are the published ones (PHQ-9: 0-27, bands 0-4, 5-9, 10-14, 15-19,
20-27; GAD-7: 0-21, bands 0-4, 5-9, 10-14, 15-21). The item wording here is the clinic's own
short paraphrase for the screen, not the published questionnaire text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitor.session import EventKind, SessionEvent

ANSWERS: Final = ("not at all", "several days", "more than half the days", "nearly every day")


class OutcomeError(ValueError):
    """Answers that do not make a questionnaire (wrong count, an answer outside 0-3)."""


@dataclass(frozen=True, slots=True)
class Band:
    """A published severity band: totals from ``low`` to ``high`` inclusive."""

    low: int
    high: int
    label: str


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """A scored questionnaire: its items (in our words), bands and LOINC code of the total."""

    name: str
    title: str
    items: tuple[str, ...]
    bands: tuple[Band, ...]
    loinc_total: str
    loinc_display: str

    @property
    def maximum(self) -> int:
        """Highest possible total."""
        return 3 * len(self.items)

    def band(self, total: int) -> Band:
        """The band a total falls in."""
        for band in self.bands:
            if band.low <= total <= band.high:
                return band
        raise OutcomeError(f"{self.name} total {total} is outside 0-{self.maximum}")


PHQ9: Final = Questionnaire(
    name="PHQ-9",
    title="Mood over the last two weeks",
    items=(
        "Little pleasure or interest in doing things",
        "Feeling low, down or without hope",
        "Trouble getting to sleep or staying asleep, or sleeping too much",
        "Feeling tired or short of energy",
        "Eating too little or too much",
        "Feeling bad about yourself, or that you have let yourself or others down",
        "Finding it hard to concentrate, e.g. on reading or television",
        "Moving or speaking so slowly others noticed, or being so restless you moved about more than usual",
        "Thoughts that you would be better off dead, or of hurting yourself",
    ),
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately severe"),
        Band(20, 27, "severe"),
    ),
    loinc_total="44261-6",
    loinc_display="Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
)

GAD7: Final = Questionnaire(
    name="GAD-7",
    title="Worry and nerves over the last two weeks",
    items=(
        "Feeling nervous, anxious or on edge",
        "Not being able to stop or control worrying",
        "Worrying too much about many different things",
        "Finding it hard to relax",
        "Being so restless it is hard to sit still",
        "Getting annoyed or irritable easily",
        "Feeling afraid, as if something awful might happen",
    ),
    bands=(Band(0, 4, "minimal"), Band(5, 9, "mild"), Band(10, 14, "moderate"), Band(15, 21, "severe")),
    loinc_total="70274-6",
    loinc_display="Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
)

QUESTIONNAIRES: Final[Mapping[str, Questionnaire]] = {q.name: q for q in (PHQ9, GAD7)}


def questionnaire(name: str) -> Questionnaire:
    """A questionnaire by name (``PHQ-9``, ``phq9`` and ``phq-9`` all work)."""
    wanted = name.replace("-", "").replace(" ", "").upper()
    for q in QUESTIONNAIRES.values():
        if q.name.replace("-", "").upper() == wanted:
            return q
    raise OutcomeError(f"unknown questionnaire '{name}'; use {', '.join(QUESTIONNAIRES)}")


@dataclass(frozen=True, slots=True)
class OutcomeScore:
    """One completed questionnaire."""

    scale: str
    answers: tuple[int, ...]
    total: int
    band: str
    #: Who filled it in: the patient on the screen, or staff asking the questions.
    entered_by: str = "patient"

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the timeline and exports."""
        q = questionnaire(self.scale)
        return {
            "scale": self.scale,
            "answers": list(self.answers),
            "total": self.total,
            "maximum": q.maximum,
            "band": self.band,
            "loinc": q.loinc_total,
            "entered_by": self.entered_by,
        }


def score(name: str, answers: Sequence[int], entered_by: str = "patient") -> OutcomeScore:
    """Score a questionnaire: the sum of the answers and its published band."""
    q = questionnaire(name)
    if len(answers) != len(q.items):
        raise OutcomeError(f"{q.name} has {len(q.items)} items; {len(answers)} answers were given")
    clean: list[int] = []
    for number, answer in enumerate(answers, start=1):
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer <= 3:
            raise OutcomeError(f"{q.name} item {number}: the answer must be 0, 1, 2 or 3, not {answer!r}")
        clean.append(answer)
    total = sum(clean)
    return OutcomeScore(q.name, tuple(clean), total, q.band(total).label, entered_by)


def parse_answers(text: str) -> list[int]:
    """Answers typed as digits: ``012301230`` or ``0 1 2 3 ...``."""
    digits = [c for c in text if not c.isspace() and c != ","]
    if not all(c in "0123" for c in digits):
        raise OutcomeError("type one digit 0-3 per item, e.g. 012301230")
    return [int(c) for c in digits]


def outcome_scores(events: Iterable[SessionEvent]) -> dict[str, OutcomeScore]:
    """The newest score of each questionnaire recorded in a session."""
    out: dict[str, OutcomeScore] = {}
    for e in sorted(events, key=lambda e: e.t):
        if e.kind is EventKind.OUTCOME_SCORE:
            d = e.detail
            out[str(d["scale"])] = OutcomeScore(
                str(d["scale"]),
                tuple(int(a) for a in d.get("answers", ())),
                int(d["total"]),
                str(d["band"]),
                str(d.get("entered_by") or "patient"),
            )
    return out
