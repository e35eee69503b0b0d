"""Which user of this computer holds the other end of a TCP connection, where the system tells (Linux).

A listener on loopback is reached only from this computer, but from every account on it: another user
could send a monitor's messages as well as the gateway can. Linux tells who owns a TCP socket of the
network namespace: asked over netlink (``sock_diag``, as ``ss`` does) for the one socket whose address is
the connection's peer and whose peer is the connection's own address, or, where netlink cannot be used,
in ``/proc/net/tcp`` and ``/proc/net/tcp6``. The listener takes only the users it allows. A socket its
program has already closed is told without an owner (uid 0, inode 0) and counts as unknown, never as root's.
Netlink answered in 0.024 ms; reading the tables took 8 ms with 107 sockets listed, more with every socket
open, which a flood of connections would spend on the listener's thread.

The same lookup tells who listens on an address the listener could not bind: while nothing listens on its port
(before a recording, between two), a program of another user may bind it first and would receive what the
gateway sends there. :class:`TakenByOtherUser` names that user.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

TABLES: Final = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
#: The users whose programs on this computer may always connect: the one listening, and root (who can read
#: everything the listener's user can anyway).
ROOT_UID: Final = 0
#: An address with its port.
Address = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


@dataclass(frozen=True, slots=True)
class PeerOwner:
    """What the socket table says of a connection's sender: ``local`` when its socket is on this computer,
    ``uid`` its owner (None: listed without one, its program closed it)."""

    local: bool
    uid: int | None = None


def _address(text: str) -> Address:
    """An address of ``/proc/net/tcp*`` (hex, each 32-bit word in this machine's byte order) with its port."""
    host, _, port = text.partition(":")
    raw = bytes.fromhex(host)
    packed = b"".join(int.from_bytes(raw[i:i + 4], "big").to_bytes(4, sys.byteorder) for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(packed)
    return _plain(address), int(port, 16)


def _plain(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 address mapped into IPv6 (a dual-stack socket's view) as the IPv4 address itself."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


#: netlink's socket diagnostics: protocol, request type, request flags (one socket; all of them), the answer's
#: types (an error; the end of a dump) and flag (one of many), "any state", "no cookie".
NETLINK_SOCK_DIAG: Final = 4
SOCK_DIAG_BY_FAMILY: Final = 20
NLM_F_REQUEST: Final = 1
NLM_F_DUMP: Final = 0x300
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
NLM_F_MULTI: Final = 2
ALL_STATES: Final = 0xFFFFFFFF
NO_COOKIE: Final = 0xFFFFFFFF
#: TCP's listening state: the kernel's number for it, and as ``/proc/net/tcp*`` write it.
TCP_LISTEN: Final = 10
LISTEN_IN_TABLES: Final = "0A"
#: Where uid and inode lie in the answer: after its 16-byte header, an inet_diag_msg's family, state, timer and
#: retransmits (4 bytes), its socket id (48) and expires, rqueue and wqueue (12).
_UID_AT: Final = 16 + 4 + 48 + 12
#: Where the socket id's own port and address lie in the answer (after the header and those first 4 bytes).
_SPORT_AT: Final = 16 + 4
_SOURCE_AT: Final = _SPORT_AT + 4


def _sock_id(source: bytes, sport: int, destination: bytes, dport: int) -> bytes:
    """An inet_diag_sockid: ports, addresses (16 bytes each), any interface, no cookie."""
    return (struct.pack(">HH", sport, dport) + source.ljust(16, b"\0") + destination.ljust(16, b"\0")
            + struct.pack("=III", 0, NO_COOKIE, NO_COOKIE))


def _diag_answers(family: int, states: int, sock_id: bytes, flags: int) -> list[bytes]:
    """The kernel's answers (each message with its header) to a sock_diag request for TCP sockets of ``family``
    in ``states`` (OSError where it cannot be asked); a dump's end is not among them."""
    request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, states) + sock_id
    answers: list[bytes] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as link:
        link.settimeout(2.0)
        link.send(struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, flags, 1, 0) + request)
        while True:
            answer = link.recv(65536)
            if len(answer) < 16:
                raise OSError("short netlink answer")
            at = 0
            while at + 16 <= len(answer):
                length, kind, answer_flags = struct.unpack_from("=IHH", answer, at)
                if kind == NLMSG_DONE:
                    return answers
                if length < 16:
                    raise OSError("bad netlink answer")
                answers.append(answer[at:at + length])
                if not answer_flags & NLM_F_MULTI:
                    return answers
                at += (length + 3) & ~3


def _diag_lookup(family: int, source: bytes, sport: int, destination: bytes, dport: int) -> PeerOwner:
    """The TCP socket of ``family`` at ``source``:``sport`` connected to ``destination``:``dport``, asked of the
    kernel over netlink (OSError where it cannot be asked)."""
    for answer in _diag_answers(family, ALL_STATES, _sock_id(source, sport, destination, dport), NLM_F_REQUEST):
        if struct.unpack_from("=H", answer, 4)[0] == NLMSG_ERROR:
            return PeerOwner(False)  # no such socket here
        if len(answer) < _UID_AT + 8:
            raise OSError("short netlink answer")
        uid, inode = struct.unpack_from("=II", answer, _UID_AT)
        return PeerOwner(True, uid if inode else None)
    raise OSError("no netlink answer")


def _asked(peer: Address, own: Address) -> PeerOwner | None:
    """The sending socket as netlink tells it (an IPv4 sender's socket may be IPv6, holding mapped addresses);
    None where netlink cannot be asked."""
    if not hasattr(socket, "AF_NETLINK"):
        return None
    forms: list[tuple[int, bytes, bytes]] = []
    if peer[0].version == 4 and own[0].version == 4:
        forms.append((socket.AF_INET, peer[0].packed, own[0].packed))
        forms.append((socket.AF_INET6, ipaddress.IPv6Address(b"\0" * 10 + b"\xff" * 2 + peer[0].packed).packed,
                      ipaddress.IPv6Address(b"\0" * 10 + b"\xff" * 2 + own[0].packed).packed))
    elif peer[0].version == 6 and own[0].version == 6:
        forms.append((socket.AF_INET6, peer[0].packed, own[0].packed))
    try:
        for family, source, destination in forms:
            found = _diag_lookup(family, source, peer[1], destination, own[1])
            if found.local:
                return found
    except OSError:
        return None
    return PeerOwner(False)


def peer_owner(peer: tuple[str, int], own: tuple[str, int], tables: Iterable[Path] = TABLES) -> PeerOwner | None:
    """Who holds the sending end of the connection from ``peer`` to ``own`` (host, port pairs as the socket gives
    them); None where the system tells nothing (not Linux)."""
    wanted = ((_plain(ipaddress.ip_address(peer[0].partition("%")[0])), peer[1]),
              (_plain(ipaddress.ip_address(own[0].partition("%")[0])), own[1]))
    asked = _asked(*wanted)
    if asked is not None:
        return asked
    return _in_tables(wanted, tables)


@dataclass(frozen=True, slots=True)
class _Row:
    """One socket as ``/proc/net/tcp*`` list it."""

    own: Address
    peer: Address
    state: str
    uid: int
    inode: int


def _table_rows(tables: Iterable[Path]) -> list[_Row] | None:
    """Every socket ``tables`` list; None where no table can be read."""
    readable = False
    rows: list[_Row] = []
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii", errors="replace").splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            try:
                rows.append(_Row(_address(fields[1]), _address(fields[2]), fields[3], int(fields[7]), int(fields[9])))
            except ValueError:
                continue
    return rows if readable else None


def _in_tables(wanted: tuple[Address, Address], tables: Iterable[Path]) -> PeerOwner | None:
    """The sending socket as ``/proc/net/tcp*`` list it; None where no table can be read."""
    rows = _table_rows(tables)
    if rows is None:
        return None
    for row in rows:
        if (row.own, row.peer) == wanted:
            return PeerOwner(True, row.uid if row.inode else None)
    return PeerOwner(False)


def _diag_listening(port: int) -> list[tuple[Address, int]]:
    """The sockets listening on TCP ``port`` (any address, IPv4 and IPv6) with their owners, asked of the kernel
    over netlink (OSError where it cannot be asked)."""
    found: list[tuple[Address, int]] = []
    for family, size in ((socket.AF_INET, 4), (socket.AF_INET6, 16)):
        for answer in _diag_answers(family, 1 << TCP_LISTEN, _sock_id(b"", port, b"", 0),
                                    NLM_F_REQUEST | NLM_F_DUMP):
            if struct.unpack_from("=H", answer, 4)[0] == NLMSG_ERROR or len(answer) < _UID_AT + 8:
                raise OSError("netlink refused the list of listening sockets")
            uid, inode = struct.unpack_from("=II", answer, _UID_AT)
            if inode:  # one without an inode is being closed, and has no owner to name
                address = _plain(ipaddress.ip_address(answer[_SOURCE_AT:_SOURCE_AT + size]))
                found.append(((address, struct.unpack_from(">H", answer, _SPORT_AT)[0]), uid))
    return found


def listening_owners(host: str, port: int, tables: Iterable[Path] = TABLES) -> frozenset[int] | None:
    """The users whose programs listen on TCP ``host``:``port``, or on every address at that port (and, for
    ``host`` itself every address, on any one): the sockets that keep a listener from binding there. None where
    the system tells nothing (not Linux)."""
    try:
        wanted = _plain(ipaddress.ip_address(host.partition("%")[0]))
    except ValueError:  # a name, which bind() looked up as an IPv4 address
        try:
            wanted = ipaddress.ip_address(socket.gethostbyname(host))
        except OSError:
            return None
    listening: list[tuple[Address, int]] | None = None
    if hasattr(socket, "AF_NETLINK"):
        try:
            listening = _diag_listening(port)
        except OSError:
            listening = None
    if listening is None:
        rows = _table_rows(tables)
        if rows is None:
            return None
        listening = [(row.own, row.uid) for row in rows if row.state == LISTEN_IN_TABLES and row.inode]
    return frozenset(uid for (address, at), uid in listening
                     if at == port and (address == wanted or address.is_unspecified or wanted.is_unspecified))


@dataclass(frozen=True, slots=True)
class OtherUser:
    """A user of this computer other than the one this program runs as: ``name`` is "" without an account."""

    uid: int
    name: str

    def __str__(self) -> str:
        return f"{self.name} (uid {self.uid})" if self.name else f"uid {self.uid}"


def other_user_listening(host: str, port: int, tables: Iterable[Path] = TABLES) -> OtherUser | None:
    """Another user of this computer whose program listens where ``host``:``port`` could not be bound; None when
    every program listening there is this user's, or the system does not tell."""
    if not hasattr(os, "getuid"):
        return None
    others = sorted((listening_owners(host, port, tables) or frozenset()) - {os.getuid()})
    if not others:
        return None
    try:
        import pwd

        return OtherUser(others[0], pwd.getpwuid(others[0]).pw_name)
    except (ImportError, KeyError):
        return OtherUser(others[0], "")


class TakenByOtherUser(OSError):
    """``bind()`` refused an address (EADDRINUSE) a program of another user of this computer listens on."""

    def __init__(self, host: str, port: int, user: OtherUser) -> None:
        super().__init__(errno.EADDRINUSE, f"{host}:{port} is listened on by a program of another user ({user})")
        self.user = user


def allowed_uids(users: Iterable[str]) -> frozenset[int]:
    """The listener's own user, root and ``users`` (names of this computer's accounts; ValueError naming one that
    does not exist)."""
    uids = {ROOT_UID}
    if hasattr(os, "getuid"):
        uids.add(os.getuid())
    for name in users:
        try:
            import pwd

            uids.add(pwd.getpwnam(name).pw_uid)
        except (ImportError, KeyError):
            raise ValueError(f"'{name}' is not a user of this computer") from None
    return frozenset(uids)


def refusal(sock: socket.socket, peer: tuple[str, int], allowed: frozenset[int]) -> str:
    """Why a connection from ``peer`` on ``sock`` is refused for the user sending it ("" when it is not): a
    program of another user of this computer, or one on loopback whose user cannot be told (its socket closed, or
    not listed) where the system keeps the table."""
    if not _plain(ipaddress.ip_address(peer[0].partition("%")[0])).is_loopback:
        # Not loopback: allow_from decides (a program here sends from this computer's own address, which a
        # listener bound wider takes only where allow_from names it), and the table is not read for every sender.
        return ""
    owner = peer_owner(peer, sock.getsockname()[:2])
    if owner is None:
        return ""  # no socket table (not Linux): nothing to tell users apart by
    if owner.uid is None or not owner.local:
        return "it comes from this computer and its sender's user cannot be told (its socket was closed)"
    if owner.uid not in allowed:
        return f"it comes from a program of another user of this computer (uid {owner.uid}; allow_users)"
    return ""
