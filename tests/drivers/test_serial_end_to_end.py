"""End to end through real pseudo-terminals: an emulated monitor on one end of a virtual null-modem
cable, ``infusion-monitor record`` with the real driver on the other, then the exported session.

The emulator runs in a thread on the device end (the same code ``infusion-monitor emulate`` runs);
``record`` and ``export`` run through :func:`monitor.cli.main` exactly as from a shell.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.core.readings import Parameter, Reading, flags_text
from drivers.emulation.device import Emulator
from drivers.emulation.registry import devices, make_device
from drivers.transport.device_ports import SerialDevicePort
from monitor.cli import main
from monitor.store import Store
from tests.drivers.ptys import NullModem

NUMERIC = (Parameter.SPO2.value, Parameter.PR.value)


@dataclass(frozen=True)
class Case:
    """One device set-up: driver, settings, emulator speed."""

    driver: str
    settings: tuple[str, ...] = ()
    speed: float = 1.0

    @property
    def id(self) -> str:
        return self.driver + "".join("-" + s.split("=")[1] for s in self.settings)


CASES = [
    Case("masimo-ascii", speed=4.0),
    Case("nellcor-ascii", speed=8.0),
    Case("nonin", ("format=2",), speed=1.0),
    Case("nonin", ("format=7",), speed=1.0),
    Case("nonin", ("format=8",), speed=4.0),
]
ONE_PER_DRIVER = [CASES[0], CASES[1], CASES[2]]


class Console(io.StringIO):
    """``record``'s standard output; notices when the session has started (the port is open)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def write(self, s: str) -> int:
        if s.startswith("session "):
            self.started.set()
        return super().write(s)

    def progress_lines(self) -> list[str]:
        return [line for line in self.getvalue().splitlines() if "| link " in line]


