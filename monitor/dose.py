"""The dose as numbers: the plan (weight, mg/kg, total, concentration, rate), rate changes,
the total actually delivered, and interventions given during a session.

Everything is stored on the session's timeline: ``dose_planned`` (the plan, with who confirmed
a dose outside the protocol's range), ``rate_changed`` (the new rate in mg/h) and
``intervention`` (drug or manoeuvre with its dose). The delivered total is computed from the
timeline - start, rate changes, pauses, stop - never typed.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from monitor.entered_in_error import standing_entries
from monitor.session import EventKind, SessionEvent, SessionRuleError

MINUTES_PER_HOUR: Final = 60.0


class DoseError(ValueError):
    """A dose entry that cannot be right (a negative weight, a rate of zero), with the reason."""


class DoseUnit(StrEnum):
    """How a protocol states the dose: per kilogram, or a fixed amount."""

    MG_PER_KG = "mg/kg"
    MG = "mg"


@dataclass(frozen=True, slots=True)
class DoseRange:
    """The protocol's dose range; ``allowed`` lists the only fixed doses where there are such."""

    unit: DoseUnit
    minimum: float
    maximum: float
    default: float
    allowed: tuple[float, ...] = ()
    #: Infused over time (IV) or given at once (nasal spray).
    infused: bool = True
    default_duration_min: float | None = None


class DoseNeedsConfirmation(SessionRuleError):
    """A planned dose outside the protocol's range: it needs a confirmation with a reason."""


@dataclass(frozen=True, slots=True)
class DosePlan:
    """The planned dose of one session."""

    drug: str
    route: str
    total_mg: float
    weight_kg: float | None = None
    dose_mg_per_kg: float | None = None
    concentration_mg_per_ml: float | None = None
    duration_min: float | None = None
    lot: str | None = None
    #: Why a dose outside the protocol's range was given (empty when it was inside).
    confirmed_reason: str = ""

    @property
    def rate_mg_per_h(self) -> float | None:
        """Planned infusion rate in mg/h (None for a dose given at once)."""
        if not self.duration_min:
            return None
        return round(self.total_mg / self.duration_min * MINUTES_PER_HOUR, 2)

    @property
    def rate_ml_per_h(self) -> float | None:
        """Planned pump rate in mL/h (needs the concentration)."""
        rate = self.rate_mg_per_h
        if rate is None or not self.concentration_mg_per_ml:
            return None
        return round(rate / self.concentration_mg_per_ml, 2)

    @property
    def volume_ml(self) -> float | None:
        """Volume of the planned total at the given concentration."""
        if not self.concentration_mg_per_ml:
            return None
        return round(self.total_mg / self.concentration_mg_per_ml, 2)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the timeline and exports (derived rates included)."""
        return {
            "drug": self.drug,
            "route": self.route,
            "total_mg": self.total_mg,
            "weight_kg": self.weight_kg,
            "dose_mg_per_kg": self.dose_mg_per_kg,
            "concentration_mg_per_ml": self.concentration_mg_per_ml,
            "duration_min": self.duration_min,
            "rate_mg_per_h": self.rate_mg_per_h,
            "rate_ml_per_h": self.rate_ml_per_h,
            "lot": self.lot,
            "confirmed_reason": self.confirmed_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DosePlan:
        """Inverse of :meth:`as_dict`."""

        def num(key: str) -> float | None:
            value = data.get(key)
            return None if value is None else float(value)

        return cls(
            drug=str(data.get("drug") or ""),
            route=str(data.get("route") or ""),
            total_mg=float(data["total_mg"]),
            weight_kg=num("weight_kg"),
            dose_mg_per_kg=num("dose_mg_per_kg"),
            concentration_mg_per_ml=num("concentration_mg_per_ml"),
            duration_min=num("duration_min"),
            lot=data.get("lot") or None,
            confirmed_reason=str(data.get("confirmed_reason") or ""),
        )


def _positive(value: float | None, what: str) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise DoseError(f"{what} must be a positive number, not {value:g}")


def weight_based(
    drug: str,
    route: str,
    weight_kg: float,
    dose_mg_per_kg: float,
    *,
    duration_min: float | None,
    concentration_mg_per_ml: float | None = None,
    lot: str | None = None,
) -> DosePlan:
    """A dose by weight: total = weight x mg/kg (to 0.1 mg), rate = total over the duration."""
    _positive(weight_kg, "the weight (kg)")
    _positive(dose_mg_per_kg, "the dose (mg/kg)")
    _positive(duration_min, "the duration (min)")
    _positive(concentration_mg_per_ml, "the concentration (mg/mL)")
    total = round(weight_kg * dose_mg_per_kg, 1)
    return DosePlan(drug, route, total, weight_kg, dose_mg_per_kg, concentration_mg_per_ml, duration_min, lot)


def fixed(
    drug: str, route: str, total_mg: float, *, weight_kg: float | None = None, lot: str | None = None
) -> DosePlan:
    """A fixed dose (e.g. 56 mg of esketamine); mg/kg is derived where the weight is known."""
    _positive(total_mg, "the dose (mg)")
    _positive(weight_kg, "the weight (kg)")
    per_kg = None if weight_kg is None else round(total_mg / weight_kg, 3)
    return DosePlan(drug, route, total_mg, weight_kg, per_kg, None, None, lot)


def outside_range(plan: DosePlan, allowed: DoseRange) -> str | None:
    """Why the plan lies outside the protocol's range (None when it is inside)."""
    value = plan.dose_mg_per_kg if allowed.unit is DoseUnit.MG_PER_KG else plan.total_mg
    if value is None:
        return f"the dose is stated in {allowed.unit.value} but no weight is known"
    if allowed.allowed and not any(math.isclose(value, a) for a in allowed.allowed):
        listed = ", ".join(f"{a:g}" for a in allowed.allowed)
        return f"{value:g} {allowed.unit.value} is not one of the protocol's doses ({listed})"
    if not allowed.minimum <= value <= allowed.maximum:
        return (
            f"{value:g} {allowed.unit.value} is outside the protocol's range "
            f"{allowed.minimum:g}-{allowed.maximum:g} {allowed.unit.value}"
        )
    return None


