// Round-trip latency and throughput of unary chat calls to the mock provider through one
// Outrigger daemon by two ways in: this SDK (FlatBuffers over the Unix socket) and the daemon's
// OpenAI-compatible HTTP front with Node's fetch (HTTP/1.1 keep-alive), at the same concurrency
// levels, in the same run.
//
//   OUTRIGGER_BIN=../../build/release/bin/outrigger npm run bench
//   npm run bench -- --socket /run/outrigger/outrigger.sock --http-url http://127.0.0.1:8080/v1
//   npm run bench -- [--concurrency 1,8,64] [--duration 3] [--warmup 0.5] [--prompt-bytes 64]
//                    [--model mock-1] [--daemon PATH]
//
// With a daemon binary (--daemon, else $OUTRIGGER_BIN) and no --socket, the benchmark starts that
// daemon with a temporary config: a socket in a temp folder and the HTTP front on a free loopback
// port, both in front of the same mock route; it stops the daemon at the end. Otherwise it uses a
// running daemon (--socket, else $OUTRIGGER_SOCKET, else the default socket; --http-url, else
// $OUTRIGGER_HTTP_URL, else http://127.0.0.1:8080/v1) and skips the HTTP half, with a message,
// when that URL does not answer.
//
// Each point runs `concurrency` calls in flight for --duration seconds after --warmup seconds and
// reports p50 and p99 of every call's round trip and the calls per second. The ratio rows divide
// HTTP latency by SDK latency and SDK throughput by HTTP throughput: above 1, the SDK is faster.
// Absolute figures vary a lot between machines and runs; compare the two halves of one run.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { OutriggerClient, VERSION } from '../src/index.js';

const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '1,8,64' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0.5' },
    'prompt-bytes': { type: 'string', default: '64' },
    model: { type: 'string', default: 'mock-1' },
    socket: { type: 'string' },
    'http-url': { type: 'string' },
    daemon: { type: 'string' },
  },
});

