#!/usr/bin/env python3
"""Round-trip latency and throughput of unary chat calls to the mock provider, through one
Outrigger daemon by two ways in: this SDK (FlatBuffers over the Unix socket, asyncio
`AsyncClient`) and the daemon's OpenAI-compatible HTTP front with httpx (`httpx.AsyncClient`,
HTTP/1.1 keep-alive), at the same concurrency levels, in the same run.

    bench/run_bench.sh                                    # virtualenv with httpx, then this script
    python bench/bench.py --daemon build/release/bin/outrigger
    python bench/bench.py --socket /run/outrigger/outrigger.sock --http-url http://127.0.0.1:8080/v1

With a daemon binary (--daemon, else $OUTRIGGER_BIN) and no --socket, the benchmark starts that
daemon on a temporary socket with its HTTP front on a free loopback port, both in front of the
same mock route, and stops it at the end. Otherwise it uses a running daemon: --socket (else
$OUTRIGGER_SOCKET, else the SDK's default socket) and --http-url (else $OUTRIGGER_HTTP_URL, else
http://127.0.0.1:8080/v1); the HTTP half is skipped, with a message, when that URL does not answer.

Each point runs `concurrency` calls in flight for --duration seconds after --warmup seconds and
reports p50/p99 of every call's round trip and the calls per second. The ratio rows divide HTTP
latency by SDK latency and SDK throughput by HTTP throughput: above 1, the SDK is faster.
Absolute figures vary a lot between machines and runs; compare the two halves of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, List, Optional, Tuple

import outrigger

# One daemon, two fronts, one mock route: only the way in differs between the two halves.
CONFIG = """\
# Written by the Outrigger benchmark.
default_route = "default"

[server]
socket = "{socket}"

[http]
listen = "127.0.0.1:0"

