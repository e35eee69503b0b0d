"""Shared pieces of the benchmarks: results, timing, the machine description, a recorded session."""

from __future__ import annotations

import gc
import math
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: A full session as the clinic runs it: 5 min baseline, 55 min infusion, 30 min recovery = 90 min.
FULL_SESSION_PLAN = "baseline:5,infusion:55,recovery:30"
FULL_SESSION_S = 90 * 60.0
#: Fixed start so every run records the same session.
SESSION_START = 1_790_000_000.0

# Benchmark databases are throw-away: so is their key file (never the user's own).
if not os.environ.get("INFUSION_MONITOR_KEY_FILE"):
    import tempfile

    os.environ["INFUSION_MONITOR_KEY_FILE"] = str(Path(tempfile.mkdtemp(prefix="bench-keys-")) / "monitor.key")


@dataclass
class Result:
    """One line of the benchmark table."""

    name: str
    value: float | None  # the median (None: not measured)
    unit: str
    target: str  # e.g. "<= 16 ms"
    ok: bool | None  # None: not measured, or no target
    note: str = ""
    samples: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return {
            "name": self.name,
            "median": self.value,
            "unit": self.unit,
            "target": self.target,
            "ok": self.ok,
            "note": self.note,
            "samples": [round(s, 6) for s in self.samples],
        }


def dispose(window: Any) -> None:
    """Close a window and free it now, as the program's event loop would.

    The benchmarks run no event loop: without this, closed windows (with their charts and menus)
    stay alive until the process ends, and every benchmark after them runs slower.
    """
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    getattr(window, "force_close", window.close)()
    window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def not_measured(name: str, target: str, why: str) -> Result:
    """A target the code cannot be measured against yet, and why."""
    return Result(name, None, "", target, None, why)


def median(values: list[float]) -> float:
    """The median of a non-empty list."""
    return float(statistics.median(values))


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 < fraction <= 1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def time_it(action: Callable[[], object]) -> float:
    """Wall-clock seconds one call takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; ru_maxrss elsewhere as an upper bound)."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # a missing package is reported, not fatal
        return "not installed"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    try:
        memory = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB"
    except (ValueError, OSError):
        memory = "unknown"
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "PySide6": _version("PySide6"),
        "pyqtgraph": _version("pyqtgraph"),
        "numpy": _version("numpy"),
        "sqlite": sqlite3.sqlite_version,
        "load average (1/5/15 min)": load,
        "Qt platform": os.environ.get("QT_QPA_PLATFORM", "default"),
    }


@contextmanager
def quiet_logging() -> Iterator[None]:
    """Keep expected log lines (e.g. a simulated storage failure) out of the table."""
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def alarm_engine() -> Any:
    """The alarm engine with the built-in clinic profile (None where the engine is not part of the code)."""
    try:
        from monitor.alarms.engine import AlarmEngine
    except ImportError:
        return None
    return AlarmEngine()


def record_full_session(
    db_path: Path,
    *,
    scenario: str = "normal",
    pleth: bool = True,
    listener: Callable[[Any], None] | None = None,
    speed: float = math.inf,
) -> tuple[str, float, float]:
    """Record a 90-minute simulated session with the alarm engine if present, as fast as possible or at
    ``speed`` times real time.

    Returns the session id, the wall-clock seconds it took and the session seconds it covers.
    """
    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.recorder import Recorder
    from monitor.store import Store

    store = Store(db_path)
    try:
        source = SimulatedSource(scenario=scenario, seed=1, speed=speed, pleth=pleth, start_time=SESSION_START)
        start = time.perf_counter()
        recorder = Recorder.new_session(
            store, source, driver="simulated", port=None, plan=parse_plan(FULL_SESSION_PLAN), autopilot=True,
            nurse="RN", alarms=alarm_engine(),
        )
        if listener is not None:
            recorder.add_listener(listener)
        recorder.run()
        wall = time.perf_counter() - start
        return recorder.session.id, wall, recorder.session.now - SESSION_START
    finally:
        store.close()


def record_chair_session(
    db_path: Path, *, mrn: str, name: str, scenario: str, seed: int, start_time: float, pleth: bool = False,
    note: str | None = None,
) -> str:
    """Record one 90-minute IV ketamine session as a chair does, at full speed: the checklist, a dose plan,
    PHQ-9 and GAD-7 in the baseline, MOAA/S (and ``note``) 10 min into the infusion, CADSS-6 in recovery, then
    discharge by the autopilot. Returns the session id."""
    from drivers.simulated.driver import SimulatedSource
    from monitor.plan import parse_plan
    from monitor.protocols import load_protocol
    from monitor.recorder import Recorder
    from monitor.session import Phase
    from monitor.store import Store

    store = Store(db_path)
    try:
        plan = parse_plan(FULL_SESSION_PLAN)
        source = SimulatedSource(scenario=scenario, seed=seed, speed=math.inf, pleth=pleth, start_time=start_time,
                                 plan=plan.phase_times())
        patient = store.create_patient(mrn, name, "1970-01-01")
        recorder = Recorder.new_session(store, source, driver="simulated", port=None, plan=plan, patient_id=patient,
                                        nurse="RN", autopilot=True, alarms=alarm_engine(),
                                        protocol=load_protocol("ketamine-iv"))
        done: set[str] = set()

        def until(r: Recorder) -> bool:
            s = r.session
            if s.phase is Phase.BASELINE and "entries" not in done:
                done.add("entries")
                r.submit("checklist", "RN", quick="f6 e t:partner c m:lisinopril w80")
                r.submit("plan_dose", "RN", weight_kg=80, dose_mg_per_kg=0.5)
                r.submit("outcome_score", "RN", scale="PHQ-9", answers="122112101")
                r.submit("outcome_score", "RN", scale="GAD-7", answers="1211010")
            if s.phase is Phase.INFUSION and s.infusion_elapsed() > 600 and "moaas" not in done:
                done.add("moaas")
                r.submit("score", "RN", scale="MOAA/S", value=4)
                if note:
                    r.submit("note", "RN", text=note)
            if s.phase is Phase.RECOVERY and "cadss" not in done:
                done.add("cadss")
                r.submit("score", "RN", scale="CADSS-6", value=5)
            return False

        recorder.run(until=until)
        return recorder.session.id
    finally:
        store.close()
