"""The protocols, record --protocol and rems commands."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.protocols import shipped_text
from monitor.store import Store


def test_protocols_lists_and_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["protocols"], out=out) == 0
    text = out.getvalue()
    assert "ketamine-iv" in text and "esketamine-nasal" in text and "Esketamine nasal spray (REMS)" in text
    out = io.StringIO()
    own = tmp_path / "mine.toml"
    own.write_text(shipped_text("esketamine-nasal"), encoding="utf-8")
    assert main(["protocols", "--check", str(own)], out=out) == 0
    described = out.getvalue()
    assert "check bp_40_min: nibp 40 min after infusion start (-10/+10 min)" in described
    assert "dose 56 mg, range 28-84 (doses 56, 84)" in described
    own.write_text(shipped_text("esketamine-nasal").replace("at_min = 40", "at_min = -5", 1), encoding="utf-8")
    assert main(["protocols", "--check", str(own)]) == 1
    assert "field checks.1.at_min" in capsys.readouterr().err
    # A broken file in the clinic's folder is named by `protocols`.
    monkeypatch.setenv("INFUSION_MONITOR_PROTOCOLS", str(tmp_path))
    out = io.StringIO()
    assert main(["protocols"], out=out) == 1
    assert "not usable:" in out.getvalue() and "mine.toml: line" in out.getvalue()


def test_record_with_a_protocol_and_the_rems_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signed_in_as: Callable[..., str]
) -> None:
    db = tmp_path / "m.db"
    out = io.StringIO()
    assert main(["record", "--db", str(db), "--protocol", "esketamine-nasal", "--speed", "max", "--patient", "P-1",
                 "--plan", "baseline:2,infusion:3,recovery:5", "--quiet", "--nurse", "RN", "--duration", "4"],
                out=out) == 0
    with Store(db) as store:
        row = store.session_row("latest")
        assert row["protocol"] == "esketamine-nasal" and row["protocol_sha256"]
        # No checklist, dose or answers: the form stays incomplete, the session cannot complete.
        assert row["status"] == "closed"
        events = store.events(row["id"])
    assert any(e.kind.value == "session_started" and e.detail.get("protocol") == "esketamine-nasal" for e in events)
    out = io.StringIO()
    assert main(["rems", "--db", str(db)], out=out) == 0
    assert "1 REMS form(s) not yet submitted" in out.getvalue() and "P-1" in out.getvalue()
    assert main(["rems", "--db", str(db), "--submitted", row["id"][:8]]) == 1
    assert "--user" in capsys.readouterr().err
    out = io.StringIO()
    user = signed_in_as(db, "RN", "nurse")
    # Its form has empty fields: marked submitted only with the reason (it was marked as if complete).
    assert main(["rems", "--db", str(db), "--submitted", row["id"][:8], "--user", user, "--reference", "X1"],
                out=out) == 1
    refused = capsys.readouterr().err
    assert "empty fields in the record (Treatment site;" in refused and "--incomplete-because" in refused
    assert main(["rems", "--db", str(db), "--submitted", row["id"][:8], "--user", user, "--reference", "X1",
                 "--incomplete-because", "closed without discharge; filled in on the worksheet"], out=out) == 0
    assert "REMS form marked submitted with" in out.getvalue() and "empty in the record" in out.getvalue()
    with Store(db) as store:
        [marked] = [a for a in store.audit_log(row["id"]) if a["action"] == "rems_form_submitted"]
        detail = json.loads(marked["detail"])
        assert detail["incomplete_because"].startswith("closed without discharge")
        assert "Treatment site" in detail["empty_in_record"]
    out = io.StringIO()
    assert main(["rems", "--db", str(db), "--user", user], out=out) == 0  # the database has accounts now
    assert "0 REMS form(s) not yet submitted" in out.getvalue()
    # An IV ketamine session has no REMS form to mark (it was marked all the same).
    assert main(["record", "--db", str(db), "--protocol", "ketamine-iv", "--speed", "max", "--plan",
                 "baseline:2,infusion:3,recovery:5", "--quiet", "--nurse", "RN", "--duration", "2"]) == 0
    with Store(db) as store:
        iv = store.session_row("latest")["id"]
    assert main(["rems", "--db", str(db), "--submitted", iv[:8], "--user", user,
                 "--incomplete-because", "any"]) == 1
    assert "follows ketamine-iv, which has no REMS form" in capsys.readouterr().err
    sheet = tmp_path / "form.pdf"
    out = io.StringIO()
    assert main(["rems", "--db", str(db), "--worksheet", row["id"][:8], "--out", str(sheet), "--user", user],
                out=out) == 0
    assert sheet.read_bytes().startswith(b"%PDF") and "field(s) still empty" in out.getvalue()
    assert main(["record", "--db", str(db), "--protocol", "nope", "--speed", "max", "--quiet", "--duration", "2"]) == 1
    assert "no protocol named 'nope'" in capsys.readouterr().err
