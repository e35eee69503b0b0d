"""A clinic protocol is found by the name it gives itself, as `infusion-monitor protocols` lists it; two files
giving the same name are refused, naming both, rather than one of them used without a word."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.protocols import ProtocolError, available, load_protocol, shipped_text


def _folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, tuple[str, int]]) -> Path:
    folder = tmp_path / "protocols"
    folder.mkdir()
    for file_name, (name, infusion_min) in files.items():
        text = shipped_text("ketamine-iv").replace('name = "ketamine-iv"', f'name = "{name}"', 1)
        text = text.replace("planned_min = 40", f"planned_min = {infusion_min}", 1)
        (folder / file_name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("INFUSION_MONITOR_PROTOCOLS", str(folder))
    return folder


def test_a_protocol_listed_by_its_name_is_loaded_by_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path, monkeypatch, {"north-2026.toml": ("north-iv", 45)})
    assert "north-iv" in available()
    assert load_protocol("north-iv").name == "north-iv"


def test_two_files_with_one_name_are_refused_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _folder(tmp_path, monkeypatch, {"north.toml": ("north-iv", 45), "north-old.toml": ("north-iv", 40)})
    with pytest.raises(ProtocolError, match=r"north-old\.toml.*north\.toml|north\.toml.*north-old\.toml"):
        load_protocol("north-iv")
    assert "north-iv" not in available()
