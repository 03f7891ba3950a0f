"""The asyncio client: the same protocol and behaviour as `Client`, on asyncio's Unix socket
streams. An `AsyncClient` belongs to the event loop that first uses it."""

from __future__ import annotations

import asyncio
import copy
import os
import weakref
from collections import deque
from types import TracebackType
from typing import Any, AsyncIterator, Deque, List, Mapping, Optional, Sequence, Set, Type, Union

from . import _core, codec
from ._budget import ChunkBudget, check_limit
from ._core import Call, CallOptions, Event
from ._keepalive import Heartbeat, heartbeat_for
from ._socket import SocketTarget
from .errors import OutriggerError
from .types import (
    CacheControl,
    Chunk,
    MessagesLike,
    Metadata,
    Response,
    ResponseFormat,
    ServerInfo,
    StreamStart,
    Tool,
)

_UNSET: Any = object()


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: _core.Connection,
                 frames: codec.FrameReader, backlog: List[bytes]) -> None:
        self.reader = reader
        self.writer = writer
        self.state = state
        self.frames = frames
        self.backlog = backlog
        self.drain_lock = asyncio.Lock()
        self.task: Optional[asyncio.Task[None]] = None
        self.beat = heartbeat_for(state.info, _core.now())
        self.keepalive: Optional[asyncio.Task[None]] = None
        self.close_reason = ""
        """Why this client closed the connection (a stalled write, a silent daemon), if it did."""

    def write(self, data: bytes) -> bool:
        """Buffers whole frames for writing; False when the transport is already closing."""
        if self.writer.is_closing():
            return False
        self.writer.write(data)
        return True

    async def drain(self) -> None:
        async with self.drain_lock:  # concurrent drain() calls are not safe before Python 3.10
            await self.writer.drain()

    def abort(self, reason: str = "") -> None:
        self.close_reason = self.close_reason or reason
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()


