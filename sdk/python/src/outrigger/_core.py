"""State shared by the blocking and the asyncio clients, free of any I/O.

A call goes through three states: QUEUED (waiting for a connection or a free stream slot, in
the client's bounded queue), SENT (its Request frame is on a connection, under a stream id) and
DONE. `Connection` is one socket's stream table; it turns each received frame into deliveries
for the calls it names. The clients add the sockets, threads or tasks, and the locking.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import codec
from ._socket import SOCKET_ENV, resolve_socket_path  # noqa: F401 - part of this module's interface
from ._version import __version__
from .errors import (
    Cancelled,
    ClientClosed,
    DeadlineExceeded,
    HandshakeError,
    InvalidArgument,
    OutriggerError,
    QueueFull,
    Unavailable,
    connection_lost,
    error_for,
)
from .types import (
    ALL_FEATURES,
    CacheControl,
    ChatRequest,
    Chunk,
    Message,
    MessagesLike,
    Metadata,
    Params,
    Response,
    ResponseFormat,
    ServerInfo,
    StatusCode,
    StreamStart,
    Tool,
    ToolCall,
)

DEFAULT_MODEL = "default"
LOCAL_DEADLINE_GRACE = 0.25
"""Seconds past a call's deadline before the local timer gives up on the daemon's own answer."""
WRITE_TIMEOUT = 10.0
"""Seconds a frame with no call deadline (a control frame, a call without timeout) may take to be
written; a daemon that reads nothing for that long loses the connection."""
DEFAULT_MAX_STREAM_BUFFER = 64 << 20
"""Default bound of the chunk bytes a stream holds for a caller that has not read them."""


# ------------------------------------------------------------------------------------ requests

Encode = Callable[[int, Optional[float]], bytes]
"""Builds a call's frame for a stream id and the call's deadline (fresh each time it is sent)."""


def to_messages(messages: MessagesLike) -> List[Message]:
    if isinstance(messages, str):
        return [Message.user(messages)]
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping):
            calls = m.get("tool_calls")
            out.append(Message(
                role=str(m["role"]),
                content=m.get("content"),
                name=m.get("name"),
                tool_calls=None if calls is None else [c if isinstance(c, ToolCall) else ToolCall(**c) for c in calls],
                tool_call_id=m.get("tool_call_id"),
            ))
        else:
            raise TypeError("a message is a Message or a mapping, not %s" % type(m).__name__)
    return out


@dataclass(frozen=True)
class CallOptions:
    """Per-call arguments, as the public methods take them."""

    model: Optional[str] = None
    timeout: Optional[float] = None
    metadata: Optional[Metadata] = None
    temperature: Optional[float] = None
    top_p: Optional[float] = None
    max_tokens: Optional[int] = None
    seed: Optional[int] = None
    stop: Optional[Sequence[str]] = None
    tools: Optional[Sequence[Tool]] = None
    tool_choice: Optional[str] = None
    response_format: Optional[ResponseFormat] = None
    extra: Union[Mapping[str, Any], str, None] = None
    cache: Optional[CacheControl] = None


def build_request(messages: MessagesLike, options: CallOptions, *, stream: bool, default_model: str,
                  default_metadata: Metadata) -> ChatRequest:
    """The wire request for a call (its timeout_ms is set when it is sent)."""
    extra = options.extra
    extra_json = extra if isinstance(extra, str) or extra is None else json.dumps(extra, separators=(",", ":"))
    params = Params(
        temperature=options.temperature, top_p=options.top_p, max_tokens=options.max_tokens, seed=options.seed,
        stop=options.stop, tools=options.tools, tool_choice=options.tool_choice,
        response_format=options.response_format, extra_json=extra_json)
    metadata = default_metadata.merged(options.metadata)
    return ChatRequest(
        model=options.model if options.model is not None else default_model,
        messages=to_messages(messages),
        params=None if params.is_empty() else params,
        stream=stream,
        metadata=None if metadata.is_empty() else metadata,
        cache=options.cache,
    )


def request_encoder(req: ChatRequest) -> Encode:
    """Encodes the request for a stream id, with the time left until the deadline as timeout_ms."""

    def encode(stream_id: int, deadline: Optional[float]) -> bytes:
        wire = req if deadline is None else dataclasses.replace(req, timeout_ms=timeout_ms(deadline, now()))
        return codec.encode_request(stream_id, wire)

    return encode


def feedback_encoder(trace_id: str, score: float, comment: Optional[str], metadata: Metadata) -> Encode:
    md = None if metadata.is_empty() else metadata
    return lambda stream_id, _deadline: codec.encode_feedback(stream_id, trace_id, score, comment, md)


MAX_TIMEOUT = 0xFFFFFFFF / 1000
"""The longest timeout, in seconds: what the wire's 32-bit milliseconds carry (about 49.7 days),
as the other SDKs clamp it. Longer ones (inf included) are this one: a thread's wait cannot
take more than threading.TIMEOUT_MAX, and an OverflowError there leaked the call's stream slot."""


