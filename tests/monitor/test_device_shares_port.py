"""Which device changes need the running device to let go of its port first, and what a refusal by this
recording's own hold on a port says."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.app.device import DeviceSpec, PortInUse, open_device, shares_port

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs POSIX pseudo-terminals")


@pytest.fixture
def pty_path() -> Iterator[str]:
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_the_same_serial_port_under_another_name_is_shared(pty_path: str, tmp_path: Path) -> None:
    by_name = tmp_path / "ttyOXIMETER"
    by_name.symlink_to(pty_path)
    running = DeviceSpec(driver="nonin", port=str(by_name), settings={"format": "2"})
    assert shares_port(running, DeviceSpec(driver="nonin", port=pty_path, settings={"format": "8"}))
    assert shares_port(running, DeviceSpec(driver="masimo-ascii", port=pty_path))
    assert shares_port(running, DeviceSpec(driver="nonin", port="socket://10.0.4.20:4001")) is False
    assert shares_port(DeviceSpec(driver="nonin", port="socket://10.0.4.20:4001"),
                       DeviceSpec(driver="masimo-ascii", port="socket://10.0.4.20:4001"))
    assert shares_port(DeviceSpec(driver="nonin", port="loop://"), DeviceSpec(driver="nonin", port="loop://")) is False
    assert shares_port(DeviceSpec(driver="simulated"), DeviceSpec(driver="simulated", scenario="hypertension")) is False


def test_an_hl7_listener_shares_its_tcp_port_whatever_the_address() -> None:
    running = DeviceSpec(driver="hl7-mllp", port="127.0.0.1:2575")
    assert shares_port(running, DeviceSpec(driver="hl7-mllp", port=None, settings={"idle_timeout": "60"}))
    assert shares_port(running, DeviceSpec(driver="hl7-mllp", port="0.0.0.0:2575"))
    assert shares_port(running, DeviceSpec(driver="hl7-mllp", port="127.0.0.1:2576")) is False
    assert shares_port(DeviceSpec(driver="hl7-mllp", port="127.0.0.1:0"),
                       DeviceSpec(driver="hl7-mllp", port="127.0.0.1:0")) is False


def test_a_port_this_program_holds_is_never_said_to_be_another_programs(pty_path: str) -> None:
    held = open_device(DeviceSpec(driver="masimo-ascii", port=pty_path))
    try:
        with pytest.raises(PortInUse) as refused:
            open_device(DeviceSpec(driver="nonin", port=pty_path))
    finally:
        held.source.close()
    said = str(refused.value)
    assert refused.value.pid == os.getpid()
    assert "another program" not in said and "end that program" not in said
    assert f"{pty_path} is this recording's own port" in said