def check_plan(plan: DosePlan, allowed: DoseRange | None) -> None:
    """Refuse a dose outside the range unless it carries a confirmation reason."""
    if allowed is None:
        return
    why = outside_range(plan, allowed)
    if why and not plan.confirmed_reason.strip():
        raise DoseNeedsConfirmation(why + ": confirm it with a reason")


# -- what the timeline says --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateChange:
    """A new infusion rate from a moment on."""

    t: float
    rate_mg_per_h: float


def add_rate_change(changes: list[RateChange], t: float, detail: Mapping[str, Any]) -> None:
    """A standing ``rate_changed`` entry's effect on the rates so far: a new rate from ``t`` on. Callers read the
    timeline through :func:`monitor.entered_in_error.standing_entries`, where a rate entered in error already
    holds its correction's rate at its own time."""
    changes.append(RateChange(t, float(detail["rate_mg_per_h"])))


@dataclass(frozen=True, slots=True)
class DoseRecord:
    """The dose of a session as its timeline tells it."""

    plan: DosePlan | None
    started_at: float | None
    stopped_at: float | None
    rate_changes: tuple[RateChange, ...]
    delivered_mg: float | None
    #: The pump's pauses (start, end) within the infusion; one still open ends where the delivered dose was counted.
    pauses: tuple[tuple[float, float], ...] = ()
    #: Where the delivered dose was counted to: the stop, else the record's end (None without an infusion at a rate).
    delivered_until: float | None = None
    #: Whether the protocol states the dose per kilogram (:func:`as_stated`): a fixed dose has no mg/kg.
    weighed: bool = True

    @property
    def delivered_mg_per_kg(self) -> float | None:
        """Delivered dose per kilogram (needs the weight; None for a fixed dose)."""
        if not self.weighed or self.delivered_mg is None or self.plan is None or not self.plan.weight_kg:
            return None
        return round(self.delivered_mg / self.plan.weight_kg, 3)

    @property
    def infusion_min(self) -> float | None:
        """Minutes from the infusion start to where the delivered dose was counted, pauses included."""
        if self.started_at is None or self.delivered_until is None:
            return None
        return max(self.delivered_until - self.started_at, 0.0) / 60.0

    @property
    def paused_min(self) -> float:
        """Minutes the pump stood paused."""
        return sum(end - start for start, end in self.pauses) / 60.0


