"""Builds any frame from its canonical description (the inverse of outrigger.describe).

The package only encodes what a client sends; the fake daemon in these tests also needs the
frames a server sends, so this generic encoder drives the generated builder functions from the
same field table the describer uses.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

import flatbuffers

from outrigger.codec import BODY_NAMES, FILE_IDENTIFIER
from outrigger.describe import TABLES

_BODY_NUMBERS = {name: number for number, name in BODY_NAMES.items()}


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _fn(table: str, suffix: str) -> Any:
    return getattr(importlib.import_module("outrigger.wire." + table), table + suffix)


def _table(b: Any, table: str, desc: Dict[str, Any]) -> int:
    kinds = dict(TABLES[table])
    unknown = set(desc) - set(kinds)
    if unknown:
        raise KeyError("%s has no field(s) %s" % (table, sorted(unknown)))
    refs: Dict[str, int] = {}
    for name, kind in TABLES[table]:
        if name not in desc:
            continue
        value = desc[name]
        if kind == "string":
            refs[name] = b.CreateString(value)
        elif isinstance(kind, tuple) and kind[0] == "table":
            refs[name] = _table(b, kind[1], value)
        elif kind == "strings" or (isinstance(kind, tuple) and kind[0] == "tables"):
            items = [b.CreateString(v) if kind == "strings" else _table(b, kind[1], v) for v in value]
            _fn(table, "Start" + _camel(name) + "Vector")(b, len(items))
            for item in reversed(items):
                b.PrependUOffsetTRelative(item)
            refs[name] = b.EndVector()
    _fn(table, "Start")(b)
    for name, kind in TABLES[table]:
        if name not in desc:
            continue
        value = desc[name]
        if isinstance(kind, tuple) and kind[0] == "enum":
            value = {v: k for k, v in kind[1].items()}[value]
        _fn(table, "Add" + _camel(name))(b, refs.get(name, value))
    return int(_fn(table, "End")(b))


def encode(desc: Dict[str, Any]) -> bytes:
    """A whole size-prefixed frame for a description like {"stream_id", "body_type", "body"}."""
    b = flatbuffers.Builder(1024)
    body_type = desc["body_type"]
    body = None
    if body_type.startswith("UNKNOWN:"):
        number = int(body_type.split(":", 1)[1])
        b.StartObject(1)
        b.PrependUint32Slot(0, 7, 0)
        body = b.EndObject()
    else:
        number = _BODY_NUMBERS[body_type]
        if "body" in desc:
            body = _table(b, body_type, desc["body"])
    _fn("Frame", "Start")(b)
    _fn("Frame", "AddStreamId")(b, desc["stream_id"])
    _fn("Frame", "AddBodyType")(b, number)
    if body is not None:
        _fn("Frame", "AddBody")(b, body)
    b.FinishSizePrefixed(_fn("Frame", "End")(b), FILE_IDENTIFIER)
    return bytes(b.Output())



def tool_calls_end(stream_id: int, calls: int, arg_bytes: int, shared: bool) -> bytes:
    """An OK ResponseEnd with `calls` tool calls. Shared: every offset points to one ToolCall table,
    whose arguments string of `arg_bytes` a decoder copies once per offset; otherwise each call has
    its own table and string, as a server writes them."""
    b = flatbuffers.Builder(1024)

    def tool_call(i: int) -> int:
        name, args = b.CreateString("tool_%d" % i), b.CreateString("a" * arg_bytes)
        _fn("ToolCall", "Start")(b)
        _fn("ToolCall", "AddName")(b, name)
        _fn("ToolCall", "AddArguments")(b, args)
        return int(_fn("ToolCall", "End")(b))

    first = tool_call(0)
    offsets = [first] + [first if shared else tool_call(i) for i in range(1, calls)]
    _fn("ResponseEnd", "StartToolCallsVector")(b, calls)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    vector = b.EndVector()
    _fn("ResponseEnd", "Start")(b)
    _fn("ResponseEnd", "AddToolCalls")(b, vector)
    end = _fn("ResponseEnd", "End")(b)
    _fn("Frame", "Start")(b)
    _fn("Frame", "AddStreamId")(b, stream_id)
    _fn("Frame", "AddBodyType")(b, _BODY_NUMBERS["ResponseEnd"])
    _fn("Frame", "AddBody")(b, end)
    b.FinishSizePrefixed(_fn("Frame", "End")(b), FILE_IDENTIFIER)
    return bytes(b.Output())
