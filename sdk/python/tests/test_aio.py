"""The asyncio client against the in-process fake daemon."""

from __future__ import annotations

import asyncio
import time

import pytest

import outrigger
import wirebuild
from fakedaemon import FakeDaemon, oversized_frame_header
from outrigger import AsyncClient, Metadata
from waits import mock, run, unencodable_arguments, until


def test_unary_and_metadata(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, metadata=Metadata(tenant="acme")) as client:
            r = await client.chat("hello async", metadata=Metadata(user="u"))
            assert r.content == "hello async" and r.usage.completion_tokens == 2
    run(main)
    body = fake.frames("Request")[0]["body"]
    assert body["metadata"] == {"tenant": "acme", "user": "u"}
    assert fake.hellos[0]["body"]["sdk_language"] == "python"


def test_streaming(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            async with client.stream("a b c", extra=mock(chunks=3)) as stream:
                deltas = [c.delta async for c in stream]
            assert "".join(deltas) == "a b c" and len(deltas) == 3
            assert stream.response is not None and stream.response.content == "a b c"
            assert stream.start is not None and stream.start.trace_id == "trace-1"
            # without `async with`: sent on the first step
            assert [d async for d in client.stream("x y", extra=mock(chunks=2)).text()] == ["x ", "y"]
            assert (await client.stream("z", extra=mock(chunks=1)).collect()).content == "z"
    run(main)


def test_refusal_and_upstream_meta(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            async with client.stream("no way", extra=mock(chunks=2, refusal=True, fingerprint="fp_a",
                                                          tier="flex")) as stream:
                refusals = [c.refusal async for c in stream]
            assert refusals == [True, True]
            assert stream.start is not None and stream.start.system_fingerprint == "fp_a"
            assert stream.start.service_tier == "flex"
            r = stream.response
            assert r is not None and r.refusal and r.content == "no way"
            assert (r.system_fingerprint, r.service_tier) == ("fp_a", "flex")
            r = await client.chat("nope", extra=mock(refusal=True, tier="priority"))
            assert r.refusal and r.finish_reason == "content_filter" and r.service_tier == "priority"
            assert not (await client.chat("fine")).refusal
    run(main)


def test_concurrent_calls_share_one_connection(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            answers = await asyncio.gather(*(client.chat("m%d" % i, extra=mock(latency_ms=20)) for i in range(200)))
            assert [a.content for a in answers] == ["m%d" % i for i in range(200)]
    run(main)
    assert len(fake.conns) == 1
    assert [r["stream_id"] for r in fake.frames("Request")] == list(range(1, 201))


def test_task_cancellation_cancels_the_call(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await until(lambda: fake.frames("Cancel"))
            assert (await client.chat("next")).content == "next"
    run(main)


def test_cancel_stream_midway(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            async with client.stream("a b c d", extra=mock(chunks=4, chunk_interval_ms=200)) as stream:
                first = await stream.__anext__()
                assert first.seq == 0
                await stream.cancel()
                with pytest.raises(outrigger.Cancelled):
                    async for _ in stream:
                        pass
    run(main)
    assert [c["stream_id"] for c in fake.frames("Cancel")] == [1]


def test_deadlines(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            with pytest.raises(outrigger.DeadlineExceeded) as server:
                await client.chat("x", extra=mock(hang=True), timeout=0.2)
            assert server.value.origin == "server/deadline"
            start = time.monotonic()
            with pytest.raises(outrigger.DeadlineExceeded) as local:
                await client.chat("x", extra=mock(hang=True, deaf=True), timeout=0.2)
            assert local.value.origin == "client/deadline" and time.monotonic() - start < 2.0
    run(main)


def test_error_mapping(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            with pytest.raises(outrigger.ResourceExhausted) as info:
                await client.chat("x", extra=mock(fail={"code": "RESOURCE_EXHAUSTED", "retryable": True,
                                                        "retry_after_ms": 250, "message": "budget"}))
            assert (info.value.retryable, info.value.retry_after_ms, info.value.message) == (True, 250, "budget")
    run(main)


def test_goaway_resends_streams_the_daemon_did_not_take(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            calls = [asyncio.ensure_future(client.chat("c%d" % i, extra=mock(latency_ms=300))) for i in range(3)]
            await until(lambda: len(fake.frames("Request")) == 3)
            fake.go_away(last_stream_id=1)
            assert [r.content for r in await asyncio.gather(*calls)] == ["c0", "c1", "c2"]
    run(main)
    assert sorted((r["conn"], r["stream_id"]) for r in fake.frames("Request"))[3:] == [(1, 1), (1, 2)]


def test_dropped_connection(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            fake.drop_connections()
            with pytest.raises(outrigger.Unavailable) as info:
                await task
            assert info.value.retryable
            assert (await client.chat("again")).content == "again"
    run(main)


def test_handshake_refused(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, hello_error={"status": "FAILED_PRECONDITION", "message": "no",
                                              "supported_major_min": 2, "supported_major_max": 2}).start()

    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            with pytest.raises(outrigger.HandshakeError) as info:
                await client.connect()
            assert info.value.supported_major_min == 2
    try:
        run(main)
    finally:
        fake.stop()


def test_no_daemon_then_daemon(sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path, connect_timeout=0.2) as client:
            with pytest.raises(outrigger.Unavailable):
                await client.chat("x")
            fake = FakeDaemon(sock_path).start()
            try:
                assert (await client.chat("y")).content == "y"
            finally:
                fake.stop()
    run(main)


def test_oversized_frame(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_frame_size=4096).start()

    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            fake.send_all(oversized_frame_header(4097))
            with pytest.raises(outrigger.Unavailable) as info:
                await task
            assert "exceeds max_frame_size 4096" in info.value.message
            with pytest.raises(outrigger.InvalidArgument):
                await client.chat("y" * 5000)
    try:
        run(main)
    finally:
        fake.stop()


def test_feedback_and_close(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        client = AsyncClient(sock_path)
        await client.feedback("trace-9", -1.0)
        task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
        await until(lambda: fake.frames("Request"))
        await client.close()
        with pytest.raises(outrigger.ClientClosed):
            await task
    run(main)
    assert fake.frames("Feedback")[0]["body"] == {"trace_id": "trace-9", "score": -1.0}


def test_connection_fatal_error_reports_each_streams_own_end(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            calls = [asyncio.ensure_future(client.chat(q, extra=mock(hang=True))) for q in ("a", "b", "c")]
            await until(lambda: len(fake.frames("Request")) == 3)
            fake.end_all_then_fail(
                {1: {"status": "UNAVAILABLE", "retryable": False, "reached_provider": True, "message": "corrupt"},
                 2: {"status": "UNAVAILABLE", "retryable": True, "reached_provider": False, "message": "unsent"}},
                {"status": "INVALID_ARGUMENT", "message": "corrupt frame"})
            errors = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(e, outrigger.Unavailable) for e in errors), errors
            got = [(e.retryable, e.reached_provider, e.message) for e in errors]
            assert got[:2] == [(False, True, "corrupt"), (True, False, "unsent")]
            assert got[2][:2] == (True, False) and errors[2].origin == "client/connection"
    run(main)


def test_an_unencodable_request_fails_without_taking_a_stream_slot(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()

    async def main() -> None:
        async with AsyncClient(sock_path, timeout=2.0) as client:
            for arguments in unencodable_arguments():
                with pytest.raises(outrigger.InvalidArgument) as info:
                    await client.chat("bad", **arguments)
                assert info.value.origin == "client/encode" and not info.value.retryable
                assert (await client.chat("good")).content == "good"
            with pytest.raises(outrigger.InvalidArgument):
                async with client.stream("bad", max_tokens=-1):
                    pass
            with pytest.raises(outrigger.InvalidArgument):
                await client.feedback("trace-1", "high")  # type: ignore[arg-type]
            assert (await client.chat("last")).content == "last"
    try:
        run(main)
    finally:
        fake.stop()
    sent = [r["body"]["messages"][0]["content"] for r in fake.frames("Request")]
    assert sent == ["good"] * len(unencodable_arguments()) + ["last"]


def test_a_call_cancelled_before_a_goaway_is_not_sent_again(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            async with client.stream("x", extra=mock(hang=True, deaf=True), timeout=3.0) as stream:
                await until(lambda: fake.frames("Request"))
                await stream.cancel()
                await until(lambda: fake.frames("Cancel"))
                fake.go_away(last_stream_id=0)
                with pytest.raises(outrigger.Cancelled) as info:
                    await stream.collect()
                assert info.value.origin == "client"
                await stream.cancel()  # already ended: nothing to send
            await asyncio.sleep(0.1)  # a Request sent again would reach the fake meanwhile
    run(main)
    assert len(fake.frames("Request")) == 1 and len(fake.frames("Cancel")) == 1


def test_a_frame_that_decodes_past_its_budget_drops_the_connection(fake: FakeDaemon, sock_path: str) -> None:
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await until(lambda: fake.frames("Request"))
            fake.send_all(wirebuild.tool_calls_end(1, 2048, 16 << 10, shared=True))  # 32 MiB if decoded
            with pytest.raises(outrigger.Unavailable) as info:
                await task
            assert info.value.retryable and "decodes to more than" in info.value.message
            assert (await client.chat("again")).content == "again"
    run(main)
    assert len(fake.conns) == 2


def test_a_call_made_while_the_transport_closes_waits_for_its_reader_without_starving_the_loop(
        fake: FakeDaemon, sock_path: str) -> None:
    # An abort (a stalled write, a silent daemon, a broken pipe) closes the transport at once, and
    # its reader learns of it a loop turn or two later. A call sent meanwhile took the closing
    # connection again and again without awaiting: the loop never ran the reader, nor anything else.
    async def main() -> None:
        async with AsyncClient(sock_path) as client:
            await client.connect()
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.005)

            t = asyncio.ensure_future(ticker())
            await asyncio.sleep(0.02)
            before = ticks
            client._conn.abort("test")  # type: ignore[union-attr]
            r = await asyncio.wait_for(client.chat("after the abort", timeout=None), 5)
            assert r.content == "after the abort"  # on a new connection
            t.cancel()
            assert ticks > before
    run(main)
