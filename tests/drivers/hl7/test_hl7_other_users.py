"""The HL7 listener on loopback takes no program of another user of this computer, and names the user whose
program took its port first (Linux)."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from drivers.hl7.listener import Hl7MllpSource, Hl7Settings
from drivers.settings import SettingsError
from drivers.transport import local_peer
from drivers.transport.mllp import frame
from monitor.app.device import DeviceSpec, PortInUse, open_device

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the socket table is Linux's")
OTHER_USER = "nobody"
STAMP = "20231114221320+0000"

ORU = "\r".join([
    f"MSH|^~\\&|PIIC|PHILIPS|IM|CLINIC|{STAMP}||ORU^R01^ORU_R01|M1|P|2.6",
    "PID|||MRN123^^^H^MR",
    f"OBR|1|||x|||{STAMP}",
    f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||70|%|||||F|||{STAMP}",
]) + "\r"

#: Run as the other user: send one message and print the first bytes of the answer, or "closed".
SENDER = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(bytes.fromhex(sys.argv[2]))
try:
    print(s.recv(65536).decode(errors="replace").replace("\\r", " ") or "closed")
except ConnectionResetError:
    print("closed")
"""


#: Run as the other user: listen on loopback, print the port and hold it until told to stop (stdin closed).
SQUATTER = """
import socket, sys
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
sys.stdin.read()
"""
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="starting a program as another user needs root")


def _as_other_user(port: int) -> str:
    """What the listener answered a message sent by a program of :data:`OTHER_USER`."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", SENDER, str(port), frame(ORU).hex()],
        user=OTHER_USER, capture_output=True, text=True, timeout=60, check=True, cwd="/",
    )
    return done.stdout.strip()


def _received(source: Hl7MllpSource, within_s: float = 5.0) -> list[float | None]:
    values: list[float | None] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not values:
        values += [r.value for r in source.read(0.1)]
    return values


@linux_only
@pytest.mark.skipif(os.geteuid() != 0, reason="starting a program as another user needs root")
@pytest.mark.parametrize("allowed", [False, True])
def test_a_program_of_another_user_is_refused_unless_allowed(allowed: bool) -> None:
    settings = Hl7Settings.from_options("127.0.0.1:0", {"allow_users": OTHER_USER} if allowed else {})
    source = Hl7MllpSource(settings)
    source.open()
    try:
        answer = _as_other_user(source.address[1])
        if allowed:
            assert "MSA|AA" in answer
            assert _received(source) == [70.0]
        else:
            # Its SpO2 70 would have been stored and alarmed on as the patient's.
            assert answer == "closed"
            assert _received(source, within_s=1.0) == []
            refused = [e for e in source.take_link_events() if e.condition == "hl7_connection_refused"]
            assert refused and f"uid {pwd.getpwnam(OTHER_USER).pw_uid}" in refused[0].detail
        # The recording's own user is served as before.
        with socket.create_connection(source.address, timeout=10) as own:
            own.sendall(frame(ORU.replace("|M1|", "|M2|")))
            assert b"MSA|AA" in own.recv(65536)
    finally:
        source.close()


@linux_only
@pytest.mark.parametrize("netlink", [True, False])
def test_the_owner_of_a_connection_is_found_and_a_closed_one_has_none(
    netlink: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not netlink:  # where netlink cannot be asked (a sandbox), the tables in /proc/net are read
        monkeypatch.setattr(local_peer, "_asked", lambda *_: None)
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname()[:2])
        accepted, peer = server.accept()
        with accepted:
            own = accepted.getsockname()[:2]
            assert local_peer.peer_owner(peer[:2], own) == local_peer.PeerOwner(True, os.getuid())
            assert local_peer.refusal(accepted, peer[:2], frozenset({os.getuid()})) == ""
            client.close()
            # Closed by its program, the socket is listed without an owner (as uid 0): never taken for root's.
            assert local_peer.peer_owner(peer[:2], own) == local_peer.PeerOwner(True, None)
            assert "cannot be told" in local_peer.refusal(accepted, peer[:2], frozenset({0, os.getuid()}))


def test_an_unknown_user_is_refused_as_a_setting() -> None:
    with pytest.raises(SettingsError, match="allow_users: 'no-such-user-here' is not a user"):
        Hl7Settings.from_options("127.0.0.1:0", {"allow_users": "no-such-user-here"})


def _no_netlink(_port: int) -> list[tuple[local_peer.Address, int]]:
    """Where netlink cannot be asked (a sandbox): the tables in /proc/net are read."""
    raise OSError("netlink cannot be asked here")


@pytest.fixture
def taken_by_other_user() -> Iterator[int]:
    """A loopback port a program of :data:`OTHER_USER` listens on (took first, while the monitor did not)."""
    with subprocess.Popen(["runuser", "-u", OTHER_USER, "--", sys.executable, "-I", "-c", SQUATTER],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/") as squatter:
        assert squatter.stdin is not None and squatter.stdout is not None
        try:
            port = squatter.stdout.readline().strip()
            assert port.isdigit(), f"the other user's program did not listen (exit {squatter.poll()})"
            yield int(port)
        finally:
            squatter.stdin.close()
            squatter.wait(timeout=60)


@linux_only
@as_root
@pytest.mark.parametrize("netlink", [True, False])
@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_port_another_user_took_first_is_refused_naming_that_user(
    taken_by_other_user: int, host: str, netlink: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not netlink:
        monkeypatch.setattr(local_peer, "_diag_listening", _no_netlink)
    other = pwd.getpwnam(OTHER_USER)
    address = f"{host}:{taken_by_other_user}"
    with pytest.raises(PortInUse) as refused:
        open_device(DeviceSpec(driver="hl7-mllp", port=address, settings={"allow_from": "10.0.4.17"}))
    assert str(refused.value) == (
        f"cannot open hl7-mllp: a program of another user of this computer, {OTHER_USER} (uid {other.pw_uid}), "
        f"already listens on {address}. It would receive the messages sent there, patient IDs included. Have that "
        "program stopped (by its user or root), then start again. To keep other users off this port: a port below "
        "1024 (only root may listen on those), or a firewall rule by owner (README, HL7)")
    assert refused.value.other_user == local_peer.OtherUser(other.pw_uid, OTHER_USER)


@linux_only
@pytest.mark.parametrize("netlink", [True, False])
def test_the_owner_of_a_listening_socket_is_found_at_its_address_or_every_address(
    netlink: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not netlink:
        monkeypatch.setattr(local_peer, "_diag_listening", _no_netlink)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert local_peer.listening_owners("127.0.0.1", port) == {os.getuid()}
        assert local_peer.listening_owners("0.0.0.0", port) == {os.getuid()}
        assert local_peer.listening_owners("::ffff:127.0.0.1", port) == {os.getuid()}
        assert local_peer.listening_owners("localhost", port) == {os.getuid()}
        assert local_peer.listening_owners("127.0.0.2", port) == frozenset()
        # This user's own program: nobody else's to name (the refusal stays "another program").
        assert local_peer.other_user_listening("127.0.0.1", port) is None
