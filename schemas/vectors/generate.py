#!/usr/bin/env python3
"""Writes the shared wire-protocol test vectors: NAME.bin (one size-prefixed frame) + NAME.json.

Each vector is defined once, as its canonical description (see README.md). The description is
encoded with the Python code that `flatc --python` generates from ../outrigger.fbs and the
official `flatbuffers` runtime, then decoded again and compared, so the two files always agree.

Usage:
    python3 schemas/vectors/generate.py            # (re)write every vector next to this file
    python3 schemas/vectors/generate.py --check    # verify the committed files, write nothing

Needs `flatc` (2.0.8, on PATH or --flatc) and `pip install flatbuffers==2.0.7`.
"""

import argparse
import importlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, os.pardir, "outrigger.fbs")
FILE_IDENTIFIER = b"ORG1"

# ------------------------------------------------------------------------------------ schema map
#
# Field order equals the schema's field order (the slot index). Kinds:
#   ("scalar", flatbuffers type, default)   always described, default when absent
#   ("optional", flatbuffers type)          `= null` scalar: described only when set
#   ("enum", EnumName, storage type, default name)
#   ("flags", storage type)                 bit flags, described as a plain integer
#   ("string",) / ("table", Name) / ("strings",) / ("tables", Name)
U16, U32, U64, I64, F32, F64, BOOL, I8 = "Uint16", "Uint32", "Uint64", "Int64", "Float32", "Float64", "Bool", "Int8"
S = ("string",)

