from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # the helper modules beside this file

from fakedaemon import FakeDaemon  # noqa: E402

VECTORS_DIR = Path(os.environ.get("OUTRIGGER_VECTORS", Path(__file__).resolve().parents[3] / "schemas" / "vectors"))


@pytest.fixture
def sock_dir() -> Iterator[str]:
    # Unix socket paths are limited to ~100 bytes: pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="orpy-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: str) -> str:
    return os.path.join(sock_dir, "o.sock")


@pytest.fixture
def fake(sock_path: str) -> Iterator[FakeDaemon]:
    daemon = FakeDaemon(sock_path).start()
    yield daemon
    daemon.stop()


class Daemon:
    """The real daemon, run as a subprocess on a temporary socket."""

    def __init__(self, binary: str, socket_path: str, log_dir: str) -> None:
        self.binary = binary
        self.socket_path = socket_path
        self.log_dir = log_dir
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.runs = 0
        self.logs: List[str] = []

    def start(self) -> "Daemon":
        self.runs += 1
        log_path = os.path.join(self.log_dir, "daemon-%d.log" % self.runs)
        self.logs.append(log_path)
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen([self.binary, "serve", "--socket", self.socket_path], stdout=log,
                                         stderr=subprocess.STDOUT)
        give_up = time.monotonic() + 10.0
        while time.monotonic() < give_up:
            if self.proc.poll() is not None:
                raise RuntimeError("the daemon exited with %s before serving:\n%s" % (self.proc.returncode,
                                                                                    self.log_tail()))
            if os.path.exists(self.socket_path):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(self.socket_path)
                    return self
                except OSError:
                    pass
                finally:
                    probe.close()
            time.sleep(0.02)
        self.kill()
        raise RuntimeError("the daemon did not accept connections on %s within 10 s:\n%s"
                           % (self.socket_path, self.log_tail()))

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait for the exit; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n: int = 40) -> str:
        if not self.logs:
            return ""
        with open(self.logs[-1], "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")


@pytest.fixture
def daemon(sock_dir: str) -> Iterator[Daemon]:
    binary = os.environ.get("OUTRIGGER_BIN")
    if not binary:
        pytest.skip("OUTRIGGER_BIN is not set: integration tests need the daemon binary")
    if not os.access(binary, os.X_OK):
        pytest.fail("OUTRIGGER_BIN=%s is not an executable file" % binary)
    d = Daemon(binary, os.path.join(sock_dir, "o.sock"), sock_dir)
    d.start()
    yield d
    d.kill()
