"""Framing, decoding of bad input, request building, stream assembly, errors and configuration."""

from __future__ import annotations

import copy
import json
import pickle
import struct

import pytest

import outrigger
import wirebuild
from outrigger import ChatRequest, Message, Metadata, StatusCode, ToolCall, codec
from outrigger._budget import ChunkBudget
from outrigger._core import Assembler, CallOptions, build_request, timeout_ms
from outrigger._keepalive import Heartbeat
from outrigger.types import Chunk, ToolCallDelta

PING = codec.encode_ping(7)
PONG = codec.encode_pong(8)


def test_reader_splits_frames_across_any_boundary() -> None:
    stream = PING + PONG + codec.encode_cancel(3, "r")
    for step in (1, 3, 7, len(stream)):
        reader = codec.FrameReader()
        payloads = []
        for i in range(0, len(stream), step):
            payloads += reader.feed(stream[i:i + step])
        assert [codec.decode_frame(p).body for p in payloads[:2]] == [codec.Ping(7), codec.Pong(8)]
        assert len(payloads) == 3 and reader.buffered == 0


def test_reader_refuses_an_oversized_length_before_the_body_arrives() -> None:
    reader = codec.FrameReader(max_frame_size=1024)
    with pytest.raises(codec.FrameError, match="exceeds max_frame_size 1024"):
        reader.feed(struct.pack("<I", 1025))
    assert codec.FrameReader(1024).feed(struct.pack("<I", 1024)) == []  # at the limit: waits for the body


def test_reader_refuses_a_length_below_the_minimum() -> None:
    with pytest.raises(codec.FrameError, match="below the minimum"):
        codec.FrameReader().feed(struct.pack("<I", 4) + b"abcd")


def test_decode_rejects_a_foreign_identifier() -> None:
    payload = bytearray(codec.split_size_prefix(PING))
    payload[4:8] = b"XXXX"
    with pytest.raises(codec.FrameError, match="identifier"):
        codec.decode_frame(bytes(payload))


def test_decode_turns_garbage_into_frame_error() -> None:
    payload = bytearray(codec.split_size_prefix(wirebuild.encode(
        {"stream_id": 1, "body_type": "ResponseEnd", "body": {"status": "OK", "content": "hello"}})))
    payload[0:4] = struct.pack("<I", 0xFFFFFF00)  # root offset far outside the buffer
    with pytest.raises(codec.FrameError, match="undecodable"):
        codec.decode_frame(bytes(payload))


def test_decode_refuses_a_string_that_runs_past_the_frame() -> None:
    # The runtime reads a string as a slice, which a length past the frame cut short: the
    # answer came back truncated, as a success, where the other SDKs refuse the frame.
    content = "HELLO WORLD, this is the answer"
    payload = bytearray(codec.split_size_prefix(wirebuild.encode(
        {"stream_id": 1, "body_type": "ResponseEnd", "body": {"status": "OK", "content": content}})))
    at = bytes(payload).find(content.encode())
    assert at > 4 and struct.unpack_from("<I", payload, at - 4)[0] == len(content)
    struct.pack_into("<I", payload, at - 4, 1_000_000)
    with pytest.raises(codec.FrameError, match="past its end"):
        codec.decode_frame(bytes(payload))


def test_split_size_prefix_checks_the_length() -> None:
    with pytest.raises(codec.FrameError):
        codec.split_size_prefix(PING + b"\0")
    with pytest.raises(codec.FrameError):
        codec.split_size_prefix(b"\1")


def test_unknown_status_value_reads_as_unknown() -> None:
    frame = wirebuild.encode({"stream_id": 1, "body_type": "ResponseEnd", "body": {"status": "OK"}})
    payload = codec.split_size_prefix(frame)
    end = codec.decode_frame(payload).body
    assert isinstance(end, codec.ResponseEnd) and end.ok
    assert codec._status(99) == StatusCode.UNKNOWN


def test_response_end_with_tool_calls_and_verdicts() -> None:
    frame = wirebuild.encode({"stream_id": 4, "body_type": "ResponseEnd", "body": {
        "status": "OK", "content": "c", "tool_calls": [{"id": "1", "type": "function", "name": "f",
                                                         "arguments": '{"a":1}'}],
        "verdicts": [{"guardrail": "pii", "verdict": "Rewrite", "reason": "email"}], "cost_usd": 0.5}})
    end = codec.decode_frame(codec.split_size_prefix(frame)).body
    assert isinstance(end, codec.ResponseEnd)
    r = end.response()
    assert r.tool_calls[0].parsed_arguments() == {"a": 1}
    assert r.verdicts[0].verdict == outrigger.Verdict.REWRITE and r.cost_usd == 0.5


