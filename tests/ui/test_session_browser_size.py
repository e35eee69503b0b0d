"""The session browser with a chair's sessions listed: searching again must not hold the window for seconds.

A chair records ~6 sessions a day, ~1,500 a year; the browser lists them all when no date range is set.
Its table is filled on the window's thread (the live window's too, when opened under Sessions…). The
browser runs in a process of its own here, as `infusion-monitor review` and the live window run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import many_sessions
from ui.session_browser import PAGE

SESSIONS = 300  # ten weeks of one chair
START = 1_767_225_600.0
ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, time
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from ui.dialogs import SignedInUser
from ui.session_browser import SessionBrowser
browser = SessionBrowser(Path(sys.argv[1]), SignedInUser("Dr", "physician"))
browser.show()
app.processEvents()
took = {}
for what, action in (
    ("typing 'A' in the MRN filter", lambda: browser.mrn_edit.setText("A")),
    ("typing '-' after it (the same sessions)", lambda: browser.mrn_edit.setText("A-")),
    ("the Refresh button", browser.refresh_button.click),
):
    started = time.perf_counter()
    action()
    app.processEvents()
    took[what] = round(time.perf_counter() - started, 2)
print(json.dumps({"rows": browser.table.rowCount(), "took": took}))
"""


def _sessions(path: Path) -> None:
    many_sessions(path, SESSIONS, lambda index: f"{'B' if index % 5 == 0 else 'A'}-{index // 6:04d}", start=START)


def test_searching_again_in_a_list_of_300_sessions_takes_under_three_seconds(tmp_path: Path) -> None:
    path = tmp_path / "monitor.db"
    _sessions(path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["rows"] == PAGE  # the newest page of the 240 sessions found
    # The clinic server's whole list of a year (12,000 sessions) takes 78 ms (README); 3 s is 10x its 300 ms target.
    assert max(answer["took"].values()) < 3.0, (
        f"seconds the window's thread was held: {answer['took']} (whole run {time.perf_counter() - started:.0f} s)"
    )