class AsyncClient:
    """A connection to the Outrigger daemon for asyncio code; takes the same arguments as
    `outrigger.Client`. Cancelling the task that awaits a call cancels the call on the daemon."""

    def __init__(self, socket_path: Union[str, "os.PathLike[str]", None] = None, *,
                 model: str = _core.DEFAULT_MODEL, metadata: Optional[Metadata] = None,
                 timeout: Optional[float] = 60.0, connect_timeout: float = 5.0, max_queued: int = 1024,
                 max_frame_size: int = codec.DEFAULT_MAX_FRAME_SIZE, client_name: str = "outrigger-python",
                 verify_server: Optional[bool] = None, expected_server_uid: Optional[int] = None,
                 max_stream_buffer: int = _core.DEFAULT_MAX_STREAM_BUFFER) -> None:
        if not codec.MIN_FRAME_SIZE <= max_frame_size <= codec.HARD_MAX_FRAME_SIZE:
            raise ValueError("max_frame_size must be within [%d, %d]" % (codec.MIN_FRAME_SIZE,
                                                                         codec.HARD_MAX_FRAME_SIZE))
        self.max_stream_buffer = check_limit(max_stream_buffer)
        self._target = SocketTarget(socket_path, verify_server, expected_server_uid)
        self.model = model
        self.metadata = metadata or Metadata()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_queued = max_queued
        self.max_frame_size = max_frame_size
        self.client_name = client_name
        self._queue: Deque[Call] = deque()
        self._changed: Optional[asyncio.Event] = None
        self._conn: Optional[_Conn] = None
        self._conns: Set[_Conn] = set()
        self._connecting = False
        self._next_attempt = 0.0
        self._backoff = 0.0
        self._dial_error: Optional[OutriggerError] = None
        self._dial_error_at = 0.0
        self._closed = False

    # ------------------------------------------------------------------ public API

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.close()

    async def connect(self) -> ServerInfo:
        """Opens the connection now instead of on the first call, and returns the handshake answer."""
        call = Call(lambda sid, deadline: b"", _core.deadline_after(self.connect_timeout), lambda ev: None)
        call.queued_at = _core.now()
        while True:
            if self._closed:
                raise _core.closed_error()
            if self._conn is not None and self._conn.state.usable():
                return self._conn.state.info
            err = self._dial_error_for(call, _core.now())
            if err is not None:
                raise err
            if not self._connecting and _core.now() >= self._next_attempt:
                await self._dial_for(call)
            else:
                await self._wait_changed(0.05)

    @property
    def socket_path(self) -> str:
        """The socket the next connection attempt goes to."""
        return self._target.path()

    @property
    def verifies_server(self) -> bool:
        """Whether connections check the server's uid before sending anything."""
        return self._target.verify

    @property
    def server_info(self) -> Optional[ServerInfo]:
        conn = self._conn
        return conn.state.info if conn is not None else None

    async def chat(self, messages: MessagesLike, *, model: Optional[str] = None, timeout: Optional[float] = _UNSET,
                   metadata: Optional[Metadata] = None, temperature: Optional[float] = None,
                   top_p: Optional[float] = None, max_tokens: Optional[int] = None, seed: Optional[int] = None,
                   stop: Optional[Sequence[str]] = None, tools: Optional[Sequence[Tool]] = None,
                   tool_choice: Optional[str] = None, response_format: Optional[ResponseFormat] = None,
                   extra: Union[Mapping[str, Any], str, None] = None,
                   cache: Optional[CacheControl] = None) -> Response:
        """Sends a request and waits for the whole answer. Raises `OutriggerError` on failure."""
        options = CallOptions(model, self.timeout if timeout is _UNSET else timeout, metadata, temperature, top_p,
                              max_tokens, seed, stop, tools, tool_choice, response_format, extra, cache)
        pending = _AsyncCall(self, options, messages, stream=False)
        await pending.send()
        return await pending.result()

    def stream(self, messages: MessagesLike, *, model: Optional[str] = None, timeout: Optional[float] = _UNSET,
               metadata: Optional[Metadata] = None, temperature: Optional[float] = None,
               top_p: Optional[float] = None, max_tokens: Optional[int] = None, seed: Optional[int] = None,
               stop: Optional[Sequence[str]] = None, tools: Optional[Sequence[Tool]] = None,
               tool_choice: Optional[str] = None, response_format: Optional[ResponseFormat] = None,
               extra: Union[Mapping[str, Any], str, None] = None,
               cache: Optional[CacheControl] = None) -> AsyncStream:
        """A streaming request, sent on entering `async with` (or on the first `async for` step).
        Leaving the `async with` block before the end cancels the call."""
        options = CallOptions(model, self.timeout if timeout is _UNSET else timeout, metadata, temperature, top_p,
                              max_tokens, seed, stop, tools, tool_choice, response_format, extra, cache)
        return AsyncStream(_AsyncCall(self, options, messages, stream=True))

    async def feedback(self, trace_id: str, score: float, comment: Optional[str] = None, *,
                       metadata: Optional[Metadata] = None, timeout: Optional[float] = _UNSET) -> None:
        """Scores an earlier answer, named by its trace id. Returns when the daemon has taken it."""
        timeout = self.timeout if timeout is _UNSET else timeout
        pending = _AsyncCall(self, None, None, stream=False, timeout=timeout,
                             encode=_core.feedback_encoder(trace_id, score, comment, self.metadata.merged(metadata)))
        await pending.send()
        await pending.result()

    async def close(self) -> None:
        """Fails queued and in-flight calls with `ClientClosed` and closes the connections."""
        if self._closed:
            return
        self._closed = True
        self._notify()
        conns = list(self._conns)
        for conn in conns:
            conn.abort()
        tasks = [t for c in conns for t in (c.task, c.keepalive) if t is not None and t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)

    # ------------------------------------------------------------------ sending

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_changed(self, timeout: Optional[float]) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def _send(self, call: Call, front: bool = False) -> None:
        while True:
            conn = await self._admit(call, front)
            front = True
            # No await from the admission check to the write: stream ids go out in order.
            sid = conn.state.open(call)
            try:
                frame = _core.encode_call(call, sid)
                if len(frame) - 4 > conn.frames.max_frame_size:
                    raise _core.frame_too_large(len(frame) - 4, conn.frames.max_frame_size)
            except OutriggerError:
                conn.state.refuse(call)  # never written: its stream slot is free again
                self._notify()
                raise
            if not conn.write(frame):
                conn.state.forget(call)
                continue
            await self._drain(conn, call)
            return

    async def _drain(self, conn: _Conn, call: Call) -> None:
        """Waits for the transport to take the frame, until the call's deadline or WRITE_TIMEOUT,
        whichever is first. Past it the frame, already in the transport's buffer, cannot be taken
        back: the connection is closed, the call fails (DEADLINE_EXCEEDED for its own deadline,
        else a retryable UNAVAILABLE) and the others with the connection."""
        limit, own_deadline = _core.write_limit(call.deadline)
        try:
            # A drain with nothing to wait for ends at once, even past the deadline.
            await asyncio.wait_for(conn.drain(), max(limit - _core.now(), 0.001))
        except asyncio.TimeoutError:
            mine = call.state == _core.SENT and call.conn is conn.state
            if mine:
                conn.state.forget(call)
                call.state = _core.DONE
            conn.abort(_core.write_stall_reason(own_deadline))
            if mine:
                raise _core.write_stall_error(own_deadline) from None
        except (OSError, RuntimeError):
            conn.abort()  # the reader fails the call with a retryable UNAVAILABLE
        except asyncio.CancelledError:
            # The request is (partly) buffered and goes out anyway: a Cancel follows it.
            self._abandon(call, "the caller's task was cancelled")
            raise

    async def _admit(self, call: Call, front: bool) -> _Conn:
        if self._closed:
            raise _core.closed_error()
        if not front and len(self._queue) >= self.max_queued:
            raise _core.queue_full(len(self._queue))
        if front:
            self._queue.appendleft(call)
        else:
            self._queue.append(call)
        call.queued_at = _core.now()
        try:
            while True:
                if self._closed:
                    raise _core.closed_error()
                if call.abandoned:
                    raise _core.cancelled_before_send()
                t = _core.now()
                if call.expired(t):
                    raise _core.deadline_before_send()
                waits = [] if call.deadline is None else [call.deadline - t]
                conn = self._conn
                if conn is not None and conn.state.usable():
                    # A transport already closing (an abort, a broken pipe) takes no frame: wait
                    # for its reader to say so (_on_lost), which yields to it. Taking it again
                    # at once spun here without ever letting the reader run.
                    if self._queue[0] is call and conn.state.can_open() and not conn.writer.is_closing():
                        self._queue.popleft()
                        return conn
                else:
                    err = self._dial_error_for(call, t)
                    if err is not None:
                        raise err
                    if not self._connecting and t >= self._next_attempt:
                        await self._dial_for(call)
                        continue
                    waits.append(call.queued_at + self.connect_timeout - t)
                    if not self._connecting:
                        waits.append(self._next_attempt - t)
                await self._wait_changed(max(min(waits), 0.001) if waits else None)
        finally:
            if call in self._queue:
                self._queue.remove(call)
            self._notify()

    def _dial_error_for(self, call: Call, t: float) -> Optional[OutriggerError]:
        err = self._dial_error
        if err is None or self._dial_error_at < call.queued_at:
            return None
        if err.retryable and t - call.queued_at < self.connect_timeout:
            return None
        return copy.copy(err)

    async def _dial_for(self, call: Call) -> None:
        self._connecting = True
        timeout = self.connect_timeout
        if call.deadline is not None:
            timeout = max(0.05, min(timeout, call.deadline - _core.now()))
        try:
            conn = await self._dial(timeout)
        except OutriggerError as e:
            self._dial_error, self._dial_error_at = e, _core.now()
            self._backoff = _core.next_backoff(self._backoff)
            self._next_attempt = _core.now() + self._backoff
            return
        finally:
            self._connecting = False
            self._notify()
        if self._closed:
            conn.abort()
            raise _core.closed_error()
        self._conn = conn
        self._conns.add(conn)
        self._backoff = 0.0
        self._dial_error = None
        conn.task = asyncio.ensure_future(self._read_loop(conn))
        if conn.beat is not None:
            conn.keepalive = asyncio.ensure_future(self._keep_alive(conn, conn.beat))

    async def _dial(self, timeout: float) -> _Conn:
        path = self._target.path()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
        except (OSError, asyncio.TimeoutError) as e:
            raise _core.connect_error(path, e) from e
        try:
            self._target.check_server(writer.get_extra_info("socket"), path)
            writer.write(_core.hello(self.client_name, self.max_frame_size))
            frames = codec.FrameReader(self.max_frame_size)
            info: Optional[ServerInfo] = None
            backlog: List[bytes] = []
            loop = asyncio.get_running_loop()
            give_up = loop.time() + timeout
            while info is None:
                data = await asyncio.wait_for(reader.read(65536), max(0.0, give_up - loop.time()))
                if not data:
                    raise _core.connect_error(path, EOFError("closed during the handshake"))
                for payload in frames.feed(data):
                    if info is not None:
                        backlog.append(payload)
                    else:
                        info = _core.handshake_answer(codec.decode_frame(payload).body)
            if info.max_frame_size:
                frames.max_frame_size = min(self.max_frame_size, info.max_frame_size)
            return _Conn(reader, writer, _core.Connection(info), frames, backlog)
        except (OSError, asyncio.TimeoutError) as e:
            writer.transport.abort()
            raise _core.connect_error(path, e) from e
        except BaseException:
            writer.transport.abort()
            raise

    # ------------------------------------------------------------------ reading

    async def _read_loop(self, conn: _Conn) -> None:
        reason = "the daemon closed the connection"
        try:
            for payload in conn.backlog:
                if not self._on_payload(conn, payload):
                    return
            conn.backlog = []
            while True:
                data = await conn.reader.read(262144)
                if not data:
                    break
                if conn.beat is not None:
                    conn.beat.heard(_core.now())
                for payload in conn.frames.feed(data):
                    if not self._on_payload(conn, payload):
                        return
        except OutriggerError as e:  # FrameError, or an Error frame from the daemon
            reason = e.message
        except (OSError, asyncio.IncompleteReadError) as e:
            reason = str(e) or type(e).__name__
        finally:
            self._on_lost(conn, reason)

    def _on_payload(self, conn: _Conn, payload: bytes) -> bool:
        """Handles one frame; False once the connection is finished."""
        d = conn.state.handle(codec.decode_frame(payload))
        if d.going_away and self._conn is conn:
            self._conn = None
        if d.slots_freed or d.going_away:
            self._notify()
        for call, event in d.deliveries:
            call.deliver(event)
        if d.reply is not None:
            conn.write(d.reply)
        if d.fatal is not None:
            raise d.fatal
        if d.drained:
            conn.abort()
            return False
        return True

    async def _keep_alive(self, conn: _Conn, beat: Heartbeat) -> None:
        """Pings every interval; closes the connection once the daemon has been silent too long."""
        while True:
            await asyncio.sleep(beat.wait(_core.now()))
            ping, silence = beat.step(_core.now())
            if silence is not None:
                conn.abort(silence)  # the reader then fails the calls on it
                return
            if ping is not None:
                conn.write(ping)

    def _on_lost(self, conn: _Conn, reason: str) -> None:
        if conn.keepalive is not None:
            conn.keepalive.cancel()
        deliveries = conn.state.lose(conn.close_reason or reason)
        if self._closed:
            deliveries = [(call, _core.closed_error()) for call, _ in deliveries]
        if self._conn is conn:
            self._conn = None
        self._conns.discard(conn)
        conn.abort()
        self._notify()
        for call, event in deliveries:
            call.deliver(event)

    # ------------------------------------------------------------------ cancel

    def _cancel(self, call: Call, reason: str) -> None:
        if call.state == _core.QUEUED:
            call.abandoned = True
            self._notify()
            return
        if call.state != _core.SENT or call.cancel_sent or call.conn is None:
            return
        call.cancel_sent = True
        conn = next((c for c in self._conns if c.state is call.conn), None)
        if conn is not None:
            conn.write(codec.encode_cancel(call.stream_id, reason))

    def _abandon(self, call: Call, reason: str) -> None:
        self._cancel(call, reason)
        call.abandoned = True


