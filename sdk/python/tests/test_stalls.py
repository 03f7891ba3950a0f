"""The blocking client against a daemon that stops reading or goes silent (the fake frozen as by
SIGSTOP): writes end at their call's deadline, Cancel never waits for the socket and goes out once
it has room (within WRITE_TIMEOUT), and the heartbeat gives up a silent connection."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, List

import pytest

import outrigger
from fakedaemon import FakeDaemon
from outrigger import Client, _core
from waits import mock, wait_until

BIG = "x" * (3 << 20)  # far more than a Unix socket buffers: its write stalls on a frozen daemon


class Outcomes:
    """Runs calls in threads and records how each ended and when."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.ended: Dict[str, Any] = {}
        self.at: Dict[str, float] = {}
        self.threads: List[threading.Thread] = []
        self.names: List[str] = []

    def run(self, name: str, fn: Callable[[], Any]) -> None:
        def work() -> None:
            try:
                self.ended[name] = fn()
            except outrigger.OutriggerError as e:
                self.ended[name] = e
            self.at[name] = time.monotonic() - self.start

        t = threading.Thread(target=work, daemon=True)
        t.start()
        self.threads.append(t)
        self.names.append(name)

    def join(self, timeout: float) -> None:
        give_up = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, give_up - time.monotonic()))
        hanging = [name for name, t in zip(self.names, self.threads) if t.is_alive()]
        assert not hanging, "calls still hanging: %s" % hanging


def test_a_stalled_write_ends_at_its_deadline_and_frees_the_other_calls(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, timeout=5.0) as client:
        kept = client.submit("kept", extra=mock(hang=True))
        cancelled = client.submit("cancelled", extra=mock(hang=True))
        wait_until(lambda: len(fake.frames("Request")) == 2)
        fake.freeze()
        calls = Outcomes()
        calls.run("big", lambda: client.chat(BIG, timeout=0.5))
        time.sleep(0.1)  # the big frame is now half written
        calls.run("small", lambda: client.chat("small", timeout=0.5))
        calls.run("cancel", lambda: cancelled.cancel())
        calls.run("kept", kept.result)
        calls.join(3.0)
        assert calls.at["cancel"] < 0.3, "cancel() waited for the stalled write"
        big = calls.ended["big"]
        assert isinstance(big, outrigger.DeadlineExceeded) and big.origin == "client/write", big
        assert 0.4 < calls.at["big"] < 1.5
        # Queued behind the stalled frame, it never left: it ends at its own deadline.
        assert isinstance(calls.ended["small"], outrigger.DeadlineExceeded) and calls.at["small"] < 1.5
        # The half-written frame cost the connection: what was in flight on it is retryable.
        lost = calls.ended["kept"]
        assert isinstance(lost, outrigger.Unavailable) and lost.retryable and lost.origin == "client/connection"
        assert "written" in lost.message
        fake.thaw()
        assert client.chat("after").content == "after"
    assert fake.frames("Request")[-1]["conn"] != 0, "a new connection serves the calls after"


