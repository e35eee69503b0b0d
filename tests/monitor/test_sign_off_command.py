"""``infusion-monitor sign-off`` and ``sessions --unsigned``: a physician signs off a finished session from the
command line, a nurse is refused, and the sessions list says which sessions still wait for a physician."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from monitor.cli import main
from monitor.store import Store
from tests.conftest import record_simulated


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv), out=out)
    return code, out.getvalue(), err.getvalue()


def _listed(db: Path, *extra: str) -> list[dict[str, Any]]:
    code, out, err = _run("sessions", "--db", str(db), "--json", *extra)
    assert code == 0, err
    listed: list[dict[str, Any]] = json.loads(out)
    return listed


def test_a_physician_signs_off_a_nurse_is_refused_and_a_second_physician_co_signs(
    db_path: Path, signed_in_as: Any
) -> None:
    first = record_simulated(db_path)
    second = record_simulated(db_path, seed=2, start_time=1_790_100_000.0)
    assert {s["id"] for s in _listed(db_path, "--unsigned")} == {first, second}

    signed_in_as(db_path, "RN2", "nurse")
    code, out, err = _run("sign-off", first[:8], "--db", str(db_path), "--user", "RN2")
    assert code != 0 and out == ""
    assert "not signed off: a sign-off is a physician's: RN2 is signed in as nurse" in err
    code, _out, err = _run("sign-off", first[:8], "--db", str(db_path))
    assert code != 0 and "give --user NAME" in err

    signed_in_as(db_path, "Dr Mensah", "physician")
    code, out, err = _run("sign-off", first[:8], "--db", str(db_path), "--user", "Dr Mensah",
                          "--comment", "Reviewed; no action")
    assert code == 0, err
    assert out.startswith(f"session {first} signed off by Dr Mensah at ")
    code, out, err = _run("sign-off", first[:8], "--db", str(db_path), "--user", "Dr Mensah")
    assert code != 0 and "Dr Mensah signed this session off already" in err

    signed_in_as(db_path, "Dr Okafor", "physician")
    code, out, err = _run("sign-off", first[:8], "--db", str(db_path), "--user", "Dr Okafor")
    assert code == 0, err
    assert out.rstrip().endswith(", co-signing Dr Mensah")

    assert [s["id"] for s in _listed(db_path, "--unsigned")] == [second]
    listed = {s["id"]: s for s in _listed(db_path)}
    assert [(o["by"], o["role"], o["comment"]) for o in listed[first]["signed_off"]] == [
        ("Dr Mensah", "physician", "Reviewed; no action"), ("Dr Okafor", "physician", "")]
    assert listed[second]["signed_off"] == []
    code, out, _err = _run("sessions", "--db", str(db_path))
    lines = {line[:8]: line for line in out.splitlines()[1:]}
    assert "signed off" in out.splitlines()[0]
    assert "Dr Mensah, Dr Okafor" in lines[first[:8]] and " awaiting " in lines[second[:8]]
    with Store(db_path, readonly=True) as store:
        audited = [(a["user"], a["session_id"]) for a in store.audit_log() if a["action"] == "signed_off"]
    assert audited == [("Dr Mensah", first), ("Dr Okafor", first)]


def test_a_session_still_recording_is_not_signed_off(db_path: Path, signed_in_as: Any) -> None:
    with Store(db_path) as store:
        running = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
    signed_in_as(db_path, "Dr Mensah", "physician")
    code, out, err = _run("sign-off", running, "--db", str(db_path), "--user", "Dr Mensah")
    assert code != 0 and out == ""
    assert "this session is still being recorded: sign it off once it has ended" in err
    code, out, _err = _run("sessions", "--db", str(db_path), "--unsigned")
    assert out == "no session awaits a sign-off\n"