class _AsyncCall:
    def __init__(self, client: AsyncClient, options: Optional[CallOptions], messages: Optional[MessagesLike], *,
                 stream: bool, timeout: Optional[float] = None, encode: Optional[_core.Encode] = None) -> None:
        self.client = client
        if options is not None and messages is not None:
            req = _core.build_request(messages, options, stream=stream, default_model=client.model,
                                      default_metadata=client.metadata)
            encode, timeout = _core.request_encoder(req), options.timeout
        assert encode is not None
        self.events: Optional[asyncio.Queue[Event]] = None
        self.call = Call(encode, _core.deadline_after(timeout), self._deliver)
        self.collector = _core.Collector()
        self.budget = ChunkBudget(client.max_stream_buffer)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.sent = False

    def _deliver(self, event: Event) -> None:
        """Queues the event, unless the caller left too many chunks unread."""
        assert self.events is not None
        if isinstance(event, Chunk) and not self.budget.admit(event):
            if not self.call.abandoned:
                error = self.budget.error()
                self.client._abandon(self.call, error.message)
                self.events.put_nowait(error)
            return
        self.events.put_nowait(event)

    async def send(self) -> None:
        if self.sent:
            return
        self.sent = True
        self.events = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        await self.client._send(self.call)

    async def result(self) -> Response:
        while self.collector.outcome is None:
            self.collector.consume(await self.next_event())
        return self.collector.result()

    async def next_chunk(self) -> Optional[Chunk]:
        while self.collector.outcome is None:
            chunk = self.collector.consume(await self.next_event())
            if chunk is not None:
                return chunk
        return None

    async def next_event(self) -> Event:
        assert self.events is not None
        call = self.call
        while True:
            if not self.events.empty():
                event = self.events.get_nowait()
            else:
                timeout = None
                if call.deadline is not None:
                    timeout = call.deadline + _core.LOCAL_DEADLINE_GRACE - _core.now()
                    if timeout <= 0:
                        self.client._abandon(call, "deadline passed")
                        return _core.local_deadline_error()
                try:
                    event = await asyncio.wait_for(self.events.get(), timeout)
                except asyncio.TimeoutError:
                    continue
                except asyncio.CancelledError:
                    self.client._abandon(call, "the caller's task was cancelled")
                    self.collector.stop("the caller's task was cancelled")
                    raise
            if isinstance(event, Chunk):
                self.budget.release(event)
            if isinstance(event, _core.Requeue):
                try:
                    await self.client._send(call, front=True)
                except OutriggerError as e:
                    return e
                continue
            return event

    def close(self, reason: str) -> None:
        if self.collector.outcome is None:
            if self.sent:
                self.client._abandon(self.call, reason)
            self.collector.stop(reason)

    def drop(self, reason: str) -> None:
        """Cancels the call of a stream dropped without aclose(): a Cancel if it was sent, else it
        is never sent. It runs as a finalizer, possibly in another thread or in the middle of the
        loop's work: it only marks the call and schedules the rest on the loop, and cannot raise."""
        try:
            if self.loop is not None and self.call.state != _core.DONE:
                self.call.abandoned = True  # a write about to start skips it
                self.loop.call_soon_threadsafe(self.client._abandon, self.call, reason)
        except Exception:  # noqa: BLE001 - nothing may escape a finalizer (a closed loop raises)
            pass


