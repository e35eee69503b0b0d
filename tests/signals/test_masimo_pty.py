"""A Masimo Rad-8 in ASCII 1 mode, played byte for byte onto a pseudo-terminal (lines as PROTOCOLS.md and the
published captures give them), recorded by ``infusion-monitor record --driver masimo-ascii``."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from tests.drivers.ptys import PtyEnd
from tests.signals.harness import ENV, EXE, SCRATCH, iso


def line(t: float, spo2: int | None, bpm: int | None, exc: int = 0x800) -> bytes:
    stamp = datetime.fromtimestamp(t, UTC).strftime("%m/%d/%y %H:%M:%S")
    s = "---" if spo2 is None else f"{spo2:03d}"
    b = "---" if bpm is None else f"{bpm:03d}"
    pi = "--.--" if spo2 is None else "03.60"
    return (f"{stamp} SN=0000056661 SPO2={s}% BPM={b} PI={pi}% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- "
            f"ALARM=0000 EXC={exc:06X}\r\n").encode()


def record(name: str, lines: list[tuple[int | None, int | None, int]]) -> tuple[dict[str, Any], float]:
    SCRATCH.mkdir(parents=True, exist_ok=True)
    db = SCRATCH / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        (SCRATCH / f"{name}.db{suffix}").unlink(missing_ok=True)
    pty = PtyEnd()
    with (SCRATCH / f"{name}.out").open("w") as log:
        proc = subprocess.Popen([str(EXE), "record", "--driver", "masimo-ascii", "--port", pty.path, "--db", str(db),
                                 "--duration", str(len(lines) + 8), "--patient", "MRN-SIG", "--nurse", "RN"],
                                stdout=log, stderr=subprocess.STDOUT, env=ENV, cwd=str(SCRATCH))
        try:
            time.sleep(3.0)
            start = time.time()
            for i, (spo2, bpm, exc) in enumerate(lines):
                delay = start + i - time.time()
                if delay > 0:
                    time.sleep(delay)
                pty.write(line(time.time(), spo2, bpm, exc))
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
            pty.close()
    out = subprocess.run([str(EXE), "export", "latest", "--db", str(db), "--format", "json", "--out", "-"],
                         capture_output=True, text=True, check=True, env=ENV, cwd=str(SCRATCH))
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc, start


def test_desaturation_with_single_probe_off_lines_and_motion_flags() -> None:
    """SpO2 86 % with interference and low signal IQ flags (motion: the values are still the patient's), and a
    single 'sensor off' line of dashes every sixth second, for 60 s: one high SpO2 alarm, started within
    15-25 s, never ended by the dashes; and one 'sensor off' alarm for the loose probe, not one per line."""
    lines: list[tuple[int | None, int | None, int]] = []
    for i in range(60):
        if i % 6 == 5:
            lines.append((None, None, 0x820))
        else:
            lines.append((86, 74, 0x800 | (0x410 if i % 3 == 0 else 0)))
    doc, start = record("masimo_dashes", lines)
    severe = [a for a in doc["alarms"] if a["condition"] == "spo2_low_severe"]
    assert len(severe) == 1, [(a["condition"], a["started_at"], a["ended_at"]) for a in doc["alarms"]]
    assert 14 <= iso(severe[0]["started_at"]) - start <= 25
    assert severe[0]["ended_at"] is None or iso(severe[0]["ended_at"]) >= start + 59
    off = [a for a in doc["alarms"] if a["condition"] == "sensor_off"]
    assert len(off) == 1, [(a["started_at"], a["ended_at"]) for a in off]