def test_error_end_keeps_trace_id_and_verdicts() -> None:
    frame = wirebuild.encode({"stream_id": 6, "body_type": "ResponseEnd", "body": {
        "status": "PERMISSION_DENIED", "origin": "guardrail/pii", "message": "denied", "trace_id": "tr-d",
        "verdicts": [{"guardrail": "input_rules", "verdict": "Pass"},
                     {"guardrail": "pii", "verdict": "Deny", "reason": "an email address"}]}})
    end = codec.decode_frame(codec.split_size_prefix(frame)).body
    assert isinstance(end, codec.ResponseEnd)
    err = end.error()
    assert isinstance(err, outrigger.PermissionDenied) and err.trace_id == "tr-d"
    assert [(v.guardrail, v.verdict, v.reason) for v in err.verdicts] == [
        ("input_rules", outrigger.Verdict.PASS, ""), ("pii", outrigger.Verdict.DENY, "an email address")]
    for clone in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert clone.verdicts == err.verdicts and clone.trace_id == "tr-d"


@pytest.mark.parametrize("reached", [True, False])
def test_response_end_reports_reached_provider(reached: bool) -> None:
    for status in ("OK", "UNAVAILABLE"):
        frame = wirebuild.encode({"stream_id": 2, "body_type": "ResponseEnd",
                                  "body": {"status": status, "reached_provider": reached}})
        end = codec.decode_frame(codec.split_size_prefix(frame)).body
        assert isinstance(end, codec.ResponseEnd) and end.reached_provider is reached
        outcome = end.response() if end.ok else end.error()
        assert outcome.reached_provider is reached


def test_build_request_defaults_and_overrides() -> None:
    req = build_request("hi", CallOptions(), stream=False, default_model="route-a", default_metadata=Metadata())
    assert req == ChatRequest(model="route-a", messages=[Message("user", "hi")], params=None, stream=False,
                              metadata=None, timeout_ms=0, cache=None)
    req = build_request([Message.system("s"), {"role": "user", "content": "u", "name": "n"}],
                        CallOptions(model="m", extra={"mock": {"chunks": 2}}, seed=0), stream=True,
                        default_model="route-a", default_metadata=Metadata(tenant="t"))
    assert req.model == "m" and req.stream
    assert [m.role for m in req.messages or []] == ["system", "user"]
    assert req.params is not None and req.params.seed == 0
    assert json.loads(req.params.extra_json or "") == {"mock": {"chunks": 2}}
    assert req.metadata == Metadata(tenant="t")


def test_build_request_rejects_bad_messages() -> None:
    with pytest.raises(TypeError):
        build_request([42], CallOptions(), stream=False, default_model="m",  # type: ignore[list-item]
                      default_metadata=Metadata())


def test_metadata_merge() -> None:
    base = Metadata(tenant="t", user="u", tags={"a": "1", "b": "2"})
    merged = base.merged(Metadata(user="v", tags={"b": "3"}, traceparent="00-x"))
    assert merged == Metadata(tenant="t", user="v", tags={"a": "1", "b": "3"}, traceparent="00-x")
    assert base.merged(None) is base
    assert Metadata().is_empty() and not base.is_empty()


def test_timeout_ms_rounds_up_and_never_sends_zero() -> None:
    assert timeout_ms(None, 5.0) == 0
    assert timeout_ms(5.0015, 5.0) == 2
    assert timeout_ms(4.0, 5.0) == 1


def test_assembler_joins_tool_call_fragments() -> None:
    a = Assembler()
    a.add(outrigger.Chunk(0, "It ", (ToolCallDelta(0, "c1", "function", "get", '{"ci'),)))
    a.add(outrigger.Chunk(1, "is", (ToolCallDelta(1, "c2", None, "other", "{}"), ToolCallDelta(0, None, None, None,
                                                                                           'ty":"x"}'))))
    assert a.content() == "It is"
    calls = a.tool_calls()
    assert [(c.id, c.name, c.arguments, c.type) for c in calls] == [
        ("c1", "get", '{"city":"x"}', "function"), ("c2", "other", "{}", "function")]


def test_errors_by_status() -> None:
    for status in StatusCode:
        if status == StatusCode.OK:
            continue
        err = outrigger.error_for(status, "m", retryable=True, retry_after_ms=5, origin="o/x")
        assert isinstance(err, outrigger.OutriggerError) and err.status == status
        if status != StatusCode.UNKNOWN:
            assert type(err).__name__.lower().replace("_", "") == status.name.lower().replace("_", "")
    assert isinstance(outrigger.error_for(StatusCode.CANCELLED), outrigger.Cancelled)


