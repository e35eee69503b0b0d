"""The simulated patient as a bedside monitor sees it, for the device emulators.

A monitor emulator (IntelliVue, DINAMAP, an HL7 sender) asks for the current numerics and
starts or reads cuff measurements; this module turns :class:`drivers.patient.model.SimulatedPatient`
into those answers. Time is whatever the emulator passes in (wall-clock seconds when playing onto
a real port), so the emulator stays testable without sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.core.readings import Flag, Parameter
from drivers.patient.model import CUFF_DURATION_S, SimulatedPatient, check_scenario

# A jump longer than this (a suspended laptop) is not filled second by second.
_MAX_CATCH_UP_S = 600


@dataclass(frozen=True, slots=True)
class Vitals:
    """One second's numerics; None where the monitor shows dashes."""

    t: float
    hr: float | None
    pr: float | None
    spo2: float | None
    probe_off: bool = False
    #: Ventilation, only from a simulated monitor with capnography (None otherwise).
    rr: float | None = None
    etco2: float | None = None


@dataclass(frozen=True, slots=True)
class CuffResult:
    """A finished cuff measurement (values None when it failed)."""

    t: float
    sys: float | None
    dia: float | None
    mean: float | None
    failed: bool = False
    number: int = 0


@dataclass
class PatientFeed:
    """Numerics once a second and cuff measurements, from a seeded simulated patient."""

    scenario: str = "normal"
    seed: int = 1
    start: float = 0.0
    cuff_duration_s: float = CUFF_DURATION_S
    #: The monitor's own NBP cycle (seconds), None when only the host starts the cuff.
    auto_cuff_every_s: float | None = None
    #: Whether the monitor already holds a measurement when the host first connects.
    cuff_at_start: bool = False
    source: str = "emulator"
    #: An existing patient to play (its scenario, seed and start then take precedence).
    patient: SimulatedPatient | None = None
    cuffs: list[CuffResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.patient is None:
            self.patient = SimulatedPatient(check_scenario(self.scenario), self.seed, self.start)
        else:
            patient = self.patient
            self.scenario, self.seed, self.start = patient.scenario, patient.seed, patient.start
        self._next_second = self.start
        self._latest = Vitals(self.start, None, None, None)
        self._cuff_due: float | None = None
        self._next_auto = self.start + (self.auto_cuff_every_s or 0.0)
        if self.cuff_at_start:
            self._finish_cuff(self.start)

    @property
    def _patient(self) -> SimulatedPatient:
        assert self.patient is not None
        return self.patient

    # -- numerics ----------------------------------------------------------------------------

    def vitals(self, at: float) -> Vitals:
        """The newest numerics at ``at`` (the patient model advances one step per second)."""
        if at - self._next_second > _MAX_CATCH_UP_S:
            self._next_second = at - _MAX_CATCH_UP_S
        while self._next_second <= at:
            t = self._next_second
            values = {r.parameter: r for r in self._patient.numerics(t, self.source)}
            off = any(Flag.SENSOR_OFF in r.flags for r in values.values())
            rr, etco2 = values.get(Parameter.RR), values.get(Parameter.ETCO2)
            self._latest = Vitals(
                t, values[Parameter.HR].value, values[Parameter.PR].value, values[Parameter.SPO2].value, off,
                rr.value if rr is not None else None, etco2.value if etco2 is not None else None,
            )
            self._next_second += 1.0
        return self._latest

    # -- cuff ----------------------------------------------------------------------------------

    def start_cuff(self, at: float) -> bool:
        """Start a measurement now; False while one is already running."""
        self._complete_until(at)
        if self._cuff_due is not None:
            return False
        self._cuff_due = at + self.cuff_duration_s
        return True

    def cuff_running(self, at: float) -> bool:
        """Whether the cuff is inflated at ``at``."""
        self._complete_until(at)
        return self._cuff_due is not None

    def last_cuff(self, at: float) -> CuffResult | None:
        """The newest finished measurement at ``at`` (None before the first)."""
        self._complete_until(at)
        return self.cuffs[-1] if self.cuffs else None

    def _complete_until(self, at: float) -> None:
        if self.auto_cuff_every_s is not None and self._cuff_due is None and at >= self._next_auto:
            self._cuff_due = self._next_auto + self.cuff_duration_s
            self._next_auto += self.auto_cuff_every_s
            if self._next_auto <= at:  # a long gap: do not replay every missed cycle
                self._next_auto = at + self.auto_cuff_every_s
        if self._cuff_due is not None and at >= self._cuff_due:
            due, self._cuff_due = self._cuff_due, None
            self._finish_cuff(due)

    def _finish_cuff(self, t: float) -> None:
        values = {r.parameter: r for r in self._patient.cuff(t, self.source)}
        failed = any(Flag.MEASUREMENT_FAILED in r.flags for r in values.values())
        self.cuffs.append(
            CuffResult(
                t,
                values[Parameter.NIBP_SYS].value,
                values[Parameter.NIBP_DIA].value,
                values[Parameter.NIBP_MEAN].value,
                failed,
                len(self.cuffs) + 1,
            )
        )
