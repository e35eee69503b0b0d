"""tasks.py: the system-library check names every missing library and the one command that installs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tasks

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibQt6Gui.so.6 => /venv/PySide6/Qt/lib/libQt6Gui.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibfoo2.so.7 => not found
"""


def test_every_missing_library_is_named_once_with_its_package() -> None:
    missing = tasks.missing_from_ldd(LDD_OUTPUT)
    assert missing == ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libfoo2.so.7"]
    command = tasks.install_command([*missing, "libpulse.so.0"])
    assert command == ("sudo apt-get update && sudo apt-get install -y libfoo2-7 libpulse0 libxcb-cursor0 "
                       "libxcb-icccm4 libxcb-keysyms1")


def test_the_check_reads_the_real_qt_plugin() -> None:
    # Whatever this machine has, every name reported is a real library name with a package.
    for name in tasks.missing_system_libraries():
        assert ".so." in name and tasks.package_of(name)


def test_run_passes_options_after_a_double_dash(monkeypatch: Any, capsys: Any) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(tasks, "ensure_environment", lambda: None)
    monkeypatch.setattr(tasks.subprocess, "call", lambda command, cwd: calls.append(command) or 0)
    monkeypatch.setattr(tasks, "missing_system_libraries", lambda: [])
    assert tasks.main(["run", "--", "--scenario", "desaturation"]) == 0
    assert calls[-1][-5:] == ["gui", "--driver", "simulated", "--scenario", "desaturation"]
    # Not root: a missing window library stops with the exact command; a missing sound library only warns.
    asked: list[list[str]] = []
    monkeypatch.setattr(tasks, "apt_install", lambda packages, what: asked.append(packages) or "not root")
    monkeypatch.setattr(tasks, "missing_system_libraries", lambda: ["libxcb-icccm.so.4", "libpulse.so.0"])
    assert tasks.main(["run"]) == 1
    assert "sudo apt-get install -y libpulse0 libxcb-icccm4" in capsys.readouterr().out
    assert asked == [["libpulse0", "libxcb-icccm4"]]
    monkeypatch.setattr(tasks, "missing_system_libraries", lambda: ["libpulse.so.0"])
    assert tasks.main(["run"]) == 0
    assert "NO SOUND" in capsys.readouterr().out
    # As root they are installed first (on a new machine the window then opens at once).
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    monkeypatch.setattr(tasks, "missing_system_libraries", lambda: list(missing))
    monkeypatch.setattr(tasks, "apt_install", lambda packages, what: asked.append(packages) or missing.clear())
    calls.clear()
    assert tasks.main(["run"]) == 0
    assert asked[-1] == ["libxcb-icccm4", "libxcb-keysyms1"] and calls[-1][-3:] == ["gui", "--driver", "simulated"]


def test_help_lists_the_scenarios() -> None:
    root = Path(tasks.__file__).parent
    out = subprocess.run([sys.executable, "-m", "monitor.cli", "--help"], capture_output=True, text=True,
                         cwd=root, check=True).stdout
    assert "desaturation" in out and "hypertension" in out and "probe_off" in out


def _postgres_folder(root: Path, major: str, programs: tuple[str, ...] = ("postgres", "initdb")) -> Path:
    folder = root / major / "bin"
    folder.mkdir(parents=True)
    for program in programs:
        (folder / program).touch()
    return folder


def test_the_newest_complete_distribution_postgres_is_chosen(tmp_path: Path) -> None:
    assert tasks.system_postgres(tmp_path) is None
    _postgres_folder(tmp_path, "9")
    fifteen = _postgres_folder(tmp_path, "15")
    _postgres_folder(tmp_path, "17", ("psql",))  # a client only: no server to run
    assert tasks.system_postgres(tmp_path) == fifteen


def test_an_installed_postgres_is_used_without_apt(tmp_path: Path, monkeypatch: Any) -> None:
    found = _postgres_folder(tmp_path, "15")
    monkeypatch.setattr(tasks.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("apt ran")))
    assert tasks.ensure_tls_postgres(tmp_path) == found


def test_a_missing_postgres_is_installed_with_apt_and_a_failure_stops_ci(tmp_path: Path, monkeypatch: Any) -> None:
    commands: list[list[str]] = []
    outcome = {"install": 100}

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        commands.append(command)
        code = outcome["install"] if "install" in command else 0
        if "install" in command and code == 0:
            _postgres_folder(tmp_path, "15")
        return subprocess.CompletedProcess(command, code)

    monkeypatch.setattr(tasks.sys, "platform", "linux")
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(tasks.subprocess, "run", fake_run)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match="apt-get install exited 100"):
        tasks.ensure_tls_postgres(tmp_path)
    monkeypatch.delenv("CI")
    assert tasks.ensure_tls_postgres(tmp_path) is None  # outside CI the TLS tests skip instead
    assert commands[1] == ["/usr/bin/apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]
    outcome["install"] = 0
    assert tasks.ensure_tls_postgres(tmp_path) == tmp_path / "15" / "bin"


def test_a_missing_sound_library_is_installed_before_the_tests_and_a_failure_stops_ci(monkeypatch: Any) -> None:
    """On a new machine without PulseAudio's client library the alarm-sound test failed to import QtMultimedia: the
    library was installed by hand on the machine before."""
    commands: list[list[str]] = []
    have = {"libpulse.so.0": False}
    outcome = {"install": 100}

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        commands.append(command)
        code = outcome["install"] if "install" in command else 0
        if "install" in command and code == 0:
            have["libpulse.so.0"] = True
        return subprocess.CompletedProcess(command, code)

    monkeypatch.setattr(tasks, "missing_libraries", lambda names: [n for n in names if not have[n]])
    monkeypatch.setattr(tasks.sys, "platform", "linux")
    monkeypatch.setattr(tasks.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tasks.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(tasks.subprocess, "run", fake_run)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(SystemExit, match=r"libpulse.so.0 not found \(apt-get update exited 0, apt-get install exited "
                                         r"100\): the alarm-sound tests cannot run"):
        tasks.ensure_sound_library()
    assert commands[1] == ["/usr/bin/apt-get", "install", "-y", "-qq", "--no-install-recommends", "libpulse0"]
    monkeypatch.delenv("CI")
    tasks.ensure_sound_library()  # outside CI they skip instead
    outcome["install"] = 0
    tasks.ensure_sound_library()
    assert have["libpulse.so.0"]
    commands.clear()
    tasks.ensure_sound_library()  # present: apt-get is not asked again
    assert commands == []


def test_suites_take_their_workers_unless_the_options_name_them() -> None:
    assert tasks._workers(["-k", "nibp"], 2) == ["-n", "2"]
    assert tasks._workers(["-n", "0"], 2) == []
    assert tasks._workers(["-n4"], 10) == []