def test_errors_copy_and_pickle() -> None:
    err = outrigger.HandshakeError(StatusCode.FAILED_PRECONDITION, "old", supported_major_min=2,
                                   supported_major_max=3)
    for clone in (copy.copy(err), pickle.loads(pickle.dumps(err))):
        assert type(clone) is outrigger.HandshakeError
        assert (clone.status, clone.message, clone.supported_major_min, clone.supported_major_max) == (
            StatusCode.FAILED_PRECONDITION, "old", 2, 3)
        assert str(clone) == str(err)
    acted = outrigger.error_for(StatusCode.UNAVAILABLE, "gone", reached_provider=True)
    for clone in (copy.copy(acted), pickle.loads(pickle.dumps(acted))):
        assert type(clone) is outrigger.Unavailable and clone.reached_provider is True


def test_max_frame_size_bounds() -> None:
    with pytest.raises(ValueError):
        outrigger.Client(max_frame_size=65 * 1024 * 1024)
    with pytest.raises(ValueError):
        outrigger.AsyncClient(max_frame_size=4)


def test_parsed_arguments_refuses_deep_nesting_as_value_error() -> None:
    deep = ToolCall(id="c", name="f", arguments="[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        deep.parsed_arguments()


def test_heartbeat_gives_up_after_three_silent_intervals() -> None:
    beat = Heartbeat(1.0, 0.0)
    assert beat.step(1.0)[0] is not None and beat.step(2.0)[0] is not None
    assert beat.step(2.99) == (None, None)
    assert beat.step(3.0)[1] is not None


def test_heartbeat_late_tick_restarts_the_silence_and_pings_at_once() -> None:
    beat = Heartbeat(1.0, 0.0)
    ping, silence = beat.step(6.0)  # the process was not running from 0 to 6
    assert ping is not None and silence is None
    assert beat.step(7.0)[1] is None and beat.step(8.0)[1] is None
    assert beat.step(8.99)[1] is None
    assert beat.step(9.0)[1] is not None  # three intervals of listening, a Ping unanswered for three


def test_heartbeat_waits_for_a_ping_unanswered_two_intervals() -> None:
    beat = Heartbeat(1.0, 0.0)
    ping, silence = beat.step(1.9)  # a little late: no reset
    assert ping is not None and silence is None
    assert beat.step(3.0)[1] is None  # three intervals since the last read, the Ping asked 1.1 ago
    assert beat.step(3.9)[1] is not None


def test_chunk_budget_takes_any_chunk_when_nothing_waits() -> None:
    budget = ChunkBudget(10)
    big, small = Chunk(seq=0, delta="x" * 50), Chunk(seq=1, delta="y")
    assert budget.admit(big)
    assert not budget.admit(small)  # 50 bytes wait unread: over the bound
    assert not budget.admit(small), "an exceeded budget stays exceeded"


@pytest.mark.parametrize("calls,arg_bytes", [(8192, 32 << 10), (64, 1 << 20)])
def test_offsets_sharing_one_string_past_the_decode_budget_are_refused(calls: int, arg_bytes: int) -> None:
    # 8192 offsets to one 32 KiB string: a 64 KiB frame that would decode to 256 MiB (its tool
    # calls alone are past the budget); 64 offsets to one 1 MiB string: its strings are.
    frame = wirebuild.tool_calls_end(1, calls, arg_bytes, shared=True)
    assert len(frame) < calls * 4 + arg_bytes + 1024
    with pytest.raises(codec.FrameError, match="decodes to more than"):
        codec.decode_frame(codec.split_size_prefix(frame))


@pytest.mark.parametrize("calls,arg_bytes,shared", [
    (8, 1 << 10, True),  # sharing alone is legal: a few references stay within the budget
    (1, 3 << 20, False), (20000, 0, False), (20000, 16, False), (500, 4 << 10, False),
])
def test_frames_written_normally_stay_within_the_decode_budget(calls: int, arg_bytes: int, shared: bool) -> None:
    frame = wirebuild.tool_calls_end(1, calls, arg_bytes, shared)
    end = codec.decode_frame(codec.split_size_prefix(frame)).body
    assert isinstance(end, codec.ResponseEnd) and len(end.tool_calls) == calls
    assert len(end.tool_calls[-1].arguments) == arg_bytes
    assert codec.decode_budget(len(frame)) == 4 * len(frame) + (64 << 10)
