"""The shared vectors in schemas/vectors: decode each frame and compare with its description;
encode the frames a client sends through this package and compare the other way (with the C++
`frame_describe` tool as an independent reader when OUTRIGGER_FRAME_DESCRIBE is set)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from outrigger import (
    CacheControl,
    ChatRequest,
    Message,
    Metadata,
    Params,
    ResponseFormat,
    ResponseFormatType,
    StatusCode,
    Tool,
    ToolCall,
    Verdict,
    codec,
)
from outrigger._core import CallOptions, build_request
from outrigger.describe import describe_frame
from conftest import VECTORS_DIR

NAMES = sorted(p.stem for p in VECTORS_DIR.glob("*.bin"))
CLIENT_SENT = ("Hello", "Request", "Cancel", "Feedback", "Ping", "Pong")


def load(name: str) -> Dict[str, Any]:
    with open(VECTORS_DIR / (name + ".json"), encoding="utf-8") as f:
        desc: Dict[str, Any] = json.load(f)
    return desc


def frame_bytes(name: str) -> bytes:
    return (VECTORS_DIR / (name + ".bin")).read_bytes()


def test_vectors_are_present() -> None:
    required = {"hello", "hello_ack", "request_minimal", "request_full", "request_unicode", "request_empty_strings",
                "request_large", "response_start", "response_chunk", "response_end_ok", "response_end_error",
                "cancel", "feedback", "error", "ping", "pong", "goaway", "unknown_body"}
    assert required <= set(NAMES), "missing vectors in %s" % VECTORS_DIR
    for name in NAMES:
        assert (VECTORS_DIR / (name + ".json")).exists(), name


@pytest.mark.parametrize("name", NAMES)
def test_describe_matches_vector(name: str) -> None:
    assert describe_frame(frame_bytes(name)) == load(name)


@pytest.mark.parametrize("name", NAMES)
def test_decode_frame_reads_vector(name: str) -> None:
    """The typed decoder the clients use agrees with the description of every vector."""
    desc = load(name)
    frame = codec.decode_frame(codec.split_size_prefix(frame_bytes(name)))
    assert frame.stream_id == desc["stream_id"]
    body, want = frame.body, desc.get("body", {})
    kind = desc["body_type"]
    if kind == "ResponseEnd":
        assert isinstance(body, codec.ResponseEnd)
        assert body.status == StatusCode[want["status"]]
        assert (body.retryable, body.retry_after_ms, body.cost_usd, body.cache_hit) == (
            want["retryable"], want["retry_after_ms"], want["cost_usd"], want["cache_hit"])
        for key in ("origin", "message", "content", "finish_reason", "trace_id", "model"):
            assert getattr(body, key) == want.get(key, ""), key
        assert [(c.id, c.type, c.name, c.arguments) for c in body.tool_calls] == [
            (c["id"], c["type"], c["name"], c["arguments"]) for c in want.get("tool_calls", [])]
        usage = want.get("usage", {})
        assert body.usage.prompt_tokens == usage.get("prompt_tokens", 0)
        assert body.usage.completion_tokens == usage.get("completion_tokens", 0)
        assert body.usage.cached_tokens == usage.get("cached_tokens", 0)
        assert body.usage.reasoning_tokens == usage.get("reasoning_tokens", 0)
        assert body.usage.cache_write_tokens == usage.get("cache_write_tokens", 0)
        assert [(v.guardrail, v.verdict.name.capitalize(), v.reason)
                for v in body.verdicts] == [(v["guardrail"], v["verdict"], v.get("reason", ""))
                                            for v in want.get("verdicts", [])]
        if body.ok:
            response = body.response()
            assert response.content == want.get("content", "")
            assert response.usage.total_tokens == usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        else:
            err = body.error()
            assert (err.status.name, err.retryable, err.retry_after_ms, err.origin, err.message) == (
                want["status"], want["retryable"], want["retry_after_ms"], want.get("origin", ""),
                want.get("message", ""))
    elif kind == "ResponseChunk":
        assert isinstance(body, codec.Chunk)
        assert (body.seq, body.delta) == (want["seq"], want.get("delta", ""))
        assert [(d.index, d.id, d.type, d.name, d.arguments) for d in body.tool_calls] == [
            (d["index"], d.get("id"), d.get("type"), d.get("name"), d.get("arguments"))
            for d in want.get("tool_calls", [])]
    elif kind == "ResponseStart":
        assert isinstance(body, codec.StreamStart)
        assert (body.model, body.provider, body.cache_hit, body.trace_id) == (
            want.get("model", ""), want.get("provider", ""), want["cache_hit"], want.get("trace_id", ""))
    elif kind == "HelloAck":
        assert isinstance(body, codec.ServerInfo)
        assert (body.proto_major, body.proto_minor, body.server_version, body.max_frame_size,
                body.max_concurrent_streams, int(body.features), body.heartbeat_ms) == (
            want["proto_major"], want["proto_minor"], want.get("server_version", ""), want["max_frame_size"],
            want["max_concurrent_streams"], want["features"], want["heartbeat_ms"])
    elif kind == "Error":
        assert isinstance(body, codec.ConnectionErrorBody)
        assert (body.status.name, body.message, body.supported_major_min, body.supported_major_max) == (
            want["status"], want.get("message", ""), want["supported_major_min"], want["supported_major_max"])
    elif kind == "GoAway":
        assert body == codec.GoAway(want["last_stream_id"], want.get("reason", ""), want["drain_ms"])
    elif kind == "Ping":
        assert body == codec.Ping(want["opaque"])
    elif kind == "Pong":
        assert body == codec.Pong(want["opaque"])
    elif kind == "NONE":
        assert body is None
    elif kind.startswith("UNKNOWN:"):
        assert body == codec.UnknownBody(int(kind.split(":")[1]))
    else:
        assert kind in CLIENT_SENT
        assert isinstance(body, codec.UnknownBody)  # the client never reads what clients send


# ------------------------------------------------------------------------------------ encoding


def _tool_call(d: Dict[str, Any]) -> ToolCall:
    return ToolCall(id=d["id"], name=d["name"], arguments=d["arguments"], type=d["type"])


def _metadata(d: Optional[Dict[str, Any]]) -> Optional[Metadata]:
    if d is None:
        return None
    tags = None if "tags" not in d else {t["key"]: t["value"] for t in d["tags"]}
    return Metadata(**{k: v for k, v in d.items() if k != "tags"}, tags=tags)


def _params(d: Optional[Dict[str, Any]]) -> Optional[Params]:
    if d is None:
        return None
    rf = d.get("response_format")
    return Params(
        temperature=d.get("temperature"), top_p=d.get("top_p"), max_tokens=d.get("max_tokens"), seed=d.get("seed"),
        stop=d.get("stop"),
        tools=None if "tools" not in d else [
            Tool(name=t["name"], description=t.get("description"), parameters_json=t.get("parameters_json"),
                 type=t["type"]) for t in d["tools"]],
        tool_choice=d.get("tool_choice"),
        response_format=None if rf is None else ResponseFormat(
            ResponseFormatType[{"Text": "TEXT", "JsonObject": "JSON_OBJECT", "JsonSchema": "JSON_SCHEMA"}[rf["type"]]],
            rf.get("schema_name"), rf.get("schema_json"), rf["strict"]),
        extra_json=d.get("extra_json"))


def request_from(d: Dict[str, Any]) -> ChatRequest:
    """The SDK's request value for a Request description."""
    messages = None if "messages" not in d else [
        Message(role=m["role"], content=m.get("content"), name=m.get("name"),
                tool_calls=None if "tool_calls" not in m else [_tool_call(c) for c in m["tool_calls"]],
                tool_call_id=m.get("tool_call_id")) for m in d["messages"]]
    cache = d.get("cache")
    return ChatRequest(model=d.get("model"), messages=messages, params=_params(d.get("params")), stream=d["stream"],
                       metadata=_metadata(d.get("metadata")), timeout_ms=d["timeout_ms"],
                       cache=None if cache is None else CacheControl(**cache))