@dataclass
class Bench:
    """A device emulator on a null-modem cable and what happened during the run."""

    case: Case
    cable: NullModem
    db: Path
    emulator: Emulator = field(init=False)
    console: Console = field(default_factory=Console)
    marks: dict[str, Any] = field(default_factory=dict)
    device_stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        device = make_device(
            self.case.driver, "normal", seed=3, settings=dict(s.split("=") for s in self.case.settings)
        )
        self.emulator = Emulator(device, self.case.speed, keep_frames=True)

    def run(
        self,
        *,
        record_s: float,
        emulate_s: float,
        script: Callable[[Bench], None] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        """Record while the emulator plays for ``emulate_s`` seconds (or until the script stops it), then
        stop the recording with Ctrl-C as a user would; ``record_s`` is only a safety limit."""
        errors: list[BaseException] = []
        recording = threading.Event()

        def device_side() -> None:
            try:
                if not self.console.started.wait(15):
                    raise TimeoutError("record never started")
                port = SerialDevicePort(self.cable.device_path, self.emulator.device.port_settings)
                try:
                    self.emulator.run(port, emulate_s, self.device_stop)
                finally:
                    port.close()
            except BaseException as exc:  # reported to the test below
                errors.append(exc)

        def script_side() -> None:
            try:
                if not self.console.started.wait(15):
                    return
                if script is not None:
                    script(self)
                threads[0].join(60)
                time.sleep(1.3)  # the last bytes through the cable, and one more progress line
            except BaseException as exc:
                errors.append(exc)
            finally:
                if recording.is_set():
                    os.kill(os.getpid(), signal.SIGINT)

        threads = [
            threading.Thread(target=device_side, name="emulated-device"),
            threading.Thread(target=script_side, name="bench-script"),
        ]
        for t in threads:
            t.start()
        try:
            argv = [
                "record",
                "--driver",
                self.case.driver,
                "--port",
                str(self.cable.host_link),
                "--db",
                str(self.db),
                "--duration",
                str(record_s),
                "--nurse",
                "RN",
            ]
            for s in self.case.settings:
                argv += ["--set", s]
            recording.set()
            code = main([*argv, *extra], out=self.console)
            recording.clear()
            assert code == 0, self.console.getvalue()
        finally:
            self.console.started.set()
            for t in threads:
                t.join(20)
        assert not errors, errors

    def wait_for_progress(self, text: str, within_s: float) -> None:
        """Wait until ``record``'s progress line shows ``text``."""
        deadline = time.monotonic() + within_s
        while not any(text in line for line in self.console.progress_lines()):
            assert time.monotonic() < deadline, f"'{text}' never shown: {self.console.getvalue()[-600:]}"
            time.sleep(0.05)

    def stop_device(self) -> None:
        """Switch the emulated device off (the recording is then stopped with Ctrl-C)."""
        self.device_stop.set()

    def export(self) -> dict[str, Any]:
        """The session as ``infusion-monitor export --format json`` writes it, parsed back."""
        out = self.db.with_suffix(".json")
        assert main(["export", "latest", "--db", str(self.db), "--format", "json", "--out", str(out)]) == 0
        return json.loads(out.read_text(encoding="utf-8"))

    def sent(self) -> list[Reading]:
        return [r for r in self.emulator.report.readings if r.parameter.value in NUMERIC]

    def last_counters(self) -> dict[str, int]:
        line = self.console.progress_lines()[-1]
        m = re.search(r"rx (\d+)B ok (\d+) bad (\d+) resync (\d+) reconn (\d+)", line)
        assert m is not None, line
        return dict(zip(("rx", "ok", "bad", "resync", "reconn"), map(int, m.groups()), strict=True))


def as_rows(readings: list[Reading]) -> list[tuple[str, float | None, str]]:
    return [(r.parameter.value, r.value, flags_text(r.flags)) for r in readings]


def exported_rows(doc: dict[str, Any]) -> list[tuple[str, float | None, str]]:
    return [(r["parameter"], r["value"], r["status"]) for r in doc["readings"] if r["parameter"] in NUMERIC]


def per_parameter(rows: list[tuple[str, float | None, str]]) -> dict[str, list[tuple[float | None, str]]]:
    out: dict[str, list[tuple[float | None, str]]] = {p: [] for p in NUMERIC}
    for p, v, s in rows:
        out[p].append((v, s))
    return out


def is_subsequence(part: list[Any], whole: list[Any]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


@pytest.fixture
def bench_for(null_modem: NullModem, tmp_path: Path) -> Callable[[Case], Bench]:
    return lambda case: Bench(case, null_modem, tmp_path / "e2e.db")


def test_every_oximeter_protocol_has_an_emulated_device() -> None:
    assert {"masimo-ascii", "nellcor-ascii", "nonin"} <= set(devices())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_exported_session_matches_what_the_device_sent(bench_for: Callable[[Case], Bench], case: Case) -> None:
    bench = bench_for(case)
    bench.run(record_s=30.0, emulate_s=2.0)
    sent = bench.sent()
    assert len(sent) >= 8, "the emulator should have sent several reports"
    doc = bench.export()
    assert doc["session"]["driver"] == case.driver
    assert doc["session"]["status"] == "closed"
    # Same values, same flags, same order, per parameter - nothing lost, nothing invented.
    assert per_parameter(exported_rows(doc)) == per_parameter(as_rows(sent))
    counters = bench.last_counters()
    assert counters["bad"] == 0
    assert counters["rx"] == bench.emulator.report.bytes_out
    assert "link connected" in bench.console.progress_lines()[-1]
    if case.driver == "nonin" and case.settings != ("format=8",):
        with Store(bench.db) as store:
            _, wave = store.waveform(doc["session"]["id"])
        sent_wave = [r.value for r in bench.emulator.report.readings if r.parameter is Parameter.PLETH]
        assert wave == sent_wave
        assert len(wave) >= 100


GARBAGE = b"\x00\xff\xaaNOISE\x7f\x01\x80\xfe\r\x95"


@pytest.mark.parametrize("case", ONE_PER_DRIVER, ids=lambda c: c.id)
def test_garbage_mid_stream_is_counted_and_the_session_goes_on(bench_for: Callable[[Case], Bench], case: Case) -> None:
    def inject(b: Bench) -> None:
        time.sleep(1.0)
        b.marks["before"] = len(b.emulator.report.sent)
        b.cable.inject(GARBAGE)

    bench = bench_for(case)
    bench.run(record_s=30.0, emulate_s=2.5, script=inject)
    counters = bench.last_counters()
    assert counters["bad"] >= 1
    assert counters["resync"] >= 1
    doc = bench.export()
    sent = per_parameter(as_rows(bench.sent()))
    stored = per_parameter(exported_rows(doc))
    for parameter in NUMERIC:
        # Nothing invented: whatever was stored was sent, in order ...
        assert is_subsequence(stored[parameter], sent[parameter])
        # ... and at most the report the noise fell into (or the one after it) is missing.
        assert len(sent[parameter]) - len(stored[parameter]) <= 2
    assert doc["session"]["status"] == "closed"
    assert not [e for e in doc["events"] if e["kind"] == "link_lost"]


@pytest.mark.parametrize("case", ONE_PER_DRIVER, ids=lambda c: c.id)
def test_pty_closed_and_reopened_mid_session(bench_for: Callable[[Case], Bench], case: Case) -> None:
    def unplug_and_replug(b: Bench) -> None:
        time.sleep(1.0)
        b.marks["received_before_cut"] = len(b.emulator.report.sent)
        time.sleep(0.4)  # those frames are through the cable by now
        b.marks["cut_at"] = time.time()
        b.cable.unplug()
        time.sleep(0.8)
        b.cable.replug()
        # The link retries with backoff (0.5 s, then 1 s, ...); give it time even on a busy machine.
        b.wait_for_progress("reconn 1", within_s=15.0)
        time.sleep(1.2)
        b.stop_device()

    bench = bench_for(case)
    bench.run(record_s=30.0, emulate_s=30.0, script=unplug_and_replug, extra=("--link-lost-after", "3"))
    doc = bench.export()
    kinds = [e["kind"] for e in doc["events"]]
    assert kinds.count("link_lost") == 1
    assert kinds.count("link_restored") == 1
    assert kinds.index("link_lost") < kinds.index("link_restored")
    assert kinds[0] == "session_started"
    assert kinds.count("session_started") == 1

    lost = next(e for e in doc["events"] if e["kind"] == "link_lost")
    restored = next(e for e in doc["events"] if e["kind"] == "link_restored")
    lost_t = datetime.fromisoformat(lost["t"]).timestamp()
    restored_t = datetime.fromisoformat(restored["t"]).timestamp()
    # A hang-up is a port error: reported well within the 5 s promise.
    assert lost_t - bench.marks["cut_at"] < 1.0

    frames = bench.emulator.report.sent
    before_cut = [
        r for f in frames[: bench.marks["received_before_cut"]] for r in f.readings if r.parameter.value in NUMERIC
    ]
    stored = exported_rows(doc)
    # Everything received before the cut is in the session, first and in order.
    assert per_parameter(stored[: len(before_cut)]) == per_parameter(as_rows(before_cut))
    # The same session goes on after the cable is back (it was out for 0.8 s after the cut).
    after = [r for r in doc["readings"] if datetime.fromisoformat(r["t"]).timestamp() > bench.marks["cut_at"] + 0.8]
    assert len(after) >= 4, (lost, restored, doc["readings"][-6:])
    assert restored_t > lost_t
    sent = per_parameter(as_rows(bench.sent()))
    for parameter, rows in per_parameter(stored).items():
        assert is_subsequence(rows, sent[parameter])
    assert bench.last_counters()["reconn"] == 1
    assert doc["session"]["status"] == "closed"
