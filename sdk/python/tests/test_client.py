"""The blocking client against the in-process fake daemon (tests/fakedaemon.py), which can be
steered into the situations the real one rarely produces on demand."""

from __future__ import annotations

import json
import threading
import time
from typing import List

import pytest

import outrigger
import wirebuild
from fakedaemon import FakeDaemon, oversized_frame_header
from outrigger import Client, Metadata
from waits import mock, unencodable_arguments, wait_until


def test_unary_echo(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, model="mock-1") as client:
        r = client.chat([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}])
    assert r.content == "hello there"
    assert r.finish_reason == "stop"
    assert r.usage.prompt_tokens == 2 and r.usage.completion_tokens == 2
    assert r.model == "mock-1" and r.trace_id == "trace-1" and r.origin == "provider/mock"


def test_hello_announces_the_client(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, max_frame_size=1 << 20) as client:
        info = client.connect()
    hello = fake.hellos[0]
    assert hello["stream_id"] == 0
    body = hello["body"]
    assert (body["proto_major"], body["proto_minor"], body["sdk_language"]) == (1, 0, "python")
    assert body["client_name"] == "outrigger-python" and body["client_version"] == outrigger.__version__
    assert body["max_frame_size"] == 1 << 20 and body["features"] == 15
    assert info.server_version == "fake" and info.max_frame_size == 1 << 20


