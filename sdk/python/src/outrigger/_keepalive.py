"""The heartbeat of a connection whose daemon announced one (HelloAck.heartbeat_ms > 0): a Ping
every interval, and the connection is given up once nothing at all was read for three intervals
while the client was listening, so that calls on a hung daemon fail (retryable) instead of
waiting for deadlines they may not have. Free of I/O: the blocking client drives it from its
reader thread, the asyncio one from a task."""

from __future__ import annotations

from typing import Optional, Tuple

from . import codec
from .types import ServerInfo

SILENT_INTERVALS = 3
UNANSWERED_INTERVALS = 2
"""A Ping must also have gone unanswered this long: silence nobody asked about proves nothing."""


class Heartbeat:
    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self.last_read = now
        self.next_ping = now + interval
        self.unanswered_since: Optional[float] = None
        """When the first Ping since the last read went out."""
        self.pings = 0

    def heard(self, now: float) -> None:
        """Anything read from the daemon shows it is alive, not only a Pong."""
        self.last_read = now
        self.unanswered_since = None

    def wait(self, now: float) -> float:
        """Seconds until the next Ping or the moment to give up, whichever is first."""
        return max(0.0, min(self.next_ping, self._give_up_at()) - now)

    def step(self, now: float) -> Tuple[Optional[bytes], Optional[str]]:
        """A tick: the Ping to send now if one is due, or why the connection is given up."""
        if now - self.next_ping > self.interval:
            # More than an interval late: this process was not running (event loop blocked by
            # user code, GIL held, machine suspended), so it neither pinged nor read. The daemon
            # had nothing to answer: the silence starts now, and a Ping goes out at once.
            self.heard(now)
            self.next_ping = now
        if now >= self._give_up_at():
            return None, "nothing read for %.2f s (heartbeat every %g s)" % (now - self.last_read, self.interval)
        if now < self.next_ping:
            return None, None
        self.pings += 1
        self.next_ping = now + self.interval
        if self.unanswered_since is None:
            self.unanswered_since = now
        return codec.encode_ping(self.pings), None

    def _give_up_at(self) -> float:
        asked = self.next_ping if self.unanswered_since is None else self.unanswered_since
        return max(self.last_read + SILENT_INTERVALS * self.interval, asked + UNANSWERED_INTERVALS * self.interval)


def heartbeat_for(info: ServerInfo, now: float) -> Optional[Heartbeat]:
    return Heartbeat(info.heartbeat_ms / 1000.0, now) if info.heartbeat_ms > 0 else None
