"""Frame encoding and decoding over the code flatc generates from outrigger.fbs (`outrigger.wire`).

A frame on the socket is a little-endian u32 length L followed by L bytes holding a root `Frame`
with file identifier "ORG1". `encode_*` return whole frames (prefix included), ready to write;
`FrameReader` splits a byte stream back into frame payloads, enforcing the size limit before it
buffers a frame; `decode_frame` turns one payload into the values the clients work with, refusing
one that would decode to far more than its own size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import flatbuffers

from .errors import OutriggerError, error_for
from .types import (
    CacheControl,
    ChatRequest,
    Chunk,
    Feature,
    GuardrailVerdict,
    Message,
    Metadata,
    Params,
    Response,
    ServerInfo,
    StatusCode,
    StreamStart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    Verdict,
)
from .wire import Body as _Body
from .wire import CacheControl as _CacheControl
from .wire import Cancel as _Cancel
from .wire import Error as _Error
from .wire import Feedback as _Feedback
from .wire import Frame as _Frame
from .wire import GoAway as _GoAway
from .wire import Hello as _Hello
from .wire import HelloAck as _HelloAck
from .wire import Message as _Message
from .wire import Metadata as _Metadata
from .wire import Params as _Params
from .wire import Ping as _Ping
from .wire import Pong as _Pong
from .wire import Request as _Request
from .wire import ResponseChunk as _ResponseChunk
from .wire import ResponseEnd as _ResponseEnd
from .wire import ResponseFormat as _ResponseFormat
from .wire import ResponseStart as _ResponseStart
from .wire import Tag as _Tag
from .wire import Tool as _Tool
from .wire import ToolCall as _ToolCall

FILE_IDENTIFIER = b"ORG1"
PROTO_MAJOR = 1
PROTO_MINOR = 0
DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
HARD_MAX_FRAME_SIZE = 64 * 1024 * 1024
MIN_FRAME_SIZE = 8

_LENGTH = struct.Struct("<I")


class BodyType:
    """Union member numbers of `Frame.body` (the schema's order, starting at 1)."""

    NONE = 0
    HELLO = 1
    HELLO_ACK = 2
    REQUEST = 3
    RESPONSE_START = 4
    RESPONSE_CHUNK = 5
    RESPONSE_END = 6
    CANCEL = 7
    FEEDBACK = 8
    ERROR = 9
    PING = 10
    PONG = 11
    GOAWAY = 12


class FrameError(OutriggerError):
    """A frame that breaks the protocol: bad length, bad identifier, undecodable contents."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.INTERNAL, message, origin="client/protocol")


# ------------------------------------------------------------------------------------ encoding

_Builder = Any  # flatbuffers.Builder; the runtime ships no type information


def _string(b: _Builder, value: Optional[str]) -> Optional[int]:
    return None if value is None else int(b.CreateString(value))


def _vector(b: _Builder, start: Callable[[_Builder, int], Any], items: Sequence[int]) -> int:
    start(b, len(items))
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return int(b.EndVector())


def _tool_call(b: _Builder, call: ToolCall) -> int:
    id_, type_, name, args = (b.CreateString(s) for s in (call.id, call.type, call.name, call.arguments))
    _ToolCall.ToolCallStart(b)
    _ToolCall.ToolCallAddId(b, id_)
    _ToolCall.ToolCallAddType(b, type_)
    _ToolCall.ToolCallAddName(b, name)
    _ToolCall.ToolCallAddArguments(b, args)
    return int(_ToolCall.ToolCallEnd(b))


def _message(b: _Builder, m: Message) -> int:
    role, content, name, call_id = (_string(b, s) for s in (m.role, m.content, m.name, m.tool_call_id))
    calls = None
    if m.tool_calls is not None:
        calls = _vector(b, _Message.MessageStartToolCallsVector, [_tool_call(b, c) for c in m.tool_calls])
    _Message.MessageStart(b)
    _Message.MessageAddRole(b, role)
    if content is not None:
        _Message.MessageAddContent(b, content)
    if name is not None:
        _Message.MessageAddName(b, name)
    if calls is not None:
        _Message.MessageAddToolCalls(b, calls)
    if call_id is not None:
        _Message.MessageAddToolCallId(b, call_id)
    return int(_Message.MessageEnd(b))


def _tool(b: _Builder, t: Tool) -> int:
    type_, name, desc, params = (_string(b, s) for s in (t.type, t.name, t.description, t.parameters_json))
    _Tool.ToolStart(b)
    _Tool.ToolAddType(b, type_)
    _Tool.ToolAddName(b, name)
    if desc is not None:
        _Tool.ToolAddDescription(b, desc)
    if params is not None:
        _Tool.ToolAddParametersJson(b, params)
    return int(_Tool.ToolEnd(b))


def _params(b: _Builder, p: Params) -> int:
    stop = tools = fmt = None
    if p.stop is not None:
        stop = _vector(b, _Params.ParamsStartStopVector, [b.CreateString(s) for s in p.stop])
    if p.tools is not None:
        tools = _vector(b, _Params.ParamsStartToolsVector, [_tool(b, t) for t in p.tools])
    choice, extra = _string(b, p.tool_choice), _string(b, p.extra_json)
    if p.response_format is not None:
        rf = p.response_format
        name, schema = _string(b, rf.schema_name), _string(b, rf.schema_json)
        _ResponseFormat.ResponseFormatStart(b)
        _ResponseFormat.ResponseFormatAddType(b, int(rf.type))
        if name is not None:
            _ResponseFormat.ResponseFormatAddSchemaName(b, name)
        if schema is not None:
            _ResponseFormat.ResponseFormatAddSchemaJson(b, schema)
        _ResponseFormat.ResponseFormatAddStrict(b, rf.strict)
        fmt = _ResponseFormat.ResponseFormatEnd(b)
    _Params.ParamsStart(b)
    if p.temperature is not None:
        _Params.ParamsAddTemperature(b, float(p.temperature))
    if p.top_p is not None:
        _Params.ParamsAddTopP(b, float(p.top_p))
    if p.max_tokens is not None:
        _Params.ParamsAddMaxTokens(b, int(p.max_tokens))
    if p.seed is not None:
        _Params.ParamsAddSeed(b, int(p.seed))
    if stop is not None:
        _Params.ParamsAddStop(b, stop)
    if tools is not None:
        _Params.ParamsAddTools(b, tools)
    if choice is not None:
        _Params.ParamsAddToolChoice(b, choice)
    if fmt is not None:
        _Params.ParamsAddResponseFormat(b, fmt)
    if extra is not None:
        _Params.ParamsAddExtraJson(b, extra)
    return int(_Params.ParamsEnd(b))


_METADATA_STRINGS: Tuple[Tuple[str, Callable[[_Builder, int], None]], ...] = (
    ("tenant", _Metadata.MetadataAddTenant),
    ("user", _Metadata.MetadataAddUser),
    ("session", _Metadata.MetadataAddSession),
    ("request_id", _Metadata.MetadataAddRequestId),
    ("prompt_id", _Metadata.MetadataAddPromptId),
    ("prompt_version", _Metadata.MetadataAddPromptVersion),
    ("traceparent", _Metadata.MetadataAddTraceparent),
)


def _metadata(b: _Builder, md: Metadata) -> int:
    strings = [(add, _string(b, getattr(md, name))) for name, add in _METADATA_STRINGS]
    tags = None
    if md.tags is not None:
        items = []
        for key, value in md.tags.items():
            k, v = b.CreateString(key), b.CreateString(value)
            _Tag.TagStart(b)
            _Tag.TagAddKey(b, k)
            _Tag.TagAddValue(b, v)
            items.append(int(_Tag.TagEnd(b)))
        tags = _vector(b, _Metadata.MetadataStartTagsVector, items)
    _Metadata.MetadataStart(b)
    for add, ref in strings:
        if ref is not None:
            add(b, ref)
    if tags is not None:
        _Metadata.MetadataAddTags(b, tags)
    return int(_Metadata.MetadataEnd(b))


def _cache(b: _Builder, c: CacheControl) -> int:
    _CacheControl.CacheControlStart(b)
    _CacheControl.CacheControlAddBypass(b, c.bypass)
    _CacheControl.CacheControlAddNoStore(b, c.no_store)
    _CacheControl.CacheControlAddTtlMs(b, c.ttl_ms)
    return int(_CacheControl.CacheControlEnd(b))


def _finish(b: _Builder, stream_id: int, body_type: int, body: Optional[int]) -> bytes:
    _Frame.FrameStart(b)
    _Frame.FrameAddStreamId(b, stream_id)
    _Frame.FrameAddBodyType(b, body_type)
    if body is not None:
        _Frame.FrameAddBody(b, body)
    b.FinishSizePrefixed(_Frame.FrameEnd(b), FILE_IDENTIFIER)
    return bytes(b.Output())


def encode_request(stream_id: int, req: ChatRequest) -> bytes:
    size_hint = 256 + sum(len(m.content or "") * 4 for m in req.messages or ())
    b = flatbuffers.Builder(min(size_hint, HARD_MAX_FRAME_SIZE))
    model = _string(b, req.model)
    messages = None
    if req.messages is not None:
        messages = _vector(b, _Request.RequestStartMessagesVector, [_message(b, m) for m in req.messages])
    params = None if req.params is None else _params(b, req.params)
    metadata = None if req.metadata is None else _metadata(b, req.metadata)
    cache = None if req.cache is None else _cache(b, req.cache)
    _Request.RequestStart(b)
    if model is not None:
        _Request.RequestAddModel(b, model)
    if messages is not None:
        _Request.RequestAddMessages(b, messages)
    if params is not None:
        _Request.RequestAddParams(b, params)
    _Request.RequestAddStream(b, req.stream)
    if metadata is not None:
        _Request.RequestAddMetadata(b, metadata)
    _Request.RequestAddTimeoutMs(b, req.timeout_ms)
    if cache is not None:
        _Request.RequestAddCache(b, cache)
    return _finish(b, stream_id, BodyType.REQUEST, _Request.RequestEnd(b))


def encode_hello(*, client_name: Optional[str], client_version: Optional[str], sdk_language: Optional[str],
                 max_frame_size: int, features: int, proto_major: int = PROTO_MAJOR,
                 proto_minor: int = PROTO_MINOR) -> bytes:
    b = flatbuffers.Builder(256)
    name, version, lang = (_string(b, s) for s in (client_name, client_version, sdk_language))
    _Hello.HelloStart(b)
    _Hello.HelloAddProtoMajor(b, proto_major)
    _Hello.HelloAddProtoMinor(b, proto_minor)
    if name is not None:
        _Hello.HelloAddClientName(b, name)
    if version is not None:
        _Hello.HelloAddClientVersion(b, version)
    if lang is not None:
        _Hello.HelloAddSdkLanguage(b, lang)
    _Hello.HelloAddMaxFrameSize(b, max_frame_size)
    _Hello.HelloAddFeatures(b, int(features))
    return _finish(b, 0, BodyType.HELLO, _Hello.HelloEnd(b))


def encode_cancel(stream_id: int, reason: Optional[str] = None) -> bytes:
    b = flatbuffers.Builder(128)
    text = _string(b, reason)
    _Cancel.CancelStart(b)
    if text is not None:
        _Cancel.CancelAddReason(b, text)
    return _finish(b, stream_id, BodyType.CANCEL, _Cancel.CancelEnd(b))


def encode_feedback(stream_id: int, trace_id: str, score: float, comment: Optional[str] = None,
                    metadata: Optional[Metadata] = None) -> bytes:
    b = flatbuffers.Builder(256)
    trace, text = _string(b, trace_id), _string(b, comment)
    md = None if metadata is None else _metadata(b, metadata)
    _Feedback.FeedbackStart(b)
    _Feedback.FeedbackAddTraceId(b, trace)
    _Feedback.FeedbackAddScore(b, float(score))
    if text is not None:
        _Feedback.FeedbackAddComment(b, text)
    if md is not None:
        _Feedback.FeedbackAddMetadata(b, md)
    return _finish(b, stream_id, BodyType.FEEDBACK, _Feedback.FeedbackEnd(b))


def encode_ping(opaque: int) -> bytes:
    b = flatbuffers.Builder(64)
    _Ping.PingStart(b)
    _Ping.PingAddOpaque(b, opaque)
    return _finish(b, 0, BodyType.PING, _Ping.PingEnd(b))


def encode_pong(opaque: int) -> bytes:
    b = flatbuffers.Builder(64)
    _Pong.PongStart(b)
    _Pong.PongAddOpaque(b, opaque)
    return _finish(b, 0, BodyType.PONG, _Pong.PongEnd(b))


# ------------------------------------------------------------------------------------ framing


class FrameReader:
    """Splits a byte stream into frame payloads (without their length prefix).

    The length prefix is checked against `max_frame_size` as soon as it arrives, before the frame
    is buffered; a frame over the limit raises `FrameError` and the stream cannot be resumed.
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buf = bytearray()

    def feed(self, data: bytes) -> List[bytes]:
        self._buf += data
        frames: List[bytes] = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 4:
            (length,) = _LENGTH.unpack_from(buf, pos)
            check_frame_length(length, self.max_frame_size)
            if len(buf) - pos - 4 < length:
                break
            frames.append(bytes(buf[pos + 4:pos + 4 + length]))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return frames

    @property
    def buffered(self) -> int:
        return len(self._buf)


def check_frame_length(length: int, max_frame_size: int) -> None:
    if length < MIN_FRAME_SIZE:
        raise FrameError("frame length %d is below the minimum of %d" % (length, MIN_FRAME_SIZE))
    if length > max_frame_size:
        raise FrameError("frame length %d exceeds max_frame_size %d" % (length, max_frame_size))


def split_size_prefix(data: bytes) -> bytes:
    """The payload of one whole size-prefixed frame (as stored in a vector file)."""
    if len(data) < 4:
        raise FrameError("%d bytes hold no length prefix" % len(data))
    (length,) = _LENGTH.unpack_from(data, 0)
    if length != len(data) - 4:
        raise FrameError("length prefix says %d bytes, %d follow" % (length, len(data) - 4))
    return data[4:]


# ------------------------------------------------------------------------------------ decoding


@dataclass(frozen=True)
class ConnectionErrorBody:
    """An `Error` frame: a connection-level failure; the daemon closes the connection after it."""

    status: StatusCode
    message: str
    supported_major_min: int
    supported_major_max: int


@dataclass(frozen=True)
class Ping:
    opaque: int


@dataclass(frozen=True)
class Pong:
    opaque: int


@dataclass(frozen=True)
class GoAway:
    last_stream_id: int
    reason: str
    drain_ms: int


@dataclass(frozen=True)
class ResponseEnd:
    """The last frame of every stream, exactly as sent."""

    status: StatusCode
    retryable: bool = False
    retry_after_ms: int = 0
    origin: str = ""
    message: str = ""
    content: str = ""
    finish_reason: str = ""
    tool_calls: Tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    cost_usd: float = 0.0
    cache_hit: bool = False
    trace_id: str = ""
    verdicts: Tuple[GuardrailVerdict, ...] = ()
    model: str = ""
    reached_provider: bool = False
    refusal: bool = False
    system_fingerprint: str = ""
    service_tier: str = ""

    @property
    def ok(self) -> bool:
        return self.status == StatusCode.OK

    def error(self) -> OutriggerError:
        """The typed error this end stands for (only meaningful when not `ok`)."""
        return error_for(self.status, self.message, retryable=self.retryable, retry_after_ms=self.retry_after_ms,
                         origin=self.origin, trace_id=self.trace_id, reached_provider=self.reached_provider,
                         verdicts=self.verdicts)

    def response(self, start: Optional[StreamStart] = None, content: Optional[str] = None,
                 tool_calls: Optional[Tuple[ToolCall, ...]] = None) -> Response:
        """The answer; for a stream pass its start frame and what its chunks assembled."""
        return Response(
            content=self.content or (content or ""),
            finish_reason=self.finish_reason,
            tool_calls=self.tool_calls or (tool_calls or ()),
            usage=self.usage,
            cost_usd=self.cost_usd,
            cache_hit=self.cache_hit or (start is not None and start.cache_hit),
            trace_id=self.trace_id or (start.trace_id if start is not None else ""),
            verdicts=self.verdicts,
            model=self.model or (start.model if start is not None else ""),
            provider=start.provider if start is not None else "",
            origin=self.origin,
            reached_provider=self.reached_provider,
            refusal=self.refusal,
            system_fingerprint=self.system_fingerprint or (start.system_fingerprint if start is not None else ""),
            service_tier=self.service_tier or (start.service_tier if start is not None else ""),
        )


@dataclass(frozen=True)
class UnknownBody:
    """A body this client does not read (a newer member, or one only clients send)."""

    body_type: int


FrameBody = Union[ServerInfo, ConnectionErrorBody, Ping, Pong, GoAway, StreamStart, Chunk, ResponseEnd, UnknownBody,
                  None]


@dataclass(frozen=True)
class Frame:
    stream_id: int
    body: FrameBody


DECODE_BUDGET_FACTOR = 4
DECODE_BUDGET_SLACK = 64 << 10


def decode_budget(frame_size: int) -> int:
    """What a frame of `frame_size` bytes (length prefix included) may decode to. A frame written
    normally decodes to about its own size: each string is read once, and a vector element's value
    is about as big as the offset, table and strings that write it. The slack covers small frames."""
    return DECODE_BUDGET_FACTOR * frame_size + DECODE_BUDGET_SLACK


# What the decoder makes for one vector element before its strings (the Go SDK's counts).
_TOOL_CALL_SIZE = 64
_TOOL_CALL_DELTA_SIZE = 72
_VERDICT_SIZE = 40


class _Budget:
    """Counts the bytes one frame decodes to. Fitting in the frame is not enough: many offsets may
    point to one table or string, so a 4 MiB frame of offsets to a 2 MiB string would decode to
    terabytes. Past the budget the frame is refused before more is copied."""

    def __init__(self, payload_size: int) -> None:
        self.frame_size = payload_size + 4
        self.left = decode_budget(self.frame_size)

    def charge(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise FrameError("the %d-byte frame decodes to more than %d bytes (offsets "
                             "shared many times)" % (self.frame_size, decode_budget(self.frame_size)))

    def count(self, n: int, element_size: int) -> int:
        """A vector's length, after checking that its offsets could fit in the frame and charging
        the values the decoder makes for them."""
        if 4 * n > self.frame_size:
            raise FrameError("a vector of %d elements does not fit in the %d-byte frame"
                             % (n, self.frame_size))
        self.charge(n * element_size)
        return n

    def text(self, value: Optional[bytes]) -> str:
        return self.opt_text(value) or ""

    def opt_text(self, value: Optional[bytes]) -> Optional[str]:
        if value is None:
            return None
        self.charge(len(value))
        return value.decode("utf-8", errors="replace")


def _status(value: int) -> StatusCode:
    try:
        return StatusCode(value)
    except ValueError:
        return StatusCode.UNKNOWN


def _verdict(value: int) -> Verdict:
    try:
        return Verdict(value)
    except ValueError:
        return Verdict.ERROR


def _read_tool_call(t: Any, b: _Budget) -> ToolCall:
    return ToolCall(id=b.text(t.Id()), name=b.text(t.Name()), arguments=b.text(t.Arguments()),
                    type=b.text(t.Type()))


def _read_verdicts(t: Any, b: _Budget) -> Tuple[GuardrailVerdict, ...]:
    return tuple(
        GuardrailVerdict(b.text(v.Guardrail()), _verdict(v.Verdict()), b.text(v.Reason()))
        for v in (t.Verdicts(i) for i in range(b.count(t.VerdictsLength(), _VERDICT_SIZE))))


def _read_end(t: Any, b: _Budget) -> ResponseEnd:
    usage = Usage()
    u = t.Usage()
    if u is not None:
        usage = Usage(int(u.PromptTokens()), int(u.CompletionTokens()), int(u.CachedTokens()),
                      int(u.ReasoningTokens()), int(u.CacheWriteTokens()))
    return ResponseEnd(
        status=_status(t.Status()),
        retryable=bool(t.Retryable()),
        retry_after_ms=int(t.RetryAfterMs()),
        origin=b.text(t.Origin()),
        message=b.text(t.Message()),
        content=b.text(t.Content()),
        finish_reason=b.text(t.FinishReason()),
        tool_calls=tuple(_read_tool_call(t.ToolCalls(i), b)
                         for i in range(b.count(t.ToolCallsLength(), _TOOL_CALL_SIZE))),
        usage=usage,
        cost_usd=float(t.CostUsd()),
        cache_hit=bool(t.CacheHit()),
        trace_id=b.text(t.TraceId()),
        verdicts=_read_verdicts(t, b),
        model=b.text(t.Model()),
        reached_provider=bool(t.ReachedProvider()),
        refusal=bool(t.Refusal()),
        system_fingerprint=b.text(t.SystemFingerprint()),
        service_tier=b.text(t.ServiceTier()),
    )


def _read_chunk(t: Any, b: _Budget) -> Chunk:
    deltas = []
    for i in range(b.count(t.ToolCallsLength(), _TOOL_CALL_DELTA_SIZE)):
        d = t.ToolCalls(i)
        deltas.append(ToolCallDelta(int(d.Index()), b.opt_text(d.Id()), b.opt_text(d.Type()), b.opt_text(d.Name()),
                                    b.opt_text(d.Arguments())))
    return Chunk(int(t.Seq()), b.text(t.Delta()), tuple(deltas), bool(t.Refusal()))


def _read_body(body_type: int, t: Any, b: _Budget) -> FrameBody:
    if body_type == BodyType.RESPONSE_CHUNK:
        return _read_chunk(t, b)
    if body_type == BodyType.RESPONSE_END:
        return _read_end(t, b)
    if body_type == BodyType.RESPONSE_START:
        return StreamStart(b.text(t.Model()), b.text(t.Provider()), bool(t.CacheHit()), b.text(t.TraceId()),
                           b.text(t.SystemFingerprint()), b.text(t.ServiceTier()))
    if body_type == BodyType.HELLO_ACK:
        return ServerInfo(int(t.ProtoMajor()), int(t.ProtoMinor()), b.text(t.ServerVersion()), int(t.MaxFrameSize()),
                          int(t.MaxConcurrentStreams()), Feature(int(t.Features()) & 0xF), int(t.HeartbeatMs()))
    if body_type == BodyType.ERROR:
        return ConnectionErrorBody(_status(t.Status()), b.text(t.Message()), int(t.SupportedMajorMin()),
                                   int(t.SupportedMajorMax()))
    if body_type == BodyType.PING:
        return Ping(int(t.Opaque()))
    if body_type == BodyType.PONG:
        return Pong(int(t.Opaque()))
    if body_type == BodyType.GOAWAY:
        return GoAway(int(t.LastStreamId()), b.text(t.Reason()), int(t.DrainMs()))
    return UnknownBody(body_type)


_READERS = {
    BodyType.HELLO_ACK: _HelloAck.HelloAck,
    BodyType.RESPONSE_START: _ResponseStart.ResponseStart,
    BodyType.RESPONSE_CHUNK: _ResponseChunk.ResponseChunk,
    BodyType.RESPONSE_END: _ResponseEnd.ResponseEnd,
    BodyType.ERROR: _Error.Error,
    BodyType.PING: _Ping.Ping,
    BodyType.PONG: _Pong.Pong,
    BodyType.GOAWAY: _GoAway.GoAway,
}


class _Bounded(bytes):
    """The frame's bytes for the generated readers. The Python runtime does not verify, and it
    reads a string as a slice, which a length past the frame silently cuts short: the other
    SDKs refuse such a frame, so a slice that runs past the end is refused here too."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice) and key.stop is not None and key.stop > len(self):
            raise FrameError("a string of the frame runs %d bytes past its end" % (key.stop - len(self)))
        return super().__getitem__(key)


def root_frame(payload: bytes) -> Any:
    """The generated `Frame` accessor over one payload, after checking the file identifier."""
    if len(payload) < MIN_FRAME_SIZE:
        raise FrameError("frame of %d bytes is too short" % len(payload))
    if payload[4:8] != FILE_IDENTIFIER:
        raise FrameError("frame identifier %r is not %r" % (bytes(payload[4:8]), FILE_IDENTIFIER))
    return _Frame.Frame.GetRootAs(payload, 0)


def decode_frame(payload: bytes) -> Frame:
    """Decodes one frame payload (the bytes after the length prefix)."""
    try:
        f = root_frame(payload)
        stream_id = int(f.StreamId())
        body_type = int(f.BodyType())
        if body_type == BodyType.NONE:
            return Frame(stream_id, None)
        reader = _READERS.get(body_type)
        if reader is None:
            return Frame(stream_id, UnknownBody(body_type))
        table = f.Body()
        if table is None:
            raise FrameError("frame body type %d has no body" % body_type)
        body = reader()
        body.Init(_Bounded(table.Bytes), table.Pos)
        return Frame(stream_id, _read_body(body_type, body, _Budget(len(payload))))
    except FrameError:
        raise
    except Exception as e:  # the Python runtime does not verify: a bad offset surfaces as any error
        raise FrameError("undecodable frame: %s: %s" % (type(e).__name__, e)) from e


BODY_NAMES = {v: k for k, v in vars(_Body.Body).items() if not k.startswith("_")}
