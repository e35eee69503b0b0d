"""Drive ``infusion-monitor record --driver hl7-mllp`` as a real process and speak to it as a network
monitor does: ORU^R01 messages framed by MLLP (0x0B ... 0x1C 0x0D) with an ACK for each."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "infusion-monitor"
SCRATCH = Path(tempfile.mkdtemp(prefix="signals-"))  # this test process's home, data and databases
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
ENV = dict(os.environ, HOME=str(SCRATCH), XDG_DATA_HOME=str(SCRATCH / "data"), XDG_CONFIG_HOME=str(SCRATCH / "config"))

CODES = {
    "spo2": ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    "pr": ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "hr": ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    "nibp_sys": ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "nibp_dia": ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC"),
    "nibp_mean": ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "266016^MDC_DIM_MMHG^MDC"),
}


def hl7_stamp(t: float) -> str:
    d = datetime.fromtimestamp(t, tz=UTC)
    return d.strftime("%Y%m%d%H%M%S") + f".{int(d.microsecond / 1000):03d}" + "+0000"


def oru(control: str, values: dict[str, float | None], obs_time: float, mrn: str = "MRN-SIG") -> bytes:
    """One IHE PCD-01 ORU^R01 with one OBX per value, each with OBX-14 = ``obs_time``; a None value is
    sent empty with OBX-11 X (not available)."""
    stamp = hl7_stamp(obs_time)
    lines = [
        f"MSH|^~\\&|GW^ACME|ICU|IM|CLINIC|{hl7_stamp(time.time())}||ORU^R01^ORU_R01|{control}|P|2.6",
        f"PID|||{mrn}^^^HOSP^MR",
        "PV1||I",
        f"OBR|1||{control}|182777000^monitoring of patient^SCT|||{stamp}",
    ]
    for i, (param, value) in enumerate(values.items(), start=1):
        code, unit = CODES[param]
        if value is None:
            lines.append(f"OBX|{i}|NM|{code}|||{unit}|||||X|||{stamp}")
        else:
            lines.append(f"OBX|{i}|NM|{code}||{value:g}|{unit}|||||R|||{stamp}")
    return ("\r".join(lines) + "\r").encode()


class Monitor:
    """A network monitor's MLLP connection; every message waits for its ACK."""

    def __init__(self, port: int) -> None:
        deadline = time.monotonic() + 20
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.n = 0
        self.acks: list[str] = []

    def send(self, values: dict[str, float | None], obs_time: float) -> str:
        self.n += 1
        self.sock.sendall(b"\x0b" + oru(f"C{self.n}", values, obs_time) + b"\x1c\x0d")
        buf = b""
        while not buf.endswith(b"\x1c\x0d"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("listener closed")
            buf += chunk
        ack = buf.decode(errors="replace")
        self.acks.append(ack)
        return ack

    def send_every_second(self, values: dict[str, float | None], seconds: int, behind_s: float = 0.0) -> None:
        """Send ``values`` once a second for ``seconds`` seconds, each stamped ``behind_s`` before the moment it
        is sent (a device clock that runs slow)."""
        for _ in range(seconds):
            self.send(values, time.time() - behind_s)
            time.sleep(1.0)

    def close(self) -> None:
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Recording:
    """``infusion-monitor record`` in its own process, listening for HL7 on a free loopback port."""

    def __init__(self, name: str, duration_s: float, extra: tuple[str, ...] = ()) -> None:
        SCRATCH.mkdir(parents=True, exist_ok=True)
        self.db = SCRATCH / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.db) + suffix).unlink(missing_ok=True)
        self.port = free_port()
        self.log = (SCRATCH / f"{name}.out").open("w")
        env = ENV
        self.proc = subprocess.Popen(
            [str(EXE), "record", "--driver", "hl7-mllp", "--port", f"127.0.0.1:{self.port}", "--db",
             str(self.db), "--duration", str(duration_s), "--patient", "MRN-SIG", "--nurse", "RN", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(SCRATCH),
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def export(self) -> dict[str, Any]:
        out = subprocess.run([str(EXE), "export", "latest", "--db", str(self.db), "--format", "json", "--out", "-"],
                             capture_output=True, text=True, check=True, cwd=str(SCRATCH),
                             env=ENV)
        doc: dict[str, Any] = json.loads(out.stdout)
        return doc

    def output(self) -> str:
        return (SCRATCH / Path(self.db.stem + ".out")).read_text() if False else Path(self.log.name).read_text()


def alarms_of(doc: dict[str, Any], condition: str) -> list[dict[str, Any]]:
    """The alarms of one condition in an export's JSON."""
    return [a for a in doc["alarms"] if a["condition"] == condition]


def iso(t: str) -> float:
    return datetime.fromisoformat(t).timestamp()


if __name__ == "__main__":  # smoke run
    r = Recording("smoke", 15)
    m = Monitor(r.port)
    now = time.time()
    for _i in range(5):
        print(m.send({"spo2": 97, "pr": 70}, time.time()))
        time.sleep(1)
    m.close()
    r.stop()
    doc = r.export()
    print(len(doc["readings"]), doc["alarms"], file=sys.stderr)
    print(r.output()[-1500:])


def exchange(mon: socket.socket, message: bytes) -> bytes:
    """Send one message framed by MLLP and return the framed answer."""
    mon.sendall(b"\x0b" + message + b"\x1c\r")
    reply = b""
    while not reply.endswith(b"\x1c\r"):
        chunk = mon.recv(65536)
        assert chunk
        reply += chunk
    return reply


def hl7_session(db: Path, started: float) -> tuple[Any, tuple[str, int], Any, str]:
    """The HL7 listener on a free local port, a store at ``db`` and a session in it begun at ``started``:
    (source, (host, port), store, session id)."""
    from drivers import registry
    from drivers.base import OpenOptions
    from monitor.plan import SessionPlan
    from monitor.store import Store

    source = registry.get("hl7-mllp")().open(OpenOptions(port="127.0.0.1:0"))
    host, port = source.address
    store = Store(db)
    sid = store.create_session(started_at=started, patient_id=None, driver="hl7-mllp", port=f"{host}:{port}",
                               plan=SessionPlan().text(), nurse="RN")
    return source, (host, port), store, sid
