"""A small in-process stand-in for the daemon, for client tests that need to steer the server:
GoAway at a chosen stream, dropped connections, a refused handshake, oversized frames, a server
that ignores deadlines, a heartbeat, a daemon frozen as by SIGSTOP. It answers like the daemon's
mock provider (echo of the last user message, `{"mock": {...}}` in extra_json)."""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import threading
from typing import Any, Dict, List, Optional

from outrigger.codec import FrameReader
from outrigger.describe import describe_payload

import wirebuild


class _Conn:
    def __init__(self, daemon: "FakeDaemon", sock: socket.socket, index: int) -> None:
        self.daemon = daemon
        self.sock = sock
        self.index = index
        self.lock = threading.Lock()
        self.cancels: Dict[int, threading.Event] = {}
        self.refused: set = set()
        self.active = 0
        self.going_away = False
        self.last_stream_id = 0
        self.closed = False
        self.bytes_received = 0

    def send(self, desc: Dict[str, Any]) -> None:
        self.send_raw(wirebuild.encode(desc))

    def send_raw(self, data: bytes) -> None:
        self.daemon.running.wait()  # a frozen daemon writes nothing
        with self.lock:
            try:
                self.sock.sendall(data)
            except OSError:
                pass

    def end(self, sid: int, **body: Any) -> None:
        body.setdefault("status", "OK")
        with self.lock:
            self.active -= 1
            self.cancels.pop(sid, None)
            drained = self.going_away and self.active == 0
        self.send({"stream_id": sid, "body_type": "ResponseEnd", "body": body})
        if drained and self.daemon.close_after_drain:
            self.close()

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeDaemon:
    def __init__(self, path: str, *, max_concurrent_streams: int = 256, max_frame_size: int = 4 * 1024 * 1024,
                 hello_error: Optional[Dict[str, Any]] = None, proto_major: int = 1, heartbeat_ms: int = 0,
                 answer_pings: bool = True) -> None:
        self.path = path
        self.max_concurrent_streams = max_concurrent_streams
        self.max_frame_size = max_frame_size
        self.hello_error = hello_error
        self.proto_major = proto_major
        self.heartbeat_ms = heartbeat_ms
        self.answer_pings = answer_pings
        self.close_after_drain = True
        self.running = threading.Event()
        """Cleared by freeze(): the daemon neither reads nor writes, like a stopped process."""
        self.running.set()
        self._reading = threading.Lock()
        """Held across a read, so that freeze() returns only once no connection reads any more."""
        self.requests: List[Dict[str, Any]] = []
        """Every frame received after the handshake, as described, plus "conn": its connection index."""
        self.hellos: List[Dict[str, Any]] = []
        self.conns: List[_Conn] = []
        self._listener: Optional[socket.socket] = None
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ control

    def start(self) -> "FakeDaemon":
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(64)
        self._spawn(self._accept_loop, self._listener)
        return self

    def freeze(self) -> None:
        """Stops reading and writing on every connection (as SIGSTOP would); thaw() resumes. Once
        it returns, not one more byte is read."""
        with self._reading:
            self.running.clear()

    def thaw(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.thaw()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            try:
                os.unlink(self.path)
            except OSError:
                pass
        for conn in list(self.conns):
            conn.close()

    def go_away(self, last_stream_id: Optional[int] = None) -> None:
        """GoAway on every open connection; streams past `last_stream_id` are refused from then on."""
        for conn in list(self.conns):
            if conn.closed:
                continue
            with conn.lock:
                conn.going_away = True
                conn.last_stream_id = last_stream_id if last_stream_id is not None else max(
                    [r["stream_id"] for r in self.requests if r["conn"] == conn.index] or [0])
                # Streams past last_stream_id are dropped unanswered, as if never started.
                refused = [sid for sid in conn.cancels if sid > conn.last_stream_id]
                conn.refused.update(refused)
                conn.active -= len(refused)
                for sid in refused:
                    conn.cancels.pop(sid).set()
                drained = conn.active == 0
            conn.send({"stream_id": 0, "body_type": "GoAway",
                       "body": {"last_stream_id": conn.last_stream_id, "reason": "test", "drain_ms": 1000}})
            if drained and self.close_after_drain:
                conn.close()

    def drop_connections(self) -> None:
        # The connections open now: a client reconnecting meanwhile must not lose the new one.
        for conn in list(self.conns):
            conn.close()

    def end_all_then_fail(self, ends: Dict[int, Dict[str, Any]], error: Dict[str, Any]) -> None:
        """What the daemon does on a connection-fatal error: a ResponseEnd for each stream in
        `ends`, an Error on stream 0, then close; all in one write, like one flush."""
        frames = [wirebuild.encode({"stream_id": sid, "body_type": "ResponseEnd", "body": body})
                  for sid, body in ends.items()]
        frames.append(wirebuild.encode({"stream_id": 0, "body_type": "Error", "body": error}))
        for conn in list(self.conns):
            if not conn.closed:
                conn.send_raw(b"".join(frames))
                conn.close()

    def send_all(self, data: bytes) -> None:
        for conn in list(self.conns):
            if not conn.closed:
                conn.send_raw(data)

    def frames(self, body_type: str) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["body_type"] == body_type]

    # ------------------------------------------------------------------ serving

    def _spawn(self, target: Any, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            conn = _Conn(self, sock, len(self.conns))
            self.conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: _Conn) -> None:
        reader = FrameReader(64 * 1024 * 1024)
        hello_done = False
        try:
            while True:
                self.running.wait()
                readable = select.select([conn.sock], [], [], 0.05)[0]
                with self._reading:
                    if not readable or not self.running.is_set():
                        continue  # frozen meanwhile: read nothing more
                    data = conn.sock.recv(65536)
                if not data:
                    return
                conn.bytes_received += len(data)
                for payload in reader.feed(data):
                    frame = describe_payload(payload)
                    if not hello_done:
                        self.hellos.append(frame)
                        if self.hello_error is not None:
                            conn.send({"stream_id": 0, "body_type": "Error", "body": self.hello_error})
                            conn.close()
                            return
                        hello = frame["body"]
                        conn.send({"stream_id": 0, "body_type": "HelloAck", "body": {
                            "proto_major": self.proto_major, "proto_minor": 0, "server_version": "fake",
                            "max_frame_size": min(hello["max_frame_size"], self.max_frame_size),
                            "max_concurrent_streams": self.max_concurrent_streams,
                            "features": hello["features"] & 15, "heartbeat_ms": self.heartbeat_ms}})
                        hello_done = True
                        continue
                    frame["conn"] = conn.index
                    with self._lock:
                        self.requests.append(frame)
                    self._on_frame(conn, frame)
        except OSError:
            return
        finally:
            conn.closed = True
            conn.sock.close()

    def _on_frame(self, conn: _Conn, frame: Dict[str, Any]) -> None:
        sid, kind = frame["stream_id"], frame["body_type"]
        if kind == "Ping":
            if self.answer_pings:
                conn.send({"stream_id": 0, "body_type": "Pong", "body": frame["body"]})
        elif kind == "Cancel":
            event = conn.cancels.get(sid)
            if event is not None:
                event.set()
        elif kind in ("Request", "Feedback"):
            with conn.lock:
                refuse = conn.going_away and sid > conn.last_stream_id
                busy = conn.active >= self.max_concurrent_streams
                conn.active += 1
                conn.cancels[sid] = threading.Event()
            if refuse:
                conn.end(sid, status="UNAVAILABLE", retryable=True, origin="server/drain", message="going away")
            elif busy:
                conn.end(sid, status="RESOURCE_EXHAUSTED", retryable=True, origin="server/streams")
            elif kind == "Feedback":
                conn.end(sid, origin="feedback")
            else:
                self._spawn(self._answer, conn, sid, frame["body"], conn.cancels[sid])
        elif sid != 0:
            conn.send({"stream_id": sid, "body_type": "ResponseEnd",
                       "body": {"status": "UNIMPLEMENTED", "origin": "server/frame"}})

    def _answer(self, conn: _Conn, sid: int, req: Dict[str, Any], cancel: threading.Event) -> None:
        mock = json.loads(req.get("params", {}).get("extra_json") or "{}").get("mock", {})
        timeout = req["timeout_ms"] / 1000.0 if req["timeout_ms"] and not mock.get("deaf") else None

        def wait(seconds: Optional[float]) -> bool:
            """False when the stream ends meanwhile (cancel or deadline), having sent its end."""
            if mock.get("deaf"):
                threading.Event().wait(seconds)
                return True
            limit = seconds if timeout is None else (timeout if seconds is None else min(seconds, timeout))
            if cancel.wait(limit):
                if sid not in conn.refused:
                    conn.end(sid, status="CANCELLED", origin="server/cancel")
                return False
            if timeout is not None and (seconds is None or timeout <= seconds):
                conn.end(sid, status="DEADLINE_EXCEEDED", origin="server/deadline")
                return False
            return True

        if not wait(mock.get("latency_ms", 0) / 1000.0) or sid in conn.refused:
            return
        if mock.get("hang"):
            wait(None)
            return
        if "fail" in mock:
            f = mock["fail"]
            conn.end(sid, status=f.get("code", "UNAVAILABLE"), retryable=f.get("retryable", False),
                     retry_after_ms=f.get("retry_after_ms", 0), message=f.get("message", ""), origin="provider/mock")
            return
        user = [m.get("content", "") for m in req.get("messages", []) if m.get("role") == "user"]
        text = mock.get("text", user[-1] if user else "")
        if mock.get("echo_metadata"):
            md = req.get("metadata", {})
            text = json.dumps({k: md.get(k, "") for k in ("tenant", "user", "session", "request_id", "prompt_id",
                                                           "prompt_version")} |
                              {"tags": {t["key"]: t["value"] for t in md.get("tags", [])}})
        end = {"status": "OK", "origin": "provider/mock", "finish_reason": "stop", "trace_id": "trace-%d" % sid,
               "model": req.get("model", ""),
               "usage": {"prompt_tokens": sum(len(u.split()) for u in user), "completion_tokens": len(text.split()),
                         "cached_tokens": 0, "reasoning_tokens": 0, "cache_write_tokens": 0}}
        # What the upstream said about its answer: mock.fingerprint and mock.tier go on the start and
        # (unless mock.start_meta_only) on the end; mock.refusal makes the text the model's refusal.
        meta = {k: mock[m] for k, m in (("system_fingerprint", "fingerprint"), ("service_tier", "tier")) if m in mock}
        refusal = bool(mock.get("refusal"))
        if not mock.get("start_meta_only"):
            end.update(meta)
        if refusal:
            end.update(refusal=True, finish_reason="content_filter")
        if req.get("stream"):
            conn.send({"stream_id": sid, "body_type": "ResponseStart",
                       "body": {"model": req.get("model", ""), "provider": "mock", "cache_hit": False,
                                "trace_id": "trace-%d" % sid, **meta}})
            n = max(1, int(mock.get("chunks", 1)))
            step = -(-len(text) // n) if text else 0
            for i in range(n):
                if i and not wait(mock.get("chunk_interval_ms", 0) / 1000.0):
                    return
                conn.send({"stream_id": sid, "body_type": "ResponseChunk",
                           "body": {"seq": i, "delta": text[i * step:(i + 1) * step], "refusal": refusal}})
        else:
            end["content"] = text
        conn.end(sid, **end)


def oversized_frame_header(length: int) -> bytes:
    """Just the length prefix of a frame of `length` bytes (the client must refuse it at once)."""
    return struct.pack("<I", length)
