"""verify while another session is recording into the same file: a sound record is reported sound.

Found exporting yesterday's session while today's recorded (the usual case at a chair): 3 exports in 8, and 1
verify in 8, said "NOT VERIFIED: chain head: says 10220 links, the chain has 10213: links were removed from its
end", in the exported file's own verification line too. The links and the chain's head were read by separate
statements, at different moments; they are now read from one snapshot.
"""

from __future__ import annotations

import threading
from pathlib import Path

from monitor.alarms.engine import AlarmEngine
from monitor.integrity import verify
from monitor.store import Store
from tests.conftest import record_simulated


def test_a_record_checked_while_another_session_records_verifies(db_path: Path) -> None:
    earlier = record_simulated(db_path, plan="baseline:2,infusion:5,recovery:2", seed=2)
    recording = threading.Thread(target=record_simulated, args=(db_path,), kwargs={
        "plan": "baseline:5,infusion:60,recovery:30", "seed": 3, "pleth": True, "alarms": AlarmEngine(),
        "start_time": 1_790_100_000.0}, daemon=True)
    recording.start()
    findings: list[str] = []
    checks = 0
    while recording.is_alive() or checks < 3:
        with Store(db_path, readonly=True) as store:
            for session in (earlier, None):
                report = verify(store.db.conn, store.keys, session_id=session)
                findings += [finding.text() for finding in report.findings]
                checks += 1
    recording.join()
    assert checks >= 3 and findings == [], f"{len(findings)} findings in {checks} checks: {findings[:3]}"
