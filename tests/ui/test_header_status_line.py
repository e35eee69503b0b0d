"""The header's status line says what comes next whole at 1280×800 and 1280×720, under every protocol that ships.

Found under Xvfb at 1280×800: its room was sized for the IV infusion's clock, and esketamine's lines were cut at full
size ("Pre-dose done · ready to start dosi…", "Dosing 00:14 of 10 min (at most 2…"), readable only on hover. The
line is now drawn smaller, then on two lines in the header's height, before any of it is cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication

from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.plan import SessionPlan
from monitor.protocols import SHIPPED, load_protocol
from monitor.readiness import START_INFUSION, Blocker, StepCheck
from monitor.recorder import Recorder
from monitor.session import Phase
from monitor.store import Store

SIZES = [(1280, 800), (1280, 720)]


@pytest.fixture(params=SHIPPED)
def window(request: pytest.FixtureRequest, qtbot: Any, db_path: Path) -> Iterator[Any]:
    """A live window of the protocol on a patient with a long name; the recorder does not run (statuses are fed)."""
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
        plan=SessionPlan(1, 40, 30), nurse="AD", alarms=AlarmEngine(), protocol=load_protocol(request.param),
        patient_id=store.create_patient("MRN-00004711", "Maria-Magdalena Hurry-Okonkwo", "1961-02-03"))
    window = LiveWindow(RecorderBridge(recorder), SignedInUser("AD", "admin"), sound=False)
    qtbot.addWidget(window)
    window._watch_timer.stop()  # the recorder does not run: no stall alarm row
    window.show()
    yield window
    window.force_close()
    store.close()


def _longest_lines(window: Any) -> dict[str, Any]:
    """The longest status of each kind the line shows under the window's protocol."""
    protocol = window.bridge.recorder.protocol
    base = window.bridge.recorder.status()

    def at(phase: Phase, **changes: Any) -> Any:
        return dataclasses.replace(base, phase=phase, phase_label=protocol.label(phase), **changes)

    ready = StepCheck(START_INFUSION, ())
    first = protocol.label(Phase.BASELINE)
    not_ready = StepCheck(START_INFUSION, (
        Blocker("dose_plan", "dose: not planned"),
        Blocker("baseline_too_short", f"the {first} phase has run 12.3 min of the 15 min minimum")))
    return {
        "baseline needs": at(Phase.BASELINE, baseline_missing=("heart rate", "SpO2", "blood pressure (NIBP)")),
        "not ready": at(Phase.BASELINE, baseline_missing=(), step_check=not_ready),
        "ready": at(Phase.BASELINE, baseline_missing=(), step_check=ready),
        "infusion": at(Phase.INFUSION, infusion_elapsed_s=59 * 60 + 59, infusion_plan_min=protocol.phases[
            Phase.INFUSION].planned_min),
        "recovery": at(Phase.RECOVERY, recovery_remaining_s=-(299 * 60 + 59), infusion_elapsed_s=59 * 60 + 59),
    }


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_status_line_is_whole_and_moves_nothing(qtbot: Any, window: Any, size: tuple[int, int]) -> None:
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    header, bar = window.header, window.alarm_bar
    lines = _longest_lines(window)
    window.show_status(lines["infusion"])
    QApplication.processEvents()

    def places() -> tuple[Any, ...]:
        return (header.geometry(), header.timers.geometry(), header.patient.geometry(), bar.geometry(),
                window.numerics.geometry())

    before = places()
    for kind, status in lines.items():
        window.show_status(status)
        QApplication.processEvents()
        label = header.timers
        assert not label.is_elided(), f"{kind}: {label.text()!r} drawn as {label.shown_text()!r}"
        font = label.drawn_font()
        metrics = QFontMetrics(font)
        assert font.pixelSize() >= 12, kind
        assert all(metrics.horizontalAdvance(line) <= label.contentsRect().width() for line in label.shown_lines())
        assert " ".join(label.shown_lines()) == label.text(), kind
        assert places() == before, f"{kind} moved the header, the alarm bar or the numerics"


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_entry_still_missing_is_read_in_a_long_not_ready_line(qtbot: Any, window: Any,
                                                                     size: tuple[int, int]) -> None:
    """The whole checklist still to record: each item with its own ": not recorded" filled the line, and what came
    after the third item was cut. They are named once, and what must still be entered is read whole (the phase's
    minimum after them may be cut, the whole line on hover)."""
    from monitor.checklist import ChecklistItem

    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    protocol = window.bridge.recorder.protocol
    items = [item.value for item in ChecklistItem]
    blockers = (Blocker("checklist", "; ".join(f"{item}: not recorded" for item in items)),
                Blocker("dose_plan", "dose: not planned"),
                Blocker("baseline_too_short", f"the {protocol.label(Phase.BASELINE)} phase has run 1.2 min of the "
                                              "5 min minimum"))
    window.show_status(dataclasses.replace(
        window.bridge.recorder.status(), phase=Phase.BASELINE, phase_label=protocol.label(Phase.BASELINE),
        baseline_missing=(), step_check=StepCheck(START_INFUSION, blockers)))
    QApplication.processEvents()
    label = window.header.timers
    assert label.text().startswith(f"Not ready: {', '.join(items)} not recorded; dose: not planned; the ")
    shown = label.shown_text()
    assert shown.startswith(f"Not ready: {', '.join(items)} not recorded; dose: not planned"), shown
    assert label.drawn_font().pixelSize() >= 12


@pytest.mark.parametrize(("over_s", "said"), [(59.4, "watch done 59 s ago"), (61.0, "watch done 1 min ago"),
                                              (3725.0, "watch done 1 h 02 min ago")])
def test_the_end_of_the_watch_reads_as_a_time_ago(window: Any, over_s: float, said: str) -> None:
    """"watch done 00:59 ago" read like a time of day."""
    protocol = window.bridge.recorder.protocol
    window.show_status(dataclasses.replace(window.bridge.recorder.status(), phase=Phase.RECOVERY,
                                           phase_label=protocol.label(Phase.RECOVERY),
                                           recovery_remaining_s=-over_s, infusion_elapsed_s=600.0))
    name = protocol.label(Phase.RECOVERY).capitalize()
    assert window.header.timers.text() == f"{name} {said} · {protocol.label(Phase.INFUSION)} 10:00"


@pytest.mark.parametrize(("over_s", "said"), [(59.4, "watch done 59 s ago"), (61.0, "watch done 1 min ago"),
                                              (3725.0, "watch done 1 h 02 min ago")])
def test_the_terminal_line_says_the_end_of_the_watch_as_the_window_does(
    window: Any, over_s: float, said: str
) -> None:
    """`record`'s line said "watch done 00:59 ago" (a time of day, to the eye) where the window said "59 s ago"."""
    from monitor.cli import progress_line

    protocol = window.bridge.recorder.protocol
    status = dataclasses.replace(window.bridge.recorder.status(), phase=Phase.RECOVERY,
                                 phase_label=protocol.label(Phase.RECOVERY), recovery_remaining_s=-over_s)
    window.show_status(status)
    assert said in window.header.timers.text()
    assert f"[{protocol.label(Phase.RECOVERY)} {said}]" in progress_line(status)
