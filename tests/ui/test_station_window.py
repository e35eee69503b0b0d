"""The nurse-station window: tiles, IEC colours and flash, the station's own conditions, read-only."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from monitor.alarms.model import Priority
from monitor.replication.live import parse_tile
from monitor.station import ChairReport, StationModel
from ui import theme
from ui.station_window import StationWindow, flash_on


def _report(chair: str, name: str, alarms: list[dict[str, Any]], now: float = 5000.0, **extra: Any) -> ChairReport:
    document = {
        "active": True, "session_id": f"s-{chair}", "now": now, "phase": "infusion", "infusion_elapsed_s": 754.0,
        "infusion_plan_min": 40, "values": {"hr": 72.0, "spo2": 97.0, "nibp_sys": 128.0, "nibp_dia": 79.0,
                                            "nibp_mean": 95.0},
        "heart_rate": 72.0, "heart_rate_source": "hr", "nibp_age_s": 180.0, "alarms": alarms, **extra,
    }
    return ChairReport(chair, name, parse_tile(document), f"MRN-{chair}", "Ann Lee")


def _alarm(priority: int, started_at: float, acknowledged: bool = False) -> dict[str, Any]:
    return {"id": f"a{priority}", "condition": "spo2_low", "priority": priority, "kind": "physiological",
            "message": "SpO2 86 < 90", "started_at": started_at, "acknowledged": acknowledged, "latched": False}


def _station(qtbot: Any, clock: list[float], **settings: Any) -> tuple[StationModel, StationWindow]:
    """A station window on a model whose clock the test sets, connected to its server."""
    model = StationModel(clock=lambda: clock[0], **settings)
    window = StationWindow(model)
    qtbot.addWidget(window)
    window.connected = True
    return model, window


def test_tiles_show_each_chair_with_its_alarms_in_iec_colours(qtbot: Any) -> None:
    model, window = _station(qtbot, [100.0])
    model.apply(_report("c1", "Chair 1", []))
    model.apply(_report("c2", "Chair 2", [_alarm(3, 4990.0)]))
    window.refresh()
    assert sorted(window.tiles) == ["c1", "c2"]
    one, two = window.tiles["c1"], window.tiles["c2"]
    assert one.title.text() == "Chair 1 · MRN-c1"
    assert one.phase.text() == "infusion 12:34 of 40 min"
    assert "HR 72" in one.numerics.text() and "SpO2 97" in one.numerics.text()
    assert one.nibp.text() == "NIBP 128/79 (95) · 3 min ago"
    high = theme.ALARM_COLOURS[Priority.HIGH]
    assert "SpO2 86 &lt; 90" in two.alarms.text() or "SpO2 86 < 90" in two.alarms.text()
    assert high in two.styleSheet()  # the tile's border takes the alarm's colour
    assert "0 station alarms" in window.banner.text()
    assert not one.due.isVisibleTo(window)
    # The chair's protocol asks for a score: the station says so too.
    model.apply(_report("c1", "Chair 1", [], scores_due=["MOAA/S"]))
    window.refresh()
    assert one.due.text() == "score due: MOAA/S" and one.due.isVisibleTo(window)
    # A nasal-spray chair names its phases as its protocol does; a chair that does not say keeps the plain name.
    model.apply(_report("c2", "Chair 2", [], phase_label="dosing"))
    model.apply(_report("c1", "Chair 1", [], phase="recovery", recovery_remaining_s=-5.0, phase_label="observation"))
    window.refresh()
    assert two.phase.text() == "dosing 12:34 of 40 min"
    assert one.phase.text() == "observation watch done"


def test_high_priority_flashes_at_2_hz_medium_at_half_hz_low_steady() -> None:
    assert [flash_on(Priority.HIGH, ms) for ms in (0, 250, 500, 750)] == [True, False, True, False]
    assert [flash_on(Priority.MEDIUM, ms) for ms in (0, 1000, 2000)] == [True, False, True]
    assert all(flash_on(Priority.LOW, ms) for ms in range(0, 3000, 125))


def test_a_silent_chair_and_an_unacknowledged_alarm_are_raised_at_the_station(qtbot: Any) -> None:
    clock = [0.0]
    model, window = _station(qtbot, clock, escalate_after_s=60.0)
    model.apply(_report("c3", "Chair 3", [_alarm(2, 4990.0)]))
    clock[0] = 7.0  # silent for 7 s (> 6 s)
    window.refresh()
    text = window.tiles["c3"].alarms.text()
    assert "NOT REPORTING for 7 s" in text
    assert "1 station alarms" in window.banner.text()
    # Its phase timer stood still beside ageing values, as a paused infusion's would: it says how old it is.
    assert window.tiles["c3"].phase.text() == "infusion 12:34 of 40 min · as of 7 s ago"
    clock[0] = 55.0  # 10 s + 55 s = 65 s unacknowledged: escalated one level (medium to high)
    window.refresh()
    assert "ESCALATED (65 s unacknowledged)" in window.tiles["c3"].alarms.text()
    assert theme.ALARM_COLOURS[Priority.HIGH] in window.tiles["c3"].styleSheet()


def test_old_values_are_grey_with_their_age_and_a_stalled_chair_is_raised(qtbot: Any) -> None:
    clock = [0.0]
    model, window = _station(qtbot, clock)
    report = _report("c4", "Chair 4", [], value_times={"hr": 4999.0, "spo2": 4975.0})
    model.apply(report)
    window.refresh()
    numerics = window.tiles["c4"].numerics.text()
    hr_colour = theme.PARAMETER_COLOURS[_parameter("hr")]
    assert f"color:{hr_colour}; font-size:40px'>HR 72" in numerics  # 1 s old: current
    assert f"color:{theme.QUESTIONABLE}; font-size:40px'>SpO2 97" in numerics and "25 s old" in numerics
    clock[0] = 6.5  # heartbeats go on, the status does not move on
    model.apply(report)
    window.refresh()
    tile = window.tiles["c4"]
    assert "** MONITORING STALLED at the chair for 6 s" in tile.alarms.text()
    assert f"color:{theme.QUESTIONABLE}; font-size:40px'>HR 72" in tile.numerics.text()
    assert "8 s old" in tile.numerics.text()
    assert "1 station alarms" in window.banner.text()


def test_an_ended_session_whose_rows_were_not_kept_stays_in_the_banner_without_sound(qtbot: Any) -> None:
    from monitor.replication.live import not_kept_document

    class Sound:
        def __init__(self) -> None:
            self.sounding: list[Priority | None] = []

        def set_sounding(self, priority: Priority | None) -> None:
            self.sounding.append(priority)

    model = StationModel()
    sound = Sound()
    window = StationWindow(model, sound=sound)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    window.connected = True
    model.apply(_report("c6", "Chair 6", []))
    window.refresh()
    assert list(window.tiles) == ["c6"]
    model.apply(_report("c6", "Chair 6", [], active=False, **not_kept_document(75, "/d/m.db.recovery-s-c6-1.jsonl")))
    window.refresh()
    assert window.tiles == {}
    banner = window.banner.text()
    assert "0 active chairs · 1 station alarms" in banner
    assert (f"color:{theme.ALARM_COLOURS[Priority.LOW]}'>* Chair 6: session s-c6 of patient MRN-c6 ended with 75 rows "
            "NOT in the chair&#x27;s database") in banner
    assert "they wait in /d/m.db.recovery-s-c6-1.jsonl on " in banner
    assert sound.sounding[-1] is None


def _parameter(name: str) -> Any:
    from drivers.core.readings import Parameter

    return Parameter(name)


def test_the_station_says_when_it_cannot_see_the_server(qtbot: Any) -> None:
    window = StationWindow(StationModel())
    qtbot.addWidget(window)
    window._on_link(False, "connection refused")
    assert "NOT CONNECTED to the server: connection refused" in window.banner.text()


def test_the_chair_shows_that_the_station_cannot_see_it(make_window: Any, qtbot: Any) -> None:
    """The server's state is drawn in the header, whole, at the smallest screen (it was once added to the device's
    one elided line, markup and all, and never seen), the whole line on hover."""
    from monitor.replication.replicator import ReplicationStatus

    class Link:
        def __init__(self) -> None:
            self.state = ReplicationStatus("chair_3@db/im", False, 42, 12.0, None, "connection refused")

        def status(self) -> ReplicationStatus:
            return self.state

    window = make_window(speed=60.0)
    window.resize(1280, 720)
    label = window.header.server
    assert not label.isVisible()  # no server: nothing said
    qtbot.waitUntil(lambda: window.last_status is not None, timeout=5000)
    qtbot.wait(50)
    button_at = window.header.patient_button.x()
    link = Link()
    window.server_link = link

    def shown(text: str) -> bool:
        return label.isVisible() and label.text() == f"· {text}" and label.width() >= label.sizeHint().width()

    qtbot.waitUntil(lambda: shown("STATION CANNOT SEE THIS CHAIR"), timeout=5000)
    assert "42 rows kept here until it is back" in label.toolTip()
    assert theme.WARNING_TEXT in label.styleSheet()
    assert "Server" not in window.header.device.text() and "<" not in label.text()
    qtbot.wait(50)
    assert window.header.patient_button.x() == button_at  # said without moving a button
    link.state = ReplicationStatus("chair_3@db/im", True, 0, 0.0, 1.0, None)
    qtbot.waitUntil(lambda: shown("server up to date"), timeout=5000)
    assert label.toolTip() == "Server chair_3@db/im: connected, up to date" and "#3ddc6a" in label.styleSheet()
    link.state = ReplicationStatus("chair_3@db/im", True, 1200, 30.0, 1.0, None)
    qtbot.waitUntil(lambda: shown("server: 1200 rows to send"), timeout=5000)
    assert theme.WARNING_TEXT in label.styleSheet()  # 30 s behind: the station's copy is out of date
    link.state = ReplicationStatus("chair_3@db/im", True, 0, 0.0, 1.0, None,
                                   warning="LOGIN SHARED: the login chair_3 is also used by Chair 4 on host-b")
    qtbot.waitUntil(lambda: shown("LOGIN SHARED with another chair"), timeout=5000)
    assert "used by Chair 4 on host-b" in label.toolTip() and theme.WARNING_TEXT in label.styleSheet()


def test_two_chairs_under_one_login_are_two_tiles_each_saying_so(qtbot: Any) -> None:
    """One login, two chair databases: a tile each, with its own patient and alarms, and the shared login named."""
    model, window = _station(qtbot, [100.0])
    first = _report("chair_1", "Chair 1", [])
    second = _report("chair_1", "Chair 4", [_alarm(3, 4990.0)])
    model.apply(ChairReport(first.chair, first.name, first.tile, "MRN001", None, origin="o1"))
    model.apply(ChairReport(second.chair, second.name, second.tile, "MRN004", None, origin="o4"))
    window.refresh()
    assert sorted(window.tiles) == ["chair_1/o1", "chair_1/o4"]
    one, four = window.tiles["chair_1/o1"], window.tiles["chair_1/o4"]
    assert "MRN001" in one.title.text() and "MRN004" in four.title.text()
    assert "SpO2 86 &lt; 90" in four.alarms.text() and "SpO2 86" not in one.alarms.text()
    assert "LOGIN chair_1 SHARED with Chair 4" in one.alarms.text()
    assert "LOGIN chair_1 SHARED with Chair 1" in four.alarms.text()
    assert "2 station alarms" in window.banner.text()


def test_two_chairs_under_one_name_are_told_apart_by_their_logins(qtbot: Any) -> None:
    """Two logins report as "Chair 1": each tile, banner line and station alarm names its login too."""
    model, window = _station(qtbot, [100.0], escalate_after_s=60.0)
    model.apply(_report("chair_1", "Chair 1", []))
    model.apply(_report("chair_4", "chair  1", [_alarm(3, 4900.0)]))  # spacing and case tell no chair apart
    model.apply(_report("chair_2", "Chair 2", []))
    window.refresh()
    one, four, two = (window.tiles[k] for k in ("chair_1", "chair_4", "chair_2"))
    assert one.title.text() == "Chair 1 (login chair_1) · MRN-chair_1"
    assert four.title.text() == "chair  1 (login chair_4) · MRN-chair_4"
    assert two.title.text() == "Chair 2 · MRN-chair_2"
    assert ("NAME Chair 1 ALSO USED by login chair_4: this tile is login chair_1; give each chair its own name"
            in one.alarms.text())
    assert "ALSO USED" not in two.alarms.text()
    said = sorted((a.condition, a.message) for a in model.station_alarms())
    assert [c for c, _ in said] == ["escalated", "name_shared", "name_shared"]
    assert said[0][1].startswith("chair  1 (login chair_4): SpO2 86 < 90 not acknowledged for ")


def test_what_a_chair_reports_is_shown_as_text_and_a_long_name_is_cut(qtbot: Any) -> None:
    """A patient field or chair name holding markup is drawn as it is written (it once drew false green vitals on
    the tile); a long chair name is cut on its one line, and no tile grows with it."""
    model, window = _station(qtbot, [100.0])
    window.resize(1920, 1080)
    window.show()
    markup = "MRN-7<br><font size=6 color=#4ade80>HR 72 SpO2 99</font>"
    plain = _report("chair_1", "Chair 1", [])
    model.apply(ChairReport(plain.chair, plain.name, plain.tile, markup, None))
    model.apply(_report("chair_2", "Chair 2 <img src='x'>", []))
    model.apply(_report("chair_3", "Chair 3", []))
    window.refresh()
    widths = {k: t.width() for k, t in window.tiles.items()}
    model.apply(_report("chair_3", "Chair 3 — Infusion suite B, window bay beside the nurses' desk", []))
    window.refresh()
    one, two, three = (window.tiles[k] for k in ("chair_1", "chair_2", "chair_3"))
    assert one.title.text() == f"Chair 1 · {markup}" and one.title.textFormat() is Qt.TextFormat.PlainText
    assert two.title.text().startswith("Chair 2 <img src='x'>")
    for label in (one.phase, one.nibp, one.due):
        assert label.textFormat() is Qt.TextFormat.PlainText
    assert three.title.is_elided() and {k: t.width() for k, t in window.tiles.items()} == widths


def test_the_station_needs_a_server_and_says_so(capsys: Any) -> None:
    from monitor.cli import main

    assert main(["station"]) != 0
    assert "the station needs --server URL" in capsys.readouterr().err


def test_a_chairs_chart_is_read_without_holding_up_the_station(
    qtbot: Any, clinic: Any, tmp_path: Any
) -> None:
    """From a server that accepts and never answers, and from the real one."""
    import socket

    from tests.monitor.replication.shipping import patient_at_two_chairs
    from ui.station_window import ChairTrendDialog

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        dialog = ChairTrendDialog(f"postgresql://reader@127.0.0.1:{port}/clinic", "s-1", "Chair 1")
        qtbot.addWidget(dialog)
        # The window got its dialog back while the read still waits for the server.
        assert dialog.reader is not None and dialog.reader.is_alive()
        assert dialog.note.text() == "Reading the last 30 minutes from the server…"
        qtbot.waitUntil(lambda: dialog.note.text().startswith("The chart cannot be read from the server: "),
                        timeout=20_000)
        dialog.reader.join(5)

    _, _, first, _ = patient_at_two_chairs(tmp_path, clinic.role("chair"), "MRN-204", (11, 12))
    chart = ChairTrendDialog(clinic.role("reader"), first, "Chair 1")
    qtbot.addWidget(chart)
    qtbot.waitUntil(lambda: chart.note.text().startswith("The last 30 minutes of the session"), timeout=20_000)
    hr = chart.curves["hr"].getData()[1]
    assert hr is not None and len(hr) > 10 and min(hr) > 30 and max(hr) < 200
    assert chart.reader is not None
    chart.reader.join(5)


def _clinic_of(qtbot: Any, chairs: int, alarmed: set[int], width: int, height: int) -> StationWindow:
    """A station of ``chairs`` chairs (those in ``alarmed`` with a high alarm) in a window of the given size."""
    from PySide6.QtWidgets import QApplication

    clock = [5000.0]
    model, window = _station(qtbot, clock)
    for number in range(1, chairs + 1):
        model.apply(_report(f"c{number}", f"Chair {number}", [_alarm(3, 4990.0)] if number in alarmed else []))
    window.resize(width, height)
    window.show()
    for _ in range(3):  # a tick or two of the station's timer: laid out, then the banner from the layout
        QApplication.processEvents()
        window.refresh()
    return window


def _place(window: StationWindow, name: str) -> tuple[int, int]:
    [tile] = [t for t in window.tiles.values() if t.view is not None and t.view.name == name]
    row, column, _rows, _columns = window.grid.getItemPosition(window.grid.indexOf(tile))
    return row, column


def test_at_1280_wide_every_tile_is_wholly_on_screen_in_the_clinics_order(qtbot: Any) -> None:
    """Found with sixteen chairs: four fixed columns made the station 1352 px wide, so on a 1280 screen the right
    column's SpO2 was cut off, and the tiles ran Chair 1, Chair 10, Chair 11 ... Chair 2."""
    window = _clinic_of(qtbot, 16, set(), 1280, 800)
    viewport = window.scroll.viewport().width()
    assert window.minimumSizeHint().width() <= 1280
    assert all(t.geometry().right() < viewport for t in window.tiles.values())
    assert window.columns() == 3
    assert [_place(window, f"Chair {n}") for n in (1, 2, 3, 4, 10)] == [(0, 0), (0, 1), (0, 2), (1, 0), (3, 0)]


