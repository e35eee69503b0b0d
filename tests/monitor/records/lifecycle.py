"""Drive one simulated session by hand, fast."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

from drivers.simulated.driver import SimulatedSource
from monitor.plan import SessionPlan
from monitor.recorder import Recorder
from monitor.store import Store

T0 = 1_790_000_000.0


def new(store: Store, *, start: float = T0, patient: str | None = None, scenario: str = "normal",
        seed: int = 3) -> Recorder:
    source = SimulatedSource(scenario=scenario, seed=seed, speed=math.inf, start_time=start)
    rec = Recorder.new_session(store, source, driver="simulated", port=None, plan=SessionPlan(3, 40, 30),
                               nurse="RN")
    if patient is not None:
        rec.step()
        run(rec, "identify_patient", mrn=patient)
    return rec


def run(rec: Recorder, name: str, **args: Any) -> Any:
    future = rec.submit(name, "RN", **args)
    rec.step()
    return future.result(timeout=0)


def advance(rec: Recorder, seconds: float) -> None:
    target = rec.session.now + seconds
    while rec.session.now < target:
        rec.step()


def to_infusion(rec: Recorder, baseline_s: float = 200, *, plan: bool = True) -> None:
    """Baseline for ``baseline_s``, then (with ``plan``: 0.5 mg/kg on 70 kg over 40 min) the infusion."""
    advance(rec, 5)
    run(rec, "start_baseline")
    advance(rec, baseline_s)
    if plan:
        run(rec, "plan_dose", weight_kg=70, dose_mg_per_kg=0.5, duration_min=40)
    run(rec, "start_infusion", override_reason="test")


def export_text(db: Path, sid: str, fmt: str) -> str:
    from monitor.exports import export_to
    from monitor.exports.data import ExportOptions

    with Store(db) as store:
        buf = io.BytesIO() if fmt == "pdf" else io.StringIO()
        export_to(store, sid, fmt, ExportOptions(), stream=buf)
        return buf.getvalue() if isinstance(buf, io.StringIO) else buf.getvalue().decode("latin-1")


def export_json(db: Path, sid: str) -> dict[str, Any]:
    return json.loads(export_text(db, sid, "json"))
