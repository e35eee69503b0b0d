"""Questions a physician asks of a finished session, answered from the stored record.

Everything here is plain computation on a :class:`monitor.exports.data.SessionRecord` (or on the
store, for the session search): per-phase statistics, the baseline against the end of recovery,
how long blood pressure and heart rate took to come back within 20 % of baseline after the
infusion stopped, the cuff measurements as a table, and the search behind the session browser.
Only reliable readings (a value, and no flag that makes it untrustworthy) enter any figure.

For the review screen there are also the discharge scoring as recorded, and addenda: the only
thing a finished session still accepts. Its whole-session arrays (numpy) are in
:mod:`monitor.review_arrays`, so nothing here loads numpy.
"""

from __future__ import annotations

import bisect
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from drivers.core.readings import (
    NIBP_PARAMETERS,
    NUMERIC_PARAMETERS,
    Parameter,
    Reading,
    flags_text,
)
from monitor import chair, sign_off, text_rules
from monitor.alarms.model import Priority
from monitor.entered_in_error import is_correction
from monitor.exports.data import SessionRecord
from monitor.finished import finished_row
from monitor.labels import plain_detail
from monitor.session import Baseline, EventKind, Phase, SessionEvent
from monitor.store import Reader, SessionSearch, SessionSummary, Store

REVIEW_PHASES: Final = (Phase.BASELINE, Phase.INFUSION, Phase.RECOVERY)

#: Band around baseline that counts as "back to baseline" (CLINICAL.md: Aldrete and PADSS use 20 %).
RETURN_TOLERANCE: Final = 0.20
#: Heart rate is judged on a running median of this many seconds, so one noisy beat neither
#: ends nor restarts the return.
HEART_RATE_SMOOTHING_S: Final = 30.0
#: Continuous values at the end of recovery are summarised over this last stretch.
END_OF_RECOVERY_WINDOW_S: Final = 60.0
#: Systolic, diastolic and mean values this close in time belong to one cuff measurement.
CUFF_GROUPING_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class PhaseStatistics:
    """Summary of one parameter's reliable values in one phase."""

    phase: Phase
    parameter: Parameter
    count: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    median: float | None


def reliable(readings: Iterable[Reading]) -> list[Reading]:
    """Only readings with a value and no flag that makes them untrustworthy."""
    return [r for r in readings if r.reliable]


def phase_statistics(record: SessionRecord) -> list[PhaseStatistics]:
    """Min, max, mean and median of every numeric parameter in baseline, infusion and recovery.

    Every (phase, parameter) pair is listed, with ``count`` 0 and no figures where nothing
    reliable was recorded, so a table built from it always has the same shape.
    """
    phase_at = record.phase_at()
    values: dict[tuple[Phase, Parameter], list[float]] = {}
    for r in reliable(record.readings):
        if r.parameter not in NUMERIC_PARAMETERS:
            continue
        assert r.value is not None
        values.setdefault((phase_at(r.t), r.parameter), []).append(r.value)
    out = []
    for phase in REVIEW_PHASES:
        for parameter in NUMERIC_PARAMETERS:
            found = values.get((phase, parameter), [])
            if found:
                out.append(
                    PhaseStatistics(
                        phase,
                        parameter,
                        len(found),
                        min(found),
                        max(found),
                        round(statistics.fmean(found), 1),
                        statistics.median(found),
                    )
                )
            else:
                out.append(PhaseStatistics(phase, parameter, 0, None, None, None, None))
    return out


def session_baseline(record: SessionRecord) -> Baseline | None:
    """The baseline frozen when the infusion started, if there was one."""
    raw = record.baseline
    return Baseline.from_dict(raw) if raw else None


def _phase_span(
    record: SessionRecord, phase: Phase, last_data: Callable[[], float | None]
) -> tuple[float, float] | None:
    """Start and end of a phase; ``last_data`` (asked only for the last phase) gives the last data time."""
    phase_at = record.phase_at()
    starts = list(zip(phase_at.times, phase_at.phases, strict=True))
    begin = next((t for t, p in starts if p is phase), None)
    if begin is None:
        return None
    later = [t for t, _p in starts if t > begin]
    if later:
        return begin, min(later)
    last = last_data()
    ended = record.session.get("ended_at")
    return begin, max(last if last is not None else begin, float(ended) if ended is not None else begin)


def phase_span(record: SessionRecord, phase: Phase) -> tuple[float, float] | None:
    """Start and end of a phase (end = next phase start, or the last data of the session)."""
    return _phase_span(record, phase, lambda: max((r.t for r in record.readings), default=None))


