"""benchmarks/run.py: one benchmark failing or stuck loses nothing the others measured, and is named."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest

from benchmarks import run
from benchmarks.common import Result


def _measured(name: str) -> run.BenchmarkRun:
    return lambda repeat: [Result(f"{name} figure", 12.5, "ms", "<= 16 ms", True, f"{repeat} runs")]


def _broken(repeat: int) -> list[Result]:
    raise RuntimeError("the clinic's server refused the rows")


def _loader(name: str) -> run.BenchmarkRun:
    return _broken if name == "review" else _measured(name)


def test_a_failing_benchmark_is_reported_and_the_next_one_still_runs_and_prints() -> None:
    out = io.StringIO()
    seen: list[list[str]] = []
    outcome = run.run_all(["live", "review", "course"], 2, out=out, load=_loader,
                          on_done=lambda o: seen.append([r.name for r in o.results]))
    assert [r.name for r in outcome.results] == ["live figure", "course figure"]
    assert outcome.failed == {"review": "RuntimeError: the clinic's server refused the rows"}
    assert list(outcome.took_s) == ["live", "review", "course"]
    assert seen == [["live figure"], ["live figure"], ["live figure", "course figure"]]
    printed = out.getvalue()
    assert "review FAILED after" in printed and "refused the rows" in printed
    # Each benchmark's figures are printed when it ends, in the order they ran.
    assert printed.index("live figure") < printed.index("review FAILED") < printed.index("course figure")


def test_main_exits_non_zero_naming_the_failure_and_keeps_the_others_in_its_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "bench.json"
    code = run.main(["--only", "live", "review", "--repeat", "1", "--json", str(report)], load=_loader)
    assert code == 1
    printed = capsys.readouterr().out
    assert printed.rstrip().endswith("FAILED review: RuntimeError: the clinic's server refused the rows")
    saved = json.loads(report.read_text())
    assert [r["name"] for r in saved["results"]] == ["live figure"]
    assert [(b["name"], b["failed"]) for b in saved["benchmarks"]] == [
        ("live", None), ("review", "RuntimeError: the clinic's server refused the rows")]


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers here")
def test_a_benchmark_past_its_deadline_is_stopped_naming_it_and_where_it_waited() -> None:
    def stuck_in_the_recording() -> None:
        os.kill(os.getpid(), signal.SIGALRM)  # what the deadline's timer sends when it runs out

    with pytest.raises(run.BenchmarkOverdue) as stopped, run.deadline("review_day", 1800):
        stuck_in_the_recording()
    said = str(stopped.value)
    assert said.startswith("review_day ran past its deadline of 1800 s; it was waiting in:")
    assert said.rstrip().splitlines()[-1].strip().startswith("os.kill(os.getpid(), signal.SIGALRM)")
    assert "in stuck_in_the_recording" in said
    # Not an Exception: the recorder's loop carries on past those.
    assert not isinstance(stopped.value, Exception)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no interval timers here")
def test_the_deadline_puts_back_a_timer_set_before_it() -> None:
    handler = signal.getsignal(signal.SIGALRM)
    before = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        signal.setitimer(signal.ITIMER_REAL, 500)
        with run.deadline("live", 1800):
            assert 1700 < signal.getitimer(signal.ITIMER_REAL)[0] <= 1800
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 500
        assert signal.getsignal(signal.SIGALRM) is handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, *before)


def test_every_benchmark_module_named_exists() -> None:
    root = Path(run.__file__).resolve().parent
    for name, bench in run.BENCHMARKS.items():
        assert (root / f"{bench.module.split('.')[-1]}.py").exists(), name
