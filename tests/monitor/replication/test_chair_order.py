"""The station lists chairs as the clinic counts them: "Chair 2" before "Chair 10".

Found with sixteen chairs on the station: the tiles ran Chair 1, Chair 10, Chair 11 ... Chair 16, Chair 2, so a
nurse looking for chair 2 found it in the third row.
"""

from __future__ import annotations

import pytest

from monitor.replication.live import parse_tile
from monitor.station import ChairReport, StationModel, chair_order


@pytest.mark.parametrize(("names", "order"), [
    (["Chair 10", "Chair 2", "Chair 1"], ["Chair 1", "Chair 2", "Chair 10"]),
    (["chair 3", "Chair 20", "CHAIR 4"], ["chair 3", "CHAIR 4", "Chair 20"]),
    (["Bay 2 chair 10", "Bay 2 chair 9", "Bay 10 chair 1", "Bay 1 chair 12"],
     ["Bay 1 chair 12", "Bay 2 chair 9", "Bay 2 chair 10", "Bay 10 chair 1"]),
    (["Recliner", "Chair 2a", "Chair 2", "Annex"], ["Annex", "Chair 2", "Chair 2a", "Recliner"]),
])
def test_chair_names_sort_as_they_are_counted(names: list[str], order: list[str]) -> None:
    assert sorted(names, key=chair_order) == order


def _report(key: str, name: str) -> ChairReport:
    tile = parse_tile({"active": True, "session_id": f"s-{key}", "now": 5000.0, "phase": "infusion",
                       "values": {"hr": 70.0}, "alarms": []})
    return ChairReport(key, name, tile, None, None)


def test_the_station_gives_its_chairs_in_that_order() -> None:
    model = StationModel(clock=lambda: 5001.0)
    for number in (16, 2, 10, 1, 3):
        model.apply(_report(f"c{number}", f"Chair {number}"))
    assert [v.name for v in model.views()] == ["Chair 1", "Chair 2", "Chair 3", "Chair 10", "Chair 16"]
