#!/usr/bin/env python3
"""Round-trip latency and throughput through the sidecar with this SDK, next to the same calls
made over HTTP/JSON with httpx against the daemon's OpenAI-compatible front.

    python bench/bench.py --socket /tmp/outrigger.sock --http http://127.0.0.1:8080/v1
    python bench/bench.py --daemon build/debug/bin/outrigger      # starts a daemon of its own

Use a route served by the mock provider, so that only the transport and the client are measured.
Absolute figures vary a lot between machines and runs; compare the two halves of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

import outrigger


def percentile(samples: List[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def report(label: str, latencies: List[float], throughput: Optional[float]) -> Dict[str, float]:
    p50, p99 = percentile(latencies, 50) * 1e6, percentile(latencies, 99) * 1e6
    line = "%-22s p50 %8.1f us   p99 %8.1f us" % (label, p50, p99)
    if throughput is not None:
        line += "   throughput %9.0f calls/s" % throughput
    print(line)
    return {"p50": p50, "p99": p99, "throughput": throughput or 0.0}


def sequential(call: Callable[[], Any], n: int) -> List[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


async def concurrent(call: Callable[[], Awaitable[Any]], n: int, concurrency: int) -> float:
    """Calls per second with `concurrency` calls in flight, `n` in all."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await call()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t)


def bench_sdk(args: argparse.Namespace, prompt: str) -> Dict[str, float]:
    with outrigger.Client(args.socket, model=args.model) as client:
        for _ in range(args.warmup):
            client.chat(prompt)
        latencies = sequential(lambda: client.chat(prompt), args.requests)

    async def run() -> float:
        async with outrigger.AsyncClient(args.socket, model=args.model) as aclient:
            await asyncio.gather(*(aclient.chat(prompt) for _ in range(args.warmup)))
            return await concurrent(lambda: aclient.chat(prompt), args.requests, args.concurrency)

    return report("sidecar (outrigger)", latencies, asyncio.run(run()))


def bench_http(args: argparse.Namespace, prompt: str) -> Optional[Dict[str, float]]:
    try:
        import httpx
    except ImportError:
        print("HTTP half skipped: httpx is not installed (pip install httpx)")
        return None
    url = args.http.rstrip("/") + "/chat/completions"
    body = {"model": args.model, "messages": [{"role": "user", "content": prompt}]}
    try:
        with httpx.Client(timeout=5.0) as http:
            http.post(url, json=body).raise_for_status()
    except httpx.HTTPError as e:
        print("HTTP half skipped: %s does not answer (%s)" % (url, e))
        return None

    with httpx.Client(timeout=30.0) as http:
        for _ in range(args.warmup):
            http.post(url, json=body).json()
        latencies = sequential(lambda: http.post(url, json=body).json(), args.requests)

    async def run() -> float:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as ahttp:
            async def one() -> Any:
                r = await ahttp.post(url, json=body)
                return r.json()
            return await concurrent(one, args.requests, args.concurrency)

    return report("HTTP/JSON (httpx)", latencies, asyncio.run(run()))


def start_daemon(binary: str) -> tuple:
    folder = tempfile.mkdtemp(prefix="orbench-")
    path = os.path.join(folder, "o.sock")
    proc = subprocess.Popen([binary, "serve", "--socket", path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    give_up = time.monotonic() + 10
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > give_up:
            proc.kill()
            sys.exit("the daemon did not start")
        time.sleep(0.02)
    return proc, path, folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", default=None, help="daemon socket (default $OUTRIGGER_SOCKET or "
                                                       "/tmp/outrigger.sock)")
    parser.add_argument("--daemon", default=None, help="start this daemon binary on a temporary socket")
    parser.add_argument("--http", default=os.environ.get("OUTRIGGER_HTTP_URL", "http://127.0.0.1:8080/v1"),
                        help="base URL of the OpenAI-compatible HTTP front (default %(default)s)")
    parser.add_argument("--model", default="mock-1")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--prompt-bytes", type=int, default=256, help="size of the user message")
    args = parser.parse_args()

    proc = folder = None
    if args.daemon:
        proc, args.socket, folder = start_daemon(args.daemon)
    prompt = ("lorem ipsum " * (args.prompt_bytes // 12 + 1))[:args.prompt_bytes]
    print("outrigger %s, Python %s, %d calls (%d concurrent for throughput), %d-byte prompt"
          % (outrigger.__version__, sys.version.split()[0], args.requests, args.concurrency, args.prompt_bytes))
    try:
        sdk = bench_sdk(args, prompt)
        http = bench_http(args, prompt)
        if http is not None:
            print("HTTP / sidecar: p50 x%.2f, p99 x%.2f, throughput x%.2f (sidecar)" % (
                http["p50"] / sdk["p50"], http["p99"] / sdk["p99"], sdk["throughput"] / http["throughput"]))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            shutil.rmtree(folder or "", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
