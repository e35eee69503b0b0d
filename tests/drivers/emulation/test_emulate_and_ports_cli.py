"""The ``emulate`` and ``ports`` commands as a user runs them."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from drivers.transport.ports import PortInfo, available_ports
from monitor.cli import main
from monitor.store import Store
from tests.drivers.ptys import NullModem


def test_emulate_command_feeds_record_through_a_cable(null_modem: NullModem, tmp_path: Path) -> None:
    db = tmp_path / "emulated.db"
    emulate_out = io.StringIO()
    codes: list[int] = []

    def device() -> None:
        argv = [
            "emulate",
            "--protocol",
            "nonin",
            "--set",
            "format=8",
            "--port",
            null_modem.device_path,
            "--speed",
            "5",
            "--duration",
            "1.5",
            "--seed",
            "4",
        ]
        codes.append(main(argv, out=emulate_out))

    class Console(io.StringIO):
        def write(self, s: str) -> int:
            if s.startswith("session ") and not thread.is_alive() and not codes:
                thread.start()
            return super().write(s)

    thread = threading.Thread(target=device, name="emulate-command")
    console = Console()
    try:
        argv = [
            "record",
            "--driver",
            "nonin",
            "--set",
            "format=8",
            "--port",
            str(null_modem.host_link),
            "--db",
            str(db),
            "--duration",
            "2.5",
        ]
        assert main(argv, out=console) == 0
    finally:
        if thread.ident is not None:
            thread.join(10)
    assert codes == [0]
    assert emulate_out.getvalue().startswith("emulating nonin (format 8) on ")
    sent = int(emulate_out.getvalue().split("sent ")[1].split(" frames")[0])
    assert sent >= 5
    with Store(db) as store:
        session = store.sessions()[0]
        # Two numerics a record; the first record waits for the second to confirm the alignment.
        assert store.reading_count(session.id) >= 2 * (sent - 1)
    assert " bad 0 " in console.getvalue().splitlines()[-2]


def test_emulate_on_a_new_pty_says_where_to_connect() -> None:
    out = io.StringIO()
    assert main(["emulate", "--protocol", "masimo-ascii", "--port", "pty", "--duration", "0.3"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("emulating masimo-ascii on /dev/")
    assert lines[1].startswith("connect with: infusion-monitor record --driver masimo-ascii --port /dev/")
    assert lines[-1].startswith("sent 1 frames")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--protocol", "philips", "--port", "pty"], "no emulated device for 'philips'"),
        (["--protocol", "nonin", "--port", "pty", "--set", "format=5"], "format=5"),
        (["--protocol", "nonin", "--port", "pty", "--scenario", "moon"], "unknown scenario 'moon'"),
        (["--protocol", "nonin", "--port", "pty", "--speed", "max"], "finite speed"),
        (["--protocol", "nonin", "--port", "/dev/no-such-tty"], "cannot open /dev/no-such-tty"),
        (["--protocol", "hl7-mllp", "--port", "127.0.0.1:2575", "--speed", "10"], "runs in real time"),
        (["--protocol", "hl7-mllp", "--port", "127.0.0.1:2575", "--set", "family=x"], "family='x'"),
        (["--protocol", "hl7-mllp", "--port", "host:port"], "is not HOST:PORT"),
    ],
)
def test_emulate_errors_are_one_clear_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", *argv], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_ports_lists_what_pyserial_sees() -> None:
    out = io.StringIO()
    assert main(["ports", "--json"], out=out) == 0
    listed = json.loads(out.getvalue())
    assert listed == [{"device": p.device, "description": p.description, "hwid": p.hwid, "stable": p.stable}
                      for p in available_ports()]
    assert all(isinstance(p, PortInfo) for p in available_ports())


def test_ports_without_any_port_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [])
    out = io.StringIO()
    assert main(["ports"], out=out) == 0
    assert out.getvalue().startswith("no serial ports found")


def test_record_with_a_port_that_does_not_exist_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["record", "--driver", "masimo-ascii", "--port", "/dev/no-such-tty", "--db", str(tmp_path / "x.db")]
    assert main(argv, out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert "cannot open masimo-ascii" in err
    assert "Traceback" not in err