def test_a_frame_that_never_started_is_taken_back_without_dropping_the_connection(
        fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        kept = client.submit("kept", extra=mock(hang=True), timeout=5.0)
        wait_until(lambda: fake.frames("Request"))
        fake.freeze()
        calls = Outcomes()
        calls.run("big", lambda: client.chat(BIG, timeout=2.0))
        time.sleep(0.3)  # the big frame is being written (it fills the socket in well under that)
        calls.run("small", lambda: client.chat("small", timeout=0.3))
        wait_until(lambda: "small" in calls.ended, 1.5)
        assert isinstance(calls.ended.get("small"), outrigger.DeadlineExceeded)
        assert calls.ended["small"].origin == "client/queue"
        assert "kept" not in calls.ended and not kept.done(), "the connection was dropped for a frame never started"
        fake.thaw()
        calls.join(3.0)
    assert calls.ended["big"].content == BIG


def test_a_write_without_deadline_is_bounded_too(fake: FakeDaemon, sock_path: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "WRITE_TIMEOUT", 0.3, raising=False)
    with Client(sock_path, timeout=None) as client:
        client.connect()
        fake.freeze()
        calls = Outcomes()
        calls.run("big", lambda: client.chat(BIG))
        calls.join(3.0)
        err = calls.ended["big"]
        assert isinstance(err, outrigger.Unavailable) and err.retryable and err.origin == "client/write", err
        assert 0.25 < calls.at["big"] < 1.5


def test_a_write_within_a_long_timeout_is_bounded_by_the_write_timeout(
        fake: FakeDaemon, sock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "WRITE_TIMEOUT", 0.3, raising=False)
    with Client(sock_path, timeout=None) as client:
        client.connect()
        fake.freeze()
        calls = Outcomes()
        calls.run("big", lambda: client.chat(BIG, timeout=60.0))
        calls.join(3.0)
        err = calls.ended["big"]
        assert isinstance(err, outrigger.Unavailable) and err.retryable and err.origin == "client/write", err
        assert calls.at["big"] < 1.5


def freeze_and_fill(fake: FakeDaemon, client: Client, timeout: float = 0.5) -> int:
    """Freezes the fake and writes requests until the socket takes no more: the last one waited
    for room until its deadline, never started and was taken back, so nobody is writing and the
    connection is still up (hence a timeout below WRITE_TIMEOUT). Returns how many requests went out."""
    fake.freeze()
    written = 0
    while written < 5000:
        started = time.monotonic()
        try:
            client.submit("f" * 4000, extra=mock(hang=True), timeout=timeout)
            written += 1
        except outrigger.DeadlineExceeded as e:
            assert e.origin == "client/queue", e
            if time.monotonic() - started > 0.8 * timeout:  # not a deadline that a slow machine let pass
                return written
    raise AssertionError("the socket never filled up")


def test_a_cancel_the_socket_cannot_take_goes_out_once_the_daemon_reads(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        kept = client.submit("kept", extra=mock(hang=True), timeout=10.0)
        wait_until(lambda: fake.frames("Request"))
        written = freeze_and_fill(fake, client)
        started = time.monotonic()
        kept.cancel()
        assert time.monotonic() - started < 0.1, "cancel() waited for room on the socket"
        time.sleep(0.2)
        fake.thaw()
        wait_until(lambda: [c["stream_id"] for c in fake.frames("Cancel")] == [kept.call.stream_id])
        with pytest.raises(outrigger.Cancelled):
            kept.result()
        assert len(fake.frames("Request")) == 1 + written, "every request arrived whole"
        assert client.chat("after").content == "after"
    assert len(fake.conns) == 1, "a socket full for a moment must not cost the connection"


def test_control_frames_stuck_past_the_write_timeout_cost_the_connection(
        fake: FakeDaemon, sock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "WRITE_TIMEOUT", 0.3, raising=False)
    with Client(sock_path) as client:
        kept = client.submit("kept", extra=mock(hang=True), timeout=10.0)
        wait_until(lambda: fake.frames("Request"))
        freeze_and_fill(fake, client, timeout=0.2)
        calls = Outcomes()
        calls.run("cancel", kept.cancel)
        calls.run("kept", kept.result)
        calls.join(3.0)
        assert calls.at["cancel"] < 0.1
        lost = calls.ended["kept"]
        assert isinstance(lost, outrigger.Unavailable) and lost.retryable and lost.origin == "client/connection"
        assert "could not be written within" in lost.message
        assert 0.25 < calls.at["kept"] < 1.5
        fake.thaw()
        assert client.chat("after").content == "after"
    assert len(fake.conns) == 2


def test_the_daemon_is_pinged_at_its_heartbeat(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=50).start()
    try:
        with Client(sock_path) as client:
            assert client.connect().heartbeat_ms == 50
            # Four intervals' worth (0.2 s), however late a busy machine runs the threads.
            wait_until(lambda: len(fake.frames("Ping")) >= 4, 3.0)
            pings = fake.frames("Ping")
            assert len(pings) >= 4 and all(p["stream_id"] == 0 for p in pings)
            assert len({p["body"]["opaque"] for p in pings}) == len(pings)
            assert client.chat("alive").content == "alive"
        assert len(fake.conns) == 1, "an answering daemon must keep its connection"
    finally:
        fake.stop()


def test_a_silent_daemon_fails_calls_without_deadline(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=100).start()
    try:
        with Client(sock_path, timeout=None) as client:
            pending = client.submit("x", extra=mock(hang=True))
            wait_until(lambda: fake.frames("Request"))
            fake.freeze()
            calls = Outcomes()
            calls.run("silent", pending.result)
            calls.join(3.0)
            err = calls.ended["silent"]
            assert isinstance(err, outrigger.Unavailable) and err.retryable and err.origin == "client/connection"
            assert "heartbeat" in err.message
            assert 0.15 < calls.at["silent"] < 1.0  # three intervals after the last frame read
    finally:
        fake.stop()


def test_any_frame_counts_as_a_sign_of_life(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=150, answer_pings=False).start()
    try:
        with Client(sock_path) as client:
            text = " ".join("w%d" % i for i in range(12))
            # 12 chunks 60 ms apart: 0.7 s without a Pong, but never 0.45 s without a frame.
            assert client.stream(text, extra=mock(chunks=12, chunk_interval_ms=60)).collect().content == text
        assert len(fake.conns) == 1
    finally:
        fake.stop()


def test_threads_are_daemons_and_stop_on_close(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=50).start()
    try:
        before = set(threading.enumerate())
        client = Client(sock_path)
        client.connect()
        mine = [t for t in set(threading.enumerate()) - before if t.name.startswith("outrigger-")]
        assert [t.name for t in mine] == ["outrigger-reader"], "callers write their own requests"
        assert all(t.daemon for t in mine)
        client.close()
        for t in mine:
            t.join(2.0)
        assert not [t.name for t in mine if t.is_alive()]
    finally:
        fake.stop()
