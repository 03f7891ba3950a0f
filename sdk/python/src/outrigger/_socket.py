"""Which socket to connect to, and whether the process serving it may be trusted.

A socket in a directory other users can write to (such as /tmp) can be bound by any of them,
and whoever binds it receives every prompt. So the default candidates prefer per-user and
system runtime directories, and a client that found its socket by itself checks the server's
uid (SO_PEERCRED) before it sends anything.
"""

from __future__ import annotations

import os
import socket
import stat
import struct
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Protocol, Union

from .errors import PermissionDenied
from .types import StatusCode

SOCKET_ENV = "OUTRIGGER_SOCKET"
SOCKET_NAME = "outrigger.sock"

PathLike = Union[str, "os.PathLike[str]"]


def default_socket_candidates() -> List[str]:
    """The default socket paths, most preferred first: $XDG_RUNTIME_DIR/outrigger (only when
    XDG_RUNTIME_DIR is absolute), /run/outrigger, then /tmp/outrigger-<euid>."""
    candidates = []
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime_dir):
        candidates.append(os.path.join(runtime_dir, "outrigger", SOCKET_NAME))
    candidates.append(os.path.join("/run/outrigger", SOCKET_NAME))
    candidates.append(os.path.join("/tmp/outrigger-%d" % os.geteuid(), SOCKET_NAME))
    return candidates


def is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except OSError:
        return False


def first_socket(candidates: List[str]) -> str:
    """The first candidate that is a socket; the first one when none is, so that a connection
    error names the preferred path."""
    return next((c for c in candidates if is_socket(c)), candidates[0])


@dataclass(frozen=True)
class SocketChoice:
    """A socket path and whether it came from the default candidates."""

    path: str
    from_defaults: bool


def choose_socket(explicit: Optional[PathLike]) -> SocketChoice:
    if explicit is not None:
        return SocketChoice(os.fspath(explicit), False)
    from_env = os.environ.get(SOCKET_ENV)
    if from_env:
        return SocketChoice(from_env, False)
    return SocketChoice(first_socket(default_socket_candidates()), True)


def resolve_socket_path(explicit: Optional[PathLike] = None) -> str:
    """The explicit path, else $OUTRIGGER_SOCKET when non-empty, else the first of
    `default_socket_candidates()` that is a socket (the first candidate when none is)."""
    return choose_socket(explicit).path


def should_verify(from_defaults: bool, verify_server: Optional[bool], expected_server_uid: Optional[int]) -> bool:
    """Verification is on for default paths unless turned off, and whenever an expected uid is given."""
    if expected_server_uid is not None:
        return True
    return from_defaults if verify_server is None else verify_server


def trusted_server_uids(path: str, expected_server_uid: Optional[int] = None) -> FrozenSet[int]:
    """Exactly the expected uid when given; otherwise this process's euid, root, and the owner
    of the socket's directory when that directory sits in one others cannot write to (only
    then could its owner alone have created it)."""
    if expected_server_uid is not None:
        return frozenset([expected_server_uid])
    trusted = {os.geteuid(), 0}
    directory = os.path.dirname(os.path.abspath(path))
    try:
        if os.stat(os.path.dirname(directory)).st_mode & 0o002 == 0:
            trusted.add(os.stat(directory).st_uid)
    except OSError:
        pass
    return frozenset(trusted)


class _SocketOptions(Protocol):
    """A socket.socket, or the TransportSocket asyncio hands out."""

    def getsockopt(self, level: int, optname: int, buflen: int) -> bytes: ...


_UCRED = struct.Struct("iII")  # struct ucred: pid_t pid, uid_t uid, gid_t gid


def server_uid(sock: _SocketOptions) -> int:
    """The uid of the process that holds the other end of a connected Unix socket."""
    _pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return int(uid)


def verify_server(sock: _SocketOptions, path: str, expected_server_uid: Optional[int]) -> None:
    """Raises `PermissionDenied` unless the server's uid is trusted for `path`."""
    trusted = trusted_server_uids(path, expected_server_uid)
    try:
        uid = server_uid(sock)
    except (OSError, AttributeError) as e:  # AttributeError: no SO_PEERCRED on this platform
        raise PermissionDenied(StatusCode.PERMISSION_DENIED, "cannot verify the server of %s: %s" % (path, e),
                               origin="client/verify") from e
    if uid not in trusted:
        raise PermissionDenied(
            StatusCode.PERMISSION_DENIED,
            "the server of %s runs as uid %d, not one of the trusted uids %s"
            % (path, uid, ", ".join(str(u) for u in sorted(trusted))),
            origin="client/verify")


class SocketTarget:
    """Where a client connects, and whether it checks the server first.

    An explicit or $OUTRIGGER_SOCKET path is fixed. The default candidates are looked at again
    before every connection attempt, so a daemon that starts after the client is still found.
    """

    def __init__(self, explicit: Optional[PathLike], verify_server: Optional[bool],
                 expected_server_uid: Optional[int]) -> None:
        choice = choose_socket(explicit)
        self._fixed_path = None if choice.from_defaults else choice.path
        self.verify = should_verify(choice.from_defaults, verify_server, expected_server_uid)
        self.expected_server_uid = expected_server_uid

    def path(self) -> str:
        if self._fixed_path is not None:
            return self._fixed_path
        return first_socket(default_socket_candidates())

    def check_server(self, sock: _SocketOptions, path: str) -> None:
        """Raises `PermissionDenied` when verification is on and the server is not trusted."""
        if self.verify:
            verify_server(sock, path, self.expected_server_uid)
