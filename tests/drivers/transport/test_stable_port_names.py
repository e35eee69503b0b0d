"""Ports are listed with the name udev keeps for them across replugs (``/dev/serial/by-id``, ``by-path``).

An adapter pulled out while its port is open and put back before the program let go comes back as another
``ttyUSB`` number; a recording set to the old number waits for it for good. The stable name follows it: the
link opens the name afresh at each reconnection, which the serial fault test shows with a link re-pointed to a
fresh pty at every replug (``tests/faults/test_serial_faults.py``, ``NullModem.replug``).

The folders here are real folders of symlinks to real ptys, laid out as udev lays out ``/dev/serial``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from drivers.transport import ports
from drivers.transport.ports import available_ports, stable_name
from monitor.cli import main
from tests.drivers.ptys import PtyEnd

ADAPTER = "usb-FTDI_FT232R_USB_UART_A10K3XQ2-if00-port0"


@pytest.fixture
def adapter(tmp_path: Path) -> Iterator[tuple[PtyEnd, Path, Path]]:
    """A pty standing for the adapter's device, and by-id / by-path folders whose links point at it."""
    end = PtyEnd()
    by_id, by_path = tmp_path / "by-id", tmp_path / "by-path"
    by_id.mkdir()
    by_path.mkdir()
    (by_path / "pci-0000:00:14.0-usb-0:2:1.0-port0").symlink_to(end.path)
    (by_id / ADAPTER).symlink_to(end.path)
    other = PtyEnd()
    (by_id / "usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0").symlink_to(other.path)
    yield end, by_id, by_path
    end.close()
    other.close()


def test_the_name_by_the_adapters_serial_number_comes_first(adapter: tuple[PtyEnd, Path, Path]) -> None:
    end, by_id, by_path = adapter
    assert stable_name(end.path, [str(by_id), str(by_path)]) == str(by_id / ADAPTER)
    assert stable_name(end.path, [str(by_path)]) == str(by_path / "pci-0000:00:14.0-usb-0:2:1.0-port0")
    assert stable_name(end.path, [str(by_id.parent / "missing"), str(by_id)]) == str(by_id / ADAPTER)
    assert stable_name("/dev/null", [str(by_id), str(by_path)]) == ""


def test_the_ports_command_shows_the_stable_name_and_says_why(
    adapter: tuple[PtyEnd, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serial.tools import list_ports

    end, by_id, by_path = adapter
    found = [SimpleNamespace(device=end.path, description="FT232R USB UART",
                             hwid="USB VID:PID=0403:6001 SER=A10K3XQ2 LOCATION=1-2:1.0")]
    monkeypatch.setattr(list_ports, "comports", lambda: found)
    monkeypatch.setattr(ports, "STABLE_FOLDERS", (str(by_id), str(by_path)))
    [port] = available_ports()
    assert (port.device, port.stable, port.name) == (end.path, str(by_id / ADAPTER), str(by_id / ADAPTER))
    out = io.StringIO()
    assert main(["ports"], out=out) == 0
    text = out.getvalue()
    assert f"stable name: {by_id / ADAPTER}" in text
    assert "another ttyUSB number" in text


def test_a_port_the_system_keeps_no_stable_name_for_is_set_by_its_device(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from serial.tools import list_ports

    end = PtyEnd()
    try:
        monkeypatch.setattr(list_ports, "comports", lambda: [SimpleNamespace(device=end.path, description="pty",
                                                                            hwid="n/a")])
        monkeypatch.setattr(ports, "STABLE_FOLDERS", (str(tmp_path / "by-id"),))
        [port] = available_ports()
        assert (port.stable, port.name) == ("", end.path)
        out = io.StringIO()
        assert main(["ports"], out=out) == 0
        assert "stable name" not in out.getvalue()
    finally:
        end.close()


def test_the_settings_dialog_offers_the_stable_name(
    adapter: tuple[PtyEnd, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from serial.tools import list_ports

    from ui.settings_dialog import available_port_names

    end, by_id, by_path = adapter
    monkeypatch.setattr(list_ports, "comports", lambda: [SimpleNamespace(device=end.path,
                                                                        description="FT232R USB UART", hwid="")])
    monkeypatch.setattr(ports, "STABLE_FOLDERS", (str(by_id), str(by_path)))
    assert available_port_names() == [(str(by_id / ADAPTER), f"FT232R USB UART ({end.path})")]