def encode(desc: Dict[str, Any]) -> bytes:
    """Encodes a client-sent frame through the package's own encoders."""
    sid, body = desc["stream_id"], desc.get("body", {})
    kind = desc["body_type"]
    if kind == "Request":
        return codec.encode_request(sid, request_from(body))
    if kind == "Hello":
        return codec.encode_hello(client_name=body.get("client_name"), client_version=body.get("client_version"),
                                  sdk_language=body.get("sdk_language"), max_frame_size=body["max_frame_size"],
                                  features=body["features"], proto_major=body["proto_major"],
                                  proto_minor=body["proto_minor"])
    if kind == "Cancel":
        return codec.encode_cancel(sid, body.get("reason"))
    if kind == "Feedback":
        return codec.encode_feedback(sid, body["trace_id"], body["score"], body.get("comment"),
                                     _metadata(body.get("metadata")))
    if kind == "Ping":
        return codec.encode_ping(body["opaque"])
    assert kind == "Pong"
    return codec.encode_pong(body["opaque"])


ENCODABLE = [n for n in NAMES if load(n)["body_type"] in CLIENT_SENT]


def test_every_client_frame_kind_has_a_vector() -> None:
    assert {load(n)["body_type"] for n in ENCODABLE} == set(CLIENT_SENT)


