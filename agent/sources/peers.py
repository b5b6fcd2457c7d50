"""Who is on the other end of a connection: the key its slots and budgets are kept
under, and how log lines name it."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

# struct ucred {pid_t pid; uid_t uid; gid_t gid;} on Linux
_UCRED = struct.Struct("3i")


@dataclass(frozen=True, slots=True)
class Peer:
    key: str  # what slots and budgets are kept under
    label: str  # for log lines


def tcp_peer(address: tuple[str, int] | tuple[str, int, int, int]) -> Peer:
    """A TCP client is its host address; its ports are many connections of one peer."""
    host = address[0]
    return Peer(f"tcp:{host}", f"{host}:{address[1]}")


def unix_peer(sock: socket.socket | None) -> Peer:
    """A Unix-socket client is its user id (a process can fork new pids at will).
    Where the kernel does not tell (no SO_PEERCRED), every client is one peer."""
    credentials = _peer_credentials(sock)
    if credentials is None:
        return Peer("unix:?", "unknown peer")
    pid, uid, _gid = credentials
    return Peer(f"unix:uid={uid}", f"uid {uid} pid {pid}")


def _peer_credentials(sock: socket.socket | None) -> tuple[int, int, int] | None:
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, option, _UCRED.size)
    except OSError:
        return None
    return _UCRED.unpack(raw)
