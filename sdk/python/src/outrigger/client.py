"""The blocking client: thread-safe, one connection, one reader thread per connection; callers
write their own requests."""

from __future__ import annotations

import copy
import os
import queue
import select
import socket
import threading
import weakref
from collections import deque
from types import TracebackType
from typing import Any, Deque, Iterator, List, Mapping, Optional, Sequence, Set, Type, Union

from . import _core, codec
from ._budget import ChunkBudget, check_limit
from ._core import Call, CallOptions, Event
from ._keepalive import Heartbeat, heartbeat_for
from ._outbox import Outbox
from ._socket import SocketTarget
from .errors import OutriggerError, Unavailable
from .types import (
    CacheControl,
    Chunk,
    MessagesLike,
    Metadata,
    Response,
    ResponseFormat,
    ServerInfo,
    StatusCode,
    StreamStart,
    Tool,
)

_UNSET: Any = object()


class _Conn:
    """One non-blocking socket, its stream table, its writing side and its reader thread (which
    keeps the heartbeat too)."""

    def __init__(self, sock: socket.socket, state: _core.Connection, reader: codec.FrameReader,
                 backlog: List[bytes]) -> None:
        self.sock = sock
        self.state = state
        self.reader = reader
        self.backlog = backlog
        self.out = Outbox(sock)
        self.reserved = 0
        """Slots promised to callers that have not taken their stream id yet."""
        self.close_reason = ""
        """Why this client closed the connection (a stalled write, a silent daemon), if it did."""
        self.thread: Optional[threading.Thread] = None

    def can_open(self) -> bool:
        limit = self.state.info.max_concurrent_streams
        return self.state.usable() and (limit == 0 or len(self.state.streams) + self.reserved < limit)

    def shutdown(self) -> None:
        _shutdown(self.sock)


