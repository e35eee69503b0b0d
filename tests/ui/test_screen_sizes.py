"""The live and review windows at every screen size a clinic has, with the longest texts they get.

At each size the window must take the screen (its minimum size fits), every visible widget must
lie inside it, the header must keep its height, the numerics must stay large, and every alarm
message must be fully visible (wrapped when long), never cut.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from drivers.core.readings import Flag, Parameter, Reading
from drivers.simulated.driver import SimulatedSource
from monitor.alarms.engine import AlarmEngine
from monitor.alarms.model import AlarmKind, AlarmRecord, AlarmSnapshot, Escalation, Priority
from monitor.alarms.model import LimitLine as EngineLimit
from monitor.plan import SessionPlan
from monitor.protocols import load_protocol
from monitor.recorder import Recorder
from monitor.session import Baseline, Phase
from monitor.store import Store

SIZES = ((1280, 720), (1366, 768), (1600, 900), (1920, 1080), (2560, 1440))
# 60 characters, accents and a combining mark included.
LONG_NAME = "Maëlys-Éléonore Øverås-Nuñez de la Peña y Çelik-Großmann Ünlü"
LONG_DEVICE = (
    "Philips IntelliVue MX450 (MIB/RS232, 115200 baud 8N1, data export protocol) on socket://192.168.100.200:24105 "
    "via Lantronix UDS2100 serial server, bed 7 recovery bay"
)
LONG_MESSAGES = (
    (Priority.HIGH, "spo2", "SpO2 84 % below 88 % for 15 s — check the probe and the airway, give oxygen"),
    (Priority.HIGH, "nibp_sys", "SBP 198 mmHg above 180 mmHg (baseline 142 + 40 %) — repeat NIBP to confirm, "
                                "inform the physician"),
    (Priority.MEDIUM, "heart_rate", "HR 131 /min above 120 /min for 30 s (latched until acknowledged)"),
    (Priority.MEDIUM, "nibp_dia", "DBP 112 mmHg above 110 mmHg"),
    (Priority.LOW, "spo2", "SpO2 92 % below the baseline 97 % by more than 4 points"),
    (Priority.LOW, "heart_rate", "HR 46 /min below 50 /min"),
)
T0 = 1_790_000_000.0


def _alarm(i: int, priority: Priority, parameter: str, message: str) -> AlarmRecord:
    escalations = (Escalation(T0, Priority.MEDIUM, priority, "unacknowledged"),) if i == 0 else ()
    return AlarmRecord(f"a{i}", f"c{i}", parameter, priority, AlarmKind.PHYSIOLOGICAL, message, T0, value=198.0,
                       limit=180.0, silenced=i % 2 == 1, escalations=escalations)


def _snapshot(count: int) -> AlarmSnapshot:
    active = tuple(_alarm(i, *LONG_MESSAGES[i]) for i in range(count))
    return AlarmSnapshot(active, T0 + 60, False, False, Priority.HIGH)


def _outside(widget: QWidget, window: QWidget) -> QRect | None:
    """The widget's rectangle in window coordinates when it is not wholly inside the window."""
    top_left = widget.mapTo(window, QPoint(0, 0))
    rect = QRect(top_left, widget.size())
    return None if window.rect().contains(rect) else rect


def _check_inside(window: QWidget) -> None:
    problems = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisibleTo(window) or widget.isWindow():
            continue
        rect = _outside(widget, window)
        if rect is not None:
            problems.append(f"{type(widget).__name__} {widget.objectName()!r} at {rect}")
        parent = widget.parentWidget()
        # A widget wider than its parent is clipped by it, even inside the window.
        if parent is not None and not parent.isWindow() and not parent.rect().contains(widget.geometry()):
            text = widget.text() if hasattr(widget, "text") else ""
            problems.append(f"{type(widget).__name__} {text!r} at {widget.geometry()} outside its parent "
                            f"{type(parent).__name__} {parent.rect()}")
    assert not problems, "outside the window:\n" + "\n".join(problems[:20])


def _check_buttons_readable(window: QWidget) -> None:
    for button in window.findChildren(QAbstractButton):
        if not button.isVisibleTo(window) or not button.text():
            continue
        # The style's own size for the text with its padding and border: anything narrower cuts the text.
        needed = button.sizeHint().width()
        assert needed <= button.width(), f"button {button.text()!r} is cut: {needed} px in {button.width()} px"


