"""Record 20 simulated minutes through the command line and check the CSV and JSON exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.store import Store

PLAN = "baseline:3,infusion:12,recovery:5"  # 20 minutes of session time


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    db = tmp_path_factory.mktemp("e2e") / "e2e.db"
    code = main(["record", "--db", str(db), "--speed", "max", "--plan", PLAN, "--patient", "MRN-E2E",
                 "--nurse", "RN1", "--seed", "4", "--quiet"])
    assert code == 0
    with Store(db) as store:
        [summary] = store.sessions()
    return db, summary.id


def test_session_is_listed_complete_with_every_phase(
    recorded: tuple[Path, str], capsys: pytest.CaptureFixture[str], signed_in_as: Callable[..., str]
) -> None:
    db, sid = recorded
    # The list shows MRNs: on a database with accounts (the export test makes one) it needs a sign-in.
    user = signed_in_as(db, "RN1", "nurse")
    assert main(["sessions", "--db", str(db), "--json", "--user", user]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["id"] == sid
    assert row["patient"] == "MRN-E2E"
    assert row["status"] == "complete"
    assert row["phases_reached"] == ["setup", "baseline", "infusion", "recovery", "complete"]
    assert 20 * 60 <= row["length_s"] <= 20 * 60 + 5
    assert main(["sessions", "--db", str(db), "--user", user]) == 0
    table = capsys.readouterr().out
    assert sid[:8] in table and "complete" in table


def test_csv_export_has_the_exact_columns_and_one_row_per_value(
    recorded: tuple[Path, str], tmp_path: Path, signed_in_as: Callable[..., str]
) -> None:
    db, sid = recorded
    out = tmp_path / "s.csv"
    user = signed_in_as(db, "RN1", "nurse")
    assert main(["export", sid, "--db", str(db), "--format", "csv", "--out", str(out), "--user", user]) == 0
    with out.open(newline="") as f:
        statement = next(f)
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    assert statement.startswith(f"# Infusion Monitor session {sid}: record verified")
    assert header == ["timestamp", "elapsed_s", "phase", "parameter", "value", "unit", "status"]
    with Store(db) as store:
        assert len(rows) == store.reading_count(sid)
        assert any(a["action"] == "export" and a["user"] == "RN1" for a in store.audit_log(sid))
    by_param: dict[str, list[list[str]]] = {}
    for row in rows:
        by_param.setdefault(row[3], []).append(row)
    # 1 Hz numerics for the whole 20 minutes (HR from the ECG, PR and SpO2 from the oximeter).
    for p in ("hr", "pr", "spo2"):
        assert 1199 <= len(by_param[p]) <= 1202
    # Cuff: one in baseline, then every 5 min in infusion, every 15 in recovery (about 4 sets).
    assert 3 <= len(by_param["nibp_sys"]) <= 5
    assert len(by_param["nibp_sys"]) == len(by_param["nibp_dia"]) == len(by_param["nibp_mean"])
    units = {row[3]: row[5] for row in rows}
    assert units == {"hr": "/min", "pr": "/min", "spo2": "%", "nibp_sys": "mm[Hg]", "nibp_dia": "mm[Hg]",
                     "nibp_mean": "mm[Hg]"}
    first = datetime.fromisoformat(rows[0][0])
    assert first.utcoffset() is not None and first.utcoffset().total_seconds() == 0
    elapsed = [float(row[1]) for row in rows]
    assert elapsed == sorted(elapsed) and elapsed[0] == 0.0
    phases = [row[2] for row in rows]
    order = ["setup", "baseline", "infusion", "recovery", "complete"]
    assert [order.index(p) for p in phases] == sorted(order.index(p) for p in phases)
    assert {"baseline", "infusion", "recovery"} <= set(phases)
    for row in rows:
        assert 0 < float(row[4]) < 250


def test_json_export_matches_the_csv(
    recorded: tuple[Path, str], capsys: pytest.CaptureFixture[str], signed_in_as: Callable[..., str]
) -> None:
    db, sid = recorded
    user = signed_in_as(db, "RN1", "nurse")
    assert main(["export", "latest", "--db", str(db), "--format", "json", "--user", user]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"session", "treatment", "readings", "alarms", "events"}
    assert doc["treatment"]["protocol"] == "ketamine-iv" and doc["treatment"]["dose"] is None
    assert doc["session"]["id"] == sid
    assert doc["session"]["patient"]["mrn"] == "MRN-E2E"
    assert doc["session"]["baseline"]["nibp_sys"] > 90
    # Every time in the document is ISO 8601 UTC, the baseline's too.
    assert doc["session"]["baseline"]["taken_at"].endswith("+00:00") and doc["session"]["baseline"]["taken_at"] > (
        doc["session"]["started_at"])
    with Store(db) as store:
        stored = list(store.readings(sid))
    assert len(doc["readings"]) == len(stored)
    for item, reading in zip(doc["readings"][:50], stored[:50], strict=True):
        assert set(item) == {"t", "parameter", "value", "unit", "status"}
        assert item["value"] == reading.value
        assert datetime.fromisoformat(item["t"]).timestamp() == pytest.approx(reading.t, abs=1e-3)
    kinds = [e["kind"] for e in doc["events"]]
    for kind in ("session_started", "baseline_started", "baseline_taken", "infusion_started",
                 "infusion_stopped", "recovery_started", "session_completed"):
        assert kind in kinds
    # Recorded headless without signing in: the typed name is kept, marked unverified, with the OS user.
    started = [e for e in doc["events"] if e["kind"].endswith("_started") and "by" not in e]
    assert started and all(e["user"].startswith("RN1 (unverified; os:") for e in started)
    assert isinstance(doc["alarms"], list)


def test_deidentified_json_has_no_patient_identifier(
    recorded: tuple[Path, str], capsys: pytest.CaptureFixture[str], signed_in_as: Callable[..., str]
) -> None:
    db, _ = recorded
    user = signed_in_as(db, "RN1", "nurse")
    assert main(["export", "latest", "--db", str(db), "--format", "json", "--deidentify", "--user", user]) == 0
    text = capsys.readouterr().out
    assert "MRN-E2E" not in text
    assert json.loads(text)["session"]["patient"] is None
