"""Choosing the socket path, and checking who serves it before anything is sent."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
import time
from typing import Iterator

import pytest

import outrigger
from fakedaemon import FakeDaemon
from outrigger import AsyncClient, Client, _socket
from outrigger._socket import first_socket, should_verify, trusted_server_uids

SYSTEM_CANDIDATES = ["/run/outrigger/outrigger.sock", "/tmp/outrigger-%d/outrigger.sock" % os.geteuid()]


def bind(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    return s


def wait_until_closed(fake: FakeDaemon, count: int = 1) -> None:
    """Waits until the first `count` connections are closed (so their byte counts are final)."""
    give_up = time.monotonic() + 5.0
    while not (len(fake.conns) >= count and all(c.closed for c in fake.conns[:count])):
        assert time.monotonic() < give_up, "the client did not close its connection"
        time.sleep(0.005)


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A temporary XDG_RUNTIME_DIR with an `outrigger` directory in it, and no OUTRIGGER_SOCKET."""
    path = tempfile.mkdtemp(prefix="orxdg-")
    os.mkdir(os.path.join(path, "outrigger"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    monkeypatch.delenv("OUTRIGGER_SOCKET", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def default_fake(runtime_dir: str) -> Iterator[FakeDaemon]:
    """A fake daemon on the first default candidate."""
    daemon = FakeDaemon(os.path.join(runtime_dir, "outrigger", "outrigger.sock")).start()
    yield daemon
    daemon.stop()


# ------------------------------------------------------------------------------------ resolution


def test_candidates_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/4242")
    assert outrigger.default_socket_candidates() == ["/run/user/4242/outrigger/outrigger.sock"] + SYSTEM_CANDIDATES
    monkeypatch.setenv("XDG_RUNTIME_DIR", "run/user/4242")  # not absolute: ignored
    assert outrigger.default_socket_candidates() == SYSTEM_CANDIDATES
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert outrigger.default_socket_candidates() == SYSTEM_CANDIDATES


def test_explicit_then_environment_then_defaults(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first_default = os.path.join(runtime_dir, "outrigger", "outrigger.sock")
    sock = bind(first_default)
    try:
        monkeypatch.setenv("OUTRIGGER_SOCKET", "/srv/env.sock")
        assert outrigger.resolve_socket_path("/srv/explicit.sock") == "/srv/explicit.sock"
        assert outrigger.resolve_socket_path() == "/srv/env.sock"
        assert Client().socket_path == "/srv/env.sock"
        monkeypatch.setenv("OUTRIGGER_SOCKET", "")  # empty counts as unset
        assert outrigger.resolve_socket_path() == first_default
        assert AsyncClient().socket_path == first_default
    finally:
        sock.close()


def test_none_exists_gives_the_first_candidate(runtime_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if any(_socket.is_socket(c) for c in SYSTEM_CANDIDATES):
        pytest.skip("a daemon serves a system default socket on this machine")
    assert outrigger.resolve_socket_path() == os.path.join(runtime_dir, "outrigger", "outrigger.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert outrigger.resolve_socket_path() == "/run/outrigger/outrigger.sock"


def test_first_socket_skips_missing_paths_and_other_files(sock_dir: str) -> None:
    missing, regular, sock_path = (os.path.join(sock_dir, n) for n in ("missing", "regular", "s.sock"))
    open(regular, "w").close()
    sock = bind(sock_path)
    try:
        assert first_socket([missing, regular, sock_path]) == sock_path
        assert first_socket([missing, regular]) == missing
    finally:
        sock.close()


def test_tmp_fallback_is_used_when_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_dir = os.path.dirname(SYSTEM_CANDIDATES[1])
    if _socket.is_socket(SYSTEM_CANDIDATES[0]):
        pytest.skip("a daemon serves %s on this machine" % SYSTEM_CANDIDATES[0])
    try:
        os.mkdir(tmp_dir, 0o700)
    except FileExistsError:
        pytest.skip("%s exists already (a daemon, or another test run, uses it)" % tmp_dir)
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.delenv("OUTRIGGER_SOCKET", raising=False)
        client = Client()
        assert outrigger.resolve_socket_path() == client.socket_path == SYSTEM_CANDIDATES[0], "none exists yet"
        sock = bind(SYSTEM_CANDIDATES[1])
        try:
            assert outrigger.resolve_socket_path() == SYSTEM_CANDIDATES[1]
            assert client.socket_path == SYSTEM_CANDIDATES[1], "the client looks again for each connection"
        finally:
            sock.close()
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------ verification


def test_verification_defaults() -> None:
    assert should_verify(True, None, None) is True       # a default candidate
    assert should_verify(False, None, None) is False     # explicit or $OUTRIGGER_SOCKET
    assert should_verify(False, True, None) is True
    assert should_verify(True, False, None) is False
    assert should_verify(False, None, 1000) is True      # an expected uid always turns it on
    assert should_verify(True, False, 1000) is True


def test_trusted_uids(sock_dir: str) -> None:
    assert trusted_server_uids("/any/o.sock", 4242) == {4242}
    assert trusted_server_uids(os.path.join(sock_dir, "o.sock")) >= {os.geteuid(), 0}


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another uid needs root")
def test_directory_owner_is_trusted_only_below_a_closed_parent(sock_dir: str) -> None:
    socket_dir = os.path.join(sock_dir, "outrigger")
    os.mkdir(socket_dir)
    os.chown(socket_dir, 4242, -1)
    path = os.path.join(socket_dir, "o.sock")
    os.chmod(sock_dir, 0o755)
    assert trusted_server_uids(path) == {0, os.geteuid(), 4242}
    os.chmod(sock_dir, 0o1777)  # like /tmp: anyone could have made the directory
    assert trusted_server_uids(path) == {0, os.geteuid()}


def test_verified_server_of_the_same_user_is_accepted(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, verify_server=True) as client:
        assert client.verifies_server
        assert client.chat("hello").content == "hello"
    with Client(sock_path, expected_server_uid=os.geteuid()) as client:
        assert client.chat("again").content == "again"


def test_unexpected_server_uid_fails_before_anything_is_sent(fake: FakeDaemon, sock_path: str) -> None:
    wrong = os.geteuid() + 12345
    with Client(sock_path, expected_server_uid=wrong, connect_timeout=5.0) as client:
        start = time.monotonic()
        with pytest.raises(outrigger.PermissionDenied) as info:
            client.chat("secret prompt")
        assert time.monotonic() - start < 1.0, "a refused server is not retried until connect_timeout"
    err = info.value
    assert err.status == outrigger.StatusCode.PERMISSION_DENIED and not err.retryable
    assert sock_path in err.message and "uid %d" % os.geteuid() in err.message and str(wrong) in err.message
    wait_until_closed(fake)
    assert [c.bytes_received for c in fake.conns] == [0] and not fake.hellos


def test_async_unexpected_server_uid_fails_before_anything_is_sent(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, expected_server_uid=os.geteuid() + 12345) as client:
            with pytest.raises(outrigger.PermissionDenied) as info:
                await client.chat("secret prompt")
            assert not info.value.retryable and sock_path in info.value.message
        async with AsyncClient(sock_path, verify_server=True) as client:
            assert (await client.chat("fine")).content == "fine"
    asyncio.run(asyncio.wait_for(main(), 30))
    wait_until_closed(fake)
    assert fake.conns[0].bytes_received == 0
    assert len(fake.hellos) == 1, "only the second, verified client said Hello"


def test_default_path_is_verified_and_explicit_paths_are_not(default_fake: FakeDaemon,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_socket, "server_uid", lambda sock: os.geteuid() + 12345)  # a stranger's server
    with Client() as client:
        assert client.socket_path == default_fake.path and client.verifies_server
        with pytest.raises(outrigger.PermissionDenied):
            client.chat("x")
    with Client(verify_server=False) as client:
        assert client.chat("opted out").content == "opted out"
    with Client(default_fake.path) as client:
        assert not client.verifies_server and client.chat("explicit").content == "explicit"
    monkeypatch.setenv("OUTRIGGER_SOCKET", default_fake.path)
    with Client() as client:
        assert not client.verifies_server and client.chat("from env").content == "from env"