TABLES = {
    "Hello": [
        ("proto_major", ("scalar", U16, 1)),
        ("proto_minor", ("scalar", U16, 0)),
        ("client_name", S),
        ("client_version", S),
        ("sdk_language", S),
        ("max_frame_size", ("scalar", U32, 4194304)),
        ("features", ("flags", U64)),
    ],
    "HelloAck": [
        ("proto_major", ("scalar", U16, 0)),
        ("proto_minor", ("scalar", U16, 0)),
        ("server_version", S),
        ("max_frame_size", ("scalar", U32, 0)),
        ("max_concurrent_streams", ("scalar", U32, 0)),
        ("features", ("flags", U64)),
        ("heartbeat_ms", ("scalar", U32, 0)),
    ],
    "Error": [
        ("status", ("enum", "Status", "Int32", "INTERNAL")),
        ("message", S),
        ("supported_major_min", ("scalar", U16, 0)),
        ("supported_major_max", ("scalar", U16, 0)),
    ],
    "Ping": [("opaque", ("scalar", U64, 0))],
    "Pong": [("opaque", ("scalar", U64, 0))],
    "GoAway": [
        ("last_stream_id", ("scalar", U64, 0)),
        ("reason", S),
        ("drain_ms", ("scalar", U32, 0)),
    ],
    "ToolCall": [("id", S), ("type", S), ("name", S), ("arguments", S)],
    "Message": [
        ("role", S),
        ("content", S),
        ("name", S),
        ("tool_calls", ("tables", "ToolCall")),
        ("tool_call_id", S),
    ],
    "Tool": [("type", S), ("name", S), ("description", S), ("parameters_json", S)],
    "ResponseFormat": [
        ("type", ("enum", "ResponseFormatType", I8, "Text")),
        ("schema_name", S),
        ("schema_json", S),
        ("strict", ("scalar", BOOL, False)),
    ],
    "Params": [
        ("temperature", ("optional", F32)),
        ("top_p", ("optional", F32)),
        ("max_tokens", ("optional", U32)),
        ("seed", ("optional", I64)),
        ("stop", ("strings",)),
        ("tools", ("tables", "Tool")),
        ("tool_choice", S),
        ("response_format", ("table", "ResponseFormat")),
        ("extra_json", S),
    ],
    "Tag": [("key", S), ("value", S)],
    "Metadata": [
        ("tenant", S),
        ("user", S),
        ("session", S),
        ("request_id", S),
        ("prompt_id", S),
        ("prompt_version", S),
        ("tags", ("tables", "Tag")),
        ("traceparent", S),
    ],
    "CacheControl": [
        ("bypass", ("scalar", BOOL, False)),
        ("no_store", ("scalar", BOOL, False)),
        ("ttl_ms", ("scalar", U32, 0)),
    ],
    "Request": [
        ("model", S),
        ("messages", ("tables", "Message")),
        ("params", ("table", "Params")),
        ("stream", ("scalar", BOOL, False)),
        ("metadata", ("table", "Metadata")),
        ("timeout_ms", ("scalar", U32, 0)),
        ("cache", ("table", "CacheControl")),
    ],
    "Cancel": [("reason", S)],
    "Feedback": [
        ("trace_id", S),
        ("score", ("scalar", F64, 0.0)),
        ("comment", S),
        ("metadata", ("table", "Metadata")),
    ],
    "ResponseStart": [
        ("model", S),
        ("provider", S),
        ("cache_hit", ("scalar", BOOL, False)),
        ("trace_id", S),
        ("system_fingerprint", S),
        ("service_tier", S),
    ],
    "ToolCallDelta": [
        ("index", ("scalar", U32, 0)),
        ("id", S),
        ("type", S),
        ("name", S),
        ("arguments", S),
    ],
    "ResponseChunk": [
        ("seq", ("scalar", U32, 0)),
        ("delta", S),
        ("tool_calls", ("tables", "ToolCallDelta")),
        ("refusal", ("scalar", BOOL, False)),
    ],
    "Usage": [
        ("prompt_tokens", ("scalar", U32, 0)),
        ("completion_tokens", ("scalar", U32, 0)),
        ("cached_tokens", ("scalar", U32, 0)),
        ("reasoning_tokens", ("scalar", U32, 0)),
        ("cache_write_tokens", ("scalar", U32, 0)),
    ],
    "GuardrailVerdict": [
        ("guardrail", S),
        ("verdict", ("enum", "Verdict", I8, "Pass")),
        ("reason", S),
    ],
    "ResponseEnd": [
        ("status", ("enum", "Status", "Int32", "OK")),
        ("retryable", ("scalar", BOOL, False)),
        ("retry_after_ms", ("scalar", U32, 0)),
        ("origin", S),
        ("message", S),
        ("content", S),
        ("finish_reason", S),
        ("tool_calls", ("tables", "ToolCall")),
        ("usage", ("table", "Usage")),
        ("cost_usd", ("scalar", F64, 0.0)),
        ("cache_hit", ("scalar", BOOL, False)),
        ("trace_id", S),
        ("verdicts", ("tables", "GuardrailVerdict")),
        ("model", S),
        ("reached_provider", ("scalar", BOOL, False)),
        ("refusal", ("scalar", BOOL, False)),
        ("system_fingerprint", S),
        ("service_tier", S),
    ],
}


def camel(name):
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


class Wire:
    """The generated modules, loaded from a fresh `flatc --python` run."""

    def __init__(self, flatc):
        self.tmp = tempfile.mkdtemp(prefix="outrigger-vectors-")
        subprocess.run([flatc, "--python", "-o", self.tmp, SCHEMA], check=True)
        sys.path.insert(0, self.tmp)
        for name in [n for n in sys.modules if n == "outrigger" or n.startswith("outrigger.")]:
            del sys.modules[name]
        importlib.invalidate_caches()
        self.modules = {}
        for name in list(TABLES) + ["Frame", "Body", "Status", "ResponseFormatType", "Verdict"]:
            self.modules[name] = importlib.import_module("outrigger.wire." + name)
        self.enums = {
            name: {k: v for k, v in vars(getattr(self.modules[name], name)).items() if not k.startswith("_")}
            for name in ["Body", "Status", "ResponseFormatType", "Verdict"]
        }

    def close(self):
        sys.path.remove(self.tmp)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fn(self, table, suffix):
        return getattr(self.modules[table], table + suffix)

    def enum_name(self, enum, value):
        for k, v in self.enums[enum].items():
            if v == value:
                return k
        raise ValueError("%s has no member %d" % (enum, value))


# ------------------------------------------------------------------------------------ encoding


