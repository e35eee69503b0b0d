"""At the smallest screen (1280×720, as 2560×1440 at 200 %), alarm rows never take the height the numerics need.

Found under Xvfb at QT_SCALE_FACTOR=2: in recovery after a hypertensive infusion, with three alarms active, the
NIBP value was drawn sliced in a row 25-30 px high. The bar measured a row it was about to fold into "+1 more" by
showing it, which laid the window out with that row (the bar 203 px against its 146), again at every snapshot;
and a word-wrapped row's own size hint is several times its height, which the window's layout gave the bar.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QEvent, QObject

from monitor.session import Phase


class _Heights(QObject):
    """Every height the alarm bar is given, with its budget then."""

    def __init__(self, bar: Any) -> None:
        super().__init__()
        self.bar = bar
        self.given: list[tuple[int, int | None]] = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.bar and event.type() == QEvent.Type.Resize:
            self.given.append((self.bar.height(), self.bar.height_budget))
        return False


def test_three_alarms_at_1280x720_leave_every_numeric_its_height(qtbot: Any, make_window: Any) -> None:
    w = make_window(scenario="hypertension", speed=150.0, plan="baseline:2,infusion:40,recovery:30", first_status=True)
    w.resize(1280, 720)
    heights = _Heights(w.alarm_bar)
    w.alarm_bar.installEventFilter(heights)
    qtbot.waitUntil(lambda: w.last_snapshot is not None and len(w.last_snapshot.active) >= 3
                    and w.last_status.phase is Phase.RECOVERY, timeout=60_000)
    squeezed, folded, unfolded = [], [], []
    crowded = 0  # samples of the recovery's three alarms, which last about 16 minutes (six seconds here)
    deadline = time.monotonic() + 60
    while crowded < 20 and time.monotonic() < deadline:
        qtbot.wait(50)
        for name, tile in (("HR", w.hr_tile), ("SpO2", w.spo2_tile), ("NIBP", w.nibp_tile)):
            if tile.height() < tile.minimumSizeHint().height():
                squeezed.append((name, tile.height(), tile.minimumSizeHint().height()))
        shown = w.alarm_bar.snapshot
        if shown is None or len(shown.active) < 3 or w.last_status.phase is not Phase.RECOVERY:
            if crowded:
                break  # the third alarm has ended: the rest of the session has two or fewer
            continue
        crowded += 1
        if w.alarm_bar.more_label.isVisible():
            folded.append(w.alarm_bar.more_label.text())
        else:
            unfolded.append(len(shown.active))
    # A loaded machine may sample the three alarms only a few times; five samples still show the fold and the numerics.
    assert crowded >= 5, f"the bar showed the recovery's three alarms in only {crowded} samples"
    assert unfolded == [], f"three alarms at 1280x720: one is folded into '+N more' (not while {unfolded} were active)"
    assert all(text.startswith(("*** +", "** +", "* +")) for text in folded)  # its priority's marks, not colour alone
    assert squeezed == []
    over = [(h, budget) for h, budget in heights.given if budget is not None and h > budget + 20]
    assert over == [], f"the bar was given more than its budget: {over}"
