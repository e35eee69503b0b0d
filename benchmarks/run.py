"""Run the performance benchmarks and print a table of medians against their targets.

    python3 tasks.py bench                      every benchmark
    python3 tasks.py bench --only ingest live   some of them
    python3 tasks.py bench --repeat 3 --json out/bench.json

Each benchmark's figures are printed as soon as it finishes (and the --json file rewritten), then the
next one runs: a benchmark that fails or runs past its deadline is reported by name, with where it was
waiting, and the others still run. At the end: the machine, the time each benchmark took and the
whole table. Exit status 1 when a measured target is missed or a benchmark failed.

Not part of the unit tests: the figures depend on the machine. Targets are for a 2-core machine
with Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from benchmarks.common import Result, machine, quiet_logging

BenchmarkRun = Callable[[int], list[Result]]


@dataclass(frozen=True)
class Benchmark:
    """A module with ``run(repeat) -> list[Result]`` and how long it may take at the default 5 runs."""

    module: str
    deadline_min: float


# In the order they run and are printed. The deadlines are several times what each took on a busy 2-core
# machine (load average 5-7): a benchmark past its own is stuck, not slow.
BENCHMARKS: dict[str, Benchmark] = {
    "live": Benchmark("benchmarks.live_view", 10),
    "ingest": Benchmark("benchmarks.ingest", 10),
    "latency": Benchmark("benchmarks.latency", 10),
    "alarm_latency": Benchmark("benchmarks.alarm_latency", 10),
    "review": Benchmark("benchmarks.review", 10),
    "course": Benchmark("benchmarks.course", 10),
    "review_day": Benchmark("benchmarks.review_day", 30),
    "memory": Benchmark("benchmarks.memory", 10),
    "startup": Benchmark("benchmarks.startup", 10),
    "clinic": Benchmark("benchmarks.clinic", 20),
    "clinic_year": Benchmark("benchmarks.clinic_year_bench", 20),
    "gui_stalls": Benchmark("benchmarks.gui_stalls", 30),
}
DEFAULT_REPEAT = 5
#: After its deadline a benchmark has this long to unwind (its recorder closing, its children ending); still
#: running then, every thread's stack is written out and the whole run ends (what was printed stays).
UNWIND_S = 120.0


class BenchmarkOverdue(BaseException):
    """A benchmark ran past its deadline.

    Not an ``Exception``: the recorder's loop logs and carries on past any ``Exception`` of a turn, and this one
    must stop it.
    """


@dataclass
class Outcome:
    """What a run of benchmarks produced: the figures, each benchmark's wall time, and the failures."""

    results: list[Result] = field(default_factory=list)
    took_s: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def deadline_s(name: str, repeat: int) -> float:
    """The deadline of a benchmark at ``repeat`` runs (its repeated part grows with the runs)."""
    return BENCHMARKS[name].deadline_min * 60.0 * max(1.0, repeat / DEFAULT_REPEAT)


def overdue_message(name: str, seconds: float, frame: FrameType | None) -> str:
    """Names the benchmark past its deadline and where it was waiting (the stack, innermost last)."""
    where = "".join(traceback.format_stack(frame)) if frame is not None else "  (no Python frame)\n"
    return f"{name} ran past its deadline of {seconds:.0f} s; it was waiting in:\n{where.rstrip()}"


@contextmanager
def deadline(name: str, seconds: float, *, hard_stop: bool = False) -> Iterator[None]:
    """Raise :class:`BenchmarkOverdue` in this (the main) thread ``seconds`` from now.

    A thread stuck where Python cannot raise (inside a C call that never returns) would outlive that: with
    ``hard_stop`` every thread's stack is then written to stderr and the process ends, :data:`UNWIND_S` later.
    Any timer already set (a test runner's) is set again afterwards.
    """
    if not hasattr(signal, "setitimer"):  # no interval timers (Windows): no deadline
        yield
        return

    def overdue(_signum: int, frame: FrameType | None) -> None:
        raise BenchmarkOverdue(overdue_message(name, seconds, frame))

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, overdue)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    if hard_stop:
        # To the process's own stderr (descriptor 2), whatever sys.stderr was replaced with.
        faulthandler.dump_traceback_later(seconds + UNWIND_S, exit=True, file=2)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if hard_stop:
            faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = max(previous_delay - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)


def _load(name: str) -> BenchmarkRun:
    run: BenchmarkRun = import_module(BENCHMARKS[name].module).run
    return run