def delivered_mg(
    started_at: float,
    stopped_at: float,
    initial_rate_mg_per_h: float,
    changes: Iterable[RateChange] = (),
    pauses: Iterable[tuple[float, float]] = (),
) -> float:
    """Milligrams delivered between start and stop at piecewise-constant rates, pauses excluded."""
    if stopped_at <= started_at:
        return 0.0
    cuts = sorted({started_at, stopped_at, *(c.t for c in changes), *(p for pair in pauses for p in pair)})
    cuts = [t for t in cuts if started_at <= t <= stopped_at]
    ordered = sorted(changes, key=lambda c: c.t)
    paused = list(pauses)
    total = 0.0
    for begin, end in itertools.pairwise(cuts):
        middle = (begin + end) / 2
        if any(p0 <= middle < p1 for p0, p1 in paused):
            continue
        rate = initial_rate_mg_per_h
        for change in ordered:
            if change.t <= middle:
                rate = change.rate_mg_per_h
        total += rate * (end - begin) / 3600.0
    return round(total, 1)


def weighed(allowed: DoseRange) -> bool:
    """Whether a protocol's dose is given per kilogram. A fixed dose (esketamine's 56 or 84 mg) has no mg/kg: the
    figure derived from the weight read as a weight-based dose beside IV ketamine's. The one rule the course, the
    chart, the PDF and the JSON all follow."""
    return allowed.unit is DoseUnit.MG_PER_KG


def as_stated(record: DoseRecord, allowed: DoseRange) -> DoseRecord:
    """A session's dose as its protocol states it: without mg/kg (planned or delivered) for a fixed dose."""
    if weighed(allowed) or record.plan is None:
        return record
    return dataclasses.replace(record, plan=dataclasses.replace(record.plan, dose_mg_per_kg=None), weighed=False)


def dose_record(events: Iterable[SessionEvent], now: float | None = None) -> DoseRecord:
    """The plan, rate changes and delivered total from a session's events.

    An infused dose counts from the infusion start at the planned rate, changes at each standing
    ``rate_changed`` (a rate entered in error: its correction's rate, from the wrong entry's time), stops during
    pauses and ends at the stop (or at ``now`` while running; the last entry, a correction too, without ``now``).
    A dose given at once (no duration) counts as delivered once dosing started.
    """
    plan: DosePlan | None = None
    started = stopped = None
    changes: list[RateChange] = []
    pauses: list[tuple[float, float]] = []
    paused_at: float | None = None
    entered = sorted(events, key=lambda e: e.t)
    last_t = entered[-1].t if entered else None
    for e in sorted(standing_entries(entered), key=lambda e: e.t):
        if e.kind is EventKind.DOSE_PLANNED:
            plan = DosePlan.from_dict(e.detail)
        elif e.kind is EventKind.INFUSION_STARTED and started is None:
            started = e.t
        elif e.kind is EventKind.RATE_CHANGED:
            add_rate_change(changes, e.t, e.detail)
        elif e.kind is EventKind.INFUSION_PAUSED:
            paused_at = e.t
        elif e.kind is EventKind.INFUSION_RESUMED and paused_at is not None:
            pauses.append((paused_at, e.t))
            paused_at = None
        elif (
            e.kind in (EventKind.INFUSION_STOPPED, EventKind.RECOVERY_STARTED)
            and stopped is None
            and (e.kind is EventKind.INFUSION_STOPPED or started is not None)
        ):
            stopped = e.t
    delivered: float | None = None
    until: float | None = None
    if plan is not None and started is not None:
        rate = plan.rate_mg_per_h
        if rate is None:
            delivered = plan.total_mg
        else:
            end = stopped if stopped is not None else (now if now is not None else last_t)
            assert end is not None
            if paused_at is not None:
                pauses.append((paused_at, end))
            delivered = delivered_mg(started, end, rate, changes, pauses)
            until = end
    return DoseRecord(plan, started, stopped, tuple(changes), delivered, tuple(pauses), until)


# -- interventions ----------------------------------------------------------------------------------


class InterventionKind(StrEnum):
    """Interventions the chair sees during ketamine sessions."""

    OXYGEN = "oxygen"
    ANTIEMETIC = "antiemetic"
    BENZODIAZEPINE = "benzodiazepine"
    ANTIHYPERTENSIVE = "antihypertensive"
    AIRWAY = "airway"
    OTHER = "other"


