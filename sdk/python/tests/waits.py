"""Small waiting and request helpers the test modules share."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Dict, List, TypeVar

from outrigger import CacheControl

T = TypeVar("T")


def run(coro: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(coro(), 30))  # type: ignore[arg-type]


async def until(cond: Callable[[], Any], timeout: float = 5.0) -> None:
    give_up = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > give_up:
            raise AssertionError("condition not met within %.1f s" % timeout)
        await asyncio.sleep(0.005)


def wait_until(cond: Callable[[], Any], timeout: float = 5.0) -> None:
    give_up = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > give_up:
            raise AssertionError("condition not met within %.1f s" % timeout)
        time.sleep(0.005)


def mock(**kw: Any) -> dict:
    return {"mock": kw}


def unencodable_arguments() -> List[Dict[str, Any]]:
    """Call arguments the wire format cannot hold: each must fail with InvalidArgument."""
    return [{"max_tokens": -1}, {"max_tokens": 2 ** 32}, {"seed": 2 ** 63}, {"temperature": "hot"},
            {"cache": CacheControl(ttl_ms=-1)}, {"stop": ["END", None]}]
