"""Run the performance benchmarks and print a table of medians against their targets.

    python3 tasks.py bench                      every benchmark
    python3 tasks.py bench --only ingest live   some of them
    python3 tasks.py bench --repeat 3 --json out/bench.json

Not part of the unit tests: the figures depend on the machine. Targets are for a 2-core machine
with Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from benchmarks.common import Result, machine, quiet_logging

# name -> module with run(repeat) -> list[Result]; in the order they are printed.
BENCHMARKS: dict[str, str] = {
    "live": "benchmarks.live_view",
    "ingest": "benchmarks.ingest",
    "latency": "benchmarks.latency",
    "alarm_latency": "benchmarks.alarm_latency",
    "review": "benchmarks.review",
    "course": "benchmarks.course",
    "review_day": "benchmarks.review_day",
    "memory": "benchmarks.memory",
    "startup": "benchmarks.startup",
    "clinic": "benchmarks.clinic",
}


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


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks; exit 1 when a measured target is missed."""
    parser = argparse.ArgumentParser(prog="tasks.py bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--repeat", type=int, default=5, help="repeated runs per benchmark (median reported)")
    parser.add_argument("--json", metavar="FILE", help="also write the results and the machine as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    chosen = args.only or list(BENCHMARKS)
    results: list[Result] = []
    started = time.monotonic()
    try:
        load_at_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load_at_start = "unknown"
    for name in chosen:
        print(f"running {name} …", file=sys.stderr, flush=True)
        bench: Callable[[int], list[Result]] = import_module(BENCHMARKS[name]).run
        with quiet_logging():
            results.extend(bench(max(1, args.repeat)))
    about = machine()
    about = {**about, "load average at start": load_at_start}
    print()
    for key, value in about.items():
        print(f"{key:26} {value}")
    print(f"{'benchmark time':26} {time.monotonic() - started:.0f} s, {args.repeat} runs each")
    print()
    print(table(results))
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": about, "results": [r.as_dict() for r in results]}, indent=1) + "\n")
    return 1 if any(r.ok is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
