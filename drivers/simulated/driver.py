"""The simulated monitor: a full bedside monitor (ECG HR, SpO2/PR, NIBP, pleth) driven by
:class:`drivers.patient.model.SimulatedPatient`, for training, demos and tests.

Its clock runs ``speed`` times faster than the wall clock; with ``speed=inf`` it runs as fast
as the recorder consumes it. The source owns time: every reading carries simulated time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from drivers.base import CuffStartRefused, Decoder, Driver, LinkEventKind, OpenOptions, Source
from drivers.core.phases import PhaseTimes
from drivers.core.readings import PLETH_RATE_HZ, Reading
from drivers.patient.model import CUFF_DURATION_S, SimulatedPatient, check_scenario
from drivers.settings import check_known

# How much simulated time one read() produces when running unpaced.
UNPACED_STEP_S = 1.0


class SimulatedSource(Source):
    """A simulated device producing numerics every second, cuff values on request, and pleth."""

    can_start_nibp = True
    simulated = True

    def __init__(
        self,
        scenario: str = "normal",
        seed: int = 1,
        speed: float = 1.0,
        pleth: bool = False,
        start_time: float | None = None,
        plan: PhaseTimes | None = None,
        monotonic: object = time.monotonic,
    ) -> None:
        super().__init__("simulated", f"Simulated monitor (scenario {scenario}, seed {seed})")
        if not speed > 0:
            raise ValueError("speed must be a positive number")
        self.speed = speed
        self.pleth_enabled = pleth
        self.start = time.time() if start_time is None else start_time
        # The recorder tells this source of every phase change: events follow the real infusion start.
        self.patient = SimulatedPatient(check_scenario(scenario), seed, self.start, plan, follows_session=True)
        self._monotonic = monotonic if callable(monotonic) else time.monotonic
        self._wall0: float | None = None
        self._sim_now = self.start
        self._next_numeric = self.start
        self._pleth_index = 0
        self._cuff_due: list[float] = []
        self._link_up = True
        self.source_id = "simulated"

    def open(self) -> None:
        self._wall0 = self._monotonic()
        self.counters.state = "connected"

    def now(self) -> float:
        return self._sim_now

    def _target_time(self) -> float:
        if math.isinf(self.speed):
            return self._sim_now + UNPACED_STEP_S
        if self._wall0 is None:
            self.open()
        assert self._wall0 is not None
        return self.start + (self._monotonic() - self._wall0) * self.speed

    def read(self, timeout: float) -> list[Reading]:
        target = self._target_time()
        if not math.isinf(self.speed) and target < self._next_numeric:
            wait = min(timeout, (self._next_numeric - target) / self.speed)
            if wait > 0:
                time.sleep(wait)
            target = self._target_time()
        return self._produce_until(target)

    def _produce_until(self, target: float) -> list[Reading]:
        out: list[Reading] = []
        src = self.source_id
        while self._next_numeric <= target:
            t = self._next_numeric
            down = self.patient.link_down(t)
            if down and self._link_up:
                self._link_up = False
                self.counters.state = "lost"
                self._link_event(LinkEventKind.LINK_LOST, t, "simulated link cut")
            elif not down and not self._link_up:
                self._link_up = True
                self.counters.state = "connected"
                self.counters.reconnects += 1
                self._link_event(LinkEventKind.LINK_RESTORED, t, "simulated link back")
            if not down:
                if self.pleth_enabled:
                    out.extend(self.patient.pleth(t, int(PLETH_RATE_HZ), src))
                out.extend(self.patient.numerics(t, src))
                for due in [d for d in self._cuff_due if d <= t]:
                    self._cuff_due.remove(due)
                    out.extend(self.patient.cuff(due, src))
            self._next_numeric = t + 1.0
        self._sim_now = max(self._sim_now, target)
        self.counters.frames_decoded += len(out)
        return out

    def request_nibp(self) -> bool:
        """Start the simulated cuff; refused, as a device's, while the simulated link is cut."""
        if not self._link_up:
            raise CuffStartRefused("the link to the monitor is lost")
        if self._cuff_due:
            return True  # a measurement is already running
        self._cuff_due.append(self._sim_now + CUFF_DURATION_S)
        return True

    def on_session_event(self, kind: str, at: float) -> None:
        if kind == "infusion_started":
            self.patient.infusion_started(at)
        elif kind == "infusion_stopped":
            self.patient.infusion_stopped(at)


class SimulatedDriver(Driver):
    """Registry entry for the simulated monitor."""

    name = "simulated"
    description = "Simulated bedside monitor (HR, SpO2, NIBP, pleth) with named scenarios, for training and tests"
    needs_port = False
    takes_port = False
    can_start_nibp = True

    def decoder(self, settings: Mapping[str, str] | None = None) -> Decoder:
        raise NotImplementedError("the simulated monitor produces readings directly, without bytes")

    def open(self, options: OpenOptions) -> Source:
        check_known(options.settings, (), self.name)
        return SimulatedSource(
            scenario=options.scenario,
            seed=options.seed,
            speed=options.speed,
            pleth=options.pleth,
            start_time=options.start_time,
        )
