"""The canonical JSON description of a frame (the format of schemas/vectors/README.md).

`describe_frame` reads every body type, including the ones only clients send, so it serves to
check what this package encodes and to debug captured traffic:

    python -m outrigger.describe frame.bin
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any, Dict, List, Sequence, Tuple

from .codec import BODY_NAMES, root_frame, split_size_prefix
from .types import ResponseFormatType, StatusCode, Verdict

# Field order is the schema's. A kind is one of:
#   "scalar" (always described), "optional" (`= null`: described when set), "string", "strings",
#   ("table", Name), ("tables", Name), ("enum", names by value).
_Kind = Any
_STATUS = {s.value: s.name for s in StatusCode}
_FORMAT = {"Text": 0, "JsonObject": 1, "JsonSchema": 2}
_FORMAT_NAMES = {v: k for k, v in _FORMAT.items()}
_VERDICT_NAMES = {0: "Pass", 1: "Flag", 2: "Deny", 3: "Rewrite", 4: "Skipped", 5: "Error"}
assert len(_FORMAT_NAMES) == len(ResponseFormatType) and len(_VERDICT_NAMES) == len(Verdict)

_S = "string"
TABLES: Dict[str, Sequence[Tuple[str, _Kind]]] = {
    "Hello": [("proto_major", "scalar"), ("proto_minor", "scalar"), ("client_name", _S), ("client_version", _S),
              ("sdk_language", _S), ("max_frame_size", "scalar"), ("features", "scalar")],
    "HelloAck": [("proto_major", "scalar"), ("proto_minor", "scalar"), ("server_version", _S),
                 ("max_frame_size", "scalar"), ("max_concurrent_streams", "scalar"), ("features", "scalar"),
                 ("heartbeat_ms", "scalar")],
    "Error": [("status", ("enum", _STATUS)), ("message", _S), ("supported_major_min", "scalar"),
              ("supported_major_max", "scalar")],
    "Ping": [("opaque", "scalar")],
    "Pong": [("opaque", "scalar")],
    "GoAway": [("last_stream_id", "scalar"), ("reason", _S), ("drain_ms", "scalar")],
    "ToolCall": [("id", _S), ("type", _S), ("name", _S), ("arguments", _S)],
    "Message": [("role", _S), ("content", _S), ("name", _S), ("tool_calls", ("tables", "ToolCall")),
                ("tool_call_id", _S)],
    "Tool": [("type", _S), ("name", _S), ("description", _S), ("parameters_json", _S)],
    "ResponseFormat": [("type", ("enum", _FORMAT_NAMES)), ("schema_name", _S), ("schema_json", _S),
                       ("strict", "scalar")],
    "Params": [("temperature", "optional"), ("top_p", "optional"), ("max_tokens", "optional"),
               ("seed", "optional"), ("stop", "strings"), ("tools", ("tables", "Tool")), ("tool_choice", _S),
               ("response_format", ("table", "ResponseFormat")), ("extra_json", _S)],
    "Tag": [("key", _S), ("value", _S)],
    "Metadata": [("tenant", _S), ("user", _S), ("session", _S), ("request_id", _S), ("prompt_id", _S),
                 ("prompt_version", _S), ("tags", ("tables", "Tag")), ("traceparent", _S)],
    "CacheControl": [("bypass", "scalar"), ("no_store", "scalar"), ("ttl_ms", "scalar")],
    "Request": [("model", _S), ("messages", ("tables", "Message")), ("params", ("table", "Params")),
                ("stream", "scalar"), ("metadata", ("table", "Metadata")), ("timeout_ms", "scalar"),
                ("cache", ("table", "CacheControl"))],
    "Cancel": [("reason", _S)],
    "Feedback": [("trace_id", _S), ("score", "scalar"), ("comment", _S), ("metadata", ("table", "Metadata"))],
    "ResponseStart": [("model", _S), ("provider", _S), ("cache_hit", "scalar"), ("trace_id", _S),
                      ("system_fingerprint", _S), ("service_tier", _S)],
    "ToolCallDelta": [("index", "scalar"), ("id", _S), ("type", _S), ("name", _S), ("arguments", _S)],
    "ResponseChunk": [("seq", "scalar"), ("delta", _S), ("tool_calls", ("tables", "ToolCallDelta")),
                      ("refusal", "scalar")],
    "Usage": [("prompt_tokens", "scalar"), ("completion_tokens", "scalar"), ("cached_tokens", "scalar"),
              ("reasoning_tokens", "scalar"), ("cache_write_tokens", "scalar")],
    "GuardrailVerdict": [("guardrail", _S), ("verdict", ("enum", _VERDICT_NAMES)), ("reason", _S)],
    "ResponseEnd": [("status", ("enum", _STATUS)), ("retryable", "scalar"), ("retry_after_ms", "scalar"),
                    ("origin", _S), ("message", _S), ("content", _S), ("finish_reason", _S),
                    ("tool_calls", ("tables", "ToolCall")), ("usage", ("table", "Usage")),
                    ("cost_usd", "scalar"), ("cache_hit", "scalar"), ("trace_id", _S),
                    ("verdicts", ("tables", "GuardrailVerdict")), ("model", _S), ("reached_provider", "scalar"),
                    ("refusal", "scalar"), ("system_fingerprint", _S), ("service_tier", _S)],
}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _text(value: bytes) -> str:
    return value.decode("utf-8")


def _accessor_class(table: str) -> Any:
    return getattr(importlib.import_module("outrigger.wire." + table), table)


def describe_table(table: str, obj: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, kind in TABLES[table]:
        get = getattr(obj, _camel(name))
        if kind in ("scalar", "optional"):
            value = get()
            if value is not None:
                out[name] = value
        elif kind == _S:
            value = get()
            if value is not None:
                out[name] = _text(value)
        elif kind[0] == "enum":
            value = get()
            out[name] = kind[1].get(value, "UNKNOWN:%d" % value)
        elif kind[0] == "table":
            value = get()
            if value is not None:
                out[name] = describe_table(kind[1], value)
        elif not getattr(obj, _camel(name) + "IsNone")():
            count = getattr(obj, _camel(name) + "Length")()
            items: List[Any]
            if kind == "strings":
                items = [_text(get(i)) for i in range(count)]
            else:
                items = [describe_table(kind[1], get(i)) for i in range(count)]
            out[name] = items
    return out


def describe_payload(payload: bytes) -> Dict[str, Any]:
    """The description of one frame payload (the bytes after the length prefix)."""
    frame = root_frame(payload)
    out: Dict[str, Any] = {"stream_id": int(frame.StreamId())}
    body_type = int(frame.BodyType())
    name = BODY_NAMES.get(body_type)
    if name is None:
        out["body_type"] = "UNKNOWN:%d" % body_type
        return out
    out["body_type"] = name
    table = frame.Body()
    if body_type != 0 and table is not None:
        body = _accessor_class(name)()
        body.Init(table.Bytes, table.Pos)
        out["body"] = describe_table(name, body)
    return out


def describe_frame(data: bytes) -> Dict[str, Any]:
    """The description of one whole size-prefixed frame."""
    return describe_payload(split_size_prefix(data))


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m outrigger.describe FRAME_FILE", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f:
        data = f.read()
    json.dump(describe_frame(data), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
