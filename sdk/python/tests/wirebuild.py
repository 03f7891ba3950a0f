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