#: Unit of each kind's dose (None: a manoeuvre has no dose).
INTERVENTION_UNITS: Final[Mapping[InterventionKind, str | None]] = {
    InterventionKind.OXYGEN: "L/min",
    InterventionKind.ANTIEMETIC: "mg",
    InterventionKind.BENZODIAZEPINE: "mg",
    InterventionKind.ANTIHYPERTENSIVE: "mg",
    InterventionKind.AIRWAY: None,
    InterventionKind.OTHER: None,
}
OXYGEN_RANGE_L_MIN: Final = (0.5, 15.0)
#: What oxygen's line says when no route (cannula, mask) was entered.
ROUTE_NOT_RECORDED: Final = "route not recorded"


@dataclass(frozen=True, slots=True)
class Intervention:
    """One intervention: what was given (or done), how much, by which route."""

    kind: InterventionKind
    drug: str
    dose: float | None
    unit: str | None
    route: str = ""

    def text(self) -> str:
        """One line for charts and reports, e.g. ``antiemetic ondansetron 4 mg IV`` or ``oxygen 2 L/min, route not
        recorded``."""
        # Oxygen's drug is oxygen: named once, where "oxygen oxygen" read as a typing slip.
        parts = [self.kind.value, "" if self.drug.casefold() == self.kind.value else self.drug]
        if self.dose is not None:
            parts.append(f"{self.dose:g} {self.unit or ''}".strip())
        if self.route:
            parts.append(self.route)
        text = " ".join(p for p in parts if p)
        # Oxygen reaches the patient by some device (cannula, mask, non-rebreather): a line naming none says so, where
        # it once named a cannula nobody chose.
        return f"{text}, {ROUTE_NOT_RECORDED}" if self.kind is InterventionKind.OXYGEN and not self.route else text

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the timeline."""
        # "type", not "kind": the timeline event already has a kind (intervention).
        return {"type": self.kind.value, "drug": self.drug, "dose": self.dose, "unit": self.unit,
                "route": self.route, "text": self.text()}


def intervention(kind: InterventionKind | str, drug: str = "", dose: float | None = None,
                 route: str = "") -> Intervention:
    """A checked intervention: oxygen needs L/min, a drug needs its name and dose, airway its manoeuvre."""
    try:
        kind = InterventionKind(kind)
    except ValueError:
        raise DoseError(
            f"unknown intervention '{kind}'; use {', '.join(k.value for k in InterventionKind)}"
        ) from None
    drug, route = drug.strip(), route.strip()
    unit = INTERVENTION_UNITS[kind]
    if kind is InterventionKind.OXYGEN:
        low, high = OXYGEN_RANGE_L_MIN
        if dose is None or not low <= dose <= high:
            raise DoseError(f"oxygen needs a flow of {low:g}-{high:g} L/min")
        # No route assumed: a mask or a non-rebreather is as likely as a cannula, and the record holds what was chosen.
        return Intervention(kind, drug or "oxygen", dose, unit, route)
    if unit == "mg":
        if not drug:
            raise DoseError(f"name the {kind.value} given")
        if dose is None:
            raise DoseError(f"give the dose of {drug} in mg")
        _positive(dose, f"the dose of {drug}")
        return Intervention(kind, drug, dose, unit, route)
    if not drug:
        raise DoseError("say what was done (e.g. jaw thrust)" if kind is InterventionKind.AIRWAY else "say what")
    return Intervention(kind, drug, dose, unit, route)


def interventions(events: Iterable[SessionEvent]) -> list[tuple[float, Intervention]]:
    """Every intervention of a session that stands, in time order: one entered in error is read as its correction
    says, at its own time, or not at all where nothing was given (:func:`monitor.entered_in_error.standing_entries`)."""
    out = []
    for e in standing_entries(events):
        if e.kind is EventKind.INTERVENTION:
            d = e.detail
            out.append(
                (
                    e.t,
                    Intervention(
                        InterventionKind(d["type"]),
                        str(d.get("drug") or ""),
                        None if d.get("dose") is None else float(d["dose"]),
                        d.get("unit"),
                        str(d.get("route") or ""),
                    ),
                )
            )
    return sorted(out, key=lambda pair: pair[0])


def last_oxygen(events: Iterable[SessionEvent]) -> tuple[float, Intervention] | None:
    """The last oxygen the session's timeline records (when, and the flow), None when none was given.

    The discharge form asks whether the patient is still on oxygen (the modified Aldrete scores SpO2 on oxygen
    lower): oxygen given during the session and not ticked there would score the patient as on room air.
    """
    given = [pair for pair in interventions(events) if pair[1].kind is InterventionKind.OXYGEN]
    return given[-1] if given else None

