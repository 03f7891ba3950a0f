"""The bound on the chunk bytes a stream holds for a caller that does not read them: past it the
stream is cancelled and fails, instead of growing without limit."""

from __future__ import annotations

import threading

from .errors import ResourceExhausted
from .types import Chunk, StatusCode


def chunk_bytes(chunk: Chunk) -> int:
    n = len(chunk.delta.encode("utf-8"))
    for d in chunk.tool_calls:
        n += sum(len(v.encode("utf-8")) for v in (d.id, d.type, d.name, d.arguments) if v)
    return n


class ChunkBudget:
    """Bytes of chunks delivered to a stream and not read yet. The connection's reader adds, the
    caller takes away, possibly from another thread: hence the lock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buffered = 0
        self.exceeded = False
        self._lock = threading.Lock()

    def admit(self, chunk: Chunk) -> bool:
        """Counts a chunk about to be queued; False, for good, once one does not fit. A chunk that
        finds nothing buffered always fits: the caller keeps up, however large it is."""
        size = chunk_bytes(chunk)
        with self._lock:
            if self.exceeded or (self.buffered > 0 and self.buffered + size > self.limit):
                self.exceeded = True
                return False
            self.buffered += size
            return True

    def release(self, chunk: Chunk) -> None:
        size = chunk_bytes(chunk)
        with self._lock:
            self.buffered -= size

    def error(self) -> ResourceExhausted:
        return ResourceExhausted(StatusCode.RESOURCE_EXHAUSTED, "the caller did not read the stream fast enough "
                                 "(%d bytes buffered, limit %d)" % (self.buffered, self.limit), origin="client/stream")


def check_limit(limit: int) -> int:
    if limit <= 0:
        raise ValueError("max_stream_buffer must be positive")
    return limit