def encode_table(w, b, table, desc):
    unknown = set(desc) - {name for name, _ in TABLES[table]}
    if unknown:
        raise KeyError("%s has no field(s) %s" % (table, sorted(unknown)))
    # Children first: a FlatBuffers table can only refer to objects built before it.
    refs = {}
    for name, kind in TABLES[table]:
        if name not in desc:
            continue
        value = desc[name]
        if kind[0] == "string":
            refs[name] = b.CreateString(value)
        elif kind[0] == "table":
            refs[name] = encode_table(w, b, kind[1], value)
        elif kind[0] in ("strings", "tables"):
            items = [b.CreateString(v) if kind[0] == "strings" else encode_table(w, b, kind[1], v) for v in value]
            w.fn(table, "Start" + camel(name) + "Vector")(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            refs[name] = b.EndVector()
    w.fn(table, "Start")(b)
    for name, kind in TABLES[table]:
        if name not in desc:
            continue
        value = desc[name]
        if kind[0] == "enum":
            value = w.enums[kind[1]][value]
        w.fn(table, "Add" + camel(name))(b, refs.get(name, value))
    return w.fn(table, "End")(b)


def encode_frame(w, desc):
    b = __import__("flatbuffers").Builder(1024)
    body_type = desc["body_type"]
    body = None
    if body_type.startswith("UNKNOWN:"):
        # A member from a newer schema: some table this schema does not know.
        type_byte = int(body_type.split(":", 1)[1])
        future = b.CreateString("a body type from a newer protocol")
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, future, 0)
        b.PrependUint32Slot(1, 7, 0)
        body = b.EndObject()
    else:
        type_byte = w.enums["Body"][body_type]
        if "body" in desc:
            body = encode_table(w, b, body_type, desc["body"])
    w.fn("Frame", "Start")(b)
    w.fn("Frame", "AddStreamId")(b, desc["stream_id"])
    w.fn("Frame", "AddBodyType")(b, type_byte)
    if body is not None:
        w.fn("Frame", "AddBody")(b, body)
    root = w.fn("Frame", "End")(b)
    b.FinishSizePrefixed(root, FILE_IDENTIFIER)
    return bytes(b.Output())


# ------------------------------------------------------------------------------------ decoding


def decode_table(w, table, obj):
    out = {}
    for name, kind in TABLES[table]:
        accessor = getattr(obj, camel(name))
        if kind[0] in ("scalar", "optional", "flags"):
            value = accessor()
            if value is None:
                continue
            out[name] = value
        elif kind[0] == "enum":
            out[name] = w.enum_name(kind[1], accessor())
        elif kind[0] == "string":
            value = accessor()
            if value is not None:
                out[name] = value.decode("utf-8")
        elif kind[0] == "table":
            value = accessor()
            if value is not None:
                out[name] = decode_table(w, kind[1], value)
        else:
            if getattr(obj, camel(name) + "IsNone")():
                continue
            count = getattr(obj, camel(name) + "Length")()
            if kind[0] == "strings":
                out[name] = [accessor(i).decode("utf-8") for i in range(count)]
            else:
                out[name] = [decode_table(w, kind[1], accessor(i)) for i in range(count)]
    return out


def decode_frame(w, data):
    (length,) = struct.unpack_from("<I", data, 0)
    if length != len(data) - 4:
        raise ValueError("length prefix %d, but %d bytes follow" % (length, len(data) - 4))
    frame_cls = getattr(w.modules["Frame"], "Frame")
    if not frame_cls.FrameBufferHasIdentifier(data, 0, size_prefixed=True):
        raise ValueError("file identifier is not ORG1")
    frame = frame_cls.GetRootAs(data, 4)
    out = {"stream_id": frame.StreamId()}
    type_byte = frame.BodyType()
    names = {v: k for k, v in w.enums["Body"].items()}
    if type_byte not in names:
        out["body_type"] = "UNKNOWN:%d" % type_byte
        return out
    out["body_type"] = names[type_byte]
    body = frame.Body()
    if type_byte != 0 and body is not None:
        table = getattr(w.modules[names[type_byte]], names[type_byte])()
        table.Init(body.Bytes, body.Pos)
        out["body"] = decode_table(w, names[type_byte], table)
    return out