def test_a_chair_out_of_view_with_an_alarm_is_named_in_the_banner_until_it_is_in_view(qtbot: Any) -> None:
    window = _clinic_of(qtbot, 24, {2, 23}, 1280, 800)
    banner = window.banner.text()
    assert "Chair 23 (out of view, scroll down)" in banner and "SpO2 86 &lt; 90" in banner
    assert "Chair 2 (" not in banner  # in view: its tile says it
    bar = window.scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    window.refresh()
    banner = window.banner.text()
    assert "Chair 23 (" not in banner
    assert "Chair 2 (out of view, scroll up)" in banner


def test_the_columns_stay_when_a_value_grows_to_three_digits(qtbot: Any) -> None:
    """The columns follow the window's width, not the values: a heart rate of 188 does not reflow the screen."""
    window = _clinic_of(qtbot, 10, set(), 1920, 1080)
    columns = window.columns()
    places = {name: _place(window, name) for name in ("Chair 1", "Chair 6", "Chair 10")}
    window.model.apply(_report("c1", "Chair 1", [], values={"hr": 188.0, "spo2": 100.0, "nibp_sys": 128.0,
                                                             "nibp_dia": 79.0, "nibp_mean": 95.0}))
    window.refresh()
    assert window.columns() == columns == 5
    assert {name: _place(window, name) for name in places} == places


