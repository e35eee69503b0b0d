"""A window that cannot open says why in a window, not only on standard error.

Found under Xvfb with openbox: ``infusion-monitor gui`` on a database whose disk was full printed its reason on
standard error and showed nothing, which from a desktop launcher is a chair program that silently did not start.
The disk here is a real full tmpfs; the message box is caught as it would be shown on a real display.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QMessageBox

from monitor.app.errors import AppError
from monitor.cli import main
from monitor.store import Store, StoreError
from tests.faults.helpers import fill, small_disk
from ui import start_errors


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch, qapp: Any) -> list[tuple[str, str]]:
    """The message boxes a real display would have shown (title, text), answered at once."""
    boxes: list[tuple[str, str]] = []

    def answered(box: QMessageBox) -> int:
        boxes.append((box.windowTitle(), box.text()))
        return int(QMessageBox.StandardButton.Ok)

    monkeypatch.setattr(start_errors.QGuiApplication, "platformName", staticmethod(lambda: "xcb"))
    monkeypatch.setattr(QMessageBox, "exec", answered)
    return boxes


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "small-disk", "3m") as folder:
        yield folder


def test_the_chair_program_on_a_full_disk_says_so_in_a_window(
    full_disk: Path, shown: list[tuple[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db_path = full_disk / "monitor.db"
    with Store(db_path) as store:
        store.create_session(started_at=1_790_000_000.0, patient_id=None, driver="simulated", port=None, plan="")
    fill(full_disk)
    assert main(["gui", "--db", str(db_path), "--nurse", "RN"]) == 1
    [(title, text)] = shown
    assert title == "Infusion Monitor cannot start"
    assert "full" in text and "free space there" in text
    assert "bedside monitor" in text  # what the refusal means at the chair
    assert "full" in capsys.readouterr().err  # and still on standard error, one line


@pytest.mark.parametrize(("name", "error"), [("station", AppError("the station needs --server URL")),
                                             ("review", StoreError("cannot open /x/monitor.db: not a database"))])
def test_every_window_says_why_it_did_not_open(
    name: str, error: Exception, shown: list[tuple[str, str]]
) -> None:
    def refuses(_args: argparse.Namespace) -> int:
        raise error

    with pytest.raises(AppError, match=str(error)):
        start_errors.errors_in_a_window(name)(refuses)(argparse.Namespace())
    [(_title, text)] = shown
    assert text.startswith(str(error)) and start_errors.MEANING[name] in text


def test_no_box_is_shown_where_nobody_could_close_it(qapp: Any) -> None:
    """The offscreen platform (tests, a machine without a screen): standard error only."""
    assert start_errors.show_start_error("gui", "the disk is full") is None


def test_a_refusal_on_a_terminal_without_a_display_is_one_line_not_an_abort(tmp_path: Path) -> None:
    """The station refuses before it opens a window (no server given); with no display to show a box on, Qt must
    not be asked for one: it would abort the process instead of the one-line refusal."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "INFUSION_MONITOR_SERVER")}
    env["HOME"] = str(tmp_path)
    run = subprocess.run([sys.executable, "-m", "monitor.cli", "station"], capture_output=True, text=True,
                         timeout=60, env=env, check=False)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip() == "infusion-monitor: error: the station needs --server URL (or INFUSION_MONITOR_SERVER)"
