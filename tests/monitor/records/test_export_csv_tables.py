"""The events and the alarm log as CSV tables, next to the readings' CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from monitor.cli import main
from monitor.exports.csv_tables import ALARM_COLUMNS, EVENT_COLUMNS
from monitor.exports.data import load
from monitor.store import Store
from tests.csv_files import rows as csv_rows
from tests.monitor.records.sessions import NURSE, RecordedSession


def _rows(path: Path) -> list[dict[str, str]]:
    return csv_rows(path.read_text(encoding="utf-8"))


def test_events_and_alarms_export_as_their_own_csv_tables(
    recorded: RecordedSession, tmp_path: Path, store_of: Callable[..., Store]
) -> None:
    record = load(store_of(recorded), recorded.session_id)
    events_csv, alarms_csv = tmp_path / "events.csv", tmp_path / "alarms.csv"
    for fmt, out in (("csv-events", events_csv), ("csv-alarms", alarms_csv)):
        assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", fmt,
                     "--out", str(out)]) == 0
    assert events_csv.read_text(encoding="utf-8").splitlines()[1] == ",".join(EVENT_COLUMNS)
    events = _rows(events_csv)
    assert [e["kind"] for e in events] == [e.kind.value for e in record.events]
    assert any(e["kind"] == "note" and e["text"] == "Patient calm, reports mild dissociation" for e in events)
    assert any(e["kind"] == "score" and '"scale": "MOAA/S"' in e["detail_json"] for e in events)
    assert alarms_csv.read_text(encoding="utf-8").splitlines()[1] == ",".join(ALARM_COLUMNS)
    alarms = _rows(alarms_csv)
    assert len(alarms) == len(record.alarms) >= 2
    assert {a["condition"] for a in alarms} == {a.condition for a in record.alarms}
    assert any(a["acknowledged_by"] == NURSE and a["acknowledged"].endswith("+00:00") for a in alarms)
    # De-identified: no staff names in either table.
    out = tmp_path / "deid.csv"
    assert main(["export", recorded.session_id, "--db", str(recorded.path), "--format", "csv-alarms",
                 "--deidentify", "--out", str(out)]) == 0
    assert NURSE not in out.read_text(encoding="utf-8")


def test_typed_text_that_a_spreadsheet_would_run_is_kept_as_text() -> None:
    import io

    from monitor.exports.csv_tables import write_events
    from monitor.exports.data import SessionRecord
    from monitor.session import EventKind, Phase, SessionEvent

    typed = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2 on the scale", "calm"]
    events = tuple(SessionEvent(1000.0 + i, EventKind.NOTE, Phase.INFUSION, "=RN", {"text": text})
                   for i, text in enumerate(typed))
    record = SessionRecord({"id": "s1", "started_at": 1000.0}, None, (), events, ())
    out = io.StringIO()
    write_events(record, out)
    rows = csv_rows(out.getvalue())
    assert [r["text"] for r in rows] == ["'" + t for t in typed[:4]] + ["calm"]
    assert {r["user"] for r in rows} == {"'=RN"}