def test_stream_ids_start_at_one_and_increase(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        for _ in range(3):
            client.chat("x")
        fake.drop_connections()
        wait_until(lambda: client.server_info is None)
        client.chat("y")
    assert [(r["conn"], r["stream_id"]) for r in fake.frames("Request")] == [(0, 1), (0, 2), (0, 3), (1, 1)]


def test_metadata_defaults_and_overrides(fake: FakeDaemon, sock_path: str) -> None:
    defaults = Metadata(tenant="acme", user="u1", tags={"team": "billing", "env": "dev"})
    with Client(sock_path, metadata=defaults, timeout=7.0) as client:
        client.chat("hi", metadata=Metadata(user="u2", request_id="r-9", tags={"env": "prod"}))
        client.chat("hi")
    first, second = (r["body"] for r in fake.frames("Request"))
    assert first["metadata"] == {"tenant": "acme", "user": "u2", "request_id": "r-9",
                                 "tags": [{"key": "team", "value": "billing"}, {"key": "env", "value": "prod"}]}
    assert second["metadata"]["user"] == "u1"
    assert 6000 < first["timeout_ms"] <= 7000
    assert first["model"] == "default"


def test_an_empty_metadata_field_on_a_call_keeps_the_default(fake: FakeDaemon, sock_path: str) -> None:
    # "" means unset in every SDK: a call cannot blank out the client's tenant by accident.
    with Client(sock_path, metadata=Metadata(tenant="acme", user="u1"), timeout=7.0) as client:
        client.chat("hi", metadata=Metadata(tenant="", user="u2", session=""))
    (body,) = (r["body"] for r in fake.frames("Request"))
    assert body["metadata"] == {"tenant": "acme", "user": "u2"}


def test_request_options_reach_the_wire(fake: FakeDaemon, sock_path: str) -> None:
    tool = outrigger.Tool.function("get_weather", "weather", {"type": "object"})
    with Client(sock_path) as client:
        client.chat("hi", temperature=0.5, max_tokens=10, seed=-1, stop=["END"], tools=[tool], tool_choice="auto",
                    response_format=outrigger.ResponseFormat.json_object(), extra={"k": [1]},
                    cache=outrigger.CacheControl(no_store=True), timeout=None)
    body = fake.frames("Request")[0]["body"]
    assert body["params"] == {"temperature": 0.5, "max_tokens": 10, "seed": -1, "stop": ["END"],
                              "tools": [{"type": "function", "name": "get_weather", "description": "weather",
                                         "parameters_json": '{"type":"object"}'}],
                              "tool_choice": "auto",
                              "response_format": {"type": "JsonObject", "strict": False},
                              "extra_json": '{"k":[1]}'}
    assert body["cache"] == {"bypass": False, "no_store": True, "ttl_ms": 0}
    assert body["timeout_ms"] == 0 and body["stream"] is False and "metadata" not in body


def test_streaming(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        with client.stream("one two three four", extra=mock(chunks=4)) as stream:
            chunks = list(stream)
            assert stream.start is not None and stream.start.provider == "mock"
        assert [c.seq for c in chunks] == [0, 1, 2, 3]
        assert "".join(c.delta for c in chunks) == "one two three four"
        assert stream.response is not None
        assert stream.response.content == "one two three four" and stream.response.provider == "mock"
        assert client.stream("a b", extra=mock(chunks=2)).collect().content == "a b"
        assert list(client.stream("a b", extra=mock(chunks=2)).text()) == ["a ", "b"]
    assert all(r["body"]["stream"] for r in fake.frames("Request"))


def test_streamed_refusal_and_upstream_meta(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        with client.stream("I can't help with that.", extra=mock(chunks=2, refusal=True, fingerprint="fp_1",
                                                                  tier="flex")) as stream:
            chunks = list(stream)
            assert stream.start is not None
            assert (stream.start.system_fingerprint, stream.start.service_tier) == ("fp_1", "flex")
        assert [c.refusal for c in chunks] == [True, True]
        r = stream.response
        assert r is not None and r.refusal and r.finish_reason == "content_filter"
        assert r.content == "I can't help with that."
        assert (r.system_fingerprint, r.service_tier) == ("fp_1", "flex")
        # The end said nothing: the start's values stand.
        r = client.stream("x", extra=mock(fingerprint="fp_2", tier="priority", start_meta_only=True)).collect()
        assert (r.system_fingerprint, r.service_tier, r.refusal) == ("fp_2", "priority", False)
        with client.stream("a b", extra=mock(chunks=2)) as stream:
            assert [c.refusal for c in stream] == [False, False]
            assert stream.start is not None and stream.start.system_fingerprint == ""


def test_unary_refusal_and_upstream_meta(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        r = client.chat("No.", extra=mock(refusal=True, fingerprint="fp_3", tier="default"))
        assert r.refusal and r.content == "No." and r.finish_reason == "content_filter"
        assert (r.system_fingerprint, r.service_tier) == ("fp_3", "default")
        r = client.chat("yes")
        assert not r.refusal and r.system_fingerprint == "" and r.service_tier == ""


def test_concurrent_calls_share_one_connection(fake: FakeDaemon, sock_path: str) -> None:
    results: List[str] = []
    errors: List[BaseException] = []
    with Client(sock_path) as client:
        def work(i: int) -> None:
            try:
                results.append(client.chat("message %d" % i, extra=mock(latency_ms=20)).content)
            except BaseException as e:  # noqa: B902 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert sorted(results) == sorted("message %d" % i for i in range(200))
    assert len(fake.conns) == 1
    ids = [r["stream_id"] for r in fake.frames("Request")]
    assert ids == list(range(1, 201)), "stream ids must reach the daemon in increasing order"


def test_cancel_stream_midway(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        stream = client.stream("a b c d e f g h", extra=mock(chunks=8, chunk_interval_ms=200))
        first = next(stream)
        assert first.seq == 0
        stream.cancel()
        with pytest.raises(outrigger.Cancelled) as info:
            for _ in stream:
                pass
        assert info.value.origin == "server/cancel"
        cancels = fake.frames("Cancel")
        assert [c["stream_id"] for c in cancels] == [1]
        assert client.chat("still fine").content == "still fine"


def test_leaving_a_stream_early_cancels_it(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        with client.stream("a b c d", extra=mock(chunks=4, chunk_interval_ms=300)) as stream:
            next(stream)
        wait_until(lambda: fake.frames("Cancel"))
        with pytest.raises(outrigger.Cancelled):
            next(stream)


def test_cancel_pending_call_from_another_thread(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        pending = client.submit("x", extra=mock(hang=True))
        threading.Timer(0.1, pending.cancel).start()
        with pytest.raises(outrigger.Cancelled):
            pending.result()
        assert pending.done()


def test_deadline_from_daemon(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        start = time.monotonic()
        with pytest.raises(outrigger.DeadlineExceeded) as info:
            client.chat("x", extra=mock(hang=True), timeout=0.3)
        assert info.value.origin == "server/deadline"
        assert time.monotonic() - start < 2.0


def test_local_deadline_when_daemon_stays_silent(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        start = time.monotonic()
        with pytest.raises(outrigger.DeadlineExceeded) as info:
            client.chat("x", extra=mock(hang=True, deaf=True), timeout=0.3)
        elapsed = time.monotonic() - start
        assert info.value.origin == "client/deadline"
        assert 0.3 <= elapsed < 2.0
        wait_until(lambda: fake.frames("Cancel"))  # the daemon is told to stop working on it


@pytest.mark.parametrize("code,cls,retryable", [
    ("UNAVAILABLE", outrigger.Unavailable, True),
    ("PERMISSION_DENIED", outrigger.PermissionDenied, False),
    ("RESOURCE_EXHAUSTED", outrigger.ResourceExhausted, True),
    ("INVALID_ARGUMENT", outrigger.InvalidArgument, False),
    ("DATA_LOSS", outrigger.DataLoss, False),
])
def test_error_mapping(fake: FakeDaemon, sock_path: str, code: str, cls: type, retryable: bool) -> None:
    with Client(sock_path) as client:
        with pytest.raises(cls) as info:
            client.chat("x", extra=mock(fail={"code": code, "retryable": retryable, "retry_after_ms": 1500,
                                              "message": "nope"}))
    err = info.value
    assert isinstance(err, outrigger.OutriggerError)
    assert err.status == outrigger.StatusCode[code]
    assert (err.retryable, err.retry_after_ms, err.retry_after, err.message, err.origin) == (
        retryable, 1500, 1.5, "nope", "provider/mock")
    assert code in str(err) and "provider/mock" in str(err)


def test_goaway_resends_streams_the_daemon_did_not_take(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        calls = [client.submit("call %d" % i, extra=mock(latency_ms=300)) for i in range(3)]
        wait_until(lambda: len(fake.frames("Request")) == 3)
        fake.go_away(last_stream_id=1)
        assert [c.result().content for c in calls] == ["call 0", "call 1", "call 2"]
        assert client.chat("after").content == "after"
    where = [(r["conn"], r["stream_id"], r["body"]["messages"][0]["content"]) for r in fake.frames("Request")]
    assert where[:3] == [(0, 1, "call 0"), (0, 2, "call 1"), (0, 3, "call 2")]
    assert sorted(where[3:5]) == [(1, 1, "call 1"), (1, 2, "call 2")]
    assert where[5] == (1, 3, "after")


def test_dropped_connection_fails_calls_in_flight_and_reconnects(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        pending = client.submit("x", extra=mock(hang=True))
        wait_until(lambda: fake.frames("Request"))
        fake.drop_connections()
        with pytest.raises(outrigger.Unavailable) as info:
            pending.result()
        assert info.value.retryable and info.value.origin == "client/connection"
        assert client.chat("again").content == "again"
    assert len(fake.conns) == 2


def test_queued_calls_survive_a_dropped_connection(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()
    try:
        with Client(sock_path) as client:
            first = client.submit("first", extra=mock(hang=True))
            wait_until(lambda: fake.frames("Request"))
            results: List[str] = []
            threads = [threading.Thread(target=lambda i=i: results.append(client.chat("queued %d" % i).content))
                       for i in range(3)]
            for t in threads:
                t.start()
            wait_until(lambda: len(client._queue) == 3)
            assert len(fake.frames("Request")) == 1  # the others wait for the one stream slot
            fake.drop_connections()
            with pytest.raises(outrigger.Unavailable):
                first.result()
            for t in threads:
                t.join(10)
            assert sorted(results) == ["queued 0", "queued 1", "queued 2"]
    finally:
        fake.stop()


def test_a_timeout_past_what_a_thread_can_wait_is_the_longest_one(sock_path: str) -> None:
    # A wait longer than threading.TIMEOUT_MAX raised OverflowError after the call had taken a
    # stream slot, which it never gave back: with one slot, every later call then waited out.
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()
    try:
        with Client(sock_path) as client:
            assert client.chat("a", timeout=1e10).content == "a"
            assert client.chat("b", timeout=float("inf")).content == "b"
            assert client.chat("c", timeout=2).content == "c"
        assert fake.frames("Request")[0]["body"]["timeout_ms"] >= 0xFFFFFFFF - 1000  # the longest, less what passed
    finally:
        fake.stop()


def test_daemon_coming_up_within_connect_timeout(sock_path: str) -> None:
    fake = FakeDaemon(sock_path)
    threading.Timer(0.3, fake.start).start()
    try:
        with Client(sock_path, connect_timeout=5.0) as client:
            assert client.chat("late").content == "late"
    finally:
        time.sleep(0.01)
        fake.stop()


def test_no_daemon(sock_path: str) -> None:
    with Client(sock_path, connect_timeout=0.3) as client:
        start = time.monotonic()
        with pytest.raises(outrigger.Unavailable) as info:
            client.chat("x")
        assert info.value.retryable and info.value.origin == "client/connect"
        assert sock_path in info.value.message
        assert time.monotonic() - start < 3.0
        fake = FakeDaemon(sock_path).start()
        try:
            assert client.chat("now").content == "now"
        finally:
            fake.stop()


def test_handshake_refused(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, hello_error={"status": "FAILED_PRECONDITION", "message": "major 1 unsupported",
                                              "supported_major_min": 2, "supported_major_max": 3}).start()
    try:
        with Client(sock_path, connect_timeout=5.0) as client:
            start = time.monotonic()
            with pytest.raises(outrigger.HandshakeError) as info:
                client.chat("x")
            assert time.monotonic() - start < 1.0, "a refused handshake is not retried until the timeout"
            err = info.value
            assert err.status == outrigger.StatusCode.FAILED_PRECONDITION and not err.retryable
            assert (err.supported_major_min, err.supported_major_max) == (2, 3)
            assert "major 1 unsupported" in str(err)
    finally:
        fake.stop()


def test_protocol_major_mismatch_in_ack(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, proto_major=2).start()
    try:
        with Client(sock_path) as client, pytest.raises(outrigger.HandshakeError):
            client.connect()
    finally:
        fake.stop()


def test_frame_over_negotiated_limit_is_refused(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_frame_size=64 * 1024).start()
    try:
        with Client(sock_path) as client:
            assert client.connect().max_frame_size == 64 * 1024
            pending = client.submit("x", extra=mock(hang=True))
            wait_until(lambda: fake.frames("Request"))
            fake.send_all(oversized_frame_header(64 * 1024 + 1))  # only the prefix: refused before buffering
            with pytest.raises(outrigger.Unavailable) as info:
                pending.result()
            assert "exceeds max_frame_size 65536" in info.value.message
            with pytest.raises(outrigger.InvalidArgument) as too_big:
                client.chat("y" * 70000)
            assert too_big.value.origin == "client/frame"
            assert client.chat("small").content == "small"
    finally:
        fake.stop()


def test_bounded_queue(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()
    try:
        with Client(sock_path, max_queued=2, timeout=2.0) as client:
            client.submit("x", extra=mock(hang=True))
            waiting = [threading.Thread(target=lambda: pytest.raises(outrigger.OutriggerError, client.chat, "q"))
                       for _ in range(2)]
            for t in waiting:
                t.start()
            wait_until(lambda: len(client._queue) == 2)
            with pytest.raises(outrigger.QueueFull) as info:
                client.chat("one too many")
            assert info.value.retryable and info.value.status == outrigger.StatusCode.RESOURCE_EXHAUSTED
            client.close()
            for t in waiting:
                t.join(5)
    finally:
        fake.stop()


def test_ping_is_answered(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        client.connect()
        fake.send_all(wirebuild.encode({"stream_id": 0, "body_type": "Ping", "body": {"opaque": 2**53 - 1}}))
        wait_until(lambda: fake.frames("Pong"))
        assert fake.frames("Pong")[0]["body"] == {"opaque": 2**53 - 1}


def test_unknown_frames_are_ignored(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        pending = client.submit("x", extra=mock(latency_ms=200))
        wait_until(lambda: fake.frames("Request"))
        fake.send_all(wirebuild.encode({"stream_id": 1, "body_type": "UNKNOWN:200"}))
        fake.send_all(wirebuild.encode({"stream_id": 0, "body_type": "UNKNOWN:201"}))
        fake.send_all(wirebuild.encode({"stream_id": 99, "body_type": "ResponseEnd", "body": {"status": "OK"}}))
        assert pending.result().content == "x"


def test_feedback(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, metadata=Metadata(tenant="acme")) as client:
        client.feedback("trace-1", 0.5, "good")
    fb = fake.frames("Feedback")[0]
    assert fb["stream_id"] == 1
    assert fb["body"] == {"trace_id": "trace-1", "score": 0.5, "comment": "good", "metadata": {"tenant": "acme"}}


def test_close_fails_calls_in_flight(fake: FakeDaemon, sock_path: str) -> None:
    client = Client(sock_path)
    pending = client.submit("x", extra=mock(hang=True))
    wait_until(lambda: fake.frames("Request"))
    client.close()
    with pytest.raises(outrigger.ClientClosed):
        pending.result()
    with pytest.raises(outrigger.ClientClosed):
        client.chat("after close")


def test_close_during_a_hung_handshake_fails_the_call_at_once(fake: FakeDaemon, sock_path: str) -> None:
    # The daemon accepts (the kernel does it for a stopped process) but never answers Hello: the
    # caller's thread is blocked dialling, and close() must not leave it there until connect_timeout.
    fake.freeze()
    client = Client(sock_path, connect_timeout=10.0)
    errors: List[BaseException] = []

    def call() -> None:
        try:
            client.chat("x")
        except BaseException as e:  # noqa: B902 - whatever it is, the test reports it
            errors.append(e)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_until(lambda: fake.conns)
    time.sleep(0.1)  # the Hello is sent and the caller waits for the HelloAck
    closed_at = time.monotonic()
    client.close()
    caller.join(5.0)
    assert not caller.is_alive(), "the caller is still dialling after close()"
    assert time.monotonic() - closed_at < 1.0
    assert len(errors) == 1 and isinstance(errors[0], outrigger.ClientClosed), errors


def test_echo_metadata_json(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path, metadata=Metadata(tenant="t", tags={"a": "b"})) as client:
        r = client.chat("x", extra=mock(echo_metadata=True), metadata=Metadata(session="s"))
    assert json.loads(r.content)["tags"] == {"a": "b"}


def test_connection_fatal_error_reports_each_streams_own_end(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        acted, refused, silent = (client.submit(q, extra=mock(hang=True)) for q in ("a", "b", "c"))
        wait_until(lambda: len(fake.frames("Request")) == 3)
        fake.end_all_then_fail(
            {1: {"status": "UNAVAILABLE", "retryable": False, "reached_provider": True, "message": "corrupt frame",
                 "origin": "server/connection"},
             2: {"status": "UNAVAILABLE", "retryable": True, "reached_provider": False, "message": "not started",
                 "origin": "server/connection"}},
            {"status": "INVALID_ARGUMENT", "message": "corrupt frame"})
        outcomes = []
        for pending in (acted, refused, silent):
            with pytest.raises(outrigger.Unavailable) as info:
                pending.result()
            e = info.value
            outcomes.append((e.status, e.retryable, e.reached_provider, e.message, e.origin))
    assert outcomes[:2] == [
        (outrigger.StatusCode.UNAVAILABLE, False, True, "corrupt frame", "server/connection"),
        (outrigger.StatusCode.UNAVAILABLE, True, False, "not started", "server/connection")]
    # A stream the daemon did not end keeps the generic, retryable connection loss.
    assert outcomes[2][:3] == (outrigger.StatusCode.UNAVAILABLE, True, False)
    assert outcomes[2][4] == "client/connection" and "corrupt frame" in outcomes[2][3]


def test_stream_ids_are_never_reused_on_a_connection(sock_path: str) -> None:
    fake = FakeDaemon(sock_path, max_frame_size=64 * 1024).start()
    try:
        with Client(sock_path) as client:
            client.chat("one")
            with pytest.raises(outrigger.InvalidArgument):
                client.chat("y" * 70000)  # refused before it was sent
            pending = client.submit("cancelled", extra=mock(hang=True))
            pending.cancel()
            with pytest.raises(outrigger.Cancelled):
                pending.result()
            client.feedback("trace-1", 1.0)
            client.chat("last")
        ids = [r["stream_id"] for r in fake.requests if r["body_type"] in ("Request", "Feedback")]
        assert len(ids) == 4 and ids[0] == 1 and all(a < b for a, b in zip(ids, ids[1:])), ids
    finally:
        fake.stop()


def test_an_unencodable_request_fails_without_taking_a_stream_slot(sock_path: str) -> None:
    # One stream slot: a request left registered after its encoding failed would hold it, and
    # every later call would wait for it until its deadline.
    fake = FakeDaemon(sock_path, max_concurrent_streams=1).start()
    try:
        with Client(sock_path, timeout=2.0) as client:
            for arguments in unencodable_arguments():
                with pytest.raises(outrigger.InvalidArgument) as info:
                    client.chat("bad", **arguments)
                assert info.value.origin == "client/encode" and not info.value.retryable
                assert client.chat("good").content == "good"
            with pytest.raises(outrigger.InvalidArgument):
                client.stream("bad", max_tokens=-1)
            with pytest.raises(outrigger.InvalidArgument):
                client.feedback("trace-1", "high")  # type: ignore[arg-type]
            assert client.chat("last").content == "last"
        sent = [r["body"]["messages"][0]["content"] for r in fake.frames("Request")]
        assert sent == ["good"] * len(unencodable_arguments()) + ["last"]
    finally:
        fake.stop()


def test_a_call_cancelled_before_a_goaway_is_not_sent_again(fake: FakeDaemon, sock_path: str) -> None:
    # The daemon ignores the Cancel, then goes away without having taken the stream: the call
    # ends Cancelled here instead of going to a provider again on the next connection.
    with Client(sock_path) as client:
        pending = client.submit("x", extra=mock(hang=True, deaf=True), timeout=3.0)
        wait_until(lambda: fake.frames("Request"))
        pending.cancel()
        wait_until(lambda: fake.frames("Cancel"))
        fake.go_away(last_stream_id=0)
        with pytest.raises(outrigger.Cancelled) as info:
            pending.result()
        assert info.value.origin == "client" and not info.value.reached_provider
        pending.cancel()  # already ended: nothing to send
        with pytest.raises(outrigger.Cancelled):
            pending.result()
        time.sleep(0.1)  # a Request sent again would reach the fake meanwhile
    assert len(fake.frames("Request")) == 1 and len(fake.frames("Cancel")) == 1


def test_a_frame_that_decodes_past_its_budget_drops_the_connection(fake: FakeDaemon, sock_path: str) -> None:
    with Client(sock_path) as client:
        pending = client.submit("x", extra=mock(hang=True))
        wait_until(lambda: fake.frames("Request"))
        fake.send_all(wirebuild.tool_calls_end(1, 2048, 16 << 10, shared=True))  # 32 MiB if decoded
        with pytest.raises(outrigger.Unavailable) as info:
            pending.result()
        assert info.value.retryable and "decodes to more than" in info.value.message
        assert client.chat("again").content == "again"
    assert len(fake.conns) == 2
