"""At 1280×800, what a nurse in a hurry reads must be there whole.

Found in an audit at that size: a latched SpO2 alarm's line in its tile read "*** SpO2 < 90 (ov…" beside an empty
half of the tile (the word that says the red value is no longer in breach was the one cut); the header read
"Patient: Maria Hurry · MRN MRN4…" with an 11-character name (the MRN is what is checked against the wristband),
and the phase badge widened for "INFUSION · PAUSED", moving the Identify button; once the session was complete the
NIBP value stayed white, its mean amber, while HR and SpO2 were grey.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QLabel

from drivers.core.readings import Parameter, Reading
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, AlarmState, Priority
from monitor.alarms.model import LimitLine as EngineLimit
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder, SessionStatus
from monitor.session import Baseline, Phase
from monitor.store import Store
from ui import theme

SCREEN = (1280, 800)
MRN = "MRN-00004711"  # 12 characters
NOW = 1_790_003_000.0


@pytest.fixture
def open_window(qtbot: Any, db_path: Path) -> Iterator[Any]:
    """Opens a live window at 1280×800 on a patient of the given name; the recorder does not run (the test feeds
    the window its statuses)."""
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    windows: list[Any] = []

    def open_for(name: str) -> Any:
        recorder = Recorder.new_session(
            store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
            plan=SessionPlan(1, 40, 30), nurse="AB", patient_id=store.create_patient(MRN, name, "1961-02-03"),
            alarms=AlarmEngine(), protocol=load_protocol("ketamine-iv"),
        )
        window = LiveWindow(RecorderBridge(recorder), SignedInUser("admin", "admin"), sound=False)
        qtbot.addWidget(window)
        # The recorder does not run: its watchdog would say so once 3 s have gone (sooner on a loaded machine than
        # the test's end), adding its row and greying the tiles the test measures with the statuses it feeds.
        window._watch_timer.stop()
        windows.append(window)
        window.show()
        window.resize(*SCREEN)
        qtbot.waitUntil(lambda: (window.width(), window.height()) == SCREEN, timeout=5000)
        return window

    yield open_for
    for window in windows:
        window.force_close()
    store.close()


def _infusing(window: Any, *, paused: bool = False, link: str = "connected") -> SessionStatus:
    """Twenty-four minutes into the infusion: HR and SpO2 a second old, the last cuff four minutes old."""
    status = window.bridge.recorder.status()
    readings = (
        Reading(NOW - 1, Parameter.HR, 78.0, "test"), Reading(NOW - 1, Parameter.SPO2, 97.0, "test"),
        Reading(NOW - 240, Parameter.NIBP_SYS, 130.0, "test"), Reading(NOW - 240, Parameter.NIBP_DIA, 77.0, "test"),
        Reading(NOW - 240, Parameter.NIBP_MEAN, 95.0, "test"),
    )
    return dataclasses.replace(
        status, now=NOW, phase=Phase.INFUSION, phase_label="infusion", infusion_paused=paused, latest=readings,
        heart_rate=readings[0], baseline=Baseline(NOW - 1800, 70.0, Parameter.HR, 98.0, 122.0, 73.0, 90.0),
        infusion_elapsed_s=1470.0, elapsed_s=3000.0, nibp_age_s=240.0, nibp_next_due=NOW, nibp_interval_s=300.0,
        link=dataclasses.replace(status.link, state=link),
    )


def _spo2_over() -> AlarmSnapshot:
    """A high SpO2 alarm whose condition is over (86 % at worst, 97 % now), waiting to be acknowledged."""
    alarm = AlarmRecord("a1", "spo2_critical", "spo2", Priority.HIGH, AlarmKind.PHYSIOLOGICAL,
                        "SpO2 86 < 90 %", NOW - 240, limit=90.0, peak_value=86.0, value=86.0, current=97.0,
                        state=AlarmState.LATCHED)
    return AlarmSnapshot((alarm,), None, False, False, Priority.HIGH,
                         limits=(EngineLimit("spo2_critical", "spo2", 90.0, Priority.HIGH, "<"),))


def _whole(label: QLabel) -> bool:
    """Every pixel of the label's text fits inside it on one line."""
    return QFontMetrics(label.font()).horizontalAdvance(label.text()) <= label.contentsRect().width()


