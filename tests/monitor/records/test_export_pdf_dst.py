"""The PDF report of a session recorded across the end of daylight saving time (America/New_York, 2024-11-03)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdf

from monitor.cli import main
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from tests.conftest import time_zone
from tests.monitor.course.recording import at_60_mg_per_h, record

IV = load_protocol("ketamine-iv")
START = 1_730_611_800.0  # 2024-11-03T05:30:00Z = 01:30 EDT; at 06:00Z New York goes back to 01:00 EST
ZONES = {"EDT": timedelta(hours=-4), "EST": timedelta(hours=-5)}
#: A wall time and its t+, on one line or with the t+ under it (the alarm log's narrow start column).
STAMP = re.compile(r"(\d\d):(\d\d):(\d\d)(?: ([A-Z]{3,4}))?\s\(t\+(\d+):(\d\d):(\d\d)\)")


def test_every_wall_time_in_the_report_reads_back_as_the_moment_it_names(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    script = at_60_mg_per_h()
    rec = record(db, IV, start=START, plan=SessionPlan(3, 20, 30), script=script, scenario="hypertension", seed=7,
                 stop_after_s=6000)
    out = tmp_path / "report.pdf"
    with time_zone("America/New_York"):
        assert main(["export", rec.session.id, "--db", str(db), "--format", "pdf", "--out", str(out)]) == 0
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    header = re.search(r"started 2024-11-03 01:30 (EDT) \(UTC-0400\)", text)
    assert header is not None, text[:300]
    stamps = STAMP.findall(text)
    assert len(stamps) > 20
    start = datetime.fromtimestamp(START, tz=UTC)
    wrong = []
    for hh, mm, ss, zone, th, tm, ts in stamps:
        moment = start + timedelta(hours=int(th), minutes=int(tm), seconds=int(ts))
        # A time printed without its zone is read in the zone the header states.
        local = moment + ZONES[zone or header.group(1)]
        if local.strftime("%H:%M:%S") != f"{hh}:{mm}:{ss}":
            wrong.append(f"{hh}:{mm}:{ss}{' ' + zone if zone else ''} (t+{th}:{tm}:{ts})")
    assert not wrong, f"{len(wrong)} wall times read as another moment, e.g. {wrong[:3]}"
