"""``infusion-monitor sign-off`` and ``sessions --unsigned``: a physician signs off a finished session from the
command line, a nurse is refused, and the sessions list says which sessions still wait for a physician."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pypdf
import pytest

from monitor.cli import main
from monitor.store import Store, outbox
from tests.conftest import record_simulated
from tests.monitor.replication.shipping import record_for


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

    # The lists show MRNs: with accounts in the database they need a sign-in too.
    okafor = ("--user", "Dr Okafor")
    assert [s["id"] for s in _listed(db_path, "--unsigned", *okafor)] == [second]
    listed = {s["id"]: s for s in _listed(db_path, *okafor)}
    assert [(o["by"], o["role"], o["comment"]) for o in listed[first]["signed_off"]] == [
        ("Dr Mensah", "physician", "Reviewed; no action"), ("Dr Okafor", "physician", "")]
    assert listed[second]["signed_off"] == []
    code, out, _err = _run("sessions", "--db", str(db_path), *okafor)
    lines = {line[:8]: line for line in out.splitlines()[1:]}
    assert "signed off" in out.splitlines()[0]
    assert "Dr Mensah, Dr Okafor" in lines[first[:8]] and " awaiting " in lines[second[:8]]
    with Store(db_path, readonly=True) as store:
        audited = [(a["user"], a["session_id"]) for a in store.audit_log() if a["action"] == "signed_off"]
    assert audited == [("Dr Mensah", first), ("Dr Okafor", first)]

    # The PDF names the physicians in its sign-off, not among the session's nurses.
    target = db_path.parent / "first.pdf"
    code, _out, err = _run("export", first[:8], "--db", str(db_path), "--format", "pdf", "--out", str(target),
                           "--user", "Dr Okafor")
    assert code == 0, err
    text = " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(target).pages).split())
    nurses = text[text.index("Nurse(s)"):][:60]
    assert "Dr Mensah" not in nurses and "Dr Okafor" not in nurses, nurses
    assert "Dr Mensah" in text and "Dr Okafor" in text


def test_a_session_still_recording_is_not_signed_off(db_path: Path, signed_in_as: Any) -> None:
    with Store(db_path) as store:
        running = store.create_session(started_at=0.0, patient_id=None, driver="x", port=None, plan="")
    signed_in_as(db_path, "Dr Mensah", "physician")
    code, out, err = _run("sign-off", running, "--db", str(db_path), "--user", "Dr Mensah")
    assert code != 0 and out == ""
    assert "this session is still being recorded: sign it off once it has ended" in err
    code, out, _err = _run("sessions", "--db", str(db_path), "--unsigned", "--user", "Dr Mensah")
    assert out == "no session awaits a sign-off\n"


def test_an_unknown_session_is_named_without_a_traceback(db_path: Path, signed_in_as: Any) -> None:
    record_simulated(db_path)
    signed_in_as(db_path, "Dr Mensah", "physician")
    code, out, err = _run("sign-off", "zzzz", "--db", str(db_path), "--user", "Dr Mensah")
    assert (code, out, err) == (1, "", "infusion-monitor: error: no session with id 'zzzz'\n")


def test_one_patients_sessions_awaiting_a_sign_off(db_path: Path, signed_in_as: Any) -> None:
    first = record_for(db_path, "MRN-7", 1_790_000_000.0, 1)
    second = record_for(db_path, "MRN-7", 1_790_100_000.0, 2)
    other = record_for(db_path, "MRN-8", 1_790_200_000.0, 3)
    signed_in_as(db_path, "Dr Mensah", "physician")
    assert _run("sign-off", first, "--db", str(db_path), "--user", "Dr Mensah")[0] == 0
    mensah = ("--user", "Dr Mensah")
    assert [s["id"] for s in _listed(db_path, "--patient", "MRN-7", *mensah)] == [first, second]
    assert [s["id"] for s in _listed(db_path, "--patient", "MRN-7", "--unsigned", *mensah)] == [second]
    assert [s["id"] for s in _listed(db_path, "--unsigned", *mensah)] == [other, second]
    assert _run("sign-off", second, "--db", str(db_path), *mensah)[0] == 0
    code, out, _err = _run("sessions", "--db", str(db_path), "--patient", "MRN-7", "--unsigned", *mensah)
    assert (code, out) == (0, "no session awaits a sign-off\n")


def test_a_sign_off_the_server_cannot_take_is_said_and_waits_at_the_chair(
    db_path: Path, signed_in_as: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = record_simulated(db_path)
    signed_in_as(db_path, "Dr Mensah", "physician")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("INFUSION_MONITOR_SERVER", f"postgresql://chair@127.0.0.1:{port}/im?connect_timeout=3")
    code, out, err = _run("sign-off", session, "--db", str(db_path), "--user", "Dr Mensah")
    assert code == 0, err
    signed, told = out.splitlines()
    assert signed.startswith(f"session {session} signed off by Dr Mensah at ")
    with sqlite3.connect(db_path) as conn:
        waiting = outbox.state(conn).pending
        queued_kinds = [r[0] for r in conn.execute(
            "SELECT e.kind FROM replication_outbox o JOIN events e ON o.tbl = 'events' "
            "AND o.row_key = CAST(e.id AS TEXT)")]
    assert waiting > 0 and "signed_off" in queued_kinds
    assert told.startswith("Server chair@127.0.0.1/im: not sent (connection failed: ") and f"port {port}" in told
    assert told.endswith(f"; {waiting} rows wait here for the next start; the server lists the session as awaiting "
                         "a sign-off until they are sent (at the next sign-off, close or recording with a server)")