@pytest.mark.parametrize("link", ["connected", "lost"], ids=["status-empty", "status-long"])
def test_an_alarm_over_is_read_whole_in_its_tile(qtbot: Any, open_window: Any, link: str) -> None:
    w = open_window("Maria Hurry")
    w.show_status(_infusing(w, link=link))
    w.show_alarms(_spo2_over(), NOW)
    QApplication.processEvents()
    tile = w.spo2_tile
    assert tile.alarm.isVisible() and tile.alarm.text() == "*** SpO2 < 90 (over)"
    # Measured: the alarm had 204 px for its 209 px, whatever the status said.
    needed = QFontMetrics(tile.alarm.font()).horizontalAdvance(tile.alarm.text())
    assert _whole(tile.alarm), (tile.alarm.width(), needed)
    if link == "lost":
        # "link lost · no new value for 1 s" and the alarm do not fit side by side: the status goes under the
        # alarm, whole too, rather than either being cut.
        assert tile.status.text().startswith("link lost")
        assert not tile.bottom_on_one_line()
        assert tile.status.geometry().top() >= tile.alarm.geometry().bottom()
        assert not tile.status.is_elided(), tile.status.text()
    else:
        assert tile.bottom_on_one_line()
    assert tile.value.fits() and tile.value.drawn_px() >= 56, tile.value.drawn_px()


@pytest.mark.parametrize("name", ["Maria Hurry", "Maria-Magdalena Hurry-Okonkwo de la Cruz"], ids=["11", "40"])
def test_the_mrn_is_read_whole_in_the_header_and_a_pause_moves_nothing(
    qtbot: Any, open_window: Any, name: str
) -> None:
    w = open_window(name)
    w.show_status(_infusing(w))
    QApplication.processEvents()
    header = w.header

    def places() -> dict[str, tuple[int, int]]:
        return {label: (widget.x(), widget.width()) for label, widget in
                (("identify", header.patient_button), ("phase", header.phase), ("patient", header.patient),
                 ("clocks", header.timers))}

    before = places()
    w.show_status(_infusing(w, paused=True))
    QApplication.processEvents()
    # Measured before: the badge went from 170 to 266 px, the Identify button 41 px to the left.
    assert places() == before, "pausing the infusion moved the header"
    assert header.phase.text() == "INFUSION\nPAUSED" and "INFUSION · PAUSED" in header.text()
    assert header.patient.text() == f"Patient: {name} · MRN {MRN}"
    # What is drawn ends with the whole MRN: the name gives way first (measured: "Maria H…" and "Maria-M…", the
    # infusion's clock line beside them whole).
    shown = header.patient.shown_text()
    assert shown.endswith(f" · MRN {MRN}"), shown
    assert QFontMetrics(header.patient.font()).horizontalAdvance(shown) <= header.patient.contentsRect().width()
    assert _whole(header.timers), header.timers.text()  # "Infusion 24:30 of 40 min (40–60 min)"
    # The badge's two lines fit inside it.
    metrics = QFontMetrics(header.phase.font())
    assert 2 * metrics.height() <= header.phase.contentsRect().height()
    widest = max(metrics.horizontalAdvance(line) for line in ("INFUSION", "PAUSED"))
    assert widest <= header.phase.contentsRect().width()


def test_every_numeric_is_grey_once_the_recording_has_ended(qtbot: Any, open_window: Any) -> None:
    w = open_window("Maria Hurry")
    status = _infusing(w)
    w.show_status(status)
    assert w.nibp_tile.state == "ok" and w.nibp_tile.status.text() == "4 min ago"
    w.end_status = "complete"
    w.show_status(status)
    assert [tile.state for tile in w.numerics.tiles()] == ["stale"] * 3
    grey = f"color: {theme.QUESTIONABLE};"
    assert all(tile.value.styleSheet().startswith(grey) for tile in w.numerics.tiles())
    assert w.nibp_tile.extra.text() == "(95)" and w.nibp_tile.extra.styleSheet().startswith(grey), "the mean too"
    assert w.nibp_tile.status.text() == "recording complete · 4 min ago"  # its age kept
