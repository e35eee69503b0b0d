"""End to end: emulated monitor -> wire -> driver -> recorder -> SQLite -> CSV export, read back with ``csv``.

IntelliVue and DINAMAP run through a virtual null-modem cable made of two real ptys; HL7 through TCP
on 127.0.0.1. The NIBP values in the export must be exactly what the emulated monitor measured.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from drivers.base import OpenOptions
from drivers.dinamap.driver import DinamapDriver
from drivers.dinamap.emulator import DinamapDevice
from drivers.emulation.device import Emulator
from drivers.emulation.registry import make_device
from drivers.hl7.driver import Hl7MllpDriver
from drivers.hl7.listener import Hl7MllpSource
from drivers.hl7.sender import Hl7Sender, run_sender
from drivers.intellivue.driver import IntelliVueDriver
from drivers.intellivue.emulator import IntelliVueDevice
from drivers.patient.vitals import CuffResult, PatientFeed
from drivers.transport.device_ports import SerialDevicePort
from monitor.cli import main
from monitor.exports import writer
from monitor.exports.data import load
from monitor.plan import SessionPlan, parse_plan
from monitor.recorder import Recorder, wall_deadline
from monitor.session import EventKind, NibpSchedule
from monitor.store import Store
from tests.csv_files import rows as csv_rows
from tests.drivers.ptys import NullModem


def exported_nibp(store: Store, session_id: str) -> list[tuple[float, float, float, str]]:
    """(sys, dia, mean, status) triples from the CSV export, parsed back with the csv module."""
    write, _ = writer("csv")
    text = io.StringIO()
    write(load(store, session_id), text)
    rows = csv_rows(text.getvalue())
    by_time: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["parameter"].startswith("nibp_") and row["value"]:
            by_time.setdefault(row["timestamp"], {})[row["parameter"]] = row["value"]
            by_time[row["timestamp"]]["status"] = row["status"]
    return [
        (float(v["nibp_sys"]), float(v["nibp_dia"]), float(v["nibp_mean"]), v["status"])
        for _, v in sorted(by_time.items())
    ]


def measured(cuffs: list[CuffResult], after: float, before: float) -> list[tuple[float, float, float]]:
    """Cuffs the monitor completed between two times."""
    return [(c.sys, c.dia, c.mean) for c in cuffs  # type: ignore[misc]
            if not c.failed and after <= c.t <= before]


def assert_session_cuffs(got: list[tuple[float, float, float, str]], cuffs: list[CuffResult], started: float,
                         ended: float) -> list[tuple[float, float, float]]:
    """The export holds the monitor's cuffs in order, none invented, and every one measured well inside the session.

    A cuff completed before the session started belongs to no session; one completed within a second of the
    start may carry a device time on either side of it, so the boundary is not asserted.
    """
    every = measured(cuffs, 0.0, float("inf"))
    exported = [g[:3] for g in got]
    assert exported, "no cuff exported"
    # A run of consecutive cuffs: two in a row may read the same, so every place the run could begin is tried.
    runs = [every[first:first + len(exported)] for first in range(len(every))]
    assert exported in runs, (exported, every)
    inside = measured(cuffs, started + 1.0, ended)
    assert inside and all(c in exported for c in inside)
    return inside


class RunningEmulator:
    """An emulator playing onto the device end of the cable on its own thread."""

    def __init__(self, device: IntelliVueDevice | DinamapDevice, cable: NullModem) -> None:
        self.device = device
        self.port = SerialDevicePort(cable.device_path, device.port_settings)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=Emulator(device).run,
            args=(self.port, None, self.stop),
            name="emulated-monitor",
            daemon=True,
        )

    def __enter__(self) -> RunningEmulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5.0)
        self.port.close()


def test_intellivue_through_a_pty_pair(store: Store, null_modem: NullModem) -> None:
    device = make_device("philips-intellivue", seed=7, settings={"nbp_every": "2", "cuff_s": "0.5"})
    assert isinstance(device, IntelliVueDevice)
    with RunningEmulator(device, null_modem):
        source = IntelliVueDriver().open(OpenOptions(port=str(null_modem.host_link)))
        recorder = Recorder.new_session(
            store, source, driver="philips-intellivue", port=str(null_modem.host_link), plan=SessionPlan()
        )
        recorder.run(until=wall_deadline(9.0))
        ended = time.time()
        time.sleep(0.3)  # let the release reach the emulated monitor
    monitor = device.monitor
    assert monitor.counters.associations == 1
    assert monitor.counters.polls_answered >= 4
    assert monitor.counters.releases == 1  # released on close
    assert monitor.counters.frames_rejected == 0
    got = exported_nibp(store, recorder.session.id)
    sent = assert_session_cuffs(got, device.feed.cuffs, recorder.session.started_at, ended - 1.5)
    assert len(sent) >= 2
    assert all(g[3] == "" for g in got)  # patient data, no flags
    counters = recorder.status().link
    assert counters.frames_rejected == 0
    assert counters.frames_decoded > 0


def test_intellivue_reassociates_after_the_link_was_cut(store: Store, null_modem: NullModem) -> None:
    """The monitor goes silent for 3 s while holding the association; the driver aborts and associates again."""
    device = make_device("philips-intellivue", seed=5, settings={"nbp_every": "60"})
    assert isinstance(device, IntelliVueDevice)
    cut = threading.Event()
    answer = device.answer

    def maybe_answer(data: bytes, t: float) -> bytes:
        return b"" if cut.is_set() else answer(data, t)

    device.answer = maybe_answer  # type: ignore[method-assign]
    with RunningEmulator(device, null_modem):
        source = IntelliVueDriver().open(
            OpenOptions(
                port=str(null_modem.host_link),
                settings={"silence_timeout": "1.5", "answer_timeout": "1", "retry_delay": "0.5"},
            )
        )
        recorder = Recorder.new_session(store, source, driver="philips-intellivue", port=None, plan=SessionPlan())
        start = time.monotonic()
        restored: list[float] = []
        answered_at_restore: list[int] = []

        def cable(_: Recorder) -> bool:
            elapsed = time.monotonic() - start
            if 2.0 <= elapsed < 5.0:
                cut.set()
            elif cut.is_set():
                cut.clear()
                restored.append(time.time())
                answered_at_restore.append(device.monitor.counters.polls_answered)
            # Done once a few polls were answered after the cable came back (bounded for a busy machine).
            polls = device.monitor.counters.polls_answered
            return (bool(answered_at_restore) and polls >= answered_at_restore[0] + 3) or elapsed > 20.0

        recorder.run(until=cable)
    monitor = device.monitor
    diagnosis = f"monitor {monitor.counters}"
    assert monitor.counters.associations == 2, diagnosis
    assert monitor.counters.aborts >= 2, diagnosis  # one at start, one (or more) after the cut
    hr = [r for r in store.readings(recorder.session.id) if r.parameter.value == "hr" and r.t > restored[0]]
    assert hr, diagnosis
    rr = [r for r in store.readings(recorder.session.id) if r.parameter.value == "rr"]
    assert rr and all(r.value == pytest.approx(14, abs=3) for r in rr)


def test_intellivue_demo_mode_is_flagged_end_to_end(store: Store, null_modem: NullModem) -> None:
    device = make_device("philips-intellivue", seed=8, settings={"nbp_every": "1", "cuff_s": "0.3", "demo": "on",
                                                                "linked": "on"})
    with RunningEmulator(device, null_modem):  # type: ignore[arg-type]
        source = IntelliVueDriver().open(OpenOptions(port=str(null_modem.host_link)))
        recorder = Recorder.new_session(store, source, driver="philips-intellivue", port=None, plan=SessionPlan())
        recorder.run(until=wall_deadline(2.5))
    readings = list(store.readings(recorder.session.id))
    assert readings
    assert all("demo_data" in r.status for r in readings)
    statuses = [g[3] for g in exported_nibp(store, recorder.session.id)]
    assert statuses and set(statuses) == {"demo_data"}


def test_dinamap_through_a_pty_pair_on_schedule_and_on_request(store: Store, null_modem: NullModem) -> None:
    device = make_device("ge-dinamap", seed=9, settings={"cuff_s": "1", "model": "v100", "held_s": "2400"})
    assert isinstance(device, DinamapDevice)
    with RunningEmulator(device, null_modem):
        source = DinamapDriver().open(
            OpenOptions(
                port=str(null_modem.host_link),
                settings={"poll_interval": "0.3", "reply_checksum": "on", "model": "v100"},
            )
        )
        assert source.can_start_nibp is True
        recorder = Recorder.new_session(
            store,
            source,
            driver="ge-dinamap",
            port=None,
            plan=parse_plan("baseline:60"),
            autopilot=True,
            nibp_schedule=NibpSchedule(baseline_s=3.0),
        )
        asked: list[object] = []
        start = time.monotonic()

        def nurse_presses_nibp_now(r: Recorder) -> bool:
            if not asked and time.monotonic() - start > 3.0 and r.session.nibp_requested_at is None:
                asked.append(r.submit("nibp_now", user="RN"))
            return time.monotonic() - start > 7.0

        recorder.run(until=nurse_presses_nibp_now)
        ended = time.time()
    diagnosis = f"monitor {device.monitor.counters}, link {recorder.status().link}"
    assert asked, diagnosis
    assert asked[0].result(timeout=1) is True  # type: ignore[attr-defined]
    requests = [e for e in store.events(recorder.session.id) if e.kind is EventKind.NIBP_REQUESTED]
    assert {e.detail["reason"] for e in requests} == {"schedule", "nurse"}
    started = device.monitor.counters.determinations_started
    assert started >= 2
    got = exported_nibp(store, recorder.session.id)
    sent = assert_session_cuffs(got, device.feed.cuffs, recorder.session.started_at, ended - 0.8)
    assert len(sent) >= 2  # the scheduled one and the nurse's
    assert device.monitor.counters.rejected == 0
    assert recorder.status().link.frames_rejected == 0


def test_hl7_over_tcp_loopback(store: Store) -> None:
    source = Hl7MllpDriver().open(OpenOptions(port="127.0.0.1:0"))
    assert isinstance(source, Hl7MllpSource)
    host, port = source.address
    feed = PatientFeed(seed=11, start=time.time(), auto_cuff_every_s=1.5, cuff_duration_s=0.5, cuff_at_start=True)
    sender = Hl7Sender(feed, host, port, interval_s=0.25, family="cuff")
    stop = threading.Event()
    runs: list[object] = []
    thread = threading.Thread(target=lambda: runs.append(run_sender(sender, None, stop)), name="hl7-sender")
    recorder = Recorder.new_session(store, source, driver="hl7-mllp", port=f"{host}:{port}", plan=SessionPlan())
    thread.start()
    try:
        recorder.run(until=wall_deadline(6.5))
    finally:
        stop.set()
        thread.join(5.0)
    counters = sender.counters
    assert counters.sent >= 10
    assert counters.not_accepted == 0
    assert counters.accepted >= counters.sent - 1  # the last one may have met the closed listener
    got = exported_nibp(store, recorder.session.id)
    # A cuff measured before the session started belongs to no session and is not stored.
    delivered = [c for c in feed.cuffs if c.number <= sender._cuff_acked and c.t >= recorder.session.started_at]
    assert len(delivered) >= 3
    assert [g[:3] for g in got] == [(c.sys, c.dia, c.mean) for c in delivered]
    stored = [r for r in store.readings(recorder.session.id) if r.parameter.value == "nibp_sys"]
    assert [r.t for r in stored] == pytest.approx([c.t for c in delivered], abs=1e-3)  # OBX-14 kept


# -- the same through the command line --------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_in_thread(argv: list[str]) -> tuple[threading.Thread, io.StringIO, list[int]]:
    out = io.StringIO()
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv, out)), name="emulate-cli")
    thread.start()
    return thread, out, codes


def test_cli_hl7_emulate_and_record(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    address = f"127.0.0.1:{free_loopback_port()}"
    sender, sender_out, sender_code = run_in_thread(
        [
            "emulate",
            "--protocol",
            "hl7-mllp",
            "--port",
            address,
            "--duration",
            "3.5",
            "--set",
            "interval=0.25",
            "--set",
            "nbp_every=1",
            "--set",
            "cuff_s=0.25",
            "--set",
            "family=loinc",
        ]
    )
    out = io.StringIO()
    try:
        assert main(["record", "--driver", "hl7-mllp", "--port", address, "--duration", "3", "--db", db], out) == 0
    finally:
        sender.join(10)
    assert sender_code == [0]
    report = sender_out.getvalue()
    assert re.search(r"sent \d+ messages: \d+ accepted \(AA\), 0 not accepted, ACK round trip median", report)
    assert "HL7 ORU^R01 listener on 127.0.0.1" in out.getvalue()
    csv_out = io.StringIO()
    assert main(["export", "latest", "--db", db, "--format", "csv"], csv_out) == 0
    rows = [r for r in csv_rows(csv_out.getvalue()) if r["parameter"] == "nibp_sys"]
    assert len(rows) >= 2
    assert all(r["value"] for r in rows)


def test_cli_intellivue_demo_warning(tmp_path: Path, null_modem: NullModem) -> None:
    emulator, _, codes = run_in_thread(
        [
            "emulate",
            "--protocol",
            "philips-intellivue",
            "--port",
            null_modem.device_path,
            "--duration",
            "8",
            "--set",
            "demo=on",
        ]
    )
    out = io.StringIO()
    try:
        argv = [
            "record",
            "--driver",
            "philips-intellivue",
            "--port",
            str(null_modem.host_link),
            "--duration",
            "5",
            "--db",
            str(tmp_path / "demo.db"),
        ]
        assert main(argv, out) == 0
    finally:
        emulator.join(10)
    assert codes == [0]
    text = out.getvalue()
    assert text.count("WARNING: the monitor marks its values as demo data") == 1
    assert "DEMO DATA - NOT PATIENT VALUES" in text