def test_the_station_opens_no_larger_than_its_screen(qtbot: Any) -> None:
    """It opened 1400x900 whatever the screen: on a 1280x800 one its right column and its scroll bar were off it."""
    _model, window = _station(qtbot, [5000.0])
    free = window.screen().availableGeometry()
    assert window.width() <= free.width() and window.height() <= free.height()


def test_many_chairs_out_of_view_share_a_line_after_the_loudest_three(qtbot: Any) -> None:
    """The station lost sight of a whole bay: the banner names the loudest three and counts the rest on one line,
    rather than growing until it pushes every tile off the screen."""
    window = _clinic_of(qtbot, 30, set(range(16, 31)), 1280, 800)
    banner = window.banner.text()
    named = [n for n in range(16, 31) if f"Chair {n} (out of view" in banner]
    assert len(named) == 3
    assert "more chairs out of view need attention" in banner
    assert window.scroll.viewport().height() > 500  # the tiles keep the screen


def test_a_click_on_a_chair_out_of_view_scrolls_its_tile_into_view(qtbot: Any) -> None:
    import re

    window = _clinic_of(qtbot, 24, {23}, 1280, 800)
    [href] = re.findall(r"href='([^']+)'", window.banner.text())
    window.banner.linkActivated.emit(href)
    tile = window.tiles["c23"]
    bar = window.scroll.verticalScrollBar()
    visible = tile.geometry().translated(0, -bar.value())
    assert window.scroll.viewport().rect().contains(visible)
    assert "Chair 23 (" not in window.banner.text()