[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "echo"

[routes.default]
provider = "mock"
"""

Call = Callable[[], Awaitable[None]]


@dataclass
class Point:
    latencies: List[float] = field(default_factory=list)
    calls: int = 0
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies, in microseconds."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)] * 1e6

    @property
    def throughput(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0


async def run_point(call: Call, concurrency: int, warmup: float, duration: float) -> Point:
    """`concurrency` workers call back to back; only calls that start after the warm-up count."""
    point = Point()
    loop = asyncio.get_running_loop()
    start = loop.time() + warmup
    stop = start + duration

    async def worker() -> None:
        while True:
            t0 = loop.time()
            if t0 >= stop:
                return
            try:
                await call()
            except Exception as e:  # counted and reported, never hidden
                if t0 >= start:
                    point.errors += 1
                    point.first_error = point.first_error or "%s: %s" % (type(e).__name__, e)
                continue
            if t0 >= start:
                t1 = loop.time()
                point.latencies.append(t1 - t0)
                point.calls += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    point.seconds = duration
    return point


def sdk_call(client: outrigger.AsyncClient, model: str, prompt: str) -> Call:
    async def call() -> None:
        answer = await client.chat(prompt, model=model)
        if answer.content != prompt:
            raise RuntimeError("unexpected answer %r" % answer.content[:80])
    return call


def http_call(http: Any, url: str, model: str, prompt: str) -> Call:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}

    async def call() -> None:
        r = await http.post(url, json=body)
        if r.status_code != 200:
            raise RuntimeError("HTTP %d: %s" % (r.status_code, r.text[:200]))
        content = r.json()["choices"][0]["message"]["content"]
        if content != prompt:
            raise RuntimeError("unexpected answer %r" % content[:80])
    return call


class Daemon:
    """`BINARY serve --config` with the socket and the HTTP front on, in a temporary folder."""

    def __init__(self, binary: str) -> None:
        self.folder = tempfile.mkdtemp(prefix="orbench-")
        self.socket = os.path.join(self.folder, "o.sock")
        config = os.path.join(self.folder, "bench.toml")
        with open(config, "w") as f:
            f.write(CONFIG.format(socket=self.socket))
        self.log_path = os.path.join(self.folder, "daemon.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen([binary, "serve", "--config", config], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            self.http_url = "http://%s/v1" % self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def _wait_ready(self) -> str:
        give_up = time.monotonic() + 10
        while True:
            m = re.search(r"API listening on (\S+)", self._log())
            if m and self._socket_answers():
                return m.group(1)
            if self.proc.poll() is not None:
                sys.exit("the daemon exited during start-up:\n" + self._log())
            if time.monotonic() > give_up:
                sys.exit("the daemon did not start within 10 s:\n" + self._log())
            time.sleep(0.02)

    def _socket_answers(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(self.socket)
                return True
            except OSError:
                return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


async def probe_http(http: Any, url: str, model: str) -> Optional[str]:
    """Why the HTTP half cannot run, or None when the front answers correctly."""
    try:
        await http_call(http, url, model, "ping")()
        return None
    except Exception as e:
        return "%s does not answer (%s: %s)" % (url, type(e).__name__, e)


def fmt(v: float, spec: str) -> str:
    return "-" if math.isnan(v) else format(v, spec)


def row(concurrency: str, name: str, p50: str, p99: str, throughput: str, errors: str) -> None:
    print(("%11s  %-30s %10s %10s %10s %7s" % (concurrency, name, p50, p99, throughput, errors)).rstrip())


def print_point(concurrency: int, name: str, p: Point) -> None:
    row(str(concurrency), name, fmt(p.percentile(50), ".1f"), fmt(p.percentile(99), ".1f"),
        "%.0f" % p.throughput, str(p.errors))
    if p.errors:
        print("%13sfirst error: %s" % ("", p.first_error))


def ratio(a: float, b: float) -> str:
    return "-" if not (a > 0 and b > 0) else "x%.2f" % (a / b)


async def run(args: argparse.Namespace, levels: List[int], prompt: str, socket_path: str,
              http_url: str) -> Tuple[int, int]:
    import httpx  # benchmark-only dependency (bench/run_bench.sh installs it)

    url = http_url.rstrip("/") + "/chat/completions"
    top = max(levels)
    limits = httpx.Limits(max_connections=top, max_keepalive_connections=top)
    async with outrigger.AsyncClient(socket_path, model=args.model, max_queued=max(1024, 4 * top)) as client, \
            httpx.AsyncClient(timeout=30.0, limits=limits) as http:
        info = await client.connect()
        print("daemon: %s, socket %s, HTTP %s" % (info.server_version, socket_path, http_url))
        unreachable = await probe_http(http, url, args.model)
        if unreachable is not None:
            print("HTTP/JSON half skipped: %s. Start the daemon with an [http] section and pass "
                  "--http-url (or OUTRIGGER_HTTP_URL), or let the benchmark start one (--daemon)." % unreachable)
        print()
        row("concurrency", "transport", "p50 us", "p99 us", "calls/s", "errors")
        total_errors = total_points = 0
        for level in levels:
            sdk = await run_point(sdk_call(client, args.model, prompt), level, args.warmup, args.duration)
            print_point(level, "sdk (FlatBuffers, unix socket)", sdk)
            total_errors += sdk.errors
            total_points += 1
            if unreachable is not None:
                continue
            web = await run_point(http_call(http, url, args.model, prompt), level, args.warmup, args.duration)
            print_point(level, "http/json (httpx)", web)
            total_errors += web.errors
            total_points += 1
            row("", "ratio", ratio(web.percentile(50), sdk.percentile(50)),
                ratio(web.percentile(99), sdk.percentile(99)), ratio(sdk.throughput, web.throughput), "")
        if unreachable is None:
            print()
            print("ratio: HTTP latency / SDK latency, SDK calls/s / HTTP calls/s (above 1: the SDK is faster)")
        return total_errors, total_points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", default=os.environ.get("OUTRIGGER_BIN") or None,
                        help="daemon binary to start with a private config (default $OUTRIGGER_BIN; "
                             "ignored with --socket)")
    parser.add_argument("--socket", default=None,
                        help="socket of a running daemon (default $OUTRIGGER_SOCKET, else the SDK's default "
                             "socket: outrigger.resolve_socket_path())")
    parser.add_argument("--http-url", default=os.environ.get("OUTRIGGER_HTTP_URL", "http://127.0.0.1:8080/v1"),
                        help="base URL of a running daemon's OpenAI-compatible front (default %(default)s)")
    parser.add_argument("--model", default="mock-1", help="model (route) to call (default %(default)s)")
    parser.add_argument("--concurrency", default="1,8,64",
                        help="comma-separated calls in flight, one point per level (default %(default)s)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds measured per point (default 3)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring, per point (default 0.5)")
    parser.add_argument("--prompt-bytes", type=int, default=64, help="size of the user message (default 64)")
    args = parser.parse_args()
    try:
        levels = [int(x) for x in args.concurrency.split(",") if x.strip()]
    except ValueError:
        parser.error("--concurrency takes numbers separated by commas")
    if not levels or min(levels) < 1:
        parser.error("--concurrency takes numbers of at least 1")
    try:
        import httpx  # noqa: F401
    except ImportError:
        sys.exit("the benchmark needs httpx: run bench/run_bench.sh, or pip install httpx")

    prompt = ("lorem ipsum " * (args.prompt_bytes // 12 + 1))[:args.prompt_bytes]
    print("Outrigger Python SDK benchmark: outrigger %s, Python %s, asyncio; model %r, %d-byte prompt, "
          "%g s per point after %g s warm-up"
          % (outrigger.__version__, sys.version.split()[0], args.model, args.prompt_bytes, args.duration,
             args.warmup))
    daemon: Optional[Daemon] = None
    socket_path = args.socket
    http_url = args.http_url
    if socket_path is None and args.daemon:
        daemon = Daemon(args.daemon)
        socket_path, http_url = daemon.socket, daemon.http_url
        print("started %s with a temporary config: socket, [http] on 127.0.0.1:0, mock route" % args.daemon)
    socket_path = outrigger.resolve_socket_path(socket_path)
    try:
        errors, _ = asyncio.run(run(args, levels, prompt, socket_path, http_url))
    except outrigger.OutriggerError as e:
        sys.exit("cannot use the daemon at %s: %s" % (socket_path, e))
    finally:
        if daemon is not None:
            daemon.stop()
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
