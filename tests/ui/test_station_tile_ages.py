"""What a station tile says of a chair that no longer reports or whose monitoring stalled."""

from __future__ import annotations

from typing import Any

from monitor.replication.live import parse_tile
from monitor.station import ChairReport, StationModel
from ui.station_window import StationWindow


def _report(now: float) -> ChairReport:
    document = {
        "active": True, "session_id": "s-c1", "now": now, "phase": "infusion", "infusion_elapsed_s": 754.0,
        "infusion_plan_min": 40, "values": {"hr": 72.0, "spo2": 97.0, "nibp_sys": 128.0, "nibp_dia": 79.0,
                                            "nibp_mean": 95.0},
        "value_times": {"hr": now, "spo2": now}, "heart_rate": 72.0, "heart_rate_source": "hr",
        "nibp_age_s": 180.0, "alarms": [],
    }
    return ChairReport("c1", "Chair 1", parse_tile(document), "MRN-1", "Ann Lee")


def _station(qtbot: Any) -> tuple[list[float], StationModel, StationWindow]:
    """A station window on a clock of the test's, with the chair's first report: (clock, model, window)."""
    clock = [0.0]
    model = StationModel(clock=lambda: clock[0])
    window = StationWindow(model)
    qtbot.addWidget(window)
    window.connected = True
    model.apply(_report(5000.0))
    return clock, model, window


def test_the_nibp_age_keeps_growing_while_a_chair_does_not_report(qtbot: Any) -> None:
    clock, _model, window = _station(qtbot)
    window.refresh()
    tile = window.tiles["c1"]
    assert tile.nibp.text() == "NIBP 128/79 (95) · 3 min ago"
    clock[0] = 20 * 60.0  # the chair has said nothing for 20 minutes
    window.refresh()
    assert "NOT REPORTING for 1200 s" in tile.alarms.text()
    assert "SpO2 97" in tile.numerics.text() and "1200 s old" in tile.numerics.text()
    # The last cuff was taken 3 minutes before the chair fell silent: 23 minutes ago now.
    assert tile.nibp.text() == "NIBP 128/79 (95) · 23 min ago", tile.nibp.text()


def test_the_nibp_age_keeps_growing_while_a_chair_is_stalled(qtbot: Any) -> None:
    clock, model, window = _station(qtbot)
    # The chair's replicator still sends its heartbeat every 2 s, with a status that no longer moves on.
    while clock[0] < 10 * 60.0:
        clock[0] += 2.0
        model.apply(_report(5000.0))
    window.refresh()
    tile = window.tiles["c1"]
    assert "MONITORING STALLED" in tile.alarms.text()
    assert tile.nibp.text() == "NIBP 128/79 (95) · 13 min ago", tile.nibp.text()