class Client:
    """A connection to the Outrigger daemon, shared by any number of threads.

    Calls are multiplexed on one Unix socket connection, opened on first use (or by `connect`).
    After a GoAway or a dropped connection the next call opens a new one; calls still waiting to
    be sent are sent there, while calls that were in flight on a dropped connection fail with a
    retryable `Unavailable`.

    Args:
        socket_path: the daemon's socket; default $OUTRIGGER_SOCKET, else the first default
            candidate that exists (see `resolve_socket_path`), looked up again on each connect.
        model: the model (or route name) for calls that do not name one.
        metadata: defaults for every call's metadata (calls override field by field).
        timeout: default deadline of a call in seconds, sent to the daemon and enforced locally;
            None leaves the deadline to the daemon.
        connect_timeout: how long a call waits for a connection (retrying) before it fails.
        max_queued: bound of the queue of calls waiting to be sent; beyond it calls fail with
            `QueueFull` at once.
        max_frame_size: the largest frame this client accepts (negotiated down by the daemon).
        verify_server: check the uid of the process serving the socket before sending anything;
            default on for a default socket path, off for an explicit or $OUTRIGGER_SOCKET one.
        expected_server_uid: the only uid the server may run as (turns verification on).
        max_stream_buffer: bound of the chunk bytes a stream holds unread; past it the stream is
            cancelled and fails with `ResourceExhausted`.
    """

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
        self._cv = threading.Condition()
        self._queue: Deque[Call] = deque()
        self._conn: Optional[_Conn] = None
        self._conns: Set[_Conn] = set()
        self._connecting = False
        self._dialing: Optional[socket.socket] = None
        """The socket a caller's thread is connecting and handshaking on, for close() to shut down."""
        self._next_attempt = 0.0
        self._backoff = 0.0
        self._dial_error: Optional[OutriggerError] = None
        self._dial_error_at = 0.0
        self._closed = False

    # ------------------------------------------------------------------ public API

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()

    def connect(self) -> ServerInfo:
        """Opens the connection now instead of on the first call, and returns the handshake answer."""
        call = Call(lambda sid, deadline: b"", _core.now() + self.connect_timeout, lambda ev: None)
        call.queued_at = _core.now()
        with self._cv:
            while True:
                if self._closed:
                    raise _core.closed_error()
                if self._conn is not None and self._conn.state.usable():
                    return self._conn.state.info
                err = self._dial_error_for(call, _core.now())
                if err is not None:
                    raise err
                if not self._connecting and _core.now() >= self._next_attempt:
                    self._dial_locked(call)
                else:
                    self._cv.wait(0.05)

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
        """The current connection's handshake answer, if connected."""
        conn = self._conn
        return conn.state.info if conn is not None else None

    def chat(self, messages: MessagesLike, *, model: Optional[str] = None, timeout: Optional[float] = _UNSET,
             metadata: Optional[Metadata] = None, temperature: Optional[float] = None,
             top_p: Optional[float] = None, max_tokens: Optional[int] = None, seed: Optional[int] = None,
             stop: Optional[Sequence[str]] = None, tools: Optional[Sequence[Tool]] = None,
             tool_choice: Optional[str] = None, response_format: Optional[ResponseFormat] = None,
             extra: Union[Mapping[str, Any], str, None] = None, cache: Optional[CacheControl] = None) -> Response:
        """Sends a request and waits for the whole answer. Raises `OutriggerError` on failure."""
        options = CallOptions(model, self.timeout if timeout is _UNSET else timeout, metadata, temperature, top_p,
                              max_tokens, seed, stop, tools, tool_choice, response_format, extra, cache)
        return self._start(messages, options, stream=False).result()

    def submit(self, messages: MessagesLike, *, model: Optional[str] = None, timeout: Optional[float] = _UNSET,
               metadata: Optional[Metadata] = None, temperature: Optional[float] = None,
               top_p: Optional[float] = None, max_tokens: Optional[int] = None, seed: Optional[int] = None,
               stop: Optional[Sequence[str]] = None, tools: Optional[Sequence[Tool]] = None,
               tool_choice: Optional[str] = None, response_format: Optional[ResponseFormat] = None,
               extra: Union[Mapping[str, Any], str, None] = None,
               cache: Optional[CacheControl] = None) -> PendingCall:
        """Sends a request and returns, once it is written, a handle to wait for (or cancel) the answer."""
        options = CallOptions(model, self.timeout if timeout is _UNSET else timeout, metadata, temperature, top_p,
                              max_tokens, seed, stop, tools, tool_choice, response_format, extra, cache)
        return self._start(messages, options, stream=False)

    def stream(self, messages: MessagesLike, *, model: Optional[str] = None, timeout: Optional[float] = _UNSET,
               metadata: Optional[Metadata] = None, temperature: Optional[float] = None,
               top_p: Optional[float] = None, max_tokens: Optional[int] = None, seed: Optional[int] = None,
               stop: Optional[Sequence[str]] = None, tools: Optional[Sequence[Tool]] = None,
               tool_choice: Optional[str] = None, response_format: Optional[ResponseFormat] = None,
               extra: Union[Mapping[str, Any], str, None] = None, cache: Optional[CacheControl] = None) -> Stream:
        """Sends a streaming request. Iterate the result for `Chunk`s; use it as a context manager
        so that leaving early cancels the call."""
        options = CallOptions(model, self.timeout if timeout is _UNSET else timeout, metadata, temperature, top_p,
                              max_tokens, seed, stop, tools, tool_choice, response_format, extra, cache)
        pending = self._start(messages, options, stream=True)
        return Stream(pending)

    def feedback(self, trace_id: str, score: float, comment: Optional[str] = None, *,
                 metadata: Optional[Metadata] = None, timeout: Optional[float] = _UNSET) -> None:
        """Scores an earlier answer, named by its trace id. Returns when the daemon has taken it."""
        timeout = self.timeout if timeout is _UNSET else timeout
        pending = PendingCall(self, _core.deadline_after(timeout),
                              _core.feedback_encoder(trace_id, score, comment, self.metadata.merged(metadata)))
        self._send(pending.call)
        pending.result()

    def close(self) -> None:
        """Fails queued and in-flight calls with `ClientClosed` and closes the connections, one still
        handshaking included."""
        with self._cv:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns)
            if self._dialing is not None:
                _shutdown(self._dialing)  # the dialling caller's recv returns now, not at its timeout
            self._cv.notify_all()
        for conn in conns:
            conn.shutdown()
        for conn in conns:
            if conn.thread is not None and conn.thread is not threading.current_thread():
                conn.thread.join(timeout=2.0)

    # ------------------------------------------------------------------ calls

    def _start(self, messages: MessagesLike, options: CallOptions, stream: bool) -> PendingCall:
        req = _core.build_request(messages, options, stream=stream, default_model=self.model,
                                  default_metadata=self.metadata)
        pending = PendingCall(self, _core.deadline_after(options.timeout), _core.request_encoder(req))
        pending._conn = self._send(pending.call)
        return pending

    def _send(self, call: Call, front: bool = False) -> _Conn:
        """Queues a call and writes its frame once a connection has a free stream slot; returns
        that connection."""
        while True:
            conn = self._admit(call, front)
            front = True
            if self._write_call(conn, call):
                return conn

    def _write_call(self, conn: _Conn, call: Call) -> bool:
        """Takes the stream id and writes the frame under the connection's write lock, so that ids
        reach the daemon in increasing order; False when the call must queue again (none of its
        frame was written)."""
        lock, deadline = conn.out.lock, call.deadline
        if not lock.acquire(timeout=-1 if deadline is None else max(0.0, deadline - _core.now())):
            with self._cv:
                conn.reserved -= 1  # still behind another frame at its deadline: never started
            return False
        try:
            with self._cv:
                conn.reserved -= 1
                if not conn.state.usable():
                    return False  # lost or going away since admission
                expired = call.expired(_core.now())
                if call.abandoned or expired:
                    raise _core.deadline_before_send() if expired else _core.cancelled_before_send()
                sid = conn.state.open(call)
            try:
                frame = _core.encode_call(call, sid)
                if len(frame) - 4 > conn.reader.max_frame_size:
                    raise _core.frame_too_large(len(frame) - 4, conn.reader.max_frame_size)
            except OutriggerError:
                with self._cv:
                    conn.state.refuse(call)  # never written: its stream slot is free again
                    self._cv.notify_all()
                raise
            limit, own_deadline = _core.write_limit(deadline)
            sent, error = conn.out.write_within(frame, limit)
            return sent == len(frame) or self._write_cut(conn, call, sent, error, own_deadline)
        finally:
            conn.out.release()

    def _write_cut(self, conn: _Conn, call: Call, sent: int, error: Optional[OSError], own_deadline: bool) -> bool:
        """A frame the socket did not take whole: its write limit passed, or the connection failed.
        Only the call's own deadline passed with none of it written: taken back, and the
        connection stays. Otherwise the daemon is not reading (or the connection is gone), and a
        frame partly written cannot be taken back: the connection is closed. A call whose limit
        passed fails: DEADLINE_EXCEEDED for its deadline, retryable UNAVAILABLE for WRITE_TIMEOUT;
        the other calls fail with the connection."""
        timed_out = error is None
        with self._cv:
            mine = call.state == _core.SENT and call.conn is conn.state  # not moved by a GoAway
            if mine and (sent == 0 or timed_out):
                conn.state.forget(call)
                self._cv.notify_all()
            if sent == 0 and timed_out and own_deadline:
                return not mine  # queues again, and fails there at its deadline
            if timed_out:
                conn.close_reason = conn.close_reason or _core.write_stall_reason(own_deadline)
                call.state = _core.DONE
        conn.shutdown()
        if timed_out:
            raise _core.write_stall_error(own_deadline)
        # None of it written: sent again on the next connection. Cut: the lost connection fails it.
        return not (mine and sent == 0)

    def _admit(self, call: Call, front: bool) -> _Conn:
        with self._cv:
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
                return self._admit_locked(call)
            finally:
                if call in self._queue:
                    self._queue.remove(call)
                self._cv.notify_all()

    def _admit_locked(self, call: Call) -> _Conn:
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
                if self._queue[0] is call and conn.can_open():
                    self._queue.popleft()
                    conn.reserved += 1
                    return conn
            else:
                err = self._dial_error_for(call, t)
                if err is not None:
                    raise err
                if not self._connecting and t >= self._next_attempt:
                    self._dial_locked(call)
                    continue
                waits.append(call.queued_at + self.connect_timeout - t)
                if not self._connecting:
                    waits.append(self._next_attempt - t)
            self._cv.wait(max(min(waits), 0.001) if waits else None)

    def _dial_error_for(self, call: Call, t: float) -> Optional[OutriggerError]:
        err = self._dial_error
        if err is None or self._dial_error_at < call.queued_at:
            return None
        if err.retryable and t - call.queued_at < self.connect_timeout:
            return None
        return copy.copy(err)

    def _dial_locked(self, call: Call) -> None:
        """Opens a connection with the condition released; called and returns with it held."""
        self._connecting = True
        timeout = self.connect_timeout
        if call.deadline is not None:
            timeout = max(0.05, min(timeout, call.deadline - _core.now()))
        conn: Optional[_Conn] = None
        err: Optional[OutriggerError] = None
        self._cv.release()
        try:
            conn = self._dial(timeout)
        except OutriggerError as e:
            err = e
        finally:
            self._cv.acquire()
            self._connecting = False
            self._cv.notify_all()
        if conn is not None:
            if self._closed:
                conn.out.close()
                raise _core.closed_error()
            self._conn = conn
            self._conns.add(conn)
            self._backoff = 0.0
            self._dial_error = None
            conn.thread = threading.Thread(target=self._read_loop, args=(conn,), name="outrigger-reader", daemon=True)
            conn.thread.start()
        else:
            self._dial_error, self._dial_error_at = err, _core.now()
            self._backoff = _core.next_backoff(self._backoff)
            self._next_attempt = _core.now() + self._backoff

    def _dial(self, timeout: float) -> _Conn:
        path = self._target.path()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._dialing_on(sock)
            try:
                return self._handshake(sock, path, timeout)
            finally:
                self._dialing_on(None)  # before any close: close() must not shut down a reused descriptor
        except BaseException:
            sock.close()
            raise

    def _dialing_on(self, sock: Optional[socket.socket]) -> None:
        """Records the socket being dialled, so that close() can interrupt its handshake."""
        with self._cv:
            if sock is not None and self._closed:
                raise _core.closed_error()
            self._dialing = sock

    def _handshake(self, sock: socket.socket, path: str, timeout: float) -> _Conn:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except OSError as e:
            raise _core.connect_error(path, e) from e
        self._target.check_server(sock, path)
        try:
            sock.sendall(_core.hello(self.client_name, self.max_frame_size))
            reader = codec.FrameReader(self.max_frame_size)
            info: Optional[ServerInfo] = None
            backlog: List[bytes] = []
            while info is None:
                data = sock.recv(65536)
                if not data:
                    raise Unavailable(StatusCode.UNAVAILABLE, "the daemon closed the connection during the "
                                      "handshake", retryable=True, origin="client/connect")
                for payload in reader.feed(data):
                    if info is not None:
                        backlog.append(payload)
                    else:
                        info = _core.handshake_answer(codec.decode_frame(payload).body)
        except OSError as e:
            raise Unavailable(StatusCode.UNAVAILABLE, "handshake with %s failed: %s" % (path, e),
                              retryable=True, origin="client/connect") from e
        if info.max_frame_size:
            reader.max_frame_size = min(self.max_frame_size, info.max_frame_size)
        sock.settimeout(0.0)  # from now on every wait is a poll with its own limit
        return _Conn(sock, _core.Connection(info), reader, backlog)

    # ------------------------------------------------------------------ reading

    def _read_loop(self, conn: _Conn) -> None:
        reason = "the daemon closed the connection"
        try:
            for payload in conn.backlog:
                self._on_payload(conn, payload)
            conn.backlog = []
            beat = heartbeat_for(conn.state.info, _core.now())
            out, sock_fd = conn.out, conn.sock.fileno()
            wake_fd = out.wake_fd
            poller = select.poll()
            poller.register(sock_fd, select.POLLIN)
            poller.register(wake_fd, select.POLLIN)
            watching = False  # for room to write control frames the socket refused
            while True:
                stall_left = out.stall_left(_core.now()) if watching else None
                if stall_left is not None and stall_left <= 0:
                    conn.close_reason = conn.close_reason or _core.write_stall_reason(False)
                    break
                events = dict(poller.poll(_wait_ms(beat, stall_left)))
                if wake_fd in events:
                    out.woken()
                if events.get(sock_fd, 0) & _READABLE and not self._read_some(conn, beat):
                    break
                if out.finish() != watching:
                    watching = not watching
                    poller.modify(sock_fd, (select.POLLIN | select.POLLOUT) if watching else select.POLLIN)
                if beat is not None and not self._keep_alive(conn, beat):
                    break
        except _Fatal as e:
            reason = e.error.message
        except codec.FrameError as e:
            reason = e.message
        except OSError as e:
            reason = str(e)
        finally:
            self._on_lost(conn, reason)

    def _read_some(self, conn: _Conn, beat: Optional[Heartbeat]) -> bool:
        """Reads and handles what the socket has; False at its end."""
        data = _receive(conn.sock)
        if data == b"":
            return False
        if data:
            if beat is not None:
                beat.heard(_core.now())
            for payload in conn.reader.feed(data):
                self._on_payload(conn, payload)
        return True

    def _on_payload(self, conn: _Conn, payload: bytes) -> None:
        frame = codec.decode_frame(payload)
        with self._cv:
            d = conn.state.handle(frame)
            if d.going_away and self._conn is conn:
                self._conn = None  # new calls open a new connection; this one drains
            if d.slots_freed or d.going_away:
                self._cv.notify_all()
        for call, event in d.deliveries:
            call.deliver(event)
        if d.reply is not None:
            conn.out.queue_control(d.reply)
        if d.fatal is not None:
            raise _Fatal(d.fatal)
        if d.drained:
            conn.shutdown()

    def _keep_alive(self, conn: _Conn, beat: Heartbeat) -> bool:
        """Pings when due; False once the daemon has been silent for too long."""
        ping, silence = beat.step(_core.now())
        if silence is not None:
            conn.close_reason = conn.close_reason or silence
            return False
        if ping is not None:
            conn.out.queue_control(ping)
        return True

    def _on_lost(self, conn: _Conn, reason: str) -> None:
        conn.shutdown()  # a thread writing to the socket stops at once
        # Once it has: a request none of which left was taken back, and goes to the next connection.
        with conn.out.lock, self._cv:
            deliveries = conn.state.lose(conn.close_reason or reason)
            if self._closed:
                deliveries = [(call, _core.closed_error()) for call, _ in deliveries]
            if self._conn is conn:
                self._conn = None
            self._conns.discard(conn)
            self._cv.notify_all()
        for call, event in deliveries:
            call.deliver(event)
        conn.out.close()

    # ------------------------------------------------------------------ cancel and give up

    def _cancel(self, call: Call, reason: str) -> None:
        """Sends Cancel for a call in flight (once); a queued call just stops waiting."""
        with self._cv:
            if call.state == _core.QUEUED:
                call.abandoned = True
                self._cv.notify_all()
                return
            if call.state != _core.SENT or call.cancel_sent or call.conn is None:
                return
            call.cancel_sent = True
            state, sid = call.conn, call.stream_id
            conn = next((c for c in self._conns if c.state is state), None)
        if conn is not None:
            conn.out.queue_control(codec.encode_cancel(sid, reason))  # never waits for the socket

    def _abandon(self, call: Call, reason: str) -> None:
        """The caller stops waiting: cancel on the daemon, drop whatever else arrives."""
        self._cancel(call, reason)
        with self._cv:
            call.abandoned = True