# ------------------------------------------------------------------------------------ vectors

FEATURES_ALL = 1 | 2 | 4 | 8  # Streaming | Cancel | Feedback | GoAway
MAX_SAFE = 2**53 - 1

FULL_METADATA = {
    "tenant": "acme",
    "user": "u-1842",
    "session": "s-77",
    "request_id": "req-0001",
    "prompt_id": "support-triage",
    "prompt_version": "v3",
    "tags": [{"key": "team", "value": "billing"}, {"key": "env", "value": "staging"}],
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
}

WEATHER_TOOL_ARGS = '{"city":"Lisbon","unit":"celsius"}'

UNICODE = "héllo wörld — 你好, 世界 🌍🚀 👩‍👩‍👧 مرحبا بالعالم שלום e\u0301 \u202eRTL\u202c"


def vectors():
    yield "hello", {
        "stream_id": 0,
        "body_type": "Hello",
        "body": {
            "proto_major": 1,
            "proto_minor": 0,
            "client_name": "vector-generator",
            "client_version": "1.0.0",
            "sdk_language": "python",
            "max_frame_size": 4194304,
            "features": FEATURES_ALL,
        },
    }
    # Nothing set: every scalar takes the schema default.
    yield "hello_defaults", {
        "stream_id": 0,
        "body_type": "Hello",
        "body": {"proto_major": 1, "proto_minor": 0, "max_frame_size": 4194304, "features": 0},
    }
    yield "hello_ack", {
        "stream_id": 0,
        "body_type": "HelloAck",
        "body": {
            "proto_major": 1,
            "proto_minor": 0,
            "server_version": "0.1.0",
            "max_frame_size": 4194304,
            "max_concurrent_streams": 1024,
            "features": FEATURES_ALL,
            "heartbeat_ms": 15000,
        },
    }
    yield "request_minimal", {
        "stream_id": 1,
        "body_type": "Request",
        "body": {
            "model": "mock-1",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": False,
            "timeout_ms": 0,
        },
    }
    yield "request_full", {
        "stream_id": 3,
        "body_type": "Request",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are a weather assistant."},
                {"role": "user", "content": "Weather in Lisbon?", "name": "alice"},
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "name": "get_weather", "arguments": WEATHER_TOOL_ARGS},
                        {"id": "call_2", "type": "function", "name": "get_time", "arguments": "{}"},
                    ],
                },
                {"role": "tool", "content": '{"temp_c":21}', "tool_call_id": "call_1"},
                {"role": "tool", "content": '{"time":"12:00"}', "tool_call_id": "call_2"},
            ],
            "params": {
                "temperature": 0.75,
                "top_p": 0.5,
                "max_tokens": 512,
                "seed": -42,
                "stop": ["\n\n", "END"],
                "tools": [
                    {
                        "type": "function",
                        "name": "get_weather",
                        "description": "Current weather for a city",
                        "parameters_json": '{"type":"object","properties":{"city":{"type":"string"},'
                        '"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}',
                    },
                    {
                        "type": "function",
                        "name": "get_time",
                        "description": "Current time",
                        "parameters_json": '{"type":"object","properties":{}}',
                    },
                ],
                "tool_choice": "auto",
                "response_format": {
                    "type": "JsonSchema",
                    "schema_name": "weather_answer",
                    "schema_json": '{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"]}',
                    "strict": True,
                },
                "extra_json": '{"mock":{"chunks":3}}',
            },
            "stream": True,
            "metadata": FULL_METADATA,
            "timeout_ms": 30000,
            "cache": {"bypass": False, "no_store": True, "ttl_ms": 60000},
        },
    }
    yield "request_unicode", {
        "stream_id": 5,
        "body_type": "Request",
        "body": {
            "model": "mock-ü",
            "messages": [
                {"role": "user", "content": UNICODE},
                {"role": "user", "content": "before\u0000after"},
            ],
            "params": {"stop": ["🛑", "\u0000"]},
            "stream": False,
            "metadata": {
                "tenant": "テナント",
                "user": "مستخدم",
                "tags": [{"key": "ключ", "value": "значение 🔑"}],
            },
            "timeout_ms": 0,
        },
    }
    # Strings that are set but empty are "" (not absent); so are empty vectors and a table with
    # nothing set.
    yield "request_empty_strings", {
        "stream_id": 7,
        "body_type": "Request",
        "body": {
            "model": "",
            "messages": [{"role": "", "content": "", "name": "", "tool_calls": [], "tool_call_id": ""}],
            "params": {"stop": [""], "tools": [], "tool_choice": "", "extra_json": ""},
            "stream": False,
            "metadata": {
                "tenant": "",
                "user": "",
                "session": "",
                "request_id": "",
                "prompt_id": "",
                "prompt_version": "",
                "tags": [{"key": "", "value": ""}],
                "traceparent": "",
            },
            "timeout_ms": 0,
            "cache": {"bypass": False, "no_store": False, "ttl_ms": 0},
        },
    }
    yield "request_large", {
        "stream_id": 9,
        "body_type": "Request",
        "body": {
            "model": "mock-1",
            "messages": [{"role": "user", "content": "0123456789abcdef" * 65536}],
            "stream": True,
            "timeout_ms": 120000,
        },
    }
    yield "response_start", {
        "stream_id": 3,
        "body_type": "ResponseStart",
        "body": {
            "model": "gpt-4o-mini",
            "provider": "mock",
            "cache_hit": False,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "system_fingerprint": "fp_44709d6fcb",
            "service_tier": "default",
        },
    }
    yield "response_chunk", {
        "stream_id": 3,
        "body_type": "ResponseChunk",
        "body": {
            "seq": 2,
            "delta": "It is sunny",
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "name": "get_weather", "arguments": '{"city":'},
                {"index": 1, "arguments": '"Lisbon"}'},
            ],
            "refusal": False,
        },
    }
    yield "response_chunk_refusal", {
        "stream_id": 5,
        "body_type": "ResponseChunk",
        "body": {"seq": 0, "delta": "I can't help with that.", "refusal": True},
    }
    yield "response_end_ok", {
        "stream_id": 3,
        "body_type": "ResponseEnd",
        "body": {
            "status": "OK",
            "retryable": False,
            "retry_after_ms": 0,
            "origin": "provider/mock",
            "content": "It is sunny in Lisbon.",
            "finish_reason": "tool_calls",
            "tool_calls": [
                {"id": "call_1", "type": "function", "name": "get_weather", "arguments": WEATHER_TOOL_ARGS}
            ],
            "usage": {"prompt_tokens": 42, "completion_tokens": 7, "cached_tokens": 16, "reasoning_tokens": 3,
                      "cache_write_tokens": 5},
            "cost_usd": 0.001953125,
            "cache_hit": True,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "verdicts": [
                {"guardrail": "input_rules", "verdict": "Pass"},
                {"guardrail": "pii", "verdict": "Rewrite", "reason": "redacted 1 email address"},
                {"guardrail": "toxicity", "verdict": "Skipped", "reason": "disabled for tenant"},
            ],
            "model": "gpt-4o-mini-2024-07-18",
            "reached_provider": True,
            "refusal": False,
            "system_fingerprint": "fp_44709d6fcb",
            "service_tier": "default",
        },
    }
    yield "response_end_refusal", {
        "stream_id": 5,
        "body_type": "ResponseEnd",
        "body": {
            "status": "OK",
            "retryable": False,
            "retry_after_ms": 0,
            "content": "I can't help with that.",
            "finish_reason": "content_filter",
            "cost_usd": 0.0,
            "cache_hit": False,
            "reached_provider": True,
            "refusal": True,
        },
    }
    yield "response_end_error", {
        "stream_id": 11,
        "body_type": "ResponseEnd",
        "body": {
            "status": "DEADLINE_EXCEEDED",
            "retryable": True,
            "retry_after_ms": 250,
            "origin": "provider/mock",
            "message": "deadline of 100 ms exceeded before the first byte",
            "cost_usd": 0.0,
            "cache_hit": False,
            "reached_provider": False,
            "refusal": False,
        },
    }
    yield "cancel", {"stream_id": 13, "body_type": "Cancel", "body": {"reason": "user pressed stop"}}
    yield "feedback", {
        "stream_id": 15,
        "body_type": "Feedback",
        "body": {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "score": -0.75,
            "comment": "wrong city 👎",
            "metadata": {"tenant": "acme", "user": "u-1842"},
        },
    }
    yield "error", {
        "stream_id": 0,
        "body_type": "Error",
        "body": {
            "status": "FAILED_PRECONDITION",
            "message": "protocol major 2 is not supported",
            "supported_major_min": 1,
            "supported_major_max": 1,
        },
    }
    yield "ping", {"stream_id": 0, "body_type": "Ping", "body": {"opaque": MAX_SAFE}}
    yield "pong", {"stream_id": 0, "body_type": "Pong", "body": {"opaque": MAX_SAFE}}
    yield "goaway", {
        "stream_id": 0,
        "body_type": "GoAway",
        "body": {"last_stream_id": 4294967297, "reason": "shutting down", "drain_ms": 5000},
    }
    yield "unknown_body", {"stream_id": 17, "body_type": "UNKNOWN:200"}
    yield "none_body", {"stream_id": 19, "body_type": "NONE"}