def infusion_stopped_at(record: SessionRecord) -> float | None:
    """When drug delivery ended (the stop mark, or the start of recovery where no stop was marked)."""
    for kind in (EventKind.INFUSION_STOPPED, EventKind.RECOVERY_STARTED):
        times = [e.t for e in record.events if e.kind is kind]
        if times:
            return min(times)
    return None


def heart_rate_parameter(record: SessionRecord) -> Parameter:
    """The parameter shown as heart rate: the baseline's choice, else ECG hr where recorded, else pr."""
    baseline = session_baseline(record)
    if baseline is not None:
        return baseline.heart_rate_parameter
    if any(r.parameter is Parameter.HR and r.reliable for r in record.readings):
        return Parameter.HR
    return Parameter.PR


def change_from(base: float | None, value: float | None) -> tuple[float | None, float | None]:
    """``value`` minus ``base`` (one decimal) and that change in percent of ``base``; None where it cannot be said."""
    if base is None or value is None:
        return None, None
    change = round(value - base, 1)
    return change, (round(100.0 * change / base, 1) if base else None)


@dataclass(frozen=True, slots=True)
class BaselineComparison:
    """One vital sign at baseline and at the end of recovery."""

    parameter: Parameter
    baseline: float | None
    end_of_recovery: float | None
    measured_at: float | None

    @property
    def change(self) -> float | None:
        """End of recovery minus baseline."""
        return change_from(self.baseline, self.end_of_recovery)[0]

    @property
    def change_percent(self) -> float | None:
        """Change relative to baseline, in percent."""
        return change_from(self.baseline, self.end_of_recovery)[1]


def baseline_vs_end_of_recovery(record: SessionRecord) -> list[BaselineComparison]:
    """Heart rate, SpO2 and NIBP at baseline against the end of recovery.

    Continuous values (heart rate, SpO2) are the median of the last minute of recovery; NIBP is
    the last reliable cuff value in recovery (a spot measurement is not averaged with older ones).
    """

    def end_of(parameter: Parameter, begin: float, end: float) -> tuple[float | None, float | None]:
        found = [r for r in record.readings if r.parameter is parameter and r.reliable and begin <= r.t <= end]
        if found and parameter in NIBP_PARAMETERS:
            return found[-1].value, found[-1].t
        if found:
            last_t = found[-1].t
            window = [r.value for r in found if r.t >= last_t - END_OF_RECOVERY_WINDOW_S and r.value is not None]
            return float(statistics.median(window)), last_t
        return None, None

    return _baseline_comparisons(
        session_baseline(record), phase_span(record, Phase.RECOVERY), heart_rate_parameter(record), end_of
    )


def _baseline_comparisons(
    baseline: Baseline | None,
    span: tuple[float, float] | None,
    hr_param: Parameter,
    end_of: Callable[[Parameter, float, float], tuple[float | None, float | None]],
) -> list[BaselineComparison]:
    """Baseline against end of recovery; ``end_of`` gives a parameter's (value, time) at the end of a span."""
    out = []
    for parameter in (hr_param, Parameter.SPO2, *NIBP_PARAMETERS):
        base = baseline.value(parameter) if baseline is not None else None
        end_value, at = end_of(parameter, *span) if span is not None else (None, None)
        out.append(BaselineComparison(parameter, base, end_value, at))
    return out


@dataclass(frozen=True, slots=True)
class ReturnToBaseline:
    """How long a vital sign took to settle back within the band around its baseline."""

    parameter: Parameter
    baseline: float | None
    band: tuple[float, float] | None
    infusion_stopped_at: float | None
    #: Start of the final stretch that stays inside the band (None: never back, or no data).
    returned_at: float | None
    #: The last value judged (smoothed for heart rate).
    last_value: float | None

    @property
    def seconds(self) -> float | None:
        """Seconds from the end of the infusion to the return (0 when it never left the band)."""
        if self.returned_at is None or self.infusion_stopped_at is None:
            return None
        return max(0.0, self.returned_at - self.infusion_stopped_at)

    @property
    def returned(self) -> bool:
        """Whether the value was within the band at the end of the session."""
        return self.returned_at is not None