def run_all(chosen: list[str], repeat: int, *, out: TextIO = sys.stdout,
            load: Callable[[str], BenchmarkRun] = _load, hard_stop: bool = False,
            on_done: Callable[[Outcome], None] | None = None) -> Outcome:
    """Run each chosen benchmark under its deadline, printing its figures as it ends; a failure is printed and
    the next one runs. ``on_done`` is called after each (to save what was measured so far)."""
    outcome = Outcome()
    for name in chosen:
        limit = deadline_s(name, repeat)
        print(f"running {name} (deadline {limit / 60:.0f} min) …", file=sys.stderr, flush=True)
        started = time.monotonic()
        results: list[Result] = []
        failure: tuple[str, str] | None = None  # (one line, what to print)
        try:
            with deadline(name, limit, hard_stop=hard_stop), quiet_logging():
                results = load(name)(max(1, repeat))
        except BenchmarkOverdue as exc:
            failure = f"ran past its deadline of {limit:.0f} s", str(exc)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))
        outcome.took_s[name] = took = time.monotonic() - started
        if failure is None:
            outcome.results.extend(results)
            print(f"\n{name} ({took:.0f} s)\n{table(results)}\n", file=out, flush=True)
        else:
            outcome.failed[name] = failure[0].splitlines()[0]
            print(f"\n{name} FAILED after {took:.0f} s:\n{failure[1].rstrip()}\n", file=out, flush=True)
        if on_done is not None:
            on_done(outcome)
    return outcome


def _format_value(result: Result) -> str:
    if result.value is None:
        return "-"
    if result.unit == "x":
        return f"{result.value:,.1f}x" if result.value < 100 else f"{result.value:,.0f}x"
    return f"{result.value:,.1f} {result.unit}" if result.value < 100 else f"{result.value:,.0f} {result.unit}"


def _verdict(result: Result) -> str:
    if result.value is None:
        return "not measured"
    if result.ok is None:
        return ""
    return "ok" if result.ok else "MISSED"


def table(results: list[Result]) -> str:
    """The results as a fixed-width text table."""
    rows = [("benchmark", "median", "target", "result", "note")]
    rows += [(r.name, _format_value(r), r.target, _verdict(r), r.note) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[i].ljust(widths[i]) for i in range(4)]
        lines.append("  ".join(cells) + ("  " + row[4] if row[4] else ""))
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _report(outcome: Outcome, about: dict[str, str], total_s: float, repeat: int) -> dict[str, Any]:
    """The JSON report: the machine, each benchmark's time and failure, every figure."""
    return {
        "machine": about,
        "benchmark time s": round(total_s, 1),
        "repeat": repeat,
        "benchmarks": [{"name": name, "seconds": round(seconds, 1), "failed": outcome.failed.get(name)}
                       for name, seconds in outcome.took_s.items()],
        "results": [r.as_dict() for r in outcome.results],
    }


def _load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv: list[str] | None = None, *, load: Callable[[str], BenchmarkRun] = _load) -> int:
    """Run the chosen benchmarks; exit 1 when a measured target is missed or a benchmark failed."""
    parser = argparse.ArgumentParser(prog="tasks.py bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT,
                        help="repeated runs per benchmark (median reported)")
    parser.add_argument("--json", metavar="FILE", help="also write the results and the machine as JSON (rewritten "
                                                       "after each benchmark)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    chosen = args.only or list(BENCHMARKS)
    started = time.monotonic()
    load_at_start = _load_average()

    def save(outcome: Outcome) -> None:
        if args.json:
            about = {**machine(), "load average at start": load_at_start}
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            report = _report(outcome, about, time.monotonic() - started, args.repeat)
            path.write_text(json.dumps(report, indent=1) + "\n")

    outcome = run_all(chosen, args.repeat, load=load, hard_stop=True, on_done=save)
    print()
    for key, value in {**machine(), "load average at start": load_at_start}.items():
        print(f"{key:26} {value}")
    print(f"{'benchmark time':26} {time.monotonic() - started:.0f} s, {args.repeat} runs each")
    for name, seconds in outcome.took_s.items():
        print(f"{'  ' + name:26} {seconds:.0f} s{'  FAILED' if name in outcome.failed else ''}")
    print()
    print(table(outcome.results))
    if outcome.failed:
        print()
        for name, why in outcome.failed.items():
            print(f"FAILED {name}: {why}")
    missed = any(r.ok is False for r in outcome.results)
    return 1 if missed or outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