@pytest.fixture(params=["ketamine-iv", "esketamine-nasal"])
def live_window(qtbot: Any, db_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A live window on a session of a long-named patient, fed a status by hand (the recorder does not run),
    under each protocol that ships (esketamine adds the REMS button)."""
    from ui.bridge import RecorderBridge
    from ui.dialogs import SignedInUser
    from ui.live_window import LiveWindow

    store = Store(db_path)
    patient = store.create_patient("MRN-00000000042", LONG_NAME, "1961-02-03")
    recorder = Recorder.new_session(
        store, SimulatedSource(scenario="normal", seed=3, speed=60.0), driver="simulated", port=None,
        plan=SessionPlan(1, 40, 30), nurse="AB", patient_id=patient, alarms=AlarmEngine(),
        protocol=load_protocol(request.param),
    )
    window = LiveWindow(RecorderBridge(recorder), SignedInUser("Anne-Sophie Bérénice Łukasiewicz", "physician"),
                        sound=False)
    qtbot.addWidget(window)
    # The recorder does not run: its watchdog would say so once 3 s have gone (sooner on a loaded machine than the
    # test's end), adding its row and greying the tiles the test measures with the statuses it feeds.
    window._watch_timer.stop()
    yield window
    window.force_close()
    store.close()


def _feed(window: Any, alarms: int) -> None:
    status = window.bridge.recorder.status()
    now = T0 + 3000
    readings = (
        Reading(now - 1, Parameter.HR, 131.0, "test"),
        Reading(now - 1, Parameter.SPO2, 84.0, "test", frozenset({Flag.LOW_PERFUSION})),
        Reading(now - 60, Parameter.NIBP_SYS, 198.0, "test"),
        Reading(now - 60, Parameter.NIBP_DIA, 112.0, "test"),
        Reading(now - 60, Parameter.NIBP_MEAN, 141.0, "test"),
    )
    status = dataclasses.replace(
        status, now=now, phase=Phase.INFUSION, device=LONG_DEVICE, latest=readings, heart_rate=readings[0],
        baseline=Baseline(T0, 72.0, Parameter.HR, 98.0, 142.0, 88.0, 106.0),
        infusion_elapsed_s=2500.0, elapsed_s=3000.0,
        nibp_age_s=60.0, nibp_next_due=now + 120, nibp_interval_s=180.0,
        scores_due=("PHQ-9", "MOAA/S", "RASS", "CADSS-6"),  # every score button at its widest
    )
    window.show_status(status)
    window.show_alarms(_snapshot(alarms) if alarms else None, now)
    window.show_message("Cannot start the infusion: take a baseline first (HR, SpO2 and a cuff measurement are "
                        "needed) — this message floats and moves nothing.")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("alarms", [0, 6], ids=["quiet", "six-alarms"])
def test_live_window_fits_every_screen(qtbot: Any, live_window: Any, size: tuple[int, int], alarms: int) -> None:
    w = live_window
    w.show()
    w.resize(*size)
    _feed(w, alarms)
    QApplication.processEvents()
    assert w.minimumSizeHint().height() <= size[1], (
        f"{w.minimumSizeHint()}: header {w.header.minimumSizeHint()} alarms {w.alarm_bar.minimumSizeHint()} "
        f"numerics {w.numerics.minimumSizeHint()} controls {w.controls.minimumSizeHint()}"
    )
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5000)
    QApplication.processEvents()

    _check_inside(w)
    _check_buttons_readable(w)
    # The header keeps its height whatever it says; long texts are cut with the whole on hover.
    assert w.header.height() == w.header.HEIGHT_PX
    assert LONG_NAME in w.header.patient.text() and LONG_NAME in w.header.patient.toolTip()
    assert LONG_DEVICE in w.header.device.toolTip()
    # Numerics stay large and whole (each label sizes its font on the resize events it gets, which a busy machine
    # may deliver after the window has its size).
    qtbot.waitUntil(lambda: all(tile.value.fits() for tile in w.numerics.tiles()), timeout=3000)
    for tile in w.numerics.tiles():
        assert tile.value.drawn_px() >= (56 if size[1] >= 900 else 40), (tile.value.text(), tile.value.drawn_px())
        assert tile.value.fits(), f"{tile.value.text()} does not fit at {size}"
    # Every alarm with a row is shown whole; the rest are counted where the count can be seen.
    # The bar grows (up to every row on a tall screen) before it counts the rest instead.
    shown = [row for row in w.alarm_bar.rows if row.isVisible()]
    assert len(shown) >= min(alarms, len(w.alarm_bar.rows) if size[1] >= 1080 else 2)
    assert [row.text() for row in shown] == [r.text() for r in w.alarm_bar.rows[:len(shown)]]
    for row in shown:
        assert row.fully_visible(), f"alarm cut at {size}: {row.text()!r} in {row.size()}"
    more = w.alarm_bar.more_label
    if alarms > len(shown):
        assert more.isVisible() and f"+{alarms - len(shown)} more" in more.text()
        assert more.heightForWidth(more.width()) <= more.height()
    else:
        assert not more.isVisible()
    # The tiles carry the alarm state too.
    if alarms:
        assert w.nibp_tile.alarm.isVisible() and "SBP > 180" in w.nibp_tile.alarm.text()
        assert w.nibp_tile.alarm_shown_whole(), w.nibp_tile.alarm.text()  # the breached limit is read whole
    # The message floats inside the window without moving the controls.
    assert w.message.isVisible() and w.message.geometry().bottom() < w.controls.geometry().top()
    numerics = QRect(w.numerics.mapTo(w.centralWidget(), QPoint(0, 0)), w.numerics.size())
    assert not w.message.geometry().intersects(numerics), "the message hides the cuff's age"


def _visible_labels(window: QWidget) -> list[QLabel]:
    return [label for label in window.findChildren(QLabel) if label.isVisibleTo(window)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_review_window_fits_every_screen(qtbot: Any, db_path: Path, size: tuple[int, int]) -> None:
    from tests.ui.review_sessions import record
    from ui.dialogs import SignedInUser
    from ui.review_window import ReviewWindow

    session_id = record(db_path, mrn="MRN-77")
    with Store(db_path) as store, store.transaction():
        from monitor import identifiers

        assert store.keys is not None
        for (pid,) in store.db.execute("SELECT id FROM patients").fetchall():
            # Identifiers are stored encrypted: the long name goes in through the same encryption.
            store.db.execute("UPDATE patients SET name = ? WHERE id = ?",
                             [identifiers.encrypt(store.keys, pid, "name", LONG_NAME), pid])
    window = ReviewWindow(db_path, session_id, SignedInUser("Anne-Sophie Bérénice Łukasiewicz", "physician"))
    qtbot.addWidget(window)
    window.show()
    window.resize(*size)
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= size[0] and window.minimumSizeHint().height() <= size[1], (
        window.minimumSizeHint(), window.centralWidget().layout().itemAt(0).widget().minimumSizeHint(),
        window.tabs.minimumSizeHint(), window.chart.minimumSizeHint())
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    _check_inside(window)
    _check_buttons_readable(window)
    assert _visible_labels(window)
    # The chart's view text shares the toolbar's row: one line, never a column of word pieces that makes the row
    # several lines high (it wrapped so at 1280 pixels, 140 pixels taken from the chart); whole on a wide screen.
    assert window.chart.view_label.height() <= window.pdf_button.height(), window.chart.view_label.height()
    assert size[0] < 1920 or not window.chart.view_label.is_elided()
    window.close()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_course_window_opens_within_the_screen_and_fits_every_screen(
    qtbot: Any, db_path: Path, size: tuple[int, int]
) -> None:
    """The course window opened 1500x900 whatever the screen: at 1280x800 it stood past the screen's right and
    bottom edges, its export and close buttons out of reach."""
    from PySide6.QtGui import QGuiApplication

    from tests.ui.review_sessions import record
    from ui.course_window import CourseWindow
    from ui.dialogs import SignedInUser

    session_id = record(db_path, mrn="MRN-77")
    with Store(db_path, readonly=True) as reader:
        patient_id = reader.session_row(session_id)["patient_id"]
    window = CourseWindow(db_path, patient_id, SignedInUser("Dr", "physician"))
    qtbot.addWidget(window)
    free = QGuiApplication.primaryScreen().availableGeometry()
    assert window.width() <= free.width() and window.height() <= free.height(), (window.size(), free)
    assert window.minimumSizeHint().width() <= size[0] and window.minimumSizeHint().height() <= size[1]
    window.show()
    window.resize(*size)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == size, timeout=5000)
    _check_inside(window)
    _check_buttons_readable(window)
    window.close()


#: The built-in profile's limits in an infusion with a baseline of 118/79 mmHg: eleven NIBP limits, five kinds.
INFUSION_LIMITS = tuple(
    EngineLimit(*row) for row in (
        ("spo2_low", "spo2", 92.0, Priority.MEDIUM, "<"), ("spo2_critical", "spo2", 90.0, Priority.HIGH, "<"),
        ("hr_low", "heart_rate", 50.0, Priority.HIGH, "<"), ("hr_high", "heart_rate", 120.0, Priority.MEDIUM, ">"),
        ("hr_critical", "heart_rate", 150.0, Priority.HIGH, ">"),
        ("sys_low", "nibp_sys", 90.0, Priority.HIGH, "<"), ("sys_raised", "nibp_sys", 165.0, Priority.LOW, "≥"),
        ("sys_high", "nibp_sys", 180.0, Priority.MEDIUM, "≥"), ("sys_crisis", "nibp_sys", 180.0, Priority.HIGH, ">"),
        ("dia_raised", "nibp_dia", 100.0, Priority.LOW, "≥"), ("dia_high", "nibp_dia", 110.0, Priority.MEDIUM, "≥"),
        ("dia_crisis", "nibp_dia", 120.0, Priority.HIGH, ">"), ("sys_rise", "nibp_sys", 141.6, Priority.LOW, ">"),
        ("dia_rise", "nibp_dia", 94.8, Priority.LOW, ">"), ("sys_rise_more", "nibp_sys", 165.2, Priority.MEDIUM, ">"),
        ("dia_rise_more", "nibp_dia", 110.6, Priority.MEDIUM, ">"),
    )
)


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_every_limit_label_is_whole_on_its_plot(qtbot: Any, live_window: Any, size: tuple[int, int]) -> None:
    """Every limit in force is labelled on its trend and every label is drawn whole inside its plot, within the
    part of the chart the live view keeps for labels, however short the plot."""
    from ui.live_window import chart_limits
    from ui.trend_chart import LABEL_GUTTER_SHARE

    w = live_window
    w.show()
    w.resize(*size)
    _feed(w, 0)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5000)
    lines = chart_limits(INFUSION_LIMITS)
    w.chart.set_limits(lines)
    QApplication.processEvents()
    chart = w.chart
    assert sorted(text for label in chart.limit_labels for text in label.texts) == sorted(
        line.label for line in lines)
    for label in chart.limit_labels:
        box = chart.plots[label.plot].getViewBox()
        plot_area, drawn = box.sceneBoundingRect(), label.item.mapRectToScene(label.item.boundingRect())
        assert plot_area.adjusted(-1, -1, 1, 1).contains(drawn), (size, label.texts, plot_area, drawn)
        assert drawn.width() <= plot_area.width() * LABEL_GUTTER_SHARE, (size, label.texts)
        shown = label.item.textItem.toPlainText()
        for line in lines:  # each value can be read: in its whole label, or after its kind's name
            if line.label in label.texts:
                assert line.label in shown or f"{line.priority.marker}{line.value:.0f}" in shown, (line, shown)


def test_windows_open_no_larger_than_the_screen(qtbot: Any, live_window: Any) -> None:
    from ui.theme import WINDOW_FRAME_PX

    free = live_window.screen().availableGeometry()
    for window in (live_window,):
        # The preferred size, or the screen's free area when smaller (never below what the layout needs).
        assert window.width() <= max(min(1600, free.width()), window.minimumSizeHint().width())
        assert window.height() <= max(min(900, free.height() - WINDOW_FRAME_PX), window.minimumSizeHint().height())


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)], ids=["1280x720", "1366x768"])
def test_marking_scores_due_moves_no_button(qtbot: Any, live_window: Any, size: tuple[int, int]) -> None:
    from PySide6.QtWidgets import QPushButton

    w = live_window
    w.show()
    w.resize(*size)
    _feed(w, 0)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=5000)
    QApplication.processEvents()
    buttons = [b for b in w.controls.findChildren(QPushButton) if b.isVisibleTo(w)]
    due = {b.text(): b.geometry() for b in buttons}
    assert "MOAA/S due" in due and "CADSS-6 due" in due
    # Two rows of buttons at 1280 wide and more (three with the esketamine protocol's REMS button): one more
    # would take its height from the chart.
    rows = 3 if w.bridge.recorder.protocol.rems else 2
    assert len({geometry.top() for geometry in due.values()}) <= rows
    w.show_status(dataclasses.replace(w.last_status, scores_due=()))
    QApplication.processEvents()
    plain = {b.text(): b.geometry() for b in buttons}
    assert "MOAA/S (M)" in plain
    assert list(plain.values()) == list(due.values())
    _check_buttons_readable(w)