def _running_median(points: Sequence[tuple[float, float]], window_s: float) -> list[tuple[float, float]]:
    """Median of the values in the ``window_s`` seconds up to each point (a sorted window, not a re-sort)."""
    out = []
    start = 0
    window: list[float] = []
    for t, v in points:
        bisect.insort(window, v)
        while points[start][0] < t - window_s:
            del window[bisect.bisect_left(window, points[start][1])]
            start += 1
        n = len(window)
        middle = window[n // 2] if n % 2 else (window[n // 2 - 1] + window[n // 2]) / 2
        out.append((t, float(middle)))
    return out


def _return_time(
    points: Sequence[tuple[float, float]], stopped: float, low: float, high: float
) -> tuple[float | None, float | None]:
    """(returned_at, last value) for a time-ordered series judged from ``stopped`` on."""
    # The value in force when the infusion stopped is the starting point of the judgement.
    before = [p for p in points if p[0] <= stopped]
    after = [p for p in points if p[0] > stopped]
    series = ([(stopped, before[-1][1])] if before else []) + after
    if not series:
        return None, None
    last_value = series[-1][1]
    if not low <= last_value <= high:
        return None, last_value
    returned_at = series[0][0]
    for i in range(len(series) - 1, -1, -1):
        if not low <= series[i][1] <= high:
            returned_at = series[i + 1][0]
            break
    return returned_at, last_value


def return_to_baseline(record: SessionRecord, tolerance: float = RETURN_TOLERANCE) -> list[ReturnToBaseline]:
    """Time for systolic, diastolic and heart rate to come back within ``tolerance`` of baseline.

    The return is the start of the last stretch that stays within the band up to the end of the
    session, counted from the end of the infusion; 0 s when the value never left the band. NIBP
    is judged on the cuff values themselves, heart rate on a 30-second running median.
    """

    def series_of(parameter: Parameter) -> list[tuple[float, float]]:
        points = [(r.t, r.value) for r in record.readings if r.parameter is parameter and r.reliable]
        return [(t, v) for t, v in points if v is not None]

    return _returns_to_baseline(record, heart_rate_parameter(record), series_of, tolerance)


def _returns_to_baseline(
    record: SessionRecord,
    hr_param: Parameter,
    series_of: Callable[[Parameter], list[tuple[float, float]]],
    tolerance: float,
) -> list[ReturnToBaseline]:
    """Return to baseline per parameter; ``series_of`` gives a parameter's reliable (time, value) points."""
    baseline = session_baseline(record)
    stopped = infusion_stopped_at(record)
    out = []
    for parameter in (Parameter.NIBP_SYS, Parameter.NIBP_DIA, hr_param):
        base = baseline.value(parameter) if baseline is not None else None
        if base is None or stopped is None:
            out.append(ReturnToBaseline(parameter, base, None, stopped, None, None))
            continue
        low, high = base * (1 - tolerance), base * (1 + tolerance)
        series = series_of(parameter)
        if parameter not in NIBP_PARAMETERS:
            series = _running_median(series, HEART_RATE_SMOOTHING_S)
        returned_at, last_value = _return_time(series, stopped, low, high)
        band = (round(low, 1), round(high, 1))
        out.append(ReturnToBaseline(parameter, base, band, stopped, returned_at, last_value))
    return out


@dataclass(frozen=True, slots=True)
class NibpMeasurement:
    """One cuff measurement: systolic, diastolic and mean with the phase it fell in."""

    t: float
    phase: Phase
    systolic: float | None
    diastolic: float | None
    mean: float | None
    status: str

    @property
    def reliable(self) -> bool:
        """A complete, unflagged measurement."""
        return self.systolic is not None and self.diastolic is not None and not self.status


def nibp_table(record: SessionRecord) -> list[NibpMeasurement]:
    """Every cuff measurement of the session in time order, failed ones included (values empty)."""
    phase_at = record.phase_at()
    groups: list[dict[Parameter, Reading]] = []
    for r in record.readings:
        if r.parameter not in NIBP_PARAMETERS:
            continue
        current = groups[-1] if groups else None
        if (
            current is None
            or r.parameter in current
            or r.t - min(x.t for x in current.values()) > CUFF_GROUPING_S
        ):
            groups.append({r.parameter: r})
        else:
            current[r.parameter] = r
    out = []
    for group in groups:
        t = min(r.t for r in group.values())
        flags = frozenset().union(*(r.flags for r in group.values()))

        def value(p: Parameter, group: dict[Parameter, Reading] = group) -> float | None:
            r = group.get(p)
            return None if r is None or not r.reliable else r.value

        out.append(
            NibpMeasurement(
                t=t,
                phase=phase_at(t),
                systolic=value(Parameter.NIBP_SYS),
                diastolic=value(Parameter.NIBP_DIA),
                mean=value(Parameter.NIBP_MEAN),
                status=flags_text(flags),
            )
        )
    return out


# -- the session browser's search ------------------------------------------------------------------


def _priority(value: object) -> Priority | None:
    if isinstance(value, int):
        try:
            return Priority(value)
        except ValueError:
            return None
    try:
        return Priority.parse(str(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class SessionFound:
    """A session as the browser lists it, with its alarm counts and its physicians' sign-offs."""

    summary: SessionSummary
    alarm_counts: dict[Priority, int] = field(default_factory=dict)
    sign_offs: tuple[sign_off.SignOff, ...] = ()

    @property
    def awaiting_sign_off(self) -> bool:
        """Finished and signed off by nobody yet."""
        return sign_off.awaiting_sign_off(self.summary.status, self.sign_offs)

    @property
    def highest_alarm(self) -> Priority | None:
        """The most urgent priority any alarm of the session reached."""
        return max((p for p, n in self.alarm_counts.items() if n), default=None)


def search_sessions(
    store: Reader,
    *,
    started_from: float | None = None,
    started_before: float | None = None,
    mrn_contains: str | None = None,
    highest_alarm: Priority | None = None,
    min_alarm: Priority | None = None,
    no_alarms: bool = False,
    awaiting_sign_off: bool = False,
    limit: int | None = None,
) -> list[SessionFound]:
    """Sessions matching every given criterion, newest first (the newest ``limit`` when given).

    ``started_from``/``started_before`` bound the start time (epoch seconds, half-open);
    ``mrn_contains`` matches part of the patient's MRN, ignoring case; ``highest_alarm`` keeps
    sessions whose most urgent alarm had exactly that priority, ``min_alarm`` those that had
    at least one alarm of that priority or higher, ``no_alarms`` those that had none; ``awaiting_sign_off`` keeps
    finished sessions no physician has signed off.
    """
    search = SessionSearch(started_from=started_from, started_before=started_before, mrn_contains=mrn_contains,
                           highest_alarm=highest_alarm, min_alarm=min_alarm, no_alarms=no_alarms)
    if awaiting_sign_off:
        return with_alarm_counts(store, _awaiting_sign_off(store, search)[:limit])
    return with_alarm_counts(store, store.find_sessions(search, limit), every_session=limit is None)


@dataclass(frozen=True, slots=True)
class SessionsPage:
    """What the browser shows of a search: the newest sessions it finds, how many it finds in all, and how many of
    those in all await a physician's sign-off (a physician's queue, not only the page's share of it)."""

    found: list[SessionFound]
    count: int
    awaiting: int


def sessions_page(store: Reader, search: SessionSearch, limit: int, *, awaiting_sign_off: bool = False) -> SessionsPage:
    """The newest ``limit`` sessions the search finds (of those awaiting a sign-off only, if asked), how many it
    finds in all and how many of those await a sign-off."""
    if awaiting_sign_off:
        waiting = _awaiting_sign_off(store, search)
        return SessionsPage(with_alarm_counts(store, waiting[:limit]), len(waiting), len(waiting))
    found = with_alarm_counts(store, store.find_sessions(search, limit))
    if len(found) < limit:
        return SessionsPage(found, len(found), sum(1 for f in found if f.awaiting_sign_off))
    return SessionsPage(found, store.count_sessions(search), len(_awaiting_sign_off(store, search)))


def _awaiting_sign_off(store: Reader, search: SessionSearch) -> list[SessionSummary]:
    """Every session the search finds that awaits a sign-off, newest first. Whether one does is read from its
    timeline, not its row, so every match is looked at (a work list, not a page of the record); alarm counts are
    read only for what is listed."""
    return sign_off.awaiting_among(store, store.find_sessions(search, None))[0]


def with_alarm_counts(store: Reader, summaries: Sequence[SessionSummary], *,
                      every_session: bool = False) -> list[SessionFound]:
    """The sessions with their alarm counts, read for these sessions only (``every_session``: read for all at
    once, cheaper when nearly every session is listed)."""
    if not summaries:
        return []
    counts: dict[str, dict[Priority, int]] = {}
    by_session = store.alarm_counts(None if every_session else [s.id for s in summaries])
    for session_id, by_word in by_session.items():
        for priority, n in by_word.items():
            parsed = _priority(priority)
            if parsed is not None:
                per = counts.setdefault(session_id, {p: 0 for p in Priority})
                per[parsed] += n
    signed = sign_off.sign_offs_of(store, [s.id for s in summaries])
    return [SessionFound(s, counts.get(s.id, {p: 0 for p in Priority}), tuple(signed.get(s.id, ())))
            for s in summaries]


# -- discharge as recorded, and addenda ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DischargeScoring:
    """The discharge scoring recorded at the end of a session (the last one, if scored twice)."""

    t: float
    user: str | None
    detail: Mapping[str, Any]

    @property
    def passed(self) -> bool:
        """Both scores passed, with an escort and the no-driving instruction acknowledged."""
        return bool(self.detail.get("passed"))

    @property
    def reasons(self) -> list[str]:
        """What stood in the way of discharge (empty when it passed)."""
        return [str(r) for r in self.detail.get("reasons") or []]

    def score(self, key: str) -> Mapping[str, Any] | None:
        """One score's stored result (``aldrete`` or ``padss``): name, total, maximum, items."""
        value = self.detail.get(key)
        return value if isinstance(value, Mapping) else None


def discharge_scoring(record: SessionRecord) -> DischargeScoring | None:
    """The last ``discharge_scored`` event of the session, None when discharge was never scored."""
    scored = [e for e in record.events if e.kind is EventKind.DISCHARGE_SCORED]
    if not scored:
        return None
    last = scored[-1]
    return DischargeScoring(last.t, last.user, dict(last.detail))


@dataclass(frozen=True, slots=True)
class Override:
    """A step taken although it was not ready: when, by whom, why, and what it went past."""

    t: float
    user: str | None
    step: EventKind
    reason: str
    #: What was not ready, in words (``recovery too short``), and the protocol's items left undone.
    overridden: tuple[str, ...]


def overrides(record: SessionRecord) -> list[Override]:
    """Every step of the session taken with an override reason, in time order."""
    out = []
    for event in record.events:
        if event.kind is EventKind.INFUSION_STOPPED and "before_minimum_min" in event.detail:
            # Never refused (a safety action), but taken before the protocol's minimum: said with its reason.
            minimum = event.detail.get("before_minimum_min")
            out.append(Override(event.t, event.user, event.kind,
                                str(event.detail.get("reason") or "").strip() or "(no reason given)",
                                (f"infusion shorter than the protocol's {minimum:g} min minimum",)
                                if isinstance(minimum, int | float) else ("infusion shorter than the minimum",)))
            continue
        reason = str(event.detail.get("override_reason") or "").strip()
        if not reason:
            continue
        codes = [str(code).replace("_", " ") for code in event.detail.get("overridden") or ()]
        codes += [str(item) for item in event.detail.get("protocol_override") or ()]
        out.append(Override(event.t, event.user, event.kind, reason, tuple(codes)))
    return out


class AddendumRefused(ValueError):
    """An addendum that cannot be written, with the reason in words a user can act on."""


def add_addendum(
    store: Store,
    session_id: str,
    text: str,
    *,
    user: str,
    role: str | None = None,
    refers_to_at: float | None = None,
    now: float | None = None,
) -> SessionEvent:
    """Append an addendum to a finished session, with who wrote it and when, and audit it.

    The recorded data stay as they were: the addendum is a new timeline entry of kind
    ``addendum`` stamped with the wall-clock time of writing; ``refers_to_at`` optionally names
    the moment of the session it is about.
    """
    text = text_rules.neutral_text(text).strip()
    if not text:
        raise AddendumRefused("an addendum needs some text")
    if not user.strip():
        raise AddendumRefused("an addendum must be signed: sign in first")
    row = finished_row(store, session_id, AddendumRefused, what="adding to it",
                       while_recording="this session is still being recorded: add notes from the live window")
    written_at = time.time() if now is None else now
    detail: dict[str, Any] = {"text": text}
    if role:
        detail["role"] = role
    if refers_to_at is not None:
        detail["refers_to_at"] = float(refers_to_at)
    if sign_off.sign_offs_of(store, [row["id"]]):
        # Sealed with the addendum: the physician who signed off attested the record as it was before it.
        detail[sign_off.AFTER_SIGN_OFF_KEY] = True
    event = SessionEvent(
        t=written_at, kind=EventKind.ADDENDUM, phase=Phase(row["phase"]), user=user, detail=detail
    )
    store.write_batch(row["id"], events=[event])
    store.audit("addendum", user=user, session_id=row["id"], **detail)
    return event


def addendum_text(event: SessionEvent) -> str:
    """The text of an addendum (or of a note, quick event or score) as one line."""
    detail = dict(event.detail)
    if event.kind is EventKind.SCORE or is_correction(event):
        return chair.corrected_line(event)
    return str(detail.get("text") or detail.get("label") or plain_detail(detail))