class AsyncStream:
    """A streamed answer: `async for chunk in stream`. Afterwards `response` holds the whole
    answer. Iteration raises `OutriggerError` if the stream ends with an error."""

    def __init__(self, pending: _AsyncCall) -> None:
        self._pending = pending
        # A stream dropped unclosed (an `async for` left by `break`) still cancels its call.
        self._finalizer = weakref.finalize(self, pending.drop, "stream dropped before its end")

    @property
    def start(self) -> Optional[StreamStart]:
        return self._pending.collector.assembler.start

    @property
    def response(self) -> Optional[Response]:
        return self._pending.collector.response

    async def __aenter__(self) -> AsyncStream:
        await self._pending.send()
        return self

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        tb: Optional[TracebackType]) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self

    async def __anext__(self) -> Chunk:
        await self._pending.send()
        chunk = await self._pending.next_chunk()
        if chunk is not None:
            return chunk
        self._pending.collector.result()  # raises the stream's error, if it failed
        raise StopAsyncIteration

    async def collect(self) -> Response:
        """Reads the rest of the stream and returns the whole answer."""
        await self._pending.send()
        return await self._pending.result()

    async def text(self) -> AsyncIterator[str]:
        """The content deltas only."""
        async for chunk in self:
            if chunk.delta:
                yield chunk.delta

    async def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Sends Cancel; iteration then ends with `Cancelled` (unless the stream already ended)."""
        if self._pending.sent:
            self._pending.client._cancel(self._pending.call, reason)

    async def aclose(self) -> None:
        """Stops reading; a stream that has not ended is cancelled on the daemon."""
        self._finalizer.detach()
        self._pending.close("stream closed before its end")