def deadline_after(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else now() + min(timeout, MAX_TIMEOUT)


def timeout_ms(deadline: Optional[float], now: float) -> int:
    """The relative timeout to put on the wire; 0 leaves it to the daemon's default."""
    if deadline is None:
        return 0
    return min(max(1, math.ceil((deadline - now) * 1000)), 0xFFFFFFFF)


# ------------------------------------------------------------------------------------ calls

QUEUED, SENT, DONE = "queued", "sent", "done"


class Requeue:
    """Delivered to a call that the daemon will not process (its id is past a GoAway's
    last_stream_id) and that was not cancelled: the caller sends it again on a new connection."""


REQUEUE = Requeue()

Event = Union[StreamStart, Chunk, codec.ResponseEnd, OutriggerError, Requeue]


class Call:
    """One request (or feedback) from queueing to its ResponseEnd."""

    def __init__(self, encode: Encode, deadline: Optional[float],
                 deliver: Callable[[Event], None]) -> None:
        self.encode = encode
        self.deadline = deadline
        self.deliver = deliver
        self.state = QUEUED
        self.conn: Optional[Connection] = None
        self.stream_id = 0
        self.abandoned = False
        """The caller stopped waiting (local deadline, cancel, closed iterator): drop its events."""
        self.cancel_sent = False
        self.queued_at = 0.0

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline


def closed_error() -> ClientClosed:
    return ClientClosed(StatusCode.CANCELLED, "the client is closed", origin="client")


def cancelled_before_send() -> Cancelled:
    return Cancelled(StatusCode.CANCELLED, "cancelled before it was sent", origin="client")


def cancelled_unsent() -> Cancelled:
    return Cancelled(StatusCode.CANCELLED, "cancelled; the daemon went away without starting it",
                     origin="client")


def queue_full(length: int) -> QueueFull:
    return QueueFull(StatusCode.RESOURCE_EXHAUSTED, "%d calls are already waiting to be sent" % length,
                     retryable=True, origin="client/queue")


def encode_call(call: Call, stream_id: int) -> bytes:
    """The call's frame under `stream_id`. Arguments the wire format cannot hold (a count out of
    range, a number that is not one, a stop sequence that is not a string) make the builder raise
    whatever it raises: that is the caller's INVALID_ARGUMENT, not a client failure."""
    try:
        return call.encode(stream_id, call.deadline)
    except Exception as e:  # noqa: BLE001 - TypeError, ValueError, struct.error... from the builder
        raise InvalidArgument(StatusCode.INVALID_ARGUMENT, "cannot encode the request: %s: %s"
                              % (type(e).__name__, e), origin="client/encode") from e


def frame_too_large(size: int, limit: int) -> InvalidArgument:
    return InvalidArgument(StatusCode.INVALID_ARGUMENT, "request frame of %d bytes exceeds max_frame_size %d"
                           % (size, limit), origin="client/frame")


def connect_error(path: str, e: BaseException) -> Unavailable:
    return Unavailable(StatusCode.UNAVAILABLE, "cannot connect to %s: %s" % (path, e), retryable=True,
                       origin="client/connect")


def handshake_answer(body: codec.FrameBody) -> Optional[ServerInfo]:
    """The HelloAck in a frame received during the handshake; raises on an Error frame."""
    if isinstance(body, codec.ConnectionErrorBody):
        raise HandshakeError(body.status, body.message, supported_major_min=body.supported_major_min,
                             supported_major_max=body.supported_major_max)
    if isinstance(body, ServerInfo):
        if body.proto_major != codec.PROTO_MAJOR:
            raise HandshakeError(StatusCode.FAILED_PRECONDITION, "the daemon speaks protocol %d.%d, this client %d.%d"
                                 % (body.proto_major, body.proto_minor, codec.PROTO_MAJOR, codec.PROTO_MINOR),
                                 origin="client/handshake")
        return body
    return None


def hello(client_name: str, max_frame_size: int) -> bytes:
    return codec.encode_hello(client_name=client_name, client_version=__version__, sdk_language="python",
                              max_frame_size=max_frame_size, features=int(ALL_FEATURES))


def next_backoff(current: float) -> float:
    """Delay before the next connection attempt after a failed one: 50 ms doubling up to 1 s."""
    return min(max(0.05, current * 2), 1.0)


def local_deadline_error() -> DeadlineExceeded:
    return DeadlineExceeded(StatusCode.DEADLINE_EXCEEDED, "no answer within the call's timeout",
                            origin="client/deadline")


def write_stall_error(own_deadline: bool) -> OutriggerError:
    """What a call whose request could not be written in time fails with: DEADLINE_EXCEEDED when
    its own deadline was the bound, else the retryable UNAVAILABLE of a daemon that stopped reading."""
    if own_deadline:
        return DeadlineExceeded(StatusCode.DEADLINE_EXCEEDED, "the request could not be written within the call's "
                                "timeout (the daemon is not reading); the connection was closed",
                                origin="client/write")
    return Unavailable(StatusCode.UNAVAILABLE, "the request could not be written within %g s (the daemon is not "
                       "reading); the connection was closed" % WRITE_TIMEOUT, retryable=True, origin="client/write")


def write_stall_reason(own_deadline: bool) -> str:
    """Why a connection was closed when a frame could not be written in time."""
    if own_deadline:
        return "a request could not be written within its deadline (the daemon is not reading)"
    return "a frame could not be written within %g s (the daemon is not reading)" % WRITE_TIMEOUT


def write_limit(deadline: Optional[float]) -> Tuple[float, bool]:
    """When a write started now must be finished: the call's deadline or WRITE_TIMEOUT from now,
    whichever is first (as in the other SDKs), and whether that is the call's own deadline."""
    cap = now() + WRITE_TIMEOUT
    if deadline is not None and deadline <= cap:
        return deadline, True
    return cap, False


def deadline_before_send() -> DeadlineExceeded:
    return DeadlineExceeded(StatusCode.DEADLINE_EXCEEDED, "the timeout passed before the request could be sent",
                            origin="client/queue")


# ------------------------------------------------------------------------------------ connections


@dataclass
class Dispatch:
    """What one received frame means for the client."""

    deliveries: List[Tuple[Call, Event]] = field(default_factory=list)
    reply: Optional[bytes] = None
    fatal: Optional[OutriggerError] = None
    """The connection is finished: fail what is left on it with this and close it."""
    slots_freed: bool = False
    drained: bool = False
    """The connection is going away and has no stream left: close it."""
    going_away: bool = False


class Connection:
    """One connection's handshake result and stream table."""

    def __init__(self, info: ServerInfo) -> None:
        self.info = info
        self.streams: Dict[int, Call] = {}
        self.next_stream_id = 1
        self.going_away = False
        self.closed = False

    def can_open(self) -> bool:
        limit = self.info.max_concurrent_streams
        return not self.going_away and not self.closed and (limit == 0 or len(self.streams) < limit)

    def usable(self) -> bool:
        return not self.going_away and not self.closed

    def open(self, call: Call) -> int:
        sid = self.next_stream_id
        self.next_stream_id += 1
        self.streams[sid] = call
        call.state, call.conn, call.stream_id = SENT, self, sid
        return sid

    def forget(self, call: Call) -> None:
        """Takes back a stream whose Request could not be written (it never left)."""
        if self.streams.get(call.stream_id) is call:
            del self.streams[call.stream_id]
        call.state, call.conn, call.stream_id = QUEUED, None, 0

    def refuse(self, call: Call) -> None:
        """Takes back a stream whose Request can never be written (it cannot be encoded, or is too
        large): its slot is free again and the call is over."""
        self.forget(call)
        call.state = DONE

    def lose(self, reason: str) -> List[Tuple[Call, Event]]:
        """The socket is gone: every stream still open fails with a retryable UNAVAILABLE."""
        self.closed = True
        calls = list(self.streams.values())
        self.streams.clear()
        error = connection_lost(reason)
        out: List[Tuple[Call, Event]] = []
        for call in calls:
            call.state = DONE
            if not call.abandoned:
                out.append((call, error))
        return out

    def handle(self, frame: codec.Frame) -> Dispatch:
        d = Dispatch()
        body = frame.body
        if frame.stream_id == 0:
            if isinstance(body, codec.Ping):
                d.reply = codec.encode_pong(body.opaque)
            elif isinstance(body, codec.GoAway):
                self._go_away(body, d)
            elif isinstance(body, codec.ConnectionErrorBody):
                d.fatal = error_for(body.status, "connection error from the daemon: " + body.message,
                                    retryable=body.status == StatusCode.UNAVAILABLE, origin="server/connection")
            return d
        call = self.streams.get(frame.stream_id)
        if call is None:
            return d  # a finished or unknown stream: ignored, as the protocol says
        if isinstance(body, codec.ResponseEnd):
            del self.streams[frame.stream_id]
            call.state = DONE
            d.slots_freed = True
            d.drained = self.going_away and not self.streams
        elif not isinstance(body, (StreamStart, Chunk)):
            return d
        if not call.abandoned:
            d.deliveries.append((call, body))
        return d

    def _go_away(self, g: codec.GoAway, d: Dispatch) -> None:
        self.going_away = True
        d.going_away = True
        for sid in [sid for sid in self.streams if sid > g.last_stream_id]:
            call = self.streams.pop(sid)
            # A call cancelled meanwhile is not sent again (it would reach a provider for a caller
            # who asked to stop): it ends here, once.
            stopped = call.cancel_sent or call.abandoned
            call.state, call.conn, call.stream_id = DONE if stopped else QUEUED, None, 0
            if not call.abandoned:
                d.deliveries.append((call, cancelled_unsent() if stopped else REQUEUE))
        d.slots_freed = True
        d.drained = not self.streams


# ------------------------------------------------------------------------------------ streams


class Assembler:
    """Puts a streamed answer back together: content from deltas, tool calls from fragments."""

    def __init__(self) -> None:
        self.start: Optional[StreamStart] = None
        self._parts: List[str] = []
        self._tools: Dict[int, Dict[str, Any]] = {}

    def add(self, chunk: Chunk) -> None:
        self._parts.append(chunk.delta)
        for d in chunk.tool_calls:
            slot = self._tools.setdefault(d.index, {"id": "", "type": "function", "name": "", "arguments": ""})
            for key in ("id", "type", "name"):
                value = getattr(d, key)
                if value:
                    slot[key] = value
            slot["arguments"] += d.arguments or ""

    def tool_calls(self) -> Tuple[ToolCall, ...]:
        return tuple(ToolCall(id=t["id"], name=t["name"], arguments=t["arguments"], type=t["type"])
                     for _, t in sorted(self._tools.items()))

    def content(self) -> str:
        return "".join(self._parts)


class Collector:
    """Turns a call's events into its outcome: a `Response` or an `OutriggerError`."""

    def __init__(self) -> None:
        self.assembler = Assembler()
        self.outcome: Union[Response, OutriggerError, None] = None

    def consume(self, event: Event) -> Optional[Chunk]:
        """Takes one event; returns it when it is a chunk for the caller."""
        if isinstance(event, Chunk):
            self.assembler.add(event)
            return event
        if isinstance(event, StreamStart):
            self.assembler.start = event
        elif isinstance(event, codec.ResponseEnd):
            a = self.assembler
            self.outcome = event.response(a.start, a.content(), a.tool_calls()) if event.ok else event.error()
        elif isinstance(event, OutriggerError):
            self.outcome = event
        return None

    def stop(self, reason: str) -> None:
        if self.outcome is None:
            self.outcome = Cancelled(StatusCode.CANCELLED, reason, origin="client")

    def result(self) -> Response:
        """The response, or raises the error (a copy each time, for a clean traceback)."""
        if isinstance(self.outcome, OutriggerError):
            raise copy.copy(self.outcome)
        if self.outcome is None:
            raise RuntimeError("the call has not ended")
        return self.outcome

    @property
    def response(self) -> Optional[Response]:
        return self.outcome if isinstance(self.outcome, Response) else None


def now() -> float:
    return time.monotonic()