_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected yet, or already closed


def _wait_ms(beat: Optional[Heartbeat], stall_left: Optional[float]) -> Optional[float]:
    """How long the reader may sleep: until the next heartbeat step or the limit of stuck control frames."""
    waits = [] if beat is None else [beat.wait(_core.now())]
    if stall_left is not None:
        waits.append(stall_left)
    return min(waits) * 1000.0 if waits else None


def _receive(sock: socket.socket) -> Optional[bytes]:
    """What the non-blocking socket has to read: b"" at its end, None when nothing yet."""
    try:
        return sock.recv(262144)
    except BlockingIOError:
        return None


class _Fatal(Exception):
    def __init__(self, error: OutriggerError) -> None:
        super().__init__(error.message)
        self.error = error


class PendingCall:
    """A request in flight. `result()` waits for its answer; `cancel()` asks the daemon to stop."""

    def __init__(self, client: Client, deadline: Optional[float], encode: _core.Encode) -> None:
        self._client = client
        self._events: "queue.SimpleQueue[Event]" = queue.SimpleQueue()
        self.call = Call(encode, deadline, self._deliver)
        self._lock = threading.Lock()
        self._collector = _core.Collector()
        self._budget = ChunkBudget(client.max_stream_buffer)
        self._conn: Optional[_Conn] = None
        """The connection the request went out on, for a Cancel sent from a finalizer."""

    def _deliver(self, event: Event) -> None:
        """Runs on the reader thread: queues the event, unless the caller left too many chunks unread."""
        if isinstance(event, Chunk) and not self._budget.admit(event):
            if not self.call.abandoned:
                error = self._budget.error()
                self._client._abandon(self.call, error.message)
                self._events.put(error)
            return
        self._events.put(event)

    def done(self) -> bool:
        return self._collector.outcome is not None

    def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Sends Cancel; the call then ends with `Cancelled` (unless its answer was already sent)."""
        self._client._cancel(self.call, reason)

    def result(self) -> Response:
        """Waits for the answer (at most until the call's deadline plus a short grace)."""
        with self._lock:
            while self._collector.outcome is None:
                self._collector.consume(self._next_event())
            return self._collector.result()

    def _next_chunk(self) -> Optional[Chunk]:
        """The next chunk, or None once the call has ended."""
        with self._lock:
            while self._collector.outcome is None:
                chunk = self._collector.consume(self._next_event())
                if chunk is not None:
                    return chunk
            return None

    def _next_event(self) -> Event:
        call = self.call
        while True:
            timeout = None
            if call.deadline is not None:
                timeout = call.deadline + _core.LOCAL_DEADLINE_GRACE - _core.now()
                if timeout <= 0:
                    self._client._abandon(call, "deadline passed")
                    return _core.local_deadline_error()
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                continue
            if isinstance(event, Chunk):
                self._budget.release(event)
            if isinstance(event, _core.Requeue):
                try:
                    self._conn = self._client._send(call, front=True)
                except OutriggerError as e:
                    return e
                continue
            return event

    def _close(self, reason: str) -> None:
        with self._lock:
            if self._collector.outcome is None:
                self._client._abandon(self.call, reason)
                self._collector.stop(reason)

    def _drop(self, reason: str) -> None:
        """Cancels the call of a stream dropped without close(). It runs as a finalizer, in any
        thread and between any two steps of it, so it waits for no lock and cannot raise: the
        Cancel is queued, and written at once only when no other thread is writing."""
        try:
            call, conn = self.call, self._conn
            call.abandoned = True
            if conn is not None and call.state == _core.SENT and call.conn is conn.state and not call.cancel_sent:
                call.cancel_sent = True
                conn.out.queue_control(codec.encode_cancel(call.stream_id, reason))
        except Exception:  # noqa: BLE001 - nothing may escape a finalizer
            pass


class Stream:
    """A streamed answer: iterate for `Chunk`s. Afterwards `response` holds the whole answer
    (content and tool calls assembled from the chunks, usage, cost...). Iteration raises
    `OutriggerError` if the stream ends with an error."""

    def __init__(self, pending: PendingCall) -> None:
        self._pending = pending
        # A stream dropped unclosed (a `for` loop left by `break`) still cancels its call.
        self._finalizer = weakref.finalize(self, pending._drop, "stream dropped before its end")

    @property
    def start(self) -> Optional[StreamStart]:
        """The stream's first frame (model, provider, cache hit, trace id), once it arrived."""
        return self._pending._collector.assembler.start

    @property
    def response(self) -> Optional[Response]:
        """The whole answer, once the stream ended well."""
        return self._pending._collector.response

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        chunk = self._pending._next_chunk()
        if chunk is not None:
            return chunk
        self._pending._collector.result()  # raises the stream's error, if it failed
        raise StopIteration

    def collect(self) -> Response:
        """Reads the rest of the stream and returns the whole answer."""
        return self._pending.result()

    def text(self) -> Iterator[str]:
        """The content deltas only."""
        for chunk in self:
            if chunk.delta:
                yield chunk.delta

    def cancel(self, reason: str = "cancelled by the caller") -> None:
        """Sends Cancel; iteration then ends with `Cancelled` (unless the stream already ended)."""
        self._pending.cancel(reason)

    def close(self) -> None:
        """Stops reading; a stream that has not ended is cancelled on the daemon."""
        self._finalizer.detach()
        self._pending._close("stream closed before its end")

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
