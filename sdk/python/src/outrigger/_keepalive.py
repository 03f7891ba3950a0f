"""The heartbeat of a connection whose daemon announced one (HelloAck.heartbeat_ms > 0): a Ping
every interval, and the connection is given up once nothing at all was read for three intervals,
so that calls on a hung daemon fail (retryable) instead of waiting for deadlines they may not have.
Free of I/O: the blocking client drives it from its reader thread, the asyncio one from a task."""

from __future__ import annotations

from typing import Optional

from . import codec
from .types import ServerInfo

SILENT_INTERVALS = 3


class Heartbeat:
    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self.last_read = now
        self.next_ping = now + interval
        self.pings = 0

    def heard(self, now: float) -> None:
        """Anything read from the daemon shows it is alive, not only a Pong."""
        self.last_read = now

    def wait(self, now: float) -> float:
        """Seconds until the next Ping or the moment to give up, whichever is first."""
        return max(0.0, min(self.next_ping, self.last_read + SILENT_INTERVALS * self.interval) - now)

    def silence(self, now: float) -> Optional[str]:
        """Why the connection is given up, once nothing was read for three intervals."""
        quiet = now - self.last_read
        if quiet < SILENT_INTERVALS * self.interval:
            return None
        return "nothing read for %.2f s (heartbeat every %g s)" % (quiet, self.interval)

    def ping(self, now: float) -> Optional[bytes]:
        """The Ping to send now, if one is due."""
        if now < self.next_ping:
            return None
        self.pings += 1
        self.next_ping = now + self.interval
        return codec.encode_ping(self.pings)


def heartbeat_for(info: ServerInfo, now: float) -> Optional[Heartbeat]:
    return Heartbeat(info.heartbeat_ms / 1000.0, now) if info.heartbeat_ms > 0 else None
