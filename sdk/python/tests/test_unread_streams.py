"""Streams the caller stops reading: one dropped without close() is still cancelled on the daemon,
and one read too slowly is failed once its buffered chunks pass the client's bound, while the
connection and the other calls go on."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, List

import pytest

import outrigger
from fakedaemon import FakeDaemon
from outrigger import AsyncClient, Client
from waits import mock, wait_until

LETTERS = " ".join("abcdefghijklmnopqrst")


def cancelled_streams(fake: FakeDaemon) -> List[int]:
    return [c["stream_id"] for c in fake.frames("Cancel")]


def test_a_stream_left_by_break_is_cancelled(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        for _ in client.stream(LETTERS, extra=mock(chunks=20, chunk_interval_ms=100)):
            break
        wait_until(lambda: cancelled_streams(fake) == [1], 2.0)
        for _ in client.stream(LETTERS, extra=mock(chunks=20, chunk_interval_ms=100)).text():
            break
        wait_until(lambda: cancelled_streams(fake) == [1, 2], 2.0)
        assert client.chat("still fine").content == "still fine"


def test_a_finished_or_closed_stream_sends_no_cancel_when_dropped(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        for _ in client.stream("a b", extra=mock(chunks=2)):
            pass
        with client.stream(LETTERS, extra=mock(chunks=20, chunk_interval_ms=100)) as stream:
            next(stream)
        del stream
        client.chat("sync point")
    assert cancelled_streams(fake) == [2]


def test_dropping_a_stream_never_raises(fake: FakeDaemon, sock_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    unraisable: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    client = Client(sock_path)
    stream = client.stream(LETTERS, extra=mock(chunks=20, chunk_interval_ms=100))
    client.close()
    del stream
    assert unraisable == []


def test_an_async_stream_left_by_break_is_cancelled(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            async for _ in client.stream(LETTERS, extra=mock(chunks=20, chunk_interval_ms=100)):
                break
            give_up = time.monotonic() + 2.0
            while cancelled_streams(fake) != [1]:
                assert time.monotonic() < give_up, "no Cancel for the dropped stream"
                await asyncio.sleep(0.01)
            assert (await client.chat("still fine")).content == "still fine"
    asyncio.run(asyncio.wait_for(main(), 30))


def chunky(n: int, size: int, interval_ms: int = 0) -> dict:
    """A stream of n chunks of `size` bytes, `interval_ms` apart (0: as fast as the fake can)."""
    return mock(text="y" * (n * size), chunks=n, chunk_interval_ms=interval_ms)


def test_an_unread_stream_fails_past_its_buffer_bound(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, max_stream_buffer=1000) as client:
        stream = client.stream("unread", extra=chunky(50, 100))
        wait_until(lambda: cancelled_streams(fake) == [1], 2.0)
        assert client.chat("others go on").content == "others go on"
        read = 0
        with pytest.raises(outrigger.ResourceExhausted) as info:
            for chunk in stream:
                read += len(chunk.delta)
        assert read <= 1000
        err = info.value
        assert err.status == outrigger.StatusCode.RESOURCE_EXHAUSTED and not err.retryable
        assert "did not read the stream fast enough" in err.message and "bytes buffered" in err.message
        # Only what waits unread counts: a stream read as it comes may carry more than the bound.
        assert len(client.stream("read", extra=chunky(30, 100, 20)).collect().content) == 3000
    assert len(fake.conns) == 1


def test_an_unread_async_stream_fails_past_its_buffer_bound(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, max_stream_buffer=1000) as client:
            async with client.stream("unread", extra=chunky(50, 100)) as stream:
                give_up = time.monotonic() + 2.0
                while cancelled_streams(fake) != [1]:
                    assert time.monotonic() < give_up, "no Cancel for the overflowing stream"
                    await asyncio.sleep(0.01)
                assert (await client.chat("others go on")).content == "others go on"
                with pytest.raises(outrigger.ResourceExhausted) as info:
                    async for _ in stream:
                        pass
            assert "did not read the stream fast enough" in info.value.message
            assert len((await client.stream("read", extra=chunky(30, 100, 20)).collect()).content) == 3000
    asyncio.run(asyncio.wait_for(main(), 30))
    assert len(fake.conns) == 1


def test_a_chunk_larger_than_the_bound_passes_when_nothing_waits(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, max_stream_buffer=100) as client:
        assert len(client.stream("read", extra=chunky(4, 500, 100)).collect().content) == 2000


def test_an_async_stream_dropped_while_queued_is_never_sent(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=None) as client:
            first = asyncio.ensure_future(client.chat("first", extra=mock(hang=True)))
            while not fake.frames("Request"):
                await asyncio.sleep(0.005)
            stream = client.stream("dropped")
            reading = asyncio.ensure_future(stream.__anext__())
            while not client._queue:  # waits for the one stream slot
                await asyncio.sleep(0.005)
            stream._finalizer()  # what the garbage collector does to a stream dropped unclosed
            with pytest.raises(outrigger.Cancelled):
                await asyncio.wait_for(reading, 2.0)
            first.cancel()
            assert (await client.chat("after")).content == "after"
    try:
        asyncio.run(asyncio.wait_for(main(), 30))
        assert len(fake.frames("Request")) == 2, "the dropped stream's call was sent"
    finally:
        fake.stop()


def test_the_buffer_bound_defaults_to_64_mib(sock_path: str) -> None:
    assert Client(sock_path).max_stream_buffer == 64 << 20
    assert AsyncClient(sock_path).max_stream_buffer == 64 << 20
    with pytest.raises(ValueError):
        Client(sock_path, max_stream_buffer=0)