@pytest.mark.parametrize("name", ENCODABLE)
def test_encode_matches_vector(name: str) -> None:
    desc = load(name)
    data = encode(desc)
    assert int.from_bytes(data[:4], "little") == len(data) - 4
    assert data[8:12] == b"ORG1"
    assert describe_frame(data) == desc


def _frame_describe_tool() -> str:
    tool = os.environ.get("OUTRIGGER_FRAME_DESCRIBE")
    if not tool:
        pytest.skip("OUTRIGGER_FRAME_DESCRIBE is not set: no independent C++ reader to check encoded frames with")
    return tool


def _frame_describe(tool: str, data: bytes, tmp_path: Path) -> Any:
    path = tmp_path / "frame.bin"
    path.write_bytes(data)
    out = subprocess.run([tool, str(path)], check=True, stdout=subprocess.PIPE, timeout=30)
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", ENCODABLE)
def test_frame_describe_reads_encoded_frame(name: str, tmp_path: Path) -> None:
    tool = _frame_describe_tool()
    desc = load(name)
    assert _frame_describe(tool, encode(desc), tmp_path) == desc


def _options_from(body: Dict[str, Any]) -> CallOptions:
    """The keyword arguments a caller would pass to Client.chat for this request."""
    p = _params(body.get("params")) or Params()
    return CallOptions(model=body.get("model"), metadata=_metadata(body.get("metadata")), temperature=p.temperature,
                       top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed, stop=p.stop, tools=p.tools,
                       tool_choice=p.tool_choice, response_format=p.response_format, extra=p.extra_json,
                       cache=None if "cache" not in body else CacheControl(**body["cache"]))


@pytest.mark.parametrize("name", ["request_minimal", "request_full", "request_unicode"])
def test_client_arguments_build_the_vector(name: str, tmp_path: Path) -> None:
    """What Client.chat / Client.stream build from their arguments encodes to the vector's frame."""
    desc = load(name)
    body = desc["body"]
    messages: List[Any] = [
        {k: ([c for c in v] if k == "tool_calls" else v) for k, v in m.items()} for m in body["messages"]]
    req = build_request(messages, _options_from(body), stream=body["stream"], default_model="unused",
                        default_metadata=Metadata())
    req = ChatRequest(req.model, req.messages, req.params, req.stream, req.metadata, body["timeout_ms"], req.cache)
    data = codec.encode_request(desc["stream_id"], req)
    assert describe_frame(data) == desc
    if os.environ.get("OUTRIGGER_FRAME_DESCRIBE"):
        assert _frame_describe(os.environ["OUTRIGGER_FRAME_DESCRIBE"], data, tmp_path) == desc


def test_verdict_names_match_schema() -> None:
    assert [v.name for v in Verdict] == ["PASS", "FLAG", "DENY", "REWRITE", "SKIPPED", "ERROR"]