def test_the_phase_timer_says_what_the_chair_says_of_the_infusion(qtbot: Any) -> None:
    """An infusion stopped early, or paused, read as one running at the station ("infusion 41:10 / 40 min"), and
    a timer past an hour read as a time of day ("75:00")."""
    model, window = _station(qtbot, [100.0])
    cases = [
        ({"infusion_elapsed_s": 2470.0, "infusion_stopped": True}, "infusion stopped at 41:10"),
        ({"infusion_paused": True}, "infusion 12:34 of 40 min · PAUSED"),
        ({"infusion_elapsed_s": 4500.0, "infusion_plan_min": 90}, "infusion 1 h 15 min of 90 min"),
        ({"phase": "recovery", "recovery_remaining_s": 3900.0}, "recovery 1 h 05 min left"),
        ({"phase": "setup", "elapsed_s": 30.0}, "setup 00:30"),
    ]
    for extra, shown in cases:
        model.apply(_report("c1", "Chair 1", [], **extra))
        window.refresh()
        assert window.tiles["c1"].phase.text() == shown


def test_a_session_recording_unreported_is_a_tile_of_what_the_server_has(qtbot: Any) -> None:
    """A chair older than the server's schema records on while its status cannot reach the station: its session is a
    tile, alarmed, saying so; values grey with their age (they are the server's, not the chair's live ones)."""
    from monitor.replication.server_store import UnreportedSession

    clock = [100.0]
    model, window = _station(qtbot, clock)
    session = UnreportedSession("chair_9", "o9", "s9", "Chair 9", "MRN-909", "Ann Lee", "infusion", 1000.0, 1600.0,
                                3.0, {"hr": 71.0, "spo2": 96.0, "nibp_sys": 121.0}, {"hr": 1598.0, "spo2": 1598.0,
                                                                                    "nibp_sys": 1480.0})
    model.apply_unreported([session])
    clock[0] = 106.0
    window.refresh()
    [tile] = window.tiles.values()
    assert tile.title.text() == "Chair 9 · MRN-909"
    assert tile.phase.text() == "infusion (as the server holds it) · session 10:00"
    assert "HR 71" in tile.numerics.text() and "11 s old" in tile.numerics.text()
    assert tile.nibp.text().startswith("NIBP 121/---") and "2 min ago" in tile.nibp.text()
    assert ("RECORDING, but its live status does not reach this station — the chair's program is older than the "
            "server: update it. Shown: what the server has, heard from 9 s ago") in tile.alarms.text()
    assert "1 active chairs · 1 station alarms" in window.banner.text()
    assert model.sounding() is Priority.MEDIUM
