"""Scripted patient: values near the limits through the real Recorder and store."""
from __future__ import annotations

import math
from pathlib import Path

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.store import Store

START = 1_720_000_000.0
PLAN = SessionPlan(5, 40, 30)
IV = load_protocol("ketamine-iv")


class Scripted(SimulatedSource):
    """The simulated patient, with values replaced by ``edit(reading, minute_of_infusion)``."""

    def __init__(self, edit, **kw):
        super().__init__(speed=math.inf, start_time=START, plan=PLAN.phase_times(), **kw)
        self.edit = edit
        self.infusion_at: float | None = None

    def on_session_event(self, kind, at):
        if kind == "infusion_started":
            self.infusion_at = at
        super().on_session_event(kind, at)

    def read(self, timeout):
        out = []
        for r in super().read(timeout):
            m = None if self.infusion_at is None else (r.t - self.infusion_at) / 60
            new = self.edit(r, m)
            if new is not None:
                out.append(new)
        return out


def run(path: Path, edit, until_min: float | None = None, protocol=IV):
    store = Store(path)
    source = Scripted(edit)
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=PLAN, autopilot=True,
                               protocol=protocol, nibp_schedule=protocol.cuff, alarms=AlarmEngine())
    if until_min is None:
        rec.run()
    else:
        rec.run(until=lambda r: r.session.now - START >= until_min * 60)
    return rec, store