# ------------------------------------------------------------------------------------ flatc cross-check

FEATURE_BITS = {"Streaming": 1, "Cancel": 2, "Feedback": 4, "GoAway": 8}


def flatc_normalise(value, key=None):
    """flatc's own JSON text of a frame, brought to the canonical form (nulls dropped, flags as
    integers)."""
    if isinstance(value, dict):
        return {k: flatc_normalise(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [flatc_normalise(v) for v in value]
    if key == "features" and isinstance(value, str):
        return sum(FEATURE_BITS[name] for name in value.split())
    return value


def close_enough(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close_enough(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close_enough(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return a == b


def flatc_describe(flatc, path):
    """Decodes a frame with flatc itself: an independent check of the Python encoding."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [flatc, "--json", "--strict-json", "--defaults-json", "--size-prefixed", "--raw-binary",
             "-o", out, SCHEMA, "--", path],
            check=True, stdout=subprocess.DEVNULL)
        name = os.path.splitext(os.path.basename(path))[0] + ".json"
        with open(os.path.join(out, name), encoding="utf-8") as f:
            return flatc_normalise(json.load(f))


# ------------------------------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the files on disk, write nothing")
    parser.add_argument("--flatc", default=os.environ.get("FLATC", "flatc"), help="flatc binary")
    parser.add_argument("--out", default=HERE, help="output folder (default: this folder)")
    args = parser.parse_args()

    w = Wire(args.flatc)
    failures = 0
    try:
        for name, desc in vectors():
            data = encode_frame(w, desc)
            if decode_frame(w, data) != desc:
                raise AssertionError("%s: decoding the encoded frame does not give its description" % name)
            text = json.dumps(desc, ensure_ascii=False, indent=2) + "\n"
            bin_path = os.path.join(args.out, name + ".bin")
            json_path = os.path.join(args.out, name + ".json")
            if args.check:
                try:
                    with open(bin_path, "rb") as f:
                        on_disk = f.read()
                    with open(json_path, encoding="utf-8") as f:
                        described = json.load(f)
                except OSError as e:
                    print("FAIL %s: %s" % (name, e))
                    failures += 1
                    continue
                if decode_frame(w, on_disk) != described or described != desc:
                    print("FAIL %s: files differ from generate.py" % name)
                    failures += 1
                elif not desc["body_type"].startswith("UNKNOWN:") and not close_enough(
                        flatc_describe(args.flatc, bin_path), described):
                    print("FAIL %s: flatc decodes the frame differently" % name)
                    failures += 1
                else:
                    print("ok   %s" % name)
            else:
                with open(bin_path, "wb") as f:
                    f.write(data)
                with open(json_path, "w", encoding="utf-8") as f:
                    f.write(text)
                print("wrote %s (%d bytes)" % (name, len(data)))
    finally:
        w.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
