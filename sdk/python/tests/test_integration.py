"""Against the real daemon (OUTRIGGER_BIN), started on a temporary socket with its embedded
default config: one route whose provider is the mock (echo of the last user message)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any, Callable, Dict, List

import pytest

import outrigger
from outrigger import AsyncClient, Client, Metadata


def mock(**kw: Any) -> dict:
    return {"mock": kw}


def test_unary(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1") as client:
        info = client.connect()
        assert info.proto_major == 1 and info.max_frame_size > 0
        r = client.chat([{"role": "system", "content": "ignored"}, {"role": "user", "content": "three little words"}])
    assert r.content == "three little words"
    assert r.finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.trace_id


def test_streaming(daemon: Any) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    with Client(daemon.socket_path, model="mock-1") as client:
        with client.stream(text, extra=mock(chunks=5)) as stream:
            chunks = list(stream)
        assert len(chunks) == 5
        assert [c.seq for c in chunks] == sorted(c.seq for c in chunks)
        assert "".join(c.delta for c in chunks) == text
        assert stream.start is not None and stream.start.trace_id
        assert stream.response is not None
        assert stream.response.content == text and stream.response.finish_reason == "stop"
        assert stream.response.usage.completion_tokens > 0


def test_200_concurrent_calls_on_one_client(daemon: Any) -> None:
    results: List[str] = []
    errors: List[BaseException] = []
    with Client(daemon.socket_path, model="mock-1") as client:
        def work(i: int) -> None:
            try:
                results.append(client.chat("request number %d" % i).content)
            except BaseException as e:  # noqa: B902 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
    assert sorted(results) == sorted("request number %d" % i for i in range(200))


def test_cancel_mid_stream(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1") as client:
        start = time.monotonic()
        stream = client.stream(" ".join("w%d" % i for i in range(20)), extra=mock(chunks=20, chunk_interval_ms=200))
        next(stream)
        stream.cancel()
        with pytest.raises(outrigger.Cancelled):
            for _ in stream:
                pass
        assert time.monotonic() - start < 3.0, "the stream went on after Cancel"
        assert client.chat("after cancel").content == "after cancel"


def test_deadline(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1") as client:
        start = time.monotonic()
        with pytest.raises(outrigger.DeadlineExceeded) as info:
            client.chat("x", extra=mock(hang=True), timeout=0.5)
        elapsed = time.monotonic() - start
        assert 0.4 < elapsed < 3.0
        assert info.value.origin != "client/deadline", "the daemon did not enforce timeout_ms"


def test_error_mapping(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1") as client:
        with pytest.raises(outrigger.Unavailable) as unavailable:
            client.chat("x", extra=mock(fail={"code": "UNAVAILABLE", "retryable": True, "retry_after_ms": 1500,
                                              "message": "mock is down"}))
        err = unavailable.value
        assert (err.status, err.retryable, err.retry_after_ms) == (outrigger.StatusCode.UNAVAILABLE, True, 1500)
        assert "mock is down" in err.message and err.origin
        with pytest.raises(outrigger.PermissionDenied) as denied:
            client.chat("x", extra=mock(fail={"code": "PERMISSION_DENIED", "retryable": False,
                                              "message": "no"}))
        assert not denied.value.retryable


def test_metadata_round_trip(daemon: Any) -> None:
    defaults = Metadata(tenant="acme", user="u-1", tags={"team": "billing"})
    with Client(daemon.socket_path, model="mock-1", metadata=defaults) as client:
        r = client.chat("x", extra=mock(echo_metadata=True),
                        metadata=Metadata(session="s-9", request_id="r-42", prompt_id="triage", prompt_version="v3",
                                          tags={"env": "test"}))
    echoed = json.loads(r.content)
    assert echoed == {"tenant": "acme", "user": "u-1", "session": "s-9", "request_id": "r-42",
                      "prompt_id": "triage", "prompt_version": "v3", "tags": {"team": "billing", "env": "test"}}


def test_feedback(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1") as client:
        trace = client.chat("rate me").trace_id
        client.feedback(trace, 0.75, "helpful")


def test_daemon_restart_same_client_keeps_working(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1", connect_timeout=10.0) as client:
        assert client.chat("before").content == "before"
        in_flight = client.submit("draining", extra=mock(latency_ms=300))
        assert daemon.stop() == 0, "the daemon did not exit cleanly on SIGTERM"
        assert in_flight.result().content == "draining", "a stream in flight was not drained"
        # A call made while no daemon listens waits for the next one (within connect_timeout).
        late: List[str] = []
        waiter = threading.Thread(target=lambda: late.append(client.chat("while down").content))
        waiter.start()
        time.sleep(0.3)
        daemon.start()
        waiter.join(15)
        assert late == ["while down"]
        assert client.chat("after").content == "after"


def wait_until(cond: Callable[[], bool], limit: float) -> bool:
    """Polls cond until it holds or `limit` seconds pass (an event the client does not signal)."""
    give_up = time.monotonic() + limit
    while not cond():
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.005)
    return True


def test_sigkill_under_load_ends_every_call_typed_and_the_client_reconnects(daemon: Any) -> None:
    """The daemon killed with SIGKILL while unary calls and half-read streams are in flight:
    each call ends within 3 s, either with its whole answer or with a retryable UNAVAILABLE and
    never both; calls made while no daemon listens wait for the next one on the same path."""
    n_unary, n_streams = 8, 8
    words = " ".join("w%d" % i for i in range(10))
    outcomes: Dict[str, List[Any]] = {}  # call name -> everything it ended with
    lock = threading.Lock()

    def record(name: str, outcome: Any) -> None:
        with lock:
            outcomes.setdefault(name, []).append(outcome)

    with Client(daemon.socket_path, model="mock-1", connect_timeout=10.0) as client:
        client.connect()
        conn_before = client._conn
        pending = [client.submit("unary %d" % i, extra=mock(latency_ms=2000)) for i in range(n_unary)]
        streaming = [threading.Event() for _ in range(n_streams)]

        def read_stream(i: int) -> None:
            name, got = "stream %d" % i, []
            try:
                with client.stream(words, extra=mock(chunks=10, chunk_interval_ms=200)) as stream:
                    for chunk in stream:
                        got.append(chunk.delta)
                        streaming[i].set()
                record(name, "".join(got))
            except outrigger.OutriggerError as e:
                record(name, e)
            except BaseException as e:  # noqa: B902 - an untyped failure fails the test below
                record(name, e)
            finally:
                streaming[i].set()

        def wait_unary(i: int) -> None:
            try:
                record("unary %d" % i, pending[i].result().content)
            except BaseException as e:  # noqa: B902 - checked below
                record("unary %d" % i, e)

        readers = [threading.Thread(target=read_stream, args=(i,), daemon=True) for i in range(n_streams)]
        readers += [threading.Thread(target=wait_unary, args=(i,), daemon=True) for i in range(n_unary)]
        for t in readers:
            t.start()
        for e in streaming:
            assert e.wait(10), "a stream got no chunk from the daemon"

        daemon.kill()
        killed_at = time.monotonic()
        for t in readers:
            t.join(max(0.0, killed_at + 3.0 - time.monotonic()))
        hung = [t for t in readers if t.is_alive()]
        assert not hung, "%d calls still waiting 3 s after the daemon was killed" % len(hung)

        made = n_unary + n_streams
        assert sorted(outcomes) == sorted(["unary %d" % i for i in range(n_unary)] +
                                          ["stream %d" % i for i in range(n_streams)])
        assert all(len(v) == 1 for v in outcomes.values()), "a call ended twice: %r" % outcomes
        ended = {name: v[0] for name, v in outcomes.items()}
        failures = {name: e for name, e in ended.items() if isinstance(e, BaseException)}
        successes = {name: r for name, r in ended.items() if not isinstance(r, BaseException)}
        for name, e in failures.items():
            assert isinstance(e, outrigger.Unavailable), "%s: %r" % (name, e)
            assert e.status == outrigger.StatusCode.UNAVAILABLE and e.retryable, "%s: %r" % (name, e)
        for name, content in successes.items():  # an answer is whole, never cut short
            assert content == (words if name.startswith("stream") else name), "%s: %r" % (name, content)
        assert len(successes) + len(failures) == made
        assert failures, "every call succeeded: the daemon was killed too late to test anything"

        # Calls made while nothing listens wait for a daemon (within connect_timeout)...
        answers: List[str] = []
        late_errors: List[BaseException] = []

        def late_call(i: int) -> None:
            try:
                answers.append(client.chat("while down %d" % i).content)
            except BaseException as e:  # noqa: B902 - reported below
                late_errors.append(e)

        waiting = [threading.Thread(target=late_call, args=(i,), daemon=True) for i in range(4)]
        for t in waiting:
            t.start()
        assert wait_until(lambda: len(client._queue) == 4, 5.0), "the calls did not queue for a connection"
        # ...which starts on the same path, after the killed one's socket file.
        daemon.start()
        for t in waiting:
            t.join(15)
        assert not late_errors, late_errors
        assert sorted(answers) == ["while down %d" % i for i in range(4)]
        assert client.chat("after").content == "after"
        with client.stream("s t r", extra=mock(chunks=3)) as stream:
            assert "".join(c.delta for c in stream) == "s t r"
        assert client._conn is not None and client._conn is not conn_before, "the client did not reconnect"


def test_async_client(daemon: Any) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket_path, model="mock-1") as client:
            r = await client.chat("async hello")
            assert r.content == "async hello"
            async with client.stream("a b c d", extra=mock(chunks=2)) as stream:
                deltas = [c.delta async for c in stream]
            assert "".join(deltas) == "a b c d"
            answers = await asyncio.gather(*(client.chat("n%d" % i) for i in range(200)))
            assert [a.content for a in answers] == ["n%d" % i for i in range(200)]
            task = asyncio.ensure_future(client.chat("x", extra=mock(hang=True)))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            with pytest.raises(outrigger.DeadlineExceeded):
                await client.chat("x", extra=mock(hang=True), timeout=0.3)
            assert (await client.chat("still")).content == "still"
    asyncio.run(asyncio.wait_for(main(), 60))


def test_async_client_survives_restart(daemon: Any) -> None:
    async def main() -> None:
        async with AsyncClient(daemon.socket_path, model="mock-1", connect_timeout=10.0) as client:
            assert (await client.chat("one")).content == "one"
            await asyncio.get_running_loop().run_in_executor(None, daemon.stop)
            await asyncio.get_running_loop().run_in_executor(None, daemon.start)
            assert (await client.chat("two")).content == "two"
    asyncio.run(asyncio.wait_for(main(), 60))


def test_server_verification(daemon: Any) -> None:
    with Client(daemon.socket_path, model="mock-1", verify_server=True) as client:
        assert client.chat("verified").content == "verified"
    stranger = os.geteuid() + 12345
    with Client(daemon.socket_path, model="mock-1", expected_server_uid=stranger) as client:
        with pytest.raises(outrigger.PermissionDenied) as info:
            client.chat("not for a stranger")
    assert not info.value.retryable and str(stranger) in info.value.message
