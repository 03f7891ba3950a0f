// Round-trip latency and throughput of unary calls to the mock provider: through the daemon's
// Unix socket with this SDK, and through the daemon's OpenAI-compatible HTTP front with fetch.
//
//   npm run bench -- [--requests 2000] [--throughput-requests 20000] [--concurrency 64]
//                    [--socket PATH] [--http-url URL] [--model mock-1]
//
// With OUTRIGGER_BIN set and no --socket, the benchmark starts its own daemon on a temporary
// socket. The HTTP half uses --http-url, else OUTRIGGER_HTTP_URL, else http://127.0.0.1:8080,
// and is skipped with a message when nothing answers there. Figures on shared machines vary a
// lot between runs: compare the two halves of one run, not runs with each other.

import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { OutriggerClient } from '../src/index.js';
import { Daemon, daemonBin, makeSocketDir, removeSocketDir } from '../test/support/daemon.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    'throughput-requests': { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '200' },
    socket: { type: 'string' },
    'http-url': { type: 'string' },
    model: { type: 'string', default: 'mock-1' },
  },
});

const latencyRequests = Number(args.requests);
const throughputRequests = Number(args['throughput-requests']);
const concurrency = Number(args.concurrency);
const warmup = Number(args.warmup);
const model = args.model!;
const prompt = 'hello from the benchmark, please echo this sentence back';
const httpBase = (args['http-url'] ?? process.env['OUTRIGGER_HTTP_URL'] ?? 'http://127.0.0.1:8080')
  .replace(/\/+$/, '');

/** One unary call; resolves when the whole answer is back. */
type CallFn = () => Promise<void>;

interface Figures {
  p50: number;
  p99: number;
  mean: number;
  throughput: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(call: CallFn): Promise<Figures> {
  for (let i = 0; i < warmup; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < latencyRequests; i++) {
    const t0 = performance.now();
    await call();
    samples.push((performance.now() - t0) * 1000);
  }
  samples.sort((a, b) => a - b);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < throughputRequests) {
      next++;
      await call();
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  return {
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
    throughput: throughputRequests / seconds,
  };
}

function sdkCall(client: OutriggerClient): CallFn {
  return async () => {
    const res = await client.chat({ model, messages: [{ role: 'user', content: prompt }] });
    if (res.content !== prompt) throw new Error(`unexpected answer ${JSON.stringify(res.content)}`);
  };
}

function httpCall(url: string): CallFn {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] });
  return async () => {
    const res = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body,
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
    const json = (await res.json()) as { choices?: Array<{ message?: { content?: string } }> };
    if (json.choices?.[0]?.message?.content !== prompt) {
      throw new Error(`unexpected answer ${JSON.stringify(json).slice(0, 200)}`);
    }
  };
}

/** Returns why the HTTP front cannot be used, or null when it answers correctly. */
async function probeHttp(url: string): Promise<string | null> {
  try {
    const res = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: prompt }] }),
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) return `${url} answered HTTP ${res.status}`;
    await httpCall(url)();
    return null;
  } catch (err) {
    return `${url} did not answer (${(err as Error).message})`;
  }
}

function row(name: string, f: Figures): string {
  return `${name.padEnd(22)} ${f.p50.toFixed(1).padStart(10)} ${f.p99.toFixed(1).padStart(10)} `
    + `${f.mean.toFixed(1).padStart(10)} ${f.throughput.toFixed(0).padStart(12)}`;
}

async function main(): Promise<void> {
  let daemon: Daemon | undefined;
  let dir: string | undefined;
  let socketPath = args.socket;
  if (socketPath === undefined && daemonBin !== undefined) {
    dir = makeSocketDir();
    daemon = await Daemon.start(path.join(dir, 'o.sock'));
    socketPath = daemon.socketPath;
    console.log(`started ${daemonBin} on ${socketPath}`);
  }
  const client = new OutriggerClient(socketPath === undefined ? {} : { socketPath });
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`no daemon at ${client.socketPath}: set OUTRIGGER_BIN or pass --socket `
        + `(${(err as Error).message})`);
    }
    console.log(`unary calls, ${latencyRequests} sequential for latency, ${throughputRequests} `
      + `with ${concurrency} in flight for throughput (after ${warmup} warm-up calls)`);
    console.log(`${'transport'.padEnd(22)} ${'p50 µs'.padStart(10)} ${'p99 µs'.padStart(10)} `
      + `${'mean µs'.padStart(10)} ${'calls/s'.padStart(12)}`);
    const sdk = await measure(sdkCall(client));
    console.log(row('sdk over unix socket', sdk));

    const url = `${httpBase}/v1/chat/completions`;
    const unreachable = await probeHttp(url);
    if (unreachable !== null) {
      console.log(`HTTP half skipped: ${unreachable}. Start the daemon's HTTP front and pass `
        + '--http-url (or OUTRIGGER_HTTP_URL) to compare.');
      return;
    }
    const http = await measure(httpCall(url));
    console.log(row('fetch over HTTP/JSON', http));
    console.log(`ratios (HTTP / SDK): p50 ${(http.p50 / sdk.p50).toFixed(2)}x, `
      + `p99 ${(http.p99 / sdk.p99).toFixed(2)}x; throughput (SDK / HTTP) `
      + `${(sdk.throughput / http.throughput).toFixed(2)}x`);
  } finally {
    client.close();
    if (daemon !== undefined) await daemon.stop();
    if (dir !== undefined) removeSocketDir(dir);
  }
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exitCode = 1;
});