function usage(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const levels = args.concurrency!.split(',').filter((s) => s.trim() !== '').map(Number);
if (levels.length === 0 || levels.some((n) => !Number.isInteger(n) || n < 1)) {
  usage('--concurrency takes numbers of at least 1, separated by commas');
}
const durationMs = Number(args.duration) * 1000;
const warmupMs = Number(args.warmup) * 1000;
const promptBytes = Number(args['prompt-bytes']);
if (!(durationMs > 0) || !(warmupMs >= 0) || !(promptBytes >= 1)) {
  usage('--duration, --warmup and --prompt-bytes take positive numbers');
}
const model = args.model!;
const prompt = 'lorem ipsum '.repeat(Math.ceil(promptBytes / 12) + 1).slice(0, promptBytes);
const daemonBin = args.daemon ?? (process.env['OUTRIGGER_BIN'] || undefined);

// One daemon, two fronts, one mock route: only the way in differs between the two halves.
const benchConfig = (socket: string): string => `# Written by the Outrigger benchmark.
default_route = "default"

[server]
socket = ${JSON.stringify(socket)}

[http]
listen = "127.0.0.1:0"

[instances.mock]
type = "provider.mock"
[instances.mock.config]
mode = "echo"

[routes.default]
provider = "mock"
`;

/** One unary call; resolves when the whole answer is back and checked. */
type CallFn = () => Promise<void>;

interface Point {
  latenciesUs: number[];
  calls: number;
  errors: number;
  firstError?: string;
  seconds: number;
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** `concurrency` workers call back to back; only calls that start after the warm-up count. */
async function measure(call: CallFn, concurrency: number): Promise<Point> {
  const point: Point = { latenciesUs: [], calls: 0, errors: 0, seconds: durationMs / 1000 };
  const start = performance.now() + warmupMs;
  const stop = start + durationMs;
  const worker = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= stop) return;
      try {
        await call();
      } catch (err) {
        if (t0 >= start) {
          point.errors++;
          point.firstError ??= (err as Error).message;
        }
        continue;
      }
      if (t0 >= start) {
        point.latenciesUs.push((performance.now() - t0) * 1000);
        point.calls++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  point.latenciesUs.sort((a, b) => a - b);
  return point;
}

function sdkCall(client: OutriggerClient, content: string): CallFn {
  return async () => {
    const res = await client.chat({ model, messages: [{ role: 'user', content }] });
    if (res.content !== content) throw new Error(`unexpected answer ${JSON.stringify(res.content)}`);
  };
}

function httpCall(url: string, content: string): CallFn {
  return async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const json = (await res.json()) as { choices?: Array<{ message?: { content?: string } }> };
    if (json.choices?.[0]?.message?.content !== content) {
      throw new Error(`unexpected answer ${JSON.stringify(json).slice(0, 200)}`);
    }
  };
}

/** Why the HTTP half cannot run, or null when the front answers correctly. */
async function probeHttp(url: string): Promise<string | null> {
  try {
    await Promise.race([
      httpCall(url, 'ping')(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref()),
    ]);
    return null;
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return `${url} does not answer (${(err as Error).message}${cause ? `: ${cause}` : ''})`;
  }
}

function row(...cells: [string, string, string, string, string, string]): void {
  const [concurrency, name, p50, p99, calls, errors] = cells;
  console.log((`${concurrency.padStart(11)}  ${name.padEnd(30)} ${p50.padStart(10)} ${p99.padStart(10)} `
    + `${calls.padStart(10)} ${errors.padStart(7)}`).trimEnd());
}

const num = (v: number, digits: number): string => (Number.isNaN(v) ? '-' : v.toFixed(digits));
const throughput = (p: Point): number => p.calls / p.seconds;
const ratio = (a: number, b: number): string => (a > 0 && b > 0 ? `x${(a / b).toFixed(2)}` : '-');

function printPoint(level: number, name: string, p: Point): void {
  row(String(level), name, num(percentile(p.latenciesUs, 50), 1), num(percentile(p.latenciesUs, 99), 1),
    num(throughput(p), 0), String(p.errors));
  if (p.firstError !== undefined) console.log(`${' '.repeat(13)}first error: ${p.firstError}`);
}

/** `BIN serve --config` with the socket and the HTTP front on, in a temporary folder. */
class Daemon {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orbench-'));
  readonly socketPath = path.join(this.dir, 'o.sock');
  readonly #logPath = path.join(this.dir, 'daemon.log');
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #hasExited = false;
  httpUrl = '';

  constructor(bin: string) {
    const configPath = path.join(this.dir, 'bench.toml');
    fs.writeFileSync(configPath, benchConfig(this.socketPath));
    const log = fs.openSync(this.#logPath, 'w');
    this.#child = spawn(bin, ['serve', '--config', configPath], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', () => {
        this.#hasExited = true;
        resolve();
      });
    });
  }

  get log(): string {
    return fs.readFileSync(this.#logPath, 'utf8');
  }

  /** Waits until the log names the HTTP address and the socket accepts connections. */
  async ready(): Promise<void> {
    const giveUp = Date.now() + 10_000;
    for (;;) {
      const m = /API listening on (\S+)/.exec(this.log);
      if (m !== null && (await canConnect(this.socketPath))) {
        this.httpUrl = `http://${m[1]}/v1`;
        return;
      }
      if (this.#hasExited) throw new Error(`the daemon exited during start-up:\n${this.log}`);
      if (Date.now() > giveUp) throw new Error(`the daemon did not start within 10 s:\n${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    if (!this.#hasExited) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
      await this.#exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function main(): Promise<number> {
  console.log(`Outrigger TypeScript SDK benchmark: @outrigger/client ${VERSION}, Node.js `
    + `${process.versions.node}; model ${JSON.stringify(model)}, ${promptBytes}-byte prompt, `
    + `${durationMs / 1000} s per point after ${warmupMs / 1000} s warm-up`);
  let daemon: Daemon | undefined;
  let socketPath = args.socket;
  let httpBase = args['http-url'] ?? process.env['OUTRIGGER_HTTP_URL'] ?? 'http://127.0.0.1:8080/v1';
  let errors = 0;
  try {
    if (socketPath === undefined && daemonBin !== undefined) {
      daemon = new Daemon(daemonBin);
      await daemon.ready();
      socketPath = daemon.socketPath;
      httpBase = daemon.httpUrl;
      console.log(`started ${daemonBin} with a temporary config: socket, [http] on 127.0.0.1:0, mock route`);
    }
    const client = new OutriggerClient({ ...(socketPath === undefined ? {} : { socketPath }),
      maxQueuedCalls: Math.max(1024, 4 * Math.max(...levels)) });
    try {
      let info;
      try {
        info = await client.connect();
      } catch (err) {
        throw new Error(`no daemon at ${client.socketPath}: set OUTRIGGER_BIN, or pass --daemon or --socket `
          + `(${(err as Error).message})`);
      }
      console.log(`daemon: ${info.serverVersion ?? '?'}, socket ${client.socketPath}, HTTP ${httpBase}`);
      const url = `${httpBase.replace(/\/+$/, '')}/chat/completions`;
      const unreachable = await probeHttp(url);
      if (unreachable !== null) {
        console.log(`HTTP/JSON half skipped: ${unreachable}. Start the daemon with an [http] section and `
          + 'pass --http-url (or OUTRIGGER_HTTP_URL), or let the benchmark start one (--daemon).');
      }
      console.log();
      row('concurrency', 'transport', 'p50 us', 'p99 us', 'calls/s', 'errors');
      for (const level of levels) {
        const sdk = await measure(sdkCall(client, prompt), level);
        printPoint(level, 'sdk (FlatBuffers, unix socket)', sdk);
        errors += sdk.errors;
        if (unreachable !== null) continue;
        const web = await measure(httpCall(url, prompt), level);
        printPoint(level, 'http/json (fetch)', web);
        errors += web.errors;
        row('', 'ratio', ratio(percentile(web.latenciesUs, 50), percentile(sdk.latenciesUs, 50)),
          ratio(percentile(web.latenciesUs, 99), percentile(sdk.latenciesUs, 99)),
          ratio(throughput(sdk), throughput(web)), '');
      }
      if (unreachable === null) {
        console.log('\nratio: HTTP latency / SDK latency, SDK calls/s / HTTP calls/s (above 1: the SDK is faster)');
      }
    } finally {
      client.close();
    }
  } finally {
    await daemon?.stop();
  }
  return errors === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exitCode = 1;
  },
);
