"""The asyncio client against a daemon that stops reading or goes silent (the fake frozen as by
SIGSTOP): drain() ends at the call's deadline, a task cancelled while its request is being
written still cancels the call, and the heartbeat gives up a silent connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable

import pytest

import outrigger
from fakedaemon import FakeDaemon
from outrigger import AsyncClient, _core
from waits import mock, run, until

BIG = "x" * (3 << 20)  # far more than a Unix socket buffers: its write stalls on a frozen daemon


async def outcome(aw: Awaitable[Any], timeout: float) -> Any:
    """What the call ended with (its answer or its error), failing the test if it hangs."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except outrigger.OutriggerError as e:
        return e


def test_a_stalled_drain_ends_at_the_deadline_and_frees_the_other_calls(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, timeout=5.0) as client:
            kept = asyncio.ensure_future(client.chat("kept", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            fake.freeze()
            start = time.monotonic()
            big = await outcome(client.chat(BIG, timeout=0.5), 3.0)
            assert isinstance(big, outrigger.DeadlineExceeded) and big.origin == "client/write", big
            assert 0.4 < time.monotonic() - start < 1.5
            lost = await outcome(kept, 1.0)
            assert isinstance(lost, outrigger.Unavailable) and lost.retryable and "written" in lost.message, lost
            fake.thaw()
            assert (await client.chat("after")).content == "after"
    run(main)
    assert fake.frames("Request")[-1]["conn"] != 0, "a new connection serves the calls after"


def test_a_drain_without_deadline_is_bounded_too(fake: FakeDaemon, sock_path: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "WRITE_TIMEOUT", 0.3, raising=False)

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            await client.connect()
            fake.freeze()
            err = await outcome(client.chat(BIG), 3.0)
            assert isinstance(err, outrigger.Unavailable) and err.retryable, err
    run(main)


def test_a_task_cancelled_in_drain_still_cancels_its_stream(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            await client.connect()
            fake.freeze()
            task = asyncio.ensure_future(client.chat(BIG, extra=mock(hang=True)))
            await asyncio.sleep(0.2)  # the request is half written, drain() waits
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            fake.thaw()
            # The request reaches the daemon whole (it cannot be taken back), followed by its Cancel.
            await until(lambda: [c["stream_id"] for c in fake.frames("Cancel")] == [1] or fake.conns[0].closed, 3.0)
            assert (await client.chat("next")).content == "next"
    run(main)


def test_the_daemon_is_pinged_at_its_heartbeat(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=50).start()

    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            assert (await client.connect()).heartbeat_ms == 50
            await until(lambda: len(fake.frames("Ping")) >= 4, 3.0)
            pings = fake.frames("Ping")
            assert len(pings) >= 4 and all(p["stream_id"] == 0 for p in pings)
            assert (await client.chat("alive")).content == "alive"
    try:
        run(main)
        assert len(fake.conns) == 1
    finally:
        fake.stop()


def test_a_silent_daemon_fails_calls_without_deadline(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=100).start()

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            fake.freeze()
            start = time.monotonic()
            err = await outcome(task, 3.0)
            assert isinstance(err, outrigger.Unavailable) and err.retryable and err.origin == "client/connection"
            assert "heartbeat" in err.message
            assert 0.15 < time.monotonic() - start < 1.0
    try:
        run(main)
    finally:
        fake.stop()


def test_any_frame_counts_as_a_sign_of_life(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, heartbeat_ms=150, answer_pings=False).start()

    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            text = " ".join("w%d" % i for i in range(12))
            r = await client.stream(text, extra=mock(chunks=12, chunk_interval_ms=60)).collect()
            assert r.content == text
    try:
        run(main)
        assert len(fake.conns) == 1
    finally:
        fake.stop()


def test_a_client_whose_loop_was_blocked_does_not_take_the_daemon_for_silent(sock_path: str) -> None:
    # The fake answers Pings and sends nothing else while the call hangs: while the loop is blocked
    # no Ping goes out, so nothing comes back either. That silence is the client's, not the daemon's.
    fake = FakeDaemon(sock_path, heartbeat_ms=100).start()

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            pings = len(fake.frames("Ping"))
            time.sleep(0.5)  # user code holding the event loop for five intervals
            await asyncio.sleep(0.5)
            assert not task.done(), await outcome(task, 0)
            await until(lambda: len(fake.frames("Ping")) >= pings + 3, 3.0)  # the heartbeat goes on
            assert not task.done(), await outcome(task, 0)
            task.cancel()
    try:
        run(main)
        assert len(fake.conns) == 1
    finally:
        fake.stop()


def test_a_write_within_a_long_timeout_is_bounded_by_the_write_timeout(
        fake: FakeDaemon, sock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_core, "WRITE_TIMEOUT", 0.3, raising=False)

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            await client.connect()
            fake.freeze()
            start = time.monotonic()
            err = await outcome(client.chat(BIG, timeout=60.0), 3.0)
            assert isinstance(err, outrigger.Unavailable) and err.retryable and err.origin == "client/write", err
            assert time.monotonic() - start < 1.5
    run(main)
