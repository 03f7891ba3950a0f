"""Writing to one connection of the blocking client, from the threads that have something to send.

A caller writes its own request while it holds `lock`, and waits for the socket only until its
limit. Control frames (Cancel, Ping, Pong) are queued instead and never wait: the thread queueing
one writes it at once when nobody holds the lock, else the holder writes it as it lets go of the
lock; what the socket cannot take at once is left to the reader thread, woken through `wake_fd`
to poll for room. Every thread that lets go of the lock looks at the queue again, so a control
frame queued while the lock was taken is never left behind."""

from __future__ import annotations

import os
import select
import socket
import threading
import weakref
from collections import deque
from typing import Deque, Optional, Tuple

from . import _core

_NOTHING = memoryview(b"")


class Outbox:
    """The writing side of one connection: its write lock, its waiting control frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        """Held by the one thread writing to the socket, so that frames never interleave."""
        self.stuck_since: Optional[float] = None
        """Since when control frames wait for a socket that takes nothing (bounded by WRITE_TIMEOUT)."""
        self._controls: Deque[bytes] = deque()
        self._rest = _NOTHING
        """What the socket has not taken yet of a control frame already started."""
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)
        # Any thread may still write to it after close(): it is closed only once none can.
        weakref.finalize(self, os.close, self._wake_w)

    def pending(self) -> bool:
        return bool(self._rest) or bool(self._controls)

    def queue_control(self, frame: bytes) -> None:
        """Sends a frame nobody waits for. Waits for neither the lock nor the socket and never
        raises, so the reader thread and finalizers may call it at any time."""
        self._controls.append(frame)
        self.flush()

    def release(self) -> None:
        """Ends a request's turn, then writes what control frames came meanwhile."""
        self.lock.release()
        self.flush()

    def flush(self) -> None:
        """Writes the waiting control frames unless another thread holds the lock, which then
        does it as it lets go. What the socket refuses goes to the reader, woken once the lock is
        free for it to take."""
        while self.pending() and self.lock.acquire(blocking=False):
            try:
                refused = not self._write_controls()
            finally:
                self.lock.release()
            if refused:
                self._wake_reader()
                return

    def write_within(self, frame: bytes, limit: float) -> Tuple[int, Optional[OSError]]:
        """Writes `frame` (lock held), after the rest of a control frame already started, waiting
        for room until `limit` (a monotonic time). Returns how many bytes of it went out, all of
        them unless the limit passed or the connection failed (the error)."""
        view = memoryview(frame)
        sent = 0
        poller: Optional[select.poll] = None
        try:
            while sent < len(view):
                try:
                    if self._rest:
                        self._rest = self._rest[self.sock.send(self._rest):]
                    else:
                        sent += self.sock.send(view[sent:])
                    continue
                except BlockingIOError:
                    pass
                left = limit - _core.now()
                if left <= 0:
                    return sent, None
                if poller is None:
                    poller = select.poll()
                    poller.register(self.sock, select.POLLOUT)
                poller.poll(left * 1000.0)
        except OSError as e:
            return sent, e
        self.stuck_since = None  # the daemon reads: control frames waiting get a fresh limit
        return sent, None

    # ------------------------------------------------------------------ the reader's side

    def finish(self) -> bool:
        """Writes what the socket takes of the waiting control frames, for the reader thread; True
        while some are left that it must wait for room to write."""
        while self.pending() and self.lock.acquire(blocking=False):
            try:
                if not self._write_controls():
                    return True
            finally:
                self.lock.release()
        return False  # none left, or the thread holding the lock writes them

    def woken(self) -> None:
        try:
            while os.read(self.wake_fd, 256):
                pass
        except OSError:
            pass

    def stall_left(self, now: float) -> Optional[float]:
        """Seconds until control frames stuck behind a full socket cost the connection."""
        since = self.stuck_since
        return None if since is None else since + _core.WRITE_TIMEOUT - now

    def close(self) -> None:
        """Closes the socket once no thread writes to it (shut it down first, so that one stops)."""
        with self.lock:
            self._controls.clear()
            self._rest = _NOTHING
            self.sock.close()
        os.close(self.wake_fd)  # only the reader thread, which calls this, reads it

    # ------------------------------------------------------------------ lock held

    def _write_controls(self) -> bool:
        """Writes waiting control frames without waiting; False when the socket refuses more."""
        try:
            while True:
                if not self._rest:
                    if not self._controls:
                        self.stuck_since = None
                        return True
                    self._rest = memoryview(self._controls.popleft())
                self._rest = self._rest[self.sock.send(self._rest):]
        except BlockingIOError:
            if self.stuck_since is None:
                self.stuck_since = _core.now()
            return False
        except OSError:  # the connection is gone, and its control frames with it
            self._controls.clear()
            self._rest = _NOTHING
            return True

    def _wake_reader(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # full: the reader has wake-ups to read already; closed: no reader left
            pass
